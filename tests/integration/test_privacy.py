"""Visitors' privacy: user ids stored only as keyed hashes, consent tiers, a person's data
exported and erased through the API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import time_machine

from infra.keys import rotate_hash_key
from infra.stack import LocalStack
from tests.conftest import retrain_report

ACTIONS = [{"id": "coat", "features": {"price": 129}}, {"id": "boots"}]


def decide(stack: LocalStack, **fields: Any) -> dict[str, Any]:
    body = {"decision_point": "hero", "actions": ACTIONS, "profile": {"segment": "vip"}, **fields}
    answer = stack.post("/decide", body)
    assert answer.status == 200, answer.body
    decided: dict[str, Any] = answer.json()
    return decided


def items(stack: LocalStack) -> list[dict[str, Any]]:
    table = stack.template.tables["DecisionsTable"].name
    found: list[dict[str, Any]] = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return found


def test_a_user_id_is_stored_only_as_a_keyed_hash_and_only_with_personal_consent(
    stack: LocalStack,
) -> None:
    personal = decide(stack, user_id="shopper-42@example.com")
    anonymous = decide(stack, user_id="shopper-42@example.com", consent="anonymous")
    refused = decide(stack, user_id="shopper-42@example.com", consent=False)
    # Then the id is nowhere in clear
    stored = {item["event_id"]["S"]: item for item in items(stack)}
    assert "shopper-42" not in json.dumps(list(stored.values()))
    # And only the personal decision keeps a hash (HMAC under key 1), and its profile
    assert stored[personal["event_id"]]["user_hash"]["S"].startswith("1:")
    assert "user_hash" not in stored[anonymous["event_id"]]
    assert "user_hash" not in stored[refused["event_id"]]
    assert json.loads(stored[anonymous["event_id"]]["features"]["S"])["profile"] == {}
    assert stored[anonymous["event_id"]]["consent"]["S"] == "anonymous"
    # And an anonymous visitor is learned from (the context only); one without consent is not
    assert stored[anonymous["event_id"]]["learnable"]["BOOL"] is True
    assert stored[refused["event_id"]]["learnable"]["BOOL"] is False
    assert refused["probability"] == 1.0  # the baseline


def test_a_person_s_decisions_are_exported_and_erased_and_no_one_else_s(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    first = decide(stack, user_id="ada")
    decide(stack, user_id="grace")
    stack.post(f"/events/{first['event_id']}/reward", {"value": 1.0})
    # When the key is rotated, and the same person comes back
    secret = stack.template.secrets["UserHashSecret"].name
    assert rotate_hash_key(secret, boto3.client("secretsmanager")) == "2"
    clock.shift(timedelta(minutes=10))  # past the functions' cache of the key
    second = decide(stack, user_id="ada", decision_point="email-offer")
    hashes = {i["event_id"]["S"]: i["user_hash"]["S"][:2] for i in items(stack)}
    assert (hashes[first["event_id"]], hashes[second["event_id"]]) == ("1:", "2:")

    # Then the export finds both, under either key, oldest first, with what was stored
    exported = stack.http("GET", "/users/ada/export").json()["decisions"]
    assert [d["event_id"] for d in exported] == [first["event_id"], second["event_id"]]
    assert exported[0]["reward"] == 1.0 and exported[0]["profile"] == {"segment": "vip"}
    assert exported[0]["shown"] == first["action_id"]
    # And erasure deletes them all, says how many, and leaves everyone else's
    erased = stack.http("DELETE", "/users/ada")
    assert erased.status == 200
    assert erased.json() == {"decisions_deleted": 2, "profiles_deleted": 0}
    assert stack.http("GET", "/users/ada/export").json() == {
        "decisions": [],
        "profile": {},
        "linked_ids": 0,
    }
    assert len(stack.http("GET", "/users/grace/export").json()["decisions"]) == 1
    again = stack.http("DELETE", "/users/ada").json()
    assert again == {"decisions_deleted": 0, "profiles_deleted": 0}


def test_retrain_learns_what_each_consent_tier_allowed(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    for number in range(30):
        tier = ("personal", "anonymous", "none")[number % 3]
        decide(stack, user_id=f"u{number}", consent=tier)
    clock.shift(timedelta(minutes=11))
    report = retrain_report(stack, "hero")
    # Then the personal and anonymous decisions are learned, those without consent not
    assert (report["decisions_seen"], report["decisions_learned"]) == (30, 20)
