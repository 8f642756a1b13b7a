"""Reward aggregation through the API: each aggregation the template offers, and a reward
delivered many times counting once."""

from __future__ import annotations

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
    for stack in make_stack(RewardAggregation=request.param):
        yield request.param, stack


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
