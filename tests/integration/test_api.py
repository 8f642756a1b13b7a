"""The API contract (DESIGN.md §4) through API Gateway v2 events to the real handlers, on moto.

Every refusal answers ``{"error": {"code", "message", "field"?}}`` with a 4xx; nothing a client
can send yields a 5xx.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
import time_machine
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from infra.stack import HttpResponse, LocalStack
from tests.conftest import DESIGN_EXAMPLE, make_stack, retrain_report

# Requests that publish no metric (every refusal) make Powertools warn; that is expected here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:No application metrics to publish", "ignore:Received multipart/form-data"
)

REWARD_WAIT = timedelta(seconds=600)  # the template's default
JSON = {"content-type": "application/json"}

# DESIGN.md's example, with a third action so that one can be excluded and two remain.
VALID: dict[str, Any] = {
    **copy.deepcopy(DESIGN_EXAMPLE),
    "actions": [
        *DESIGN_EXAMPLE["actions"],
        {"id": "rain-jacket", "features": {"category": "outerwear", "price": 89.0}},
    ],
}


def decide_body(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(VALID), **changes}


def assert_error(
    response: HttpResponse, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The contract's error shape, with the given status (and code and field, when given)."""
    assert response.status == status, response.body
    assert response.headers.get("content-type", "").startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "field"}, error
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if "field" in error:
        assert isinstance(error["field"], str) and error["field"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert error.get("field") == field, error
    return dict(error)


def assert_not_a_server_error(response: HttpResponse) -> None:
    assert response.status < 500, response.body
    if response.status >= 400:
        assert_error(response, response.status)


def stored_decision(stack: LocalStack, event_id: str) -> dict[str, Any]:
    table = stack.template.tables["DecisionsTable"].name
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=table, Key={"event_id": {"S": event_id}}, ConsistentRead=True
    )
    assert "Item" in item, f"no decision {event_id!r} stored"
    return dict(item["Item"])


def decide(stack: LocalStack, **changes: Any) -> dict[str, Any]:
    response = stack.post("/decide", decide_body(**changes))
    assert response.status == 200, response.body
    return dict(response.json())


def reward(stack: LocalStack, event_id: str, **body: Any) -> str:
    response = stack.post(f"/events/{event_id}/reward", body)
    assert response.status == 200, response.body
    return str(response.json()["status"])


def retrain(stack: LocalStack) -> dict[str, Any]:
    return retrain_report(stack, VALID["decision_point"])


# --- Requests the contract refuses ----------------------------------------------------------


def test_malformed_json_is_a_400_malformed_json(stack: LocalStack) -> None:
    for path in ("/decide", "/events/e1/reward"):
        response = stack.http("POST", path, '{"decision_point": "home-hero",', JSON)
        assert_error(response, 400, "malformed_json")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_in_a_feature_is_a_400(stack: LocalStack, constant: str) -> None:
    # Given a body Python's json module would accept, but which is not JSON
    text = json.dumps(decide_body(event_id="nan-visit")).replace("129.0", constant)
    assert constant in text

    # Then it is refused, and nothing is logged
    assert_error(stack.http("POST", "/decide", text, JSON), 400)
    table = stack.template.tables["DecisionsTable"].name
    found = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=table, Key={"event_id": {"S": "nan-visit"}}
    )
    assert "Item" not in found


def test_a_number_too_large_for_the_model_is_a_400_naming_it(stack: LocalStack) -> None:
    actions = [{"id": "a", "features": {"price": 1e300}}]
    response = stack.post("/decide", decide_body(actions=actions))
    assert_error(response, 400, "invalid_request", "actions.0.features.price")


REFUSED_DECIDES: dict[str, tuple[dict[str, Any], str]] = {
    "missing actions": ({k: v for k, v in VALID.items() if k != "actions"}, "actions"),
    "empty actions": (decide_body(actions=[]), "actions"),
    "duplicate action ids": (
        decide_body(actions=[{"id": "winter-coat"}, {"id": "sunglasses"}, {"id": "winter-coat"}]),
        "actions",
    ),
    "every action excluded": (
        decide_body(excluded_actions=["winter-coat", "sunglasses", "rain-jacket"]),
        "excluded_actions",
    ),
    "an unknown action excluded": (decide_body(excluded_actions=["parka"]), "excluded_actions"),
    "consent as a string": (decide_body(consent="false"), "consent"),
    "defer_activation as a number": (decide_body(defer_activation=1), "defer_activation"),
    "a decision point with spaces": (decide_body(decision_point="home hero"), "decision_point"),
    "an event id with spaces": (decide_body(event_id="visit 1"), "event_id"),
    "an unknown timezone": (
        decide_body(context={"geo": {"timezone": "Mars/Olympus_Mons"}}),
        "context.geo.timezone",
    ),
    "a feature holding an object": (
        decide_body(profile={"address": {"city": "Boston"}}),
        "profile.address",
    ),
}


@pytest.mark.parametrize("case", REFUSED_DECIDES)
def test_an_invalid_decide_is_a_400_naming_the_field(stack: LocalStack, case: str) -> None:
    body, field = REFUSED_DECIDES[case]
    error = assert_error(stack.post("/decide", body), 400, "invalid_request", field)
    if case == "duplicate action ids":
        assert "winter-coat" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (decide_body(colour="red"), "colour"),
        (decide_body(context={**VALID["context"], "weather": "snow"}), "context.weather"),
        (decide_body(context={"geo": {"altitude": 12}}), "context.geo.altitude"),
        (decide_body(actions=[{"id": "a", "score": 0.3}]), "actions.0.score"),
    ],
)
def test_an_unknown_field_is_a_400_naming_it(
    stack: LocalStack, body: dict[str, Any], field: str
) -> None:
    error = assert_error(stack.post("/decide", body), 400, "invalid_request", field)
    assert field in error["message"]


def test_an_unknown_field_in_a_reward_is_a_400_naming_it(stack: LocalStack) -> None:
    event_id = decide(stack)["event_id"]
    response = stack.post(f"/events/{event_id}/reward", {"value": 1.0, "currency": "EUR"})
    error = assert_error(response, 400, "invalid_request", "currency")
    assert "currency" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "value"),
        ({"value": "lots"}, "value"),
        ({"value": False}, "value"),
        ({"value": "1.5"}, "value"),
        ({"value": 1e9}, "value"),
        ({"value": 1, "reward_id": ""}, "reward_id"),
    ],
)
def test_an_invalid_reward_is_a_400_naming_the_field(
    stack: LocalStack, body: dict[str, Any], field: str
) -> None:
    event_id = decide(stack)["event_id"]
    assert_error(stack.post(f"/events/{event_id}/reward", body), 400, "invalid_request", field)


def test_a_body_over_64_kb_is_a_413(stack: LocalStack) -> None:
    # Given a valid request padded past the limit with one long (legal) feature value
    body = decide_body(profile={"note": "x" * (64 * 1024)})

    # Then it is refused as too large, whichever function receives it
    assert_error(stack.post("/decide", body), 413, "payload_too_large")
    assert_error(stack.post("/events/e1/reward", {"value": 1, "reward_id": "x" * 70_000}), 413)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "multipart/form-data",  # no boundary: Powertools' parser raised, a 500 before
        "Application/JSON",
    ],
)
@pytest.mark.parametrize("path", ["/decide", "/events/e1/reward"])
def test_a_non_json_content_type_is_a_415(stack: LocalStack, content_type: str, path: str) -> None:
    body = json.dumps(decide_body() if path == "/decide" else {"value": 1.0})
    response = stack.http("POST", path, body, {"content-type": content_type})
    assert_error(response, 415, "unsupported_media_type")


def test_a_body_that_is_not_utf8_is_a_400(stack: LocalStack) -> None:
    # API Gateway hands a binary body to the function base64-encoded
    for path in ("/decide", "/events/e1/reward"):
        assert_error(stack.http("POST", path, b'{"value": "\xff\xfe"}', JSON), 400)


def test_json_nested_past_the_parser_s_depth_is_a_400(stack: LocalStack) -> None:
    deep = "[" * 20_000 + "]" * 20_000  # under 64 kB
    assert_error(stack.http("POST", "/decide", deep, JSON), 400, "malformed_json")


def test_an_integer_past_python_s_digit_limit_is_a_400(stack: LocalStack) -> None:
    text = '{"value": 1' + "0" * 5000 + "}"
    assert_error(stack.http("POST", "/events/e1/reward", text, JSON), 400, "malformed_json")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/nope"),
        ("GET", "/decide"),
        ("POST", "/decide/"),
        ("POST", "/events/e1"),
        ("POST", "/events//reward"),
        ("POST", "/events/a/b/reward"),
        ("DELETE", "/events/e1/reward"),
    ],
)
def test_an_unknown_route_is_api_gateway_s_404(stack: LocalStack, method: str, path: str) -> None:
    response = stack.http(method, path, "{}", JSON)
    assert response.status == 404
    assert response.json() == {"message": "Not Found"}


@pytest.mark.parametrize(
    "event_id",
    ["visit 1", "x" * 194, "visit%201", "caf\u00e9", "a;b", "'or'1'='1", "<script>"],
)
@pytest.mark.parametrize("operation", ["reward", "activate"])
def test_a_bad_event_id_in_the_path_is_a_400(
    stack: LocalStack, event_id: str, operation: str
) -> None:
    response = stack.post(f"/events/{event_id}/{operation}", {"value": 1.0})
    assert_error(response, 400, "invalid_request", "event_id")


@pytest.mark.parametrize("operation", ["reward", "activate"])
def test_a_control_character_in_the_path_is_no_route(stack: LocalStack, operation: str) -> None:
    # HTTP APIs decode the path: a NUL matches no route's parameter, a 404 in the error shape
    assert_error(stack.post(f"/events/%00/{operation}", {"value": 1.0}), 404, "not_found")


@pytest.mark.parametrize("operation", ["reward", "activate"])
def test_an_unknown_event_is_a_404_unknown_event(stack: LocalStack, operation: str) -> None:
    # Given an event id that is well-formed, as long as allowed, but never decided
    response = stack.post(f"/events/home-hero:{'v' * 128}/{operation}", {"value": 1.0})
    assert_error(response, 404, "unknown_event")
    # And one without its decision point says how event ids are written
    bare = assert_error(stack.post(f"/events/visit-1/{operation}", {"value": 1.0}), 404)
    assert "<decision_point>:<id>" in bare["message"]


def test_a_duplicate_event_id_is_a_409_and_keeps_the_first_decision(stack: LocalStack) -> None:
    # Given a decision made with a client-chosen event id
    first = decide(stack, event_id="visit-42")

    # When another decision claims the same id, with other actions
    response = stack.post("/decide", decide_body(event_id="visit-42", actions=[{"id": "parka"}]))

    # Then it is refused and the first decision is what stays logged
    assert_error(response, 409, "duplicate_event", "event_id")
    assert first["event_id"] == "home-hero:visit-42"  # scoped to its decision point
    assert stored_decision(stack, "home-hero:visit-42")["chosen_action"]["S"] == first["action_id"]

    # And the same id is free in another decision point: no caller can take another's ids
    elsewhere = stack.post("/decide", decide_body(event_id="visit-42", decision_point="other"))
    assert elsewhere.status == 200 and elsewhere.json()["event_id"] == "other:visit-42"


# --- Rewards: idempotent, aggregated, late --------------------------------------------------


def test_a_repeated_reward_id_counts_once_with_earliest_aggregation(stack: LocalStack) -> None:
    event_id = decide(stack)["event_id"]

    # When the order backend retries the same order, then reports a second order
    assert reward(stack, event_id, value=1.0, reward_id="order-1") == "recorded"
    assert reward(stack, event_id, value=1.0, reward_id="order-1") == "duplicate"
    assert reward(stack, event_id, value=0.5, reward_id="order-2") == "recorded"

    # Then the earliest reward is the one kept for learning
    item = stored_decision(stack, event_id)
    assert float(item["reward"]["N"]) == 1.0
    assert set(item["reward_ids"]["SS"]) == {"order-1", "order-2"}


def test_distinct_reward_ids_sum_and_a_repeated_one_does_not() -> None:
    for stack in make_stack(RewardAggregation="sum", RewardMax="5"):
        event_id = decide(stack)["event_id"]

        assert reward(stack, event_id, value=1.0, reward_id="order-1") == "recorded"
        assert reward(stack, event_id, value=2.5, reward_id="order-2") == "recorded"
        assert reward(stack, event_id, value=1.0, reward_id="order-1") == "duplicate"

        assert float(stored_decision(stack, event_id)["reward"]["N"]) == 3.5


def test_a_reward_without_reward_id_repeated_is_a_duplicate(stack: LocalStack) -> None:
    event_id = decide(stack)["event_id"]

    assert reward(stack, event_id, value=1.0) == "recorded"
    assert reward(stack, event_id, value=1.0) == "duplicate"
    assert reward(stack, event_id, value=0.3) == "duplicate"

    assert float(stored_decision(stack, event_id)["reward"]["N"]) == 1.0


def test_a_reward_after_the_wait_is_late_and_not_learned(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given two decisions; one converts at once, the other only after the reward wait
    on_time = decide(stack, event_id="on-time")["event_id"]
    late = decide(stack, event_id="late")["event_id"]
    clock.shift(timedelta(seconds=30))
    assert reward(stack, on_time, value=1.0) == "recorded"
    clock.shift(REWARD_WAIT + timedelta(seconds=5))

    # When the late reward arrives
    assert reward(stack, late, value=1.0) == "late"
    assert reward(stack, late, value=1.0) == "duplicate"

    # Then it is kept apart from the learned reward
    item = stored_decision(stack, late)
    assert "reward" not in item
    assert float(item["late_reward"]["N"]) == 1.0

    # And retrain learns both decisions, but only the on-time reward: the logged policy
    # earned 1 of 2
    report = retrain(stack)
    assert (report["status"], report["decisions_learned"]) == ("trained", 2)
    assert report["evaluation"]["learned"]["mean"] == pytest.approx(0.5)


# --- Deferred activation --------------------------------------------------------------------


def test_a_deferred_decision_is_learned_only_once_activated(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given a deferred decision that is never activated (the offer was not shown after all)
    shown_never = decide(stack, defer_activation=True)["event_id"]
    assert reward(stack, shown_never, value=1.0) == "recorded"
    clock.shift(REWARD_WAIT + timedelta(seconds=5))

    # Then retrain sees it but learns nothing from it
    first = retrain(stack)
    assert (first["status"], first["decisions_seen"], first["decisions_learned"]) == (
        "nothing_to_learn",
        1,
        0,
    )
    assert first["model_version"] is None

    # Given a deferred decision that is activated (twice: the second changes nothing)
    shown = decide(stack, defer_activation=True)["event_id"]
    activated = stack.post(f"/events/{shown}/activate", None)
    assert activated.status == 200, activated.body
    assert activated.json() == {"event_id": shown, "status": "activated"}
    again = stack.post(f"/events/{shown}/activate", None)
    assert again.json() == {"event_id": shown, "status": "already_active"}
    clock.shift(REWARD_WAIT + timedelta(seconds=5))

    # Then it is learned, and a model is served
    second = retrain(stack)
    assert (second["status"], second["decisions_learned"], second["model_version"]) == (
        "trained",
        1,
        "1",
    )
    assert decide(stack)["model_version"] == "1"


def test_activating_a_decision_that_was_not_deferred_is_already_active(stack: LocalStack) -> None:
    event_id = decide(stack)["event_id"]
    response = stack.post(f"/events/{event_id}/activate", None)
    assert response.json() == {"event_id": event_id, "status": "already_active"}


# --- Privacy --------------------------------------------------------------------------------


def test_without_consent_the_first_allowed_action_is_served_and_no_profile_is_logged(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given a visitor who did not consent, with a profile and a user id, and the first
    # action excluded
    decision = decide(stack, consent=False, excluded_actions=["winter-coat"])

    # Then the baseline action (the first allowed) is served with certainty
    assert (decision["action_id"], decision["probability"]) == ("sunglasses", 1.0)
    assert decision["ranking"] == [
        {"id": "sunglasses", "probability": 1.0},
        {"id": "rain-jacket", "probability": 0.0},
    ]

    # And nothing of the profile, nor the user id, is in the logged item
    item = stored_decision(stack, decision["event_id"])
    logged = json.dumps(item)
    for secret in ("returning", "running", "hiking", "120.5", "lifetime_value", "shopper-42"):
        assert secret not in logged
    assert json.loads(item["features"]["S"])["profile"] == {}
    assert item["learnable"] == {"BOOL": False}

    # And retrain does not learn from it
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    reports = stack.fire_schedule("RetrainStateMachine")["reports"]
    assert sum(report["decisions_learned"] for report in reports) == 0


def test_with_consent_the_user_id_is_still_not_logged(stack: LocalStack) -> None:
    decision = decide(stack)
    assert "shopper-42" not in json.dumps(stored_decision(stack, decision["event_id"]))


# --- Whatever a client throws, never a 5xx --------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Where in a valid request an arbitrary value lands: deep enough to pass the outer checks.
DECIDE_PATHS: list[tuple[str | int, ...]] = [
    ("decision_point",),
    ("event_id",),
    ("context",),
    ("context", "timestamp"),
    ("context", "season"),
    ("context", "geo"),
    ("context", "geo", "lat"),
    ("context", "geo", "timezone"),
    ("context", "device"),
    ("context", "device", "user_agent"),
    ("context", "channel"),
    ("context", "features"),
    ("context", "features", "referrer"),
    ("profile",),
    ("profile", "interests"),
    ("profile", "lifetime_value"),
    ("user_id",),
    ("consent",),
    ("actions",),
    ("actions", 0),
    ("actions", 0, "id"),
    ("actions", 1, "features"),
    ("actions", 1, "features", "price"),
    ("excluded_actions",),
    ("defer_activation",),
]


@st.composite
def altered_decides(draw: st.DrawFn) -> dict[str, Any]:
    body = decide_body()
    *parents, last = draw(st.sampled_from(DECIDE_PATHS))
    target: Any = body
    for key in parents:
        target = target[key]
    target[last] = draw(JSON_VALUES)
    return body


# Legal feature values (DESIGN.md §4: any string is one), under arbitrary names.
LEGAL_FEATURES = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.text(max_size=12)
    | st.floats(-1e12, 1e12)
    | st.integers(-(10**12), 10**12)
    | st.booleans()
    | st.none()
    | st.lists(st.text(max_size=8), max_size=3),
    max_size=4,
)


@st.composite
def featured_decides(draw: st.DrawFn) -> dict[str, Any]:
    body = decide_body(profile=draw(LEGAL_FEATURES))
    body["context"]["features"] = draw(LEGAL_FEATURES)
    body["actions"][0]["features"] = draw(LEGAL_FEATURES)
    return body


REWARDS = st.fixed_dictionaries({"value": JSON_VALUES}, optional={"reward_id": JSON_VALUES})
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    decide_payload=JSON_VALUES | altered_decides() | featured_decides(),
    reward_payload=JSON_VALUES | REWARDS,
)
def test_no_json_value_makes_decide_or_reward_answer_5xx(
    stack: LocalStack, decide_payload: Any, reward_payload: Any
) -> None:
    decided = stack.post("/decide", decide_payload)
    event(f"decide answered {decided.status}")  # --hypothesis-show-statistics: how deep it got
    assert_not_a_server_error(decided)
    if decided.status == 200:
        # A decision the API accepts holds to the contract too
        ranking = decided.json()["ranking"]
        assert sum(ranked["probability"] for ranked in ranking) == pytest.approx(1.0)
        assert decided.json()["action_id"] in {ranked["id"] for ranked in ranking}
    # "x" exists after the first example, so rewards reach the log too
    stack.post("/decide", decide_body(event_id="x"))
    assert_not_a_server_error(stack.post("/events/x/reward", reward_payload))


@FUZZ
@given(
    body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode),
    content_type=st.sampled_from(["application/json", "text/plain", "", "application/json; x"]),
    path=st.sampled_from(["/decide", "/events/x/reward", "/events/x/activate"]),
)
def test_no_body_makes_the_api_answer_5xx(
    stack: LocalStack, body: bytes, content_type: str, path: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert_not_a_server_error(stack.http("POST", path, body, headers))


def test_decide_derives_the_visit_from_a_timestamp_country_and_region(stack: LocalStack) -> None:
    # Given only a timestamp and a place, the way issue 3 puts it
    def context_used(country: str, region: str) -> dict[str, Any]:
        body = decide_body(
            context={
                "timestamp": "2026-11-27T00:30:00Z",
                "geo": {"country": country, "region": region},
            },
        )
        response = stack.post("/decide", body)
        assert response.status == 200, response.body
        return dict(response.json()["context_used"])

    boston, sydney = context_used("US", "MA"), context_used("AU", "NSW")
    # Then Boston is a winter evening in the north, 19:30 on Thanksgiving, Black Friday week
    assert (boston["season"], boston["hemisphere"], boston["daypart"]) == (
        "winter",
        "north",
        "evening",
    )
    assert (boston["hour"], boston["holiday"], boston["retail_event"]) == (
        19,
        "thanksgiving_day",
        "black_friday_week",
    )
    # And the same instant is a summer morning in Sydney, in the south
    assert (sydney["season"], sydney["hemisphere"], sydney["daypart"]) == (
        "summer",
        "south",
        "morning",
    )
