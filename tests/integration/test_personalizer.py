"""The Azure Personalizer v1.0 routes through API Gateway v2 events to the real handler, on moto.

Personalizer's shapes and status codes (rank 201, reward and activate 204), its error shape
``{"error": {"code", "message", "target"?, "innerError"?}}``, and the same log and model as
``/decide``: a decision made here is learned by the same retrain.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import boto3
import pytest
import time_machine

from infra.stack import ROOT, HttpResponse, LocalStack
from infra.template import load_yaml
from tests.conftest import TEST_KEY, make_stack, retrain_report

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

REWARD_WAIT = timedelta(seconds=600)  # the template's default
BASE = "/personalizer/v1.0"
# What a Personalizer client sends: JSON with a charset, and its subscription key
HEADERS = {"content-type": "application/json; charset=utf-8", "Ocp-Apim-Subscription-Key": TEST_KEY}
RANK: dict[str, Any] = {
    "contextFeatures": [
        {"user": {"profileType": "AnonymousUser", "latlong": [47.6, -122.1]}},
        {"environment": {"dayOfMonth": "28", "weather": "sunny"}},
        {"device": {"mobile": True}},
    ],
    "actions": [
        {"id": "NewsArticle", "features": [{"type": "News"}, {"tags": ["world", "politics"]}]},
        {"id": "SportsArticle", "features": [{"type": "Sports"}]},
        {"id": "EntertainmentArticle", "features": [{"type": "Entertainment"}]},
    ],
    "excludedActions": ["SportsArticle"],
    "eventId": "75269AD0-BFEE-4598-8196-C57383D38E10",
    "deferActivation": False,
}


def rank_body(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(RANK), **changes}


def post(stack: LocalStack, path: str, payload: Any | None = None) -> HttpResponse:
    body = None if payload is None else json.dumps(payload)
    return stack.http("POST", BASE + path, body, HEADERS)


def rank(stack: LocalStack, **changes: Any) -> dict[str, Any]:
    response = post(stack, "/rank", rank_body(**changes))
    assert response.status == 201, response.body
    return dict(response.json())


def assert_personalizer_error(
    response: HttpResponse, status: int, code: str, target: str | None = None
) -> dict[str, Any]:
    """Personalizer's error shape, with its code (and target, when given)."""
    assert response.status == status, response.body
    assert response.headers.get("content-type", "").startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"code", "message"} <= set(error) <= {"code", "message", "target", "innerError"}
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    if target is not None:
        assert error.get("target") == target, error
    return dict(error)


def stored_decision(
    stack: LocalStack, event_id: str, decision_point: str = "personalizer"
) -> dict[str, Any]:
    """The decision logged for a Personalizer event id (kept scoped to its decision point)."""
    table = stack.template.tables["DecisionsTable"].name
    key = {"event_id": {"S": f"{decision_point}:{event_id}"}}
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=table, Key=key, ConsistentRead=True
    )
    assert "Item" in item, f"no decision {event_id!r} stored"
    return dict(item["Item"])


def retrain(stack: LocalStack, decision_point: str = "personalizer") -> dict[str, Any]:
    return retrain_report(stack, decision_point)


# --- Shapes and status codes ----------------------------------------------------------------


def test_rank_is_a_201_ranking_every_action_with_the_excluded_at_probability_zero(
    stack: LocalStack,
) -> None:
    response = post(stack, "/rank", RANK)

    assert response.status == 201, response.body
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"ranking", "eventId", "rewardActionId"}
    assert body["eventId"] == RANK["eventId"]
    assert body["rewardActionId"] in {"NewsArticle", "EntertainmentArticle"}
    assert [ranked["id"] for ranked in body["ranking"]][-1] == "SportsArticle"
    assert body["ranking"][-1]["probability"] == 0.0
    assert sorted(r["id"] for r in body["ranking"]) == sorted(a["id"] for a in RANK["actions"])
    assert sum(r["probability"] for r in body["ranking"]) == pytest.approx(1.0)
    assert all(set(ranked) == {"id", "probability"} for ranked in body["ranking"])


def test_rank_generates_an_event_id_when_none_is_sent(stack: LocalStack) -> None:
    body = {k: v for k, v in rank_body().items() if k != "eventId"}
    answered = post(stack, "/rank", body).json()

    assert answered["eventId"]
    assert stored_decision(stack, answered["eventId"])["decision_point"]["S"] == "personalizer"


def test_a_rank_is_logged_as_a_decision_with_flattened_features(stack: LocalStack) -> None:
    answered = rank(stack)

    item = stored_decision(stack, answered["eventId"])
    features = json.loads(item["features"]["S"])
    assert item["decision_point"]["S"] == "personalizer"
    assert item["chosen_action"]["S"] == answered["rewardActionId"]
    assert features["custom"] == {
        "user.profileType": "AnonymousUser",
        "user.latlong[0]": 47.6,
        "user.latlong[1]": -122.1,
        "environment.dayOfMonth": "28",
        "environment.weather": "sunny",
        "device.mobile": True,
    }
    # Only the allowed actions are decided among, as /decide does
    assert [action_id for action_id, _ in features["actions"]] == [
        "NewsArticle",
        "EntertainmentArticle",
    ]
    assert features["actions"][0][1] == {"type": "News", "tags": ["world", "politics"]}


def test_the_decision_point_is_the_template_parameter() -> None:
    for stack in make_stack(PersonalizerDecisionPoint="shop-hero"):
        answered = rank(stack)
        stored = stored_decision(stack, answered["eventId"], "shop-hero")
        assert stored["decision_point"]["S"] == "shop-hero"


def test_reward_and_activate_are_204s_with_no_body(stack: LocalStack) -> None:
    event_id = rank(stack, deferActivation=True)["eventId"]

    rewarded = post(stack, f"/events/{event_id}/reward", {"value": 0.5})
    activated = post(stack, f"/events/{event_id}/activate")
    again = post(stack, f"/events/{event_id}/activate")

    for answer in (rewarded, activated, again):
        assert (answer.status, answer.body) == (204, ""), answer
    item = stored_decision(stack, event_id)
    assert (float(item["reward"]["N"]), item["activated"]["BOOL"]) == (0.5, True)


def test_a_rank_with_only_actions_is_enough(stack: LocalStack) -> None:
    answered = post(stack, "/rank", {"actions": [{"id": "a", "features": []}, {"id": "b"}]})
    assert answered.status == 201, answered.body
    assert {r["id"] for r in answered.json()["ranking"]} == {"a", "b"}


# --- Errors: Personalizer's shape and codes -------------------------------------------------


@pytest.mark.parametrize("operation", ["reward", "activate"])
def test_an_unknown_event_is_a_404_resource_not_found(stack: LocalStack, operation: str) -> None:
    response = post(stack, f"/events/never-ranked/{operation}", {"value": 1.0})
    error = assert_personalizer_error(response, 404, "ResourceNotFound")
    assert error["innerError"] == {"code": "unknown_event"}


REFUSED_RANKS: dict[str, tuple[dict[str, Any], str]] = {
    "no actions": ({"contextFeatures": []}, "actions"),
    "51 actions (the default limit)": (
        rank_body(actions=[{"id": str(i)} for i in range(51)], excludedActions=[]),
        "actions",
    ),
    "201 actions (the most any decision point allows)": (
        rank_body(actions=[{"id": str(i)} for i in range(201)], excludedActions=[]),
        "actions",
    ),
    "duplicate action ids": (rank_body(actions=[{"id": "a"}, {"id": "a"}]), "actions"),
    "every action excluded": (
        rank_body(excludedActions=["NewsArticle", "SportsArticle", "EntertainmentArticle"]),
        "excludedActions",
    ),
    "an unknown excluded action": (rank_body(excludedActions=["Nope"]), "excludedActions"),
    "an event id with spaces": (rank_body(eventId="event 1"), "eventId"),
    "a null context feature object": (rank_body(contextFeatures=[None]), "contextFeatures.0"),
    "a list of objects": (
        rank_body(contextFeatures=[{"user": {"orders": [{"id": 1}]}}]),
        "contextFeatures.0.user.orders",
    ),
    "a number too large": (
        rank_body(actions=[{"id": "a", "features": [{"price": 1e300}]}]),
        "actions.0.features.0.price",
    ),
    "a name given twice": (
        rank_body(contextFeatures=[{"user": {"age": 30}}, {"user.age": 31}]),
        "contextFeatures.1.user.age",
    ),
    "an unknown field": (rank_body(slots=[]), "slots"),
    "a snake_case field": (rank_body(excluded_actions=[]), "excluded_actions"),
}


@pytest.mark.parametrize("case", REFUSED_RANKS)
def test_an_invalid_rank_is_a_400_bad_request_naming_the_target(
    stack: LocalStack, case: str
) -> None:
    body, target = REFUSED_RANKS[case]
    error = assert_personalizer_error(post(stack, "/rank", body), 400, "BadRequest", target)
    assert error["innerError"] == {"code": "invalid_request"}


def test_a_reused_event_id_is_a_400_and_keeps_the_first_decision(stack: LocalStack) -> None:
    first = rank(stack)

    response = post(stack, "/rank", rank_body(actions=[{"id": "Other"}], excludedActions=[]))

    error = assert_personalizer_error(response, 400, "BadRequest", "eventId")
    assert error["innerError"] == {"code": "duplicate_event"}
    assert stored_decision(stack, first["eventId"])["chosen_action"]["S"] == first["rewardActionId"]


@pytest.mark.parametrize("body", [{}, {"value": 1.5}, {"value": -2}, {"value": "lots"}, []])
def test_an_invalid_reward_is_a_400(stack: LocalStack, body: Any) -> None:
    event_id = rank(stack)["eventId"]
    assert_personalizer_error(post(stack, f"/events/{event_id}/reward", body), 400, "BadRequest")


@pytest.mark.parametrize("operation", ["reward", "activate"])
def test_an_event_id_the_core_cannot_hold_is_a_400_naming_it(
    stack: LocalStack, operation: str
) -> None:
    response = post(stack, f"/events/{'x' * 129}/{operation}", {"value": 1.0})
    assert_personalizer_error(response, 400, "BadRequest", "eventId")


def test_malformed_json_too_large_and_not_json_are_refused_in_personalizer_s_shape(
    stack: LocalStack,
) -> None:
    malformed = stack.http("POST", f"{BASE}/rank", '{"actions": [', HEADERS)
    too_large = post(stack, "/rank", rank_body(contextFeatures=[{"note": "x" * 70_000}]))
    not_json = stack.http("POST", f"{BASE}/rank", json.dumps(RANK), {"content-type": "text/plain"})

    assert assert_personalizer_error(malformed, 400, "BadRequest")["innerError"] == {
        "code": "malformed_json"
    }
    assert assert_personalizer_error(too_large, 400, "BadRequest")["innerError"] == {
        "code": "payload_too_large"
    }
    assert_personalizer_error(not_json, 415, "BadRequest")


# --- The same engine and the same logs ------------------------------------------------------


def test_decisions_made_through_personalizer_are_learned_with_decide_s_by_one_retrain(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    # Given a rewarded rank, a deferred rank never activated, a deferred rank rewarded only
    # (which activates it, as in Personalizer), and a /decide for the same decision point
    shown = rank(timed_stack, eventId="shown")
    never_shown = rank(timed_stack, eventId="never-shown", deferActivation=True)
    rewarded_only = rank(timed_stack, eventId="rewarded-only", deferActivation=True)
    for event_id in ("shown", "rewarded-only"):
        answer = post(timed_stack, f"/events/{event_id}/reward", {"value": 1.0})
        assert answer.status == 204, answer.body
    decided = timed_stack.post(
        "/decide",
        {"decision_point": "personalizer", "actions": [{"id": "NewsArticle"}, {"id": "Other"}]},
    )
    assert decided.status == 200, decided.body

    # When the reward wait passes and retrain runs
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    report = retrain(timed_stack)

    # Then all four are seen, the three shown are learned, and a model serves both APIs
    assert (report["status"], report["model_version"]) == ("trained", "1"), report
    assert (report["decisions_seen"], report["decisions_learned"]) == (4, 3)
    assert stored_decision(timed_stack, never_shown["eventId"])["activated"]["BOOL"] is False
    assert stored_decision(timed_stack, rewarded_only["eventId"])["activated"]["BOOL"] is True
    assert float(stored_decision(timed_stack, shown["eventId"])["reward"]["N"]) == 1.0
    after = timed_stack.post(
        "/decide", {"decision_point": "personalizer", "actions": [{"id": "NewsArticle"}]}
    )
    assert after.json()["model_version"] == "1"
    assert post(timed_stack, "/rank", rank_body(eventId="next")).status == 201


def test_a_reward_after_the_wait_is_accepted_and_not_learned(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    event_id = rank(timed_stack)["eventId"]
    clock.shift(REWARD_WAIT + timedelta(seconds=5))

    late = post(timed_stack, f"/events/{event_id}/reward", {"value": 1.0})

    assert late.status == 204, late.body
    item = stored_decision(timed_stack, event_id)
    assert "reward" not in item
    assert float(item["late_reward"]["N"]) == 1.0


def test_the_function_may_do_what_decide_and_reward_do_and_no_more() -> None:
    resources = load_yaml(ROOT / "template.yaml")["Resources"]

    def grants(logical_id: str) -> set[tuple[str, str]]:
        statements = [
            statement
            for policy in resources[logical_id]["Properties"]["Policies"]
            for statement in policy["Statement"]
        ]
        assert all(statement["Effect"] == "Allow" for statement in statements)
        return {
            (action, json.dumps(statement["Resource"], sort_keys=True))
            for statement in statements
            for action in (
                [statement["Action"]]
                if isinstance(statement["Action"], str)
                else statement["Action"]
            )
        }

    assert grants("PersonalizerFunction") == grants("DecideFunction") | grants("RewardFunction")


def test_with_explanations_on_rank_names_the_request_s_features_that_chose_the_action(
    clock: time_machine.Traveller,
) -> None:
    # Given Personalizer's IsInferenceExplainabilityEnabled (PersonalizerExplanations=true)
    # and a model that learned that rain sells umbrellas and sun sunglasses
    gen = make_stack(PersonalizerExplanations="true")
    stack = next(gen)
    try:
        explained_by_the_weather(stack, clock)
    finally:
        gen.close()


def explained_by_the_weather(stack: LocalStack, clock: time_machine.Traveller) -> None:
    actions = [{"id": "umbrella", "features": [{"kind": "rain"}]},
               {"id": "sunglasses", "features": [{"kind": "sun"}]}]  # fmt: skip
    for number in range(400):
        weather = "rain" if number % 2 else "sun"
        body = {"contextFeatures": [{"environment": {"weather": weather}}], "actions": actions,
                "eventId": f"w-{number}", "excludedActions": []}  # fmt: skip
        ranked = rank(stack, **body)
        if ranked["rewardActionId"] == ("umbrella" if weather == "rain" else "sunglasses"):
            assert post(stack, f"/events/w-{number}/reward", {"value": 1}).status == 204
        clock.shift(timedelta(milliseconds=100))
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain(stack)["status"] == "trained"

    # When a rainy visit is ranked
    rainy = [{"environment": {"weather": "rain"}}]
    answers = [
        rank(stack, contextFeatures=rainy, actions=actions, eventId=f"ask-{n}", excludedActions=[])
        for n in range(6)
    ]

    # Then the model's best pick is explained by the weather, named as the request named it
    best = [a for a in answers if a["inferenceExplanation"][0]["features"]]
    assert best
    for answer in best:
        (explained,) = answer["inferenceExplanation"]
        assert explained["id"] == answer["rewardActionId"] == "umbrella"
        assert explained["features"][0]["name"] == "environment.weather"
        assert explained["features"][0]["score"] > 0
