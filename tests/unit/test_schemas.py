"""The request schema refuses, with the offending field named, everything that must be a 400."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from decider.learning.featurize import features_of, to_vw_json
from decider.schemas import MAX_ACTIONS, MAX_MAGNITUDE, DecideRequest, RewardRequest
from pydantic import ValidationError

from tests.conftest import DESIGN_EXAMPLE

VALID: dict[str, Any] = {**copy.deepcopy(DESIGN_EXAMPLE), "event_id": "7f0c-visit.1:a~b_c"}


def with_change(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body = copy.deepcopy(VALID)
    change(body)
    return body


def error_locations(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    with pytest.raises(ValidationError) as refused:
        DecideRequest.model_validate(body)
    return [error["loc"] for error in refused.value.errors()]


def test_the_design_example_is_valid() -> None:
    request = DecideRequest.model_validate(VALID)
    assert [a.id for a in request.allowed_actions()] == ["winter-coat", "sunglasses"]
    assert request.context.features == {"referrer": "newsletter", "cart_items": 2}


def test_a_minimal_request_is_valid() -> None:
    request = DecideRequest.model_validate({"decision_point": "dp", "actions": [{"id": "a"}]})
    assert (request.consent, request.event_id, request.profile) == ("personal", None, {})


def test_any_string_is_a_legal_feature_value() -> None:
    value = 'a|b: c "d" \n =%_ 雪 🙂' + "x" * 10_000
    request = DecideRequest.model_validate(
        with_change(lambda b: b["profile"].update({"note": value, "_label": value}))
    )
    assert request.profile["note"] == value


# Each case: a change to the valid request, and where the error must point.
REFUSED: dict[str, tuple[Callable[[dict[str, Any]], Any], tuple[Any, ...]]] = {
    "missing actions": (lambda b: b.pop("actions"), ("actions",)),
    "empty actions": (lambda b: b.update(actions=[]), ("actions",)),
    "too many actions": (
        lambda b: b.update(actions=[{"id": f"a{i}"} for i in range(MAX_ACTIONS + 1)]),
        ("actions",),
    ),
    "duplicate action ids": (
        lambda b: b["actions"].append({"id": "winter-coat"}),
        ("actions",),
    ),
    "empty action id": (lambda b: b["actions"][0].update(id=""), ("actions", 0, "id")),
    "unknown top-level field": (lambda b: b.update(color="red"), ("color",)),
    "unknown context field": (
        lambda b: b["context"].update(weather="snow"),
        ("context", "weather"),
    ),
    "unknown geo field": (
        lambda b: b["context"]["geo"].update(city="Boston"),
        ("context", "geo", "city"),
    ),
    "unknown action field": (lambda b: b["actions"][1].update(price=39.0), ("actions", 1, "price")),
    "unknown device field": (
        lambda b: b["context"]["device"].update(os="ios"),
        ("context", "device", "os"),
    ),
    "all actions excluded": (
        lambda b: b.update(excluded_actions=["sunglasses", "winter-coat"]),
        ("excluded_actions",),
    ),
    "unknown excluded action": (
        lambda b: b.update(excluded_actions=["umbrella"]),
        ("excluded_actions",),
    ),
    "NaN feature": (lambda b: b["profile"].update(lifetime_value=math.nan), ("profile",)),
    "infinite feature": (
        lambda b: b["actions"][0]["features"].update(price=math.inf),
        ("actions", 0, "features"),
    ),
    "negative infinite custom feature": (
        lambda b: b["context"]["features"].update(cart_items=-math.inf),
        ("context", "features"),
    ),
    "NaN latitude": (lambda b: b["context"]["geo"].update(lat=math.nan), ("context", "geo", "lat")),
    "latitude off the globe": (
        lambda b: b["context"]["geo"].update(lat=91),
        ("context", "geo", "lat"),
    ),
    "unknown timezone": (
        lambda b: b["context"]["geo"].update(timezone="Mars/Olympus_Mons"),
        ("context", "geo", "timezone"),
    ),
    "timezone abbreviation": (
        lambda b: b["context"]["geo"].update(timezone="Boston"),
        ("context", "geo", "timezone"),
    ),
    "naive timestamp": (
        lambda b: b["context"].update(timestamp="2026-11-22T10:00:00"),
        ("context", "timestamp"),
    ),
    "unknown season": (lambda b: b["context"].update(season="monsoon"), ("context", "season")),
    "event id with a slash": (lambda b: b.update(event_id="a/b"), ("event_id",)),
    "event id with a path traversal": (lambda b: b.update(event_id="../x"), ("event_id",)),
    "event id with a newline": (lambda b: b.update(event_id="abc\n"), ("event_id",)),
    "event id with a space": (lambda b: b.update(event_id="a b"), ("event_id",)),
    "event id too long": (lambda b: b.update(event_id="e" * 129), ("event_id",)),
    "empty event id": (lambda b: b.update(event_id=""), ("event_id",)),
    "nested object as feature value": (
        lambda b: b["profile"].update(address={"city": "Boston"}),
        ("profile",),
    ),
    "nested object as action feature": (
        lambda b: b["actions"][0]["features"].update(size={"eu": 50}),
        ("actions", 0, "features"),
    ),
    "list of numbers as feature value": (
        lambda b: b["profile"].update(interests=[1, 2]),
        ("profile",),
    ),
    "list of lists as feature value": (
        lambda b: b["profile"].update(interests=[["a"]]),
        ("profile",),
    ),
    "empty feature name": (lambda b: b["profile"].update({"": "x"}), ("profile",)),
    "too many features": (
        lambda b: b["profile"].update({f"f{i}": i for i in range(65)}),
        ("profile",),
    ),
    "bad decision point": (lambda b: b.update(decision_point="Home Hero"), ("decision_point",)),
    "action id instead of action": (lambda b: b.update(actions=["winter-coat"]), ("actions", 0)),
    "number too large for a float": (
        lambda b: b["profile"].update(visits=10**400),
        ("profile",),
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_a_bad_request_is_refused_naming_the_field(case: str) -> None:
    change, location = REFUSED[case]
    locations = error_locations(with_change(change))
    assert any(loc[: len(location)] == location for loc in locations), locations


def test_an_event_id_of_128_characters_is_accepted() -> None:
    request = DecideRequest.model_validate(with_change(lambda b: b.update(event_id="e" * 128)))
    assert request.event_id == "e" * 128


def test_excluding_some_actions_leaves_the_others_allowed() -> None:
    request = DecideRequest.model_validate(
        with_change(lambda b: b.update(excluded_actions=["winter-coat"]))
    )
    assert [a.id for a in request.allowed_actions()] == ["sunglasses"]


def test_every_accepted_number_can_be_featurized() -> None:
    # Given the largest numbers the schema accepts
    body = with_change(lambda b: b["profile"].update(big=int(MAX_MAGNITUDE), small=-MAX_MAGNITUDE))
    request = DecideRequest.model_validate(body)
    features = features_of(request, {}, request.actions)
    # Then they make a valid VW example (retrain would otherwise fail on this decision forever)
    example = json.loads(to_vw_json(features))
    assert example["p"]["big"] == pytest.approx(MAX_MAGNITUDE)
    assert example["p"]["small"] == pytest.approx(-MAX_MAGNITUDE)


def test_a_number_beyond_the_magnitude_limit_is_refused() -> None:
    body = with_change(lambda b: b["profile"].update(visits=MAX_MAGNITUDE * 10))
    with pytest.raises(ValidationError, match="within"):
        DecideRequest.model_validate(body)


@pytest.mark.parametrize(
    ("change", "location"),
    [
        (lambda b: b["profile"].update(segment="\ud800"), ("profile",)),
        (lambda b: b["profile"].update(interests=["ok", "\udfff"]), ("profile",)),
        (lambda b: b["actions"][0]["features"].update(c="\ud83d"), ("actions", 0, "features")),
        (lambda b: b["actions"][0].update(id="coat\udfff"), ("actions", 0, "id")),
        (lambda b: b["context"]["features"].update({"\ud83d": "x"}), ("context", "features")),
    ],
    ids=["value", "list item", "action feature", "action id", "feature name"],
)
def test_a_lone_surrogate_is_refused(
    change: Callable[[dict[str, Any]], Any], location: tuple[Any, ...]
) -> None:
    # json.loads turns "\ud800" into a string that can be neither stored nor parsed by VW
    locations = error_locations(with_change(change))
    assert any(loc[: len(location)] == location for loc in locations), locations


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": math.nan}, "value"),
        ({"value": math.inf}, "value"),
        ({"value": 2e6}, "value"),
        ({"value": 1.0, "reward_id": ""}, "reward_id"),
        ({"value": 1.0, "extra": 1}, "extra"),
        ({}, "value"),
    ],
)
def test_a_bad_reward_is_refused(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RewardRequest.model_validate(body)
    assert any(error["loc"][0] == field for error in refused.value.errors())
