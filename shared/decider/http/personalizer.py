"""Azure Personalizer v1.0 compatibility: its REST shapes, translated to and from the core's.

A team leaving Personalizer points its client at ``/personalizer/v1.0`` and changes nothing
else: rank becomes a decision of one decision point (Personalizer has one loop per resource),
reward and activate become the core's, and the decisions land in the same log and model.

Personalizer's feature objects nest; the core's features are flat. Nested objects become
dotted names (``{"user": {"profileType": "x"}}`` is ``user.profileType``), a list of numbers
becomes indexed numbers (``embedding[0]``, ``embedding[1]``), a list of strings stays a set,
and nulls add nothing. What the core cannot hold is a 400 naming where it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from decider import schemas
from decider.errors import DuplicateEvent, InvalidRequest
from decider.loop import events
from decider.loop.decide import Decider
from decider.records import DecisionLog, scoped_event_id
from decider.settings import LoopSettings

MAX_DEPTH = 8  # objects nested in one feature object

FeatureObject = dict[str, Any]


class _Shape(BaseModel):
    """Personalizer's camelCase names; an unknown field is a 400 naming it, as in the core."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)


class PersonalizerAction(_Shape):
    id: schemas.ActionId
    features: list[FeatureObject] | None = Field(
        default=None, description="Feature objects; nested objects become dotted names."
    )


class PersonalizerRankRequest(_Shape):
    context_features: list[FeatureObject] | None = None
    actions: Annotated[
        list[PersonalizerAction], Field(min_length=1, max_length=schemas.MAX_ACTIONS)
    ]
    excluded_actions: (
        Annotated[list[schemas.ActionId], Field(max_length=schemas.MAX_ACTIONS)] | None
    ) = None
    event_id: schemas.EventId | None = Field(
        default=None, description="URL-safe, at most 128 characters; generated when absent."
    )
    defer_activation: Annotated[bool, Field(strict=True)] | None = False  # not 0 or "true"


class PersonalizerRankedAction(BaseModel):
    id: str
    probability: float


class PersonalizerFeatureScore(BaseModel):
    name: str = Field(
        description="The feature as the request named it (nested names dotted), or as the "
        "derived context names it (season, daypart, ...)."
    )
    score: float = Field(description="How much it raised the action's score over the others'.")


class PersonalizerExplanation(BaseModel):
    id: str = Field(description="The action explained: the one to show.")
    features: list[PersonalizerFeatureScore] = Field(
        description="Strongest first; empty for an exploratory pick, which no feature chose."
    )


class PersonalizerRankResponse(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)

    ranking: list[PersonalizerRankedAction] = Field(
        description="Every action of the request; excluded ones last, with probability 0."
    )
    event_id: str
    reward_action_id: str = Field(description="The action to show, and to reward.")
    inference_explanation: list[PersonalizerExplanation] | None = Field(
        default=None,
        description="With PersonalizerExplanations on (Personalizer's "
        "IsInferenceExplainabilityEnabled): the features that raised the chosen action's score "
        "most, from the model's weights.",
    )


class PersonalizerRewardRequest(_Shape):
    value: Annotated[
        float,
        Field(strict=True, ge=-1, le=1, allow_inf_nan=False),
        AfterValidator(schemas.storable_reward),
    ]


class PersonalizerError(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True)

    code: str = Field(description="BadRequest, ResourceNotFound or InternalServerError.")
    message: str
    target: str | None = Field(default=None, description="The field at fault, when one is.")
    inner_error: dict[str, str] | None = Field(
        default=None, description="``code``: the core API's error code, more specific."
    )


class PersonalizerErrorResponse(BaseModel):
    error: PersonalizerError


@dataclass
class Flattened:
    """One namespace's flat features, and where in the request each one came from."""

    features: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: Any, path: str) -> None:
        if name in self.features:
            raise _refused(path, f"feature {name!r} is also given at {self.sources[name]}")
        self.features[name] = value
        self.sources[name] = path


def flatten(objects: Sequence[Mapping[str, Any]], where: str) -> Flattened:
    """Personalizer's list of feature objects as one flat namespace of core feature values."""
    flat = Flattened()
    for index, features in enumerate(objects):
        for key, value in features.items():
            path = f"{where}.{index}.{_checked_key(key, f'{where}.{index}')}"
            _flatten(flat, key, value, path, depth=1)
    if len(flat.features) > schemas.MAX_FEATURES:
        raise _refused(
            where,
            f"at most {schemas.MAX_FEATURES} features once nested objects and lists of numbers "
            f"are flattened, not {len(flat.features)}",
        )
    return flat


def _flatten(flat: Flattened, name: str, value: Any, path: str, depth: int) -> None:
    if value is None:
        return  # nulls add nothing
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _refused(path, f"feature objects nest at most {MAX_DEPTH} deep")
        for key, inner in value.items():
            _flatten(flat, f"{name}.{_checked_key(key, path)}", inner, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            if value:
                flat.add(name, value, path)
        elif all(_is_number(item) for item in value):
            for index, number in enumerate(value):
                flat.add(f"{name}[{index}]", number, f"{path}.{index}")
        else:
            raise _refused(path, "a list holds only strings (a set) or only numbers")
    else:
        flat.add(name, value, path)  # a string, number or boolean: the core checks its value


def _checked_key(key: str, path: str) -> str:
    if not key:
        raise _refused(path, "feature names cannot be empty")
    try:
        key.encode()
    except UnicodeEncodeError:
        raise _refused(path, "feature names must be valid unicode") from None
    return key


def _refused(target: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{target}: {problem}", target)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_decide_request(
    request: PersonalizerRankRequest, decision_point: str, explain: bool = False
) -> schemas.DecideRequest:
    """The core's request for a Personalizer rank; a 400 naming the Personalizer field if the
    core cannot represent it."""
    context = flatten(request.context_features or [], "contextFeatures")
    actions = [
        flatten(action.features or [], f"actions.{index}.features")
        for index, action in enumerate(request.actions)
    ]
    body = {
        "decision_point": decision_point,
        "event_id": request.event_id,
        "context": {"features": context.features},
        "actions": [
            {"id": action.id, "features": flat.features}
            for action, flat in zip(request.actions, actions, strict=True)
        ],
        "excluded_actions": request.excluded_actions or [],
        "defer_activation": bool(request.defer_activation),
        "explain": explain,
    }
    try:
        return schemas.DecideRequest.model_validate(body)
    except ValidationError as invalid:
        detail = invalid.errors()[0]
        target = _target(detail["loc"], context, actions)
        message = str(detail["msg"]).removeprefix("Value error, ")
        raise _refused(target, message) from None


def _target(loc: tuple[Any, ...], context: Flattened, actions: list[Flattened]) -> str:
    """Where in the Personalizer request the core's error at ``loc`` comes from."""
    if not loc:
        return "body"
    head, rest = loc[0], loc[1:]
    if head == "context":
        name = rest[1] if len(rest) > 1 else None
        return context.sources.get(str(name), "contextFeatures")
    if head == "actions" and len(rest) >= 3 and rest[1] == "features":
        index = int(rest[0])
        return actions[index].sources.get(str(rest[2]), f"actions.{index}.features")
    personalizer_name = {"event_id": "eventId", "excluded_actions": "excludedActions"}
    return ".".join([personalizer_name.get(str(head), str(head)), *map(str, rest)])


def to_rank_response(
    request: PersonalizerRankRequest, decided: schemas.DecideResponse, event_id: str
) -> PersonalizerRankResponse:
    """Every action ranked, as Personalizer does: the excluded ones last, with probability 0."""
    excluded = set(request.excluded_actions or [])
    ranking = [
        PersonalizerRankedAction(id=ranked.id, probability=ranked.probability)
        for ranked in decided.ranking
    ]
    ranking += [
        PersonalizerRankedAction(id=action.id, probability=0.0)
        for action in request.actions
        if action.id in excluded
    ]
    explained = None
    if decided.explanation is not None:
        scores = [
            PersonalizerFeatureScore(name=factor.feature, score=factor.weight)
            for factor in decided.explanation.factors
        ]
        explained = [PersonalizerExplanation(id=decided.action_id, features=scores)]
    return PersonalizerRankResponse(
        ranking=ranking,
        event_id=event_id,
        reward_action_id=decided.action_id,
        inference_explanation=explained,
    )


def rank(
    decider: Decider,
    request: PersonalizerRankRequest,
    decision_point: str,
    new_event_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    explain: bool = False,
) -> PersonalizerRankResponse:
    """A rank under the client's event id (or a new one), as Personalizer names events: the
    log keeps it scoped to the decision point these routes serve."""
    if request.event_id is None:
        request = request.model_copy(update={"event_id": new_event_id()})
    assert request.event_id is not None
    try:
        decided = decider.decide(to_decide_request(request, decision_point, explain))
    except DuplicateEvent as duplicate:
        raise DuplicateEvent(duplicate.message, "eventId") from None
    return to_rank_response(request, decided, request.event_id)


def reward(
    log: DecisionLog,
    decision_point: str,
    event_id: str,
    request: PersonalizerRewardRequest,
    loop: LoopSettings,
    now: datetime,
    delivery_id: str | None = None,
    new_reward_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> schemas.RewardResponse:
    """A Personalizer reward for an event of ``decision_point`` (the one these routes serve:
    another's event is unknown here): every call counts under ``sum`` (as there), ``average``
    and ``max``, except a call delivered again (the same ``delivery_id``: the client's
    x-ms-client-request-id, which the Azure SDKs keep across their retries); and, as there,
    a reward activates a deferred decision."""
    # Personalizer has no reward ids. Under earliest a second one changes nothing either way.
    reward_id = f"personalizer:{delivery_id}" if delivery_id else new_reward_id()
    body = schemas.RewardRequest(value=request.value, reward_id=reward_id)
    # One conditional write stores the reward and activates: a retried call cannot leave one
    # without the other.
    scoped = scoped_event_id(decision_point, event_id)
    return events.record_reward(log, scoped, body, loop, now, activate=True)


def activate(log: DecisionLog, decision_point: str, event_id: str) -> schemas.ActivateResponse:
    return events.activate(log, scoped_event_id(decision_point, event_id))


def error_body(
    status: int, code: str, message: str, target: str | None
) -> tuple[int, dict[str, Any]]:
    """The core's error as Personalizer v1.0 answers one: 401 PermissionDenied (a missing or
    wrong subscription key), 404 ResourceNotFound, 5xx InternalServerError, every other
    refusal a 400 BadRequest (415 stays a 415)."""
    if status == 401:
        top = "PermissionDenied"
    elif status == 404:
        top = "ResourceNotFound"
    elif status >= 500:
        status, top = 500, "InternalServerError"
    else:
        status, top = (415 if status == 415 else 400), "BadRequest"
    error = PersonalizerError(code=top, message=message, target=target, inner_error={"code": code})
    return status, {"error": error.model_dump(by_alias=True, exclude_none=True)}
