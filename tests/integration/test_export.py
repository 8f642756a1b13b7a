"""Logs out through the twin's stack: settled days exported to S3 as DSJSON and JSON Lines,
partitioned by decision point and day, read by VW's own DSJSON parser, and replayable
through the history import."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import time_machine
import vowpal_wabbit_next as vw

from infra.stack import LocalStack
from tests.conftest import retrain_report

REWARD_WAIT = timedelta(seconds=600)
DSJSON = "exports/dsjson/decision_point=home-hero/date=2026-11-22/part-00000.json"
JSONL = "exports/jsonl/decision_point=home-hero/date=2026-11-22/part-00000.jsonl"


def traffic(stack: LocalStack, clock: time_machine.Traveller, day: int, count: int) -> None:
    for number in range(count):
        clock.shift(timedelta(seconds=1))
        body: dict[str, Any] = {
            "decision_point": "home-hero",
            "event_id": f"d{day}-{number}",
            "context": {
                "geo": {"timezone": "America/New_York"},
                "features": {"weather": "snow" if number % 2 else "sun"},
            },
            "profile": {"segment": "returning"},
            "actions": [
                {"id": "coat", "features": {"category": "outerwear", "price": 129.0}},
                {"id": "sunglasses", "features": {"category": "accessories"}},
            ],
            "consent": number != 3,
        }
        assert stack.post("/decide", body).status == 200
        if number % 3 == 0:
            stack.post(f"/events/home-hero:d{day}-{number}/reward", {"value": 0.5})


def objects(stack: LocalStack) -> dict[str, str]:
    s3 = boto3.client("s3")
    bucket = stack.template.buckets["ExportsBucket"].name
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read().decode() for o in listed
    }


def export(stack: LocalStack) -> list[dict[str, Any]]:
    exported: list[dict[str, Any]] = stack.fire_schedule("ExportFunction")["exported"]
    return exported


def test_a_settled_day_is_exported_once_in_both_formats_and_replays(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given a Sunday of decisions, learned by retrain
    traffic(stack, clock, 1, 60)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain_report(stack, "home-hero")["status"] == "trained"
    # Then Sunday is not exported while retrain has not settled all of it
    export(stack)
    assert objects(stack) == {}

    # When Monday's decisions settle, and the export runs
    clock.shift(timedelta(days=1))
    traffic(stack, clock, 2, 40)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    retrain_report(stack, "home-hero")
    (done,) = [e for e in export(stack) if e["decision_point"] == "home-hero"]

    # Then Sunday is exported, in each format, one line a decision
    assert (done["days"], done["decisions"]) == (["2026-11-22"], 60)
    found = objects(stack)
    assert set(found) == {DSJSON, JSONL}
    rows = [json.loads(line) for line in found[JSONL].splitlines()]
    assert [r["event_id"] for r in rows] == [f"home-hero:d1-{n}" for n in range(60)]
    first = rows[0]
    assert first["reward"] == 0.5 and rows[1]["reward"] is None and rows[1]["learned_reward"] == 0
    assert first["custom"] == {"weather": "sun"} and first["profile"] == {"segment": "returning"}
    assert first["context"]["weekend"] is True  # derived: a Sunday in New York
    assert rows[3]["learnable"] is False and rows[3]["profile"] == {}  # no consent
    assert first["actions"][0] == {
        "id": "coat", "features": {"category": "outerwear", "price": 129.0}
    }  # fmt: skip
    events = [json.loads(line) for line in found[DSJSON].splitlines()]
    assert events[0]["_label_cost"] == -0.5 and events[0]["EventId"] == "home-hero:d1-0"
    assert [e.get("_skipLearn", False) for e in events[:5]] == [False, False, False, True, False]
    assert events[0]["c"]["_multi"][0] == {
        "_tag": "coat", "action": {"category": "outerwear", "price": 129.0}
    }  # fmt: skip
    # And VW's own DSJSON parser reads every line
    workspace = vw.Workspace(["--cb_explore_adf", "--dsjson"])
    parser = vw.DSJsonFormatParser(workspace)
    for line in found[DSJSON].splitlines():
        workspace.learn_one(parser.parse_json(line))

    # And a second run exports nothing new and rewrites nothing
    assert next(e for e in export(stack) if e["decision_point"] == "home-hero")["days"] == []
    assert objects(stack) == found

    # And the day replays into a new decision point through the history import
    replay = {"format": "dsjson", "content": found[DSJSON], "event_ids": "new"}
    replayed = stack.post("/decision-points/replayed/history", replay)
    assert replayed.status == 200, replayed.body
    assert replayed.json()["imported"] == 60
    report = retrain_report(stack, "replayed")
    assert report["status"] == "trained"
    assert report["decisions_seen"] == 60
