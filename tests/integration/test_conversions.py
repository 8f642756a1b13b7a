"""POST /conversions: an order system's batch, answered item by item, idempotent by reward_id."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import time_machine

from infra.stack import LocalStack
from tests.conftest import START

ACTIONS = [{"id": "a"}, {"id": "b"}]


def decide(stack: LocalStack, visit: str) -> str:
    body = {"decision_point": "hero", "event_id": visit, "actions": ACTIONS}
    answer = stack.post("/decide", body)
    assert answer.status == 200, answer.body
    event_id: str = answer.json()["event_id"]
    return event_id


def send(stack: LocalStack, items: list[Any]) -> dict[str, Any]:
    answer = stack.post("/conversions", {"conversions": items})
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.json()
    return body


def test_a_mixed_batch_is_answered_item_by_item_and_counts_once(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    first, second, old = decide(stack, "v-1"), decide(stack, "v-2"), decide(stack, "v-0")
    clock.shift(timedelta(minutes=5))
    fresh = decide(stack, "v-3")
    clock.shift(timedelta(minutes=6))  # the first three are now past the 10 minute wait
    items: list[Any] = [
        {"event_id": fresh, "value": 1.0, "reward_id": "o-1", "occurred_at": START.isoformat()},
        {"event_id": fresh, "value": 1.0, "reward_id": "o-1"},  # the same order again
        {"event_id": first, "value": 0.5, "reward_id": "o-2"},  # after its reward wait
        {"event_id": "hero:never-decided", "value": 1.0, "reward_id": "o-3"},
        {"event_id": second, "value": "lots", "reward_id": "o-4"},
        {"event_id": second, "value": 5.0, "reward_id": "o-5"},  # outside -1 to 1
        {"event_id": second, "value": 1.0},  # no reward id
        "not an object",
        {"event_id": old, "value": 1.0, "reward_id": "o-6", "occurred_at": "2099-01-01T00:00:00Z"},
    ]
    answer = send(stack, items)
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["accepted", "duplicate", "late", "unknown", "invalid", "invalid",
                        "invalid", "invalid", "invalid"]  # fmt: skip
    assert [r["index"] for r in answer["results"]] == list(range(len(items)))
    assert answer["counts"] == {"accepted": 1, "duplicate": 1, "late": 1, "unknown": 1,
                                "invalid": 5}  # fmt: skip
    results = answer["results"]
    assert results[4]["message"].startswith("value") and results[6]["message"].startswith(
        "reward_id"
    )
    assert (results[3]["event_id"], results[3]["reward_id"]) == ("hero:never-decided", "o-3")
    # And the whole batch sent again (a retry after a timeout) records nothing twice
    again = send(stack, items)
    assert [r["status"] for r in again["results"]][:3] == ["duplicate", "duplicate", "duplicate"]


def test_a_batch_needs_a_server_key_and_at_most_500_items(stack: LocalStack) -> None:
    event_id = decide(stack, "v-1")
    item = {"event_id": event_id, "value": 1.0, "reward_id": "o-1"}
    body = json.dumps({"conversions": [item]})
    keyless = stack.http("POST", "/conversions", body,
                         {"content-type": "application/json", "x-api-key": "wrong"})  # fmt: skip
    assert keyless.status == 401
    too_many = stack.post("/conversions", {"conversions": [item] * 501})
    assert too_many.status == 400 and too_many.json()["error"]["field"] == "conversions"
    assert stack.post("/conversions", {"conversions": []}).status == 400
    five_hundred = [{**item, "reward_id": f"o-{n}"} for n in range(500)]
    answer = send(stack, five_hundred)
    assert answer["counts"] == {"accepted": 500}


def test_the_queue_consumer_reports_what_it_cannot_record_and_dead_letters_only_that(
    stack: LocalStack,
) -> None:
    # Given a queue holding a good conversion, the same again, one for no decision, and junk
    event_id = decide(stack, "v-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue, dead = (
        stack.queue_urls["ConversionsQueue"],
        stack.queue_urls["ConversionsDeadLetterQueue"],
    )
    bodies = [
        json.dumps({"event_id": event_id, "value": 1.0, "reward_id": "o-1"}),
        json.dumps({"event_id": event_id, "value": 1.0, "reward_id": "o-1"}),
        json.dumps({"event_id": "hero:never-decided", "value": 1.0, "reward_id": "o-2"}),
        "{not json",
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=queue, MessageBody=body)
    ((function, source),) = stack.queue_sources()
    assert (function, source.batch_size, source.reports_failures) == (
        "ConversionsFunction",
        10,
        True,
    )

    # When Lambda hands the batch to the consumer
    first = stack.poll(function, source, visibility_timeout=0)
    # Then the good one and its duplicate are done, the other two reported as failures
    assert first == {"received": 4, "failed": 2}
    assert stored_reward(stack, event_id) == 1.0
    # And after the queue's three tries those two, and only they, are in the dead-letter queue
    for _ in range(3):
        stack.poll(function, source, visibility_timeout=0)
    left = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert left == []
    dead_letters = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in dead_letters) == sorted(bodies[2:])


def stored_reward(stack: LocalStack, event_id: str) -> float:
    table = stack.template.tables["DecisionsTable"].name
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"event_id": {"S": event_id}})
    return float(item["Item"]["reward"]["N"])
