"""Campaigns through the template's state machine as the twin runs it (moto runs no Map):
a list in S3, one decision per row by CampaignFunction in batches, decisions out to S3, rewards
learned by the next retrain, reruns that decide nothing twice, and frequency caps."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta
from typing import Any

import boto3
import pytest
import time_machine

from infra.stack import LocalStack
from tests.conftest import TEST_KEY, retrain_report

DP = "email-offer"
OFFERS = [
    {"id": "boots-sale", "features": {"category": "winter-boots"}},
    {"id": "swim-edit", "features": {"category": "beachwear"}},
    {"id": "gift-card", "features": {"category": "gifts"}},
]


@pytest.fixture
def stack(timed_stack: LocalStack) -> LocalStack:
    timed_stack.http("PUT", f"/decision-points/{DP}", "{}", {"content-type": "application/json"})
    return timed_stack


def bucket(stack: LocalStack) -> str:
    return stack.template.state_machines["CampaignStateMachine"].definition["States"]["DecideCsv"][
        "ItemReader"
    ]["Parameters"]["Bucket"]


def upload_csv(stack: LocalStack, key: str, rows: list[dict[str, Any]]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    boto3.client("s3").put_object(Bucket=bucket(stack), Key=key, Body=text.getvalue().encode())


def job(campaign: str, key: str, **changes: Any) -> dict[str, Any]:
    return {"campaign_id": campaign, "decision_point": DP, "channel": "email",
            "input": {"key": key, "format": "csv"}, "actions": OFFERS, **changes}  # fmt: skip


def decisions(stack: LocalStack, campaign: str) -> list[dict[str, Any]]:
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket(stack), Prefix=f"campaigns/{campaign}/decisions/")
    found: list[dict[str, Any]] = []
    for entry in listed.get("Contents", []):
        body = s3.get_object(Bucket=bucket(stack), Key=entry["Key"])["Body"].read().decode()
        found.extend(json.loads(line) for line in body.splitlines())
    return sorted(found, key=lambda d: d["row"])


def subscribers(count: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {"visitor": f"subscriber-{n}", "interest": rng.choice(["boots", "swim", "gifts"]),
         "country": rng.choice(["US", "AU"]), "consent": "personal"}
        for n in range(count)
    ]  # fmt: skip


def test_a_list_gets_one_decision_per_row_with_event_ids_and_rewards_are_learned(
    stack: LocalStack, clock: time_machine.Traveller
) -> None:
    # Given a list of 2,000 subscribers (a CSV in the campaigns bucket)
    rows = subscribers(2000)
    upload_csv(stack, "lists/december.csv", rows)

    # When the campaign runs
    run = stack.run_state_machine("CampaignStateMachine", job("dec-letter", "lists/december.csv"))

    # Then every row is decided once, in batches of 500, with an event id a reward can name
    assert (run["rows"], run["batches"]) == (2000, 4)
    assert sum(r["counts"]["decided"] for r in run["results"]) == 2000
    decided = decisions(stack, "dec-letter")
    assert [d["row"] for d in decided] == list(range(2000))
    assert all(d["status"] == "decided" for d in decided)
    assert decided[7]["event_id"] == f"{DP}:dec-letter-7"
    assert decided[7]["visitor"] == "subscriber-7"

    # And rewards posted for the clicks of a sample (interest matches the offer) are learned
    wanted = {"boots": "boots-sale", "swim": "swim-edit", "gifts": "gift-card"}
    rewarded = 0
    for row, decision in zip(rows, decided, strict=True):
        if decision["action_id"] == wanted[row["interest"]]:
            answer = stack.post(f"/events/{decision['event_id']}/reward", {"value": 1.0})
            assert answer.json()["status"] == "recorded"
            rewarded += 1
    assert rewarded > 500
    clock.shift(timedelta(seconds=605))
    report = retrain_report(stack, DP)
    assert report["status"] == "trained" and report["decisions_learned"] >= 1500

    # So the next campaign offers each subscriber what they are into, mostly
    upload_csv(stack, "lists/january.csv", subscribers(600, seed=2))
    stack.run_state_machine("CampaignStateMachine", job("jan-letter", "lists/january.csv"))
    matched = [
        d["action_id"] == wanted[row["interest"]]
        for row, d in zip(subscribers(600, seed=2), decisions(stack, "jan-letter"), strict=True)
    ]
    assert sum(matched) / len(matched) > 0.6  # uniform would be a third


def test_a_rerun_decides_nothing_twice_and_answers_the_first_decisions(stack: LocalStack) -> None:
    upload_csv(stack, "lists/small.csv", subscribers(30))
    stack.run_state_machine("CampaignStateMachine", job("small", "lists/small.csv"))
    first = decisions(stack, "small")

    again = stack.run_state_machine("CampaignStateMachine", job("small", "lists/small.csv"))

    assert again["results"][0]["counts"] == {"already_decided": 30}
    second = decisions(stack, "small")
    assert [d["action_id"] for d in second] == [d["action_id"] for d in first]
    assert {d["status"] for d in second} == {"already_decided"}


def test_bad_rows_are_reported_and_the_others_decided(stack: LocalStack) -> None:
    rows = subscribers(3)
    rows[1]["consent"] = "maybe"
    rows[2]["country"] = "USA"
    upload_csv(stack, "lists/bad.csv", rows)

    run = stack.run_state_machine("CampaignStateMachine", job("bad", "lists/bad.csv"))

    assert run["results"][0]["counts"] == {"decided": 1, "invalid": 2}
    found = decisions(stack, "bad")
    assert found[1]["status"] == "invalid" and "consent" in found[1]["message"]
    assert found[2]["status"] == "invalid" and "country" in found[2]["message"]


def test_json_lines_lists_work_the_same(stack: LocalStack) -> None:
    lines = "".join(json.dumps({"visitor": f"p-{n}", "segment": "vip"}) + "\n" for n in range(5))
    boto3.client("s3").put_object(Bucket=bucket(stack), Key="lists/p.jsonl", Body=lines.encode())
    pushed = job("push-1", "lists/p.jsonl", channel="push",
                 input={"key": "lists/p.jsonl", "format": "jsonl"})  # fmt: skip

    run = stack.run_state_machine("CampaignStateMachine", pushed)

    assert run["results"][0]["counts"] == {"decided": 5}


def test_a_frequency_cap_skips_visitors_reached_often_enough_on_the_channel(
    stack: LocalStack,
) -> None:
    # Given subscribers with profiles (they opened an email) emailed once already (the
    # stream counted it in their profiles)
    opened = [{"visitor": f"subscriber-{n}", "type": "email_open", "channel": "email",
               "at": "2026-11-20T10:00:00Z"} for n in range(10)]  # fmt: skip
    headers = {"content-type": "application/json", "x-api-key": TEST_KEY}
    answer = stack.http("POST", "/interactions", json.dumps({"interactions": opened}), headers)
    assert answer.status == 200, answer.body
    upload_csv(stack, "lists/a.csv", subscribers(10))
    stack.run_state_machine("CampaignStateMachine", job("first", "lists/a.csv"))
    assert stack.drain_streams() == 10

    # When another email campaign caps at one email a week, and a push campaign does too
    capped = {"most": 1, "days": 7}
    emailed = stack.run_state_machine(
        "CampaignStateMachine", job("second", "lists/a.csv", cap=capped)
    )
    pushed = stack.run_state_machine(
        "CampaignStateMachine", job("third", "lists/a.csv", channel="push", cap=capped)
    )

    # Then nobody gets a second email; the push channel has its own count
    assert emailed["results"][0]["counts"] == {"capped": 10}
    assert pushed["results"][0]["counts"] == {"decided": 10}
    assert decisions(stack, "second")[0]["message"] == "the cap of 1 on email in 7 days is reached"


def test_a_visitor_listed_twice_gets_one_message_under_a_cap_of_one(stack: LocalStack) -> None:
    # Given a list where every subscriber appears twice, in one batch, and the emails of a
    # campaign before it counted in their profiles: two, sent at one instant
    opened = [{"visitor": f"subscriber-{n}", "type": "email_open", "channel": "email",
               "at": "2026-11-20T10:00:00Z"} for n in range(4)]  # fmt: skip
    headers = {"content-type": "application/json", "x-api-key": TEST_KEY}
    assert stack.http("POST", "/interactions", json.dumps({"interactions": opened}), headers)
    twice = [row for row in subscribers(4) for _ in range(2)]
    upload_csv(stack, "lists/twice.csv", twice)

    # When a campaign caps at one email a week
    run = stack.run_state_machine(
        "CampaignStateMachine", job("twice", "lists/twice.csv", cap={"most": 1, "days": 7})
    )

    # Then each subscriber got one message, not two
    assert run["results"][0]["counts"] == {"decided": 4, "capped": 4}
    # And a campaign without a cap sends each of them two emails at one instant: with the
    # first, three contacts each, counted from the stream (two at one instant are two)
    stack.run_state_machine("CampaignStateMachine", job("both", "lists/twice.csv"))
    stack.drain_streams()
    upload_csv(stack, "lists/once.csv", subscribers(4))
    capped = stack.run_state_machine(
        "CampaignStateMachine", job("third", "lists/once.csv", cap={"most": 3, "days": 7})
    )
    assert capped["results"][0]["counts"] == {"capped": 4}


def test_two_runs_of_one_campaign_at_once_cannot_overwrite_each_other(stack: LocalStack) -> None:
    from decider.errors import BatchClaimed
    from decider.loop import campaigns
    from decider.schemas import CampaignJob

    module = stack.module("CampaignFunction")
    decider, log = module.decider, module.decider.log
    the_job = CampaignJob.model_validate(job("twice", "lists/none.csv"))
    rows = [{"index": n, "value": row} for n, row in enumerate(subscribers(5))]
    # Given a batch one execution claimed and decided
    first = campaigns.decide_batch(decider, log, the_job, rows, "exec-1")
    assert {d.status for d in first} == {"decided"}
    # When another execution reaches the same batch while the claim is fresh, before the
    # first one's decisions are visible (here: gone), it is refused rather than overwriting
    log.forget([d.event_id for d in first if d.event_id])
    with pytest.raises(BatchClaimed):
        campaigns.decide_batch(decider, log, the_job, rows, "exec-2")
    # And the claiming execution's own retry goes on
    again = campaigns.decide_batch(decider, log, the_job, rows, "exec-1")
    assert {d.status for d in again} == {"decided"}
