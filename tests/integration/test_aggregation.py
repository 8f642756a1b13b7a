"""Reward aggregation through the API: each aggregation the template offers, and a reward
delivered many times counting once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest

from infra.stack import LocalStack
from tests.conftest import make_stack

AGGREGATIONS = ("earliest", "sum", "average", "max")
# Rewards with their ids, in order of arrival; the last is a second delivery of the first.
REWARDS = [("view", 0.2), ("purchase", 3.0), ("review", 0.4), ("view", 0.2)]
EXPECTED = {"earliest": 0.2, "sum": 3.6, "average": 1.2, "max": 3.0}


@pytest.fixture(params=AGGREGATIONS)
def aggregated(request: pytest.FixtureRequest) -> Iterator[tuple[str, LocalStack]]:
    for stack in make_stack(RewardAggregation=request.param, RewardMax="5"):
        yield request.param, stack


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    yield from make_stack(RewardMax="5")  # rewards of several conversions


def logged_reward(stack: LocalStack, event_id: str) -> float:
    table = stack.template.tables["DecisionsTable"].name
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"event_id": {"S": event_id}})[
        "Item"
    ]
    if "reward_count" in item:
        return float(item["reward_total"]["N"]) / float(item["reward_count"]["N"])
    return float(item["reward"]["N"])


def test_each_aggregation_learns_its_reward_and_a_repeat_counts_once(
    aggregated: tuple[str, LocalStack],
) -> None:
    aggregation, stack = aggregated
    decision = stack.post("/decide", {"decision_point": "hero", "actions": [{"id": "a"}]}).json()
    event_id = decision["event_id"]

    statuses = [
        stack.post(f"/events/{event_id}/reward", {"value": value, "reward_id": reward_id}).json()[
            "status"
        ]
        for reward_id, value in REWARDS
    ]
    # And the same delivery 20 times over
    repeats = {
        stack.post(f"/events/{event_id}/reward", {"value": 3.0, "reward_id": "purchase"}).json()[
            "status"
        ]
        for _ in range(20)
    }

    assert statuses == ["recorded", "recorded", "recorded", "duplicate"]
    assert repeats == {"duplicate"}
    assert logged_reward(stack, event_id) == pytest.approx(EXPECTED[aggregation])


def test_each_decision_point_aggregates_as_it_is_set_beside_the_stacks(
    stack: LocalStack,
) -> None:
    # Given one decision point per aggregation in one stack (the stack's: earliest)
    for aggregation in AGGREGATIONS:
        answer = stack.http(
            "PUT",
            f"/decision-points/{aggregation}-hero",
            json.dumps({"reward_aggregation": aggregation}),
            {"content-type": "application/json"},
        )
        assert answer.status == 200, answer.body
    for aggregation in AGGREGATIONS:
        body = {"decision_point": f"{aggregation}-hero", "actions": [{"id": "a"}]}
        event_id = stack.post("/decide", body).json()["event_id"]
        # When its rewards arrive, the last a second delivery of the first
        for reward_id, value in REWARDS:
            stack.post(f"/events/{event_id}/reward", {"value": value, "reward_id": reward_id})
        # Then each learns its own aggregate
        assert logged_reward(stack, event_id) == pytest.approx(EXPECTED[aggregation])


def test_a_reward_outside_the_decision_points_range_is_refused_on_both_routes(
    stack: LocalStack,
) -> None:
    # Given a decision point whose rewards are order margins from -50 to 500
    for name, low, high in (("margin-hero", -50, 500), ("personalizer", 0, 0.5)):
        answer = stack.http(
            "PUT", f"/decision-points/{name}",
            json.dumps({"reward_range": {"low": low, "high": high}}),
            {"content-type": "application/json"},
        )  # fmt: skip
        assert answer.status == 200, answer.body
    body = {"decision_point": "margin-hero", "actions": [{"id": "a"}, {"id": "b"}]}
    event_id = stack.post("/decide", body).json()["event_id"]

    # Then a reward outside it is a 400 naming the field, and nothing is stored
    refused = stack.post(f"/events/{event_id}/reward", {"value": 1e6})
    assert refused.status == 400, refused.body
    assert refused.json()["error"]["code"] == "reward_out_of_range"
    assert refused.json()["error"]["field"] == "value"
    assert stack.post(f"/events/{event_id}/reward", {"value": 120.5}).json()["status"] == (
        "recorded"
    )
    assert logged_reward(stack, event_id) == 120.5
    # And the range must be a range
    bad = stack.http(
        "PUT", "/decision-points/margin-hero",
        json.dumps({"reward_range": {"low": 5, "high": 5}}), {"content-type": "application/json"},
    )  # fmt: skip
    assert bad.status == 400
    # And Personalizer's route refuses in Personalizer's shape, on its decision point's range
    rank = {"contextFeatures": [{"a": 1}], "actions": [{"id": "x", "features": [{"b": 1}]},
            {"id": "y", "features": [{"b": 2}]}], "eventId": "p-1"}  # fmt: skip
    assert stack.post("/personalizer/v1.0/rank", rank).status == 201
    over = stack.post("/personalizer/v1.0/events/p-1/reward", {"value": 0.8})
    assert over.status == 400, over.body
    assert over.json()["error"]["code"] == "BadRequest"
    assert over.json()["error"]["innerError"]["code"] == "reward_out_of_range"
    assert stack.post("/personalizer/v1.0/events/p-1/reward", {"value": 0.5}).status == 204
    assert logged_reward(stack, "personalizer:p-1") == 0.5
