"""Personalizer's v1.0 shapes translated to the core's and back, with in-memory stores."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from decider.errors import DeciderError, DuplicateEvent, InvalidRequest
from decider.http import personalizer
from decider.http.personalizer import (
    MAX_DEPTH,
    PersonalizerRankRequest,
    PersonalizerRewardRequest,
    error_body,
    flatten,
    to_decide_request,
)
from decider.learning.model_cache import ModelCache
from decider.loop.decide import Decider
from decider.schemas import MAX_FEATURES
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry
from hypothesis import event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DP = "personalizer"
LOOP = LoopSettings(reward_wait=timedelta(minutes=10))

# Personalizer's documented example, with an excluded action.
RANK: dict[str, Any] = {
    "contextFeatures": [
        {"user": {"profileType": "AnonymousUser", "latlong": [47.6, -122.1]}},
        {"environment": {"dayOfMonth": "28", "weather": "sunny"}},
        {"device": {"mobile": True, "Windows": True}},
        {"recentActivity": {"itemsInCart": 3}},
    ],
    "actions": [
        {"id": "NewsArticle", "features": [{"type": "News"}, {"tags": ["world", "politics"]}]},
        {"id": "SportsArticle", "features": [{"type": "Sports"}]},
        {"id": "EntertainmentArticle", "features": [{"type": "Entertainment", "length": 3.5}]},
    ],
    "excludedActions": ["SportsArticle"],
    "eventId": "75269AD0-BFEE-4598-8196-C57383D38E10",
    "deferActivation": True,
}


def rank_request(**changes: Any) -> PersonalizerRankRequest:
    return PersonalizerRankRequest.model_validate({**json.loads(json.dumps(RANK)), **changes})


def decider(log: MemoryDecisionLog, loop: LoopSettings = LOOP) -> Decider:
    models = ModelCache(MemoryRegistry(), MemoryModelStore(), loop.exploration, 0)
    return Decider(models=models, log=log, loop=loop, now=lambda: NOW)


def refused(objects: list[Any]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as failure:
        flatten(objects, "contextFeatures")
    assert failure.value.field and failure.value.message.startswith(f"{failure.value.field}: ")
    return failure.value


# --- Flattening feature objects -------------------------------------------------------------


def test_nested_objects_become_dotted_names_and_numbers_lists_become_indexed_numbers() -> None:
    flat = flatten(RANK["contextFeatures"], "contextFeatures")

    assert flat.features == {
        "user.profileType": "AnonymousUser",
        "user.latlong[0]": 47.6,
        "user.latlong[1]": -122.1,
        "environment.dayOfMonth": "28",
        "environment.weather": "sunny",
        "device.mobile": True,
        "device.Windows": True,
        "recentActivity.itemsInCart": 3,
    }
    assert flat.sources["user.latlong[1]"] == "contextFeatures.0.user.latlong.1"
    assert (
        flat.sources["recentActivity.itemsInCart"] == "contextFeatures.3.recentActivity.itemsInCart"
    )


def test_lists_of_strings_stay_sets_and_nulls_and_empties_add_nothing() -> None:
    flat = flatten(
        [{"tags": ["a", "b"], "gone": None, "empty": [], "nothing": {}, "user": {"x": None}}], "f"
    )
    assert flat.features == {"tags": ["a", "b"]}


def test_a_list_mixing_kinds_or_holding_objects_is_refused_where_it_is() -> None:
    for bad in ([1, "a"], [{"a": 1}], [True, False], [1, None]):
        failure = refused([{"ok": 1}, {"user": {"bad": bad}}])
        assert failure.field == "contextFeatures.1.user.bad"
        assert "only strings" in failure.message


def test_the_same_name_twice_is_refused_whichever_way_it_is_spelt() -> None:
    across_objects = refused([{"a": 1}, {"a": 2}])
    dotted_and_nested = refused([{"user": {"age": 1}}, {"user.age": 2}])
    list_and_index = refused([{"v": [1.0], "v[0]": 2.0}])

    assert "'a' is also given at contextFeatures.0.a" in across_objects.message
    assert "'user.age' is also given at contextFeatures.0.user.age" in dotted_and_nested.message
    assert across_objects.field == "contextFeatures.1.a"
    assert "'v[0]' is also given" in list_and_index.message


def test_empty_names_and_deep_nesting_are_refused() -> None:
    assert "empty" in refused([{"": 1}]).message
    assert refused([{"user": {"": 1}}]).field == "contextFeatures.0.user"

    deep: Any = 1
    for _ in range(MAX_DEPTH):
        deep = {"n": deep}
    assert "nest" in refused([{"x": deep}]).message
    shallow: Any = 1
    for _ in range(MAX_DEPTH - 1):
        shallow = {"n": shallow}
    assert flatten([{"x": shallow}], "f").features == {"x" + ".n" * (MAX_DEPTH - 1): 1}


def test_more_features_than_a_namespace_holds_once_flattened_is_refused() -> None:
    failure = refused([{"embedding": [0.5] * (MAX_FEATURES + 1)}])
    assert failure.field == "contextFeatures"
    assert str(MAX_FEATURES) in failure.message


# --- Rank -> decide -------------------------------------------------------------------------


def test_a_rank_request_becomes_a_decision_of_the_configured_decision_point() -> None:
    request = to_decide_request(rank_request(), "shop-hero")

    assert request.decision_point == "shop-hero"
    assert request.event_id == RANK["eventId"]
    assert request.defer_activation is True
    assert request.excluded_actions == ["SportsArticle"]
    assert request.context.features["user.profileType"] == "AnonymousUser"
    assert request.profile == {}
    assert [(a.id, a.features) for a in request.actions] == [
        ("NewsArticle", {"type": "News", "tags": ["world", "politics"]}),
        ("SportsArticle", {"type": "Sports"}),
        ("EntertainmentArticle", {"type": "Entertainment", "length": 3.5}),
    ]


def test_absent_and_null_optional_fields_are_the_defaults() -> None:
    minimal = PersonalizerRankRequest.model_validate(
        {
            "contextFeatures": None,
            "actions": [{"id": "a"}, {"id": "b", "features": None}],
            "excludedActions": None,
            "eventId": None,
            "deferActivation": None,
        }
    )
    request = to_decide_request(minimal, DP)
    assert (request.event_id, request.excluded_actions, request.defer_activation) == (
        None,
        [],
        False,
    )
    assert request.context.features == {}


@pytest.mark.parametrize(
    ("changes", "target", "words"),
    [
        ({"actions": [{"id": "a"}, {"id": "a"}]}, "actions", "duplicate action ids"),
        ({"excludedActions": ["nope"]}, "excludedActions", "unknown actions"),
        (
            {"excludedActions": ["NewsArticle", "SportsArticle", "EntertainmentArticle"]},
            "excludedActions",
            "every action is excluded",
        ),
        (
            {"contextFeatures": [{"user": {"ltv": 1e13}}]},
            "contextFeatures.0.user.ltv",
            "finite",
        ),
        (
            {"actions": [{"id": "a", "features": [{"tags": ["x"] * 65}]}]},
            "actions.0.features.0.tags",
            "at most 64",
        ),
        (
            {"contextFeatures": [{"n" * 100: {"m" * 100: 1}}]},
            f"contextFeatures.0.{'n' * 100}.{'m' * 100}",
            "at most 128 characters",
        ),
    ],
)
def test_what_the_core_cannot_hold_is_refused_naming_the_personalizer_field(
    changes: dict[str, Any], target: str, words: str
) -> None:
    with pytest.raises(InvalidRequest) as failure:
        to_decide_request(rank_request(**changes), DP)
    assert failure.value.field == target
    assert words in failure.value.message
    assert failure.value.message.startswith(target)


@pytest.mark.parametrize(
    "changes",
    [
        {"eventId": "has spaces"},
        {"eventId": "x" * 129},
        {"actions": []},
        {"actions": [{"id": ""}]},
        {"actions": [{"id": "a", "features": {"not": "a list"}}]},
        {"contextFeatures": [None]},
        {"contextFeatures": {"not": "a list"}},
        {"context_features": []},
        {"slots": []},
    ],
)
def test_requests_outside_personalizer_s_shape_or_the_core_s_limits_fail_validation(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        rank_request(**changes)


def test_the_reward_value_is_within_personalizer_s_range() -> None:
    assert PersonalizerRewardRequest.model_validate({"value": -1}).value == -1
    for bad in ({"value": 1.5}, {"value": -2}, {}, {"value": 1, "rewardId": "x"}):
        with pytest.raises(ValidationError):
            PersonalizerRewardRequest.model_validate(bad)


# --- Decide -> rank response, reward and activate -------------------------------------------


def test_rank_answers_every_action_with_the_excluded_last_at_probability_zero() -> None:
    log = MemoryDecisionLog()

    response = personalizer.rank(decider(log), rank_request(), DP)

    body = response.model_dump(by_alias=True, exclude_none=True)
    assert set(body) == {"ranking", "eventId", "rewardActionId"}
    assert body["eventId"] == RANK["eventId"]
    assert [r["id"] for r in body["ranking"]][-1] == "SportsArticle"
    assert body["ranking"][-1]["probability"] == 0.0
    assert {r["id"] for r in body["ranking"]} == {a["id"] for a in RANK["actions"]}
    assert sum(r["probability"] for r in body["ranking"]) == pytest.approx(1.0)
    assert body["rewardActionId"] in {"NewsArticle", "EntertainmentArticle"}
    # And the decision is in the same log as /decide's, deferred, for the decision point
    record = log.records[f"{DP}:{RANK['eventId']}"]  # scoped to the decision point
    assert (record.decision_point, record.activated) == (DP, False)
    assert record.chosen_action == body["rewardActionId"]
    assert record.features.custom["device.mobile"] is True


def test_a_generated_event_id_is_answered_and_a_reused_one_is_a_refusal_naming_it() -> None:
    log = MemoryDecisionLog()
    first = personalizer.rank(decider(log), rank_request(eventId=None), DP)
    assert f"{DP}:{first.event_id}" in log.records

    with pytest.raises(DuplicateEvent) as duplicate:
        personalizer.rank(decider(log), rank_request(eventId=first.event_id), DP)
    assert duplicate.value.field == "eventId"


def test_a_reward_is_recorded_and_activates_the_deferred_decision_as_personalizer_does() -> None:
    log = MemoryDecisionLog()
    personalizer.rank(decider(log), rank_request(), DP)
    event_id = RANK["eventId"]

    first = personalizer.reward(log, DP, event_id, PersonalizerRewardRequest(value=0.5), LOOP, NOW)
    again = personalizer.reward(log, DP, event_id, PersonalizerRewardRequest(value=1.0), LOOP, NOW)

    # Under earliest, the first reward is learned; a second one changes nothing
    assert (first.status, again.status) == ("recorded", "recorded")
    assert log.records[f"{DP}:{event_id}"].reward == 0.5
    assert log.records[f"{DP}:{event_id}"].activated is True


def test_a_personalizer_reward_delivered_again_counts_once() -> None:
    log = MemoryDecisionLog()
    personalizer.rank(decider(log, LOOP.model_copy(update={"aggregation": "sum"})),
                      rank_request(), DP)  # fmt: skip
    event_id, reward = RANK["eventId"], PersonalizerRewardRequest(value=0.5)

    statuses = [
        personalizer.reward(log, DP, event_id, reward, LOOP, NOW, delivery_id="request-1").status
        for _ in range(3)
    ]

    assert statuses == ["recorded", "duplicate", "duplicate"]
    assert log.records[f"{DP}:{event_id}"].reward == 0.5


def test_under_sum_every_personalizer_reward_counts() -> None:
    log = MemoryDecisionLog()
    summing = LOOP.model_copy(update={"aggregation": "sum"})
    personalizer.rank(decider(log, summing), rank_request(), DP)
    ids = iter(["r1", "r2"])

    for value in (0.25, 0.5):
        reward = PersonalizerRewardRequest(value=value)
        personalizer.reward(
            log, DP, RANK["eventId"], reward, LOOP, NOW, new_reward_id=lambda: next(ids)
        )

    assert log.records[f"{DP}:{RANK['eventId']}"].reward == 0.75


def test_a_late_reward_does_not_activate() -> None:
    log = MemoryDecisionLog()
    personalizer.rank(decider(log), rank_request(), DP)

    late = personalizer.reward(
        log, DP, RANK["eventId"], PersonalizerRewardRequest(value=1), LOOP, NOW + timedelta(hours=1)
    )

    assert late.status == "late"
    assert log.records[f"{DP}:{RANK['eventId']}"].activated is False


# --- Errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected_status", "expected_code"),
    [
        (400, "invalid_request", 400, "BadRequest"),
        (400, "malformed_json", 400, "BadRequest"),
        (409, "duplicate_event", 400, "BadRequest"),
        (413, "payload_too_large", 400, "BadRequest"),
        (415, "unsupported_media_type", 415, "BadRequest"),
        (404, "unknown_event", 404, "ResourceNotFound"),
        (500, "internal_error", 500, "InternalServerError"),
    ],
)
def test_errors_answer_in_personalizer_s_shape_and_codes(
    status: int, code: str, expected_status: int, expected_code: str
) -> None:
    answered, body = error_body(status, code, "what went wrong", "eventId")

    assert answered == expected_status
    assert body == {
        "error": {
            "code": expected_code,
            "message": "what went wrong",
            "target": "eventId",
            "innerError": {"code": code},
        }
    }
    assert "target" not in error_body(status, code, "m", None)[1]["error"]


# --- Nothing a client sends escapes as anything but a 400 -----------------------------------

# Mostly what the core can hold, with some of what it cannot: huge numbers, mixed lists.
_KEYS = st.text(alphabet=st.characters(blacklist_characters="."), min_size=1, max_size=6)
_NUMBERS = st.integers(-(10**6), 10**6) | st.floats(-1e6, 1e6) | st.floats(allow_nan=False)


def _nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.dictionaries(_KEYS, inner, max_size=4)
        | st.lists(st.text(max_size=4), max_size=4)
        | st.lists(_NUMBERS, max_size=4)
        | st.lists(inner, max_size=2)
    )


_JSON = st.recursive(
    st.none() | st.booleans() | _NUMBERS | st.text(max_size=8), _nested, max_leaves=30
)


def _at(objects: list[Any], path: str) -> Any:
    """The value at a source path such as ``contextFeatures.1.user.latlong.0``."""
    found: Any = objects
    for part in path.split(".")[1:]:
        found = found[int(part)] if isinstance(found, list) else found[part]
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(_KEYS, _JSON, max_size=5), max_size=4))
def test_any_feature_objects_become_a_valid_decide_request_or_a_400(objects: list[Any]) -> None:
    try:
        decide = to_decide_request(rank_request(contextFeatures=objects), DP)
    except DeciderError as refusal:
        event("refused")
        assert refusal.status == 400
        assert refusal.field and refusal.field.startswith("contextFeatures")
        return
    event("accepted")
    # Each feature is the very value the client sent where its source path points
    flat = flatten(objects, "contextFeatures")
    assert decide.context.features == flat.features
    for name, value in flat.features.items():
        assert _at(objects, flat.sources[name]) == value


def test_defer_activation_is_a_boolean_not_a_number() -> None:
    with pytest.raises(ValidationError):
        rank_request(deferActivation=0)


def test_with_explanations_on_rank_answers_the_chosen_action_s_inference_explanation() -> None:
    # Personalizer's IsInferenceExplainabilityEnabled: no model yet, so the pick is
    # exploratory and no feature chose it
    response = personalizer.rank(decider(MemoryDecisionLog()), rank_request(), DP, explain=True)

    body = response.model_dump(by_alias=True, exclude_none=True)
    assert body["inferenceExplanation"] == [{"id": body["rewardActionId"], "features": []}]
