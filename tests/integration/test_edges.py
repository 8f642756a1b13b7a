"""The edges of the API a stranger reaches: decision points that must exist, rewards that must
fit, event ids no caller can take from another."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from infra.stack import ROOT, LocalStack
from infra.template import load_yaml
from tests.conftest import make_stack

ACTIONS = [{"id": "a"}, {"id": "b"}]
RESOURCES = load_yaml(ROOT / "template.yaml")["Resources"]


@pytest.fixture
def closed() -> Iterator[LocalStack]:
    """The template's defaults: decide creates no decision point."""
    yield from make_stack(AutoCreateDecisionPoints="0")


def registered(stack: LocalStack) -> list[str]:
    table = stack.template.tables["ModelRegistryTable"].name
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return sorted(i["decision_point"]["S"] for i in items if i["record"]["S"] == "current")


def logged(stack: LocalStack) -> int:
    table = stack.template.tables["DecisionsTable"].name
    count: int = boto3.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
    return count


def put(stack: LocalStack, decision_point: str) -> None:
    answer = stack.http(
        "PUT", f"/decision-points/{decision_point}", "{}", {"content-type": "application/json"}
    )
    assert answer.status == 200, answer.body


def test_2000_unknown_decision_point_names_create_nothing(closed: LocalStack) -> None:
    # When a caller decides for 2,000 names nobody created
    for number in range(2000):
        answer = closed.post("/decide", {"decision_point": f"junk-{number}", "actions": ACTIONS})
        # Then each is a 404 that says how a decision point is created
        assert answer.status == 404, answer.body
        error = answer.json()["error"]
        assert (error["code"], error["field"]) == ("unknown_decision_point", "decision_point")
    assert "PUT /decision-points/junk-1999" in error["message"]
    # And nothing was registered for retrain to walk, nor logged
    assert registered(closed) == []
    assert logged(closed) == 0


def test_a_decision_point_an_operator_created_is_decided_for(closed: LocalStack) -> None:
    assert closed.post("/decide", {"decision_point": "home-hero", "actions": ACTIONS}).status == 404
    put(closed, "home-hero")
    answer = closed.post("/decide", {"decision_point": "home-hero", "actions": ACTIONS})
    assert answer.status == 200, answer.body
    # And the Personalizer routes' own decision point needs no operator
    rank = {"contextFeatures": [{"a": 1}], "actions": [{"id": "x", "features": [{"b": 1}]}]}
    assert closed.post("/personalizer/v1.0/rank", rank).status == 201
    assert registered(closed) == ["home-hero", "personalizer"]


def test_decide_creates_decision_points_up_to_the_operators_cap() -> None:
    for stack in make_stack(AutoCreateDecisionPoints="3"):
        put(stack, "made-by-operator")  # not counted against the cap
        statuses = [
            stack.post("/decide", {"decision_point": name, "actions": ACTIONS}).status
            for name in ("first", "second", "first", "third", "fourth", "made-by-operator")
        ]
        assert statuses == [200, 200, 200, 200, 404, 200]
        assert registered(stack) == ["first", "made-by-operator", "second", "third"]


@pytest.mark.parametrize("value", [1e6, 1.5, -2, 1e-200, -1e-131, 1e-10])
def test_a_reward_outside_the_default_range_or_what_dynamodb_stores_is_a_400(
    value: float,
) -> None:
    for stack in make_stack():
        event_id = stack.post("/decide", {"decision_point": "hero", "actions": ACTIONS}).json()[
            "event_id"
        ]
        answer = stack.post(f"/events/{event_id}/reward", {"value": value})
        assert answer.status == 400, answer.body
        assert answer.json()["error"]["field"] == "value"
        body = json.dumps({"value": value})
        personalizer = stack.http(
            "POST",
            "/personalizer/v1.0/events/x/reward",
            body,
            {"content-type": "application/json"},
        )
        assert personalizer.status == 400, personalizer.body


def test_a_personalizer_reward_for_a_decide_event_is_unknown(stack: LocalStack) -> None:
    event_id = stack.post("/decide", {"decision_point": "hero", "actions": ACTIONS}).json()[
        "event_id"
    ]
    for operation in ("reward", "activate"):
        answer = stack.post(f"/personalizer/v1.0/events/{event_id}/{operation}", {"value": 1})
        assert answer.status == 404, answer.body
        # And neither is it reachable without its decision point
        bare = event_id.split(":", 1)[1]
        answer = stack.post(f"/personalizer/v1.0/events/{bare}/{operation}", {"value": 1})
        assert answer.status == 404, answer.body


def test_pages_of_the_allowed_origins_may_call_decide_and_no_others() -> None:
    for stack in make_stack(AllowedOrigins="https://www.myshop.com,https://m.myshop.com"):
        preflight = {"access-control-request-method": "POST",
                     "access-control-request-headers": "content-type"}  # fmt: skip
        # The browser's preflight is answered by API Gateway, for an allowed origin with CORS
        allowed = stack.http("OPTIONS", "/decide", None,
                             {**preflight, "origin": "https://m.myshop.com"})  # fmt: skip
        assert allowed.status == 204
        assert allowed.headers["access-control-allow-origin"] == "https://m.myshop.com"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        assert allowed.headers["access-control-allow-headers"] == "content-type,x-client-key"
        # And for another origin without: the browser refuses to send the request
        other = stack.http(
            "OPTIONS", "/decide", None, {**preflight, "origin": "https://evil.example"}
        )
        assert other.status == 204 and "access-control-allow-origin" not in other.headers
        # The answers themselves name the allowed origin only
        body = json.dumps({"decision_point": "hero", "actions": ACTIONS})
        for origin, named in (("https://www.myshop.com", True), ("https://evil.example", False)):
            answer = stack.http("POST", "/decide", body,
                                {"content-type": "application/json", "origin": origin})  # fmt: skip
            assert answer.status == 200
            assert ("access-control-allow-origin" in answer.headers) is named


def test_by_default_no_origin_may_call_from_a_browser(stack: LocalStack) -> None:
    cors = stack.template.cors
    assert cors is not None and cors.allow_origins == ["https://shop.example.invalid"]
    assert not cors.allows("https://www.myshop.com")


def test_a_burst_past_a_routes_limit_gets_429s_as_api_gateway_answers_them() -> None:
    # Given decide limited to 2 a second with a burst of 5, as an operator may set it
    for stack in make_stack(DecideRateLimit="2", DecideBurstLimit="5"):
        body = {"decision_point": "hero", "actions": ACTIONS}
        statuses = [stack.post("/decide", body).status for _ in range(12)]
        # Then the burst goes through and the rest is refused before any function runs
        assert statuses[:5] == [200] * 5 and statuses.count(429) >= 3, statuses
        assert stack.post("/decide", body).json() in ({"message": "Too Many Requests"},)
        # And another route keeps its own bucket
        event_id = decided_event(stack)
        assert stack.post(f"/events/{event_id}/activate", None).status == 200


def decided_event(stack: LocalStack) -> str:
    table = stack.template.tables["DecisionsTable"].name
    item = boto3.client("dynamodb").scan(TableName=table, Limit=1)["Items"][0]
    event_id: str = item["event_id"]["S"]
    return event_id


def test_the_template_sets_throttling_for_every_route() -> None:
    template = LocalStack().template
    assert template.throttles["$default"].rate == 1000
    assert template.throttles["POST /decide"] == template.throttles["POST /personalizer/v1.0/rank"]
    rewards = ["POST /events/{event_id}/reward", "POST /personalizer/v1.0/events/{eventId}/reward"]
    assert all(template.throttles[key].rate == 500 for key in rewards)
    assert all(template.throttle(route.route_key) for route in template.routes)
    # And reserved concurrency, when the operator sets it, caps the public functions
    for function in ("DecideFunction", "PersonalizerFunction", "RewardFunction"):
        reserved = RESOURCES[function]["Properties"]["ReservedConcurrentExecutions"]
        assert set(reserved) == {"Fn::If"} and reserved["Fn::If"][0].startswith("Reserve")


def test_rewards_are_kept_to_9_decimals_so_their_sums_fit_dynamodb() -> None:
    for stack in make_stack(RewardAggregation="sum"):
        body = {"decision_point": "hero", "actions": ACTIONS}
        event_id = stack.post("/decide", body).json()["event_id"]
        for reward_id, value in (("a", 1.0), ("b", 0.1234567891234), ("c", 1e-9)):
            answer = stack.post(
                f"/events/{event_id}/reward", {"value": value, "reward_id": reward_id}
            )
            assert answer.json()["status"] == "recorded", answer.body
        table = stack.template.tables["DecisionsTable"].name
        item = boto3.client("dynamodb").get_item(TableName=table, Key={"event_id": {"S": event_id}})
        assert item["Item"]["reward"]["N"] == "1.123456790"


def test_a_user_id_that_could_not_travel_in_a_path_is_refused(stack: LocalStack) -> None:
    for user_id in ("a/b", "a?b", "100%", "two words"):
        body = {"decision_point": "hero", "actions": ACTIONS, "user_id": user_id}
        answer = stack.post("/decide", body)
        assert answer.status == 400 and answer.json()["error"]["field"] == "user_id"
