"""The whole loop through the HTTP handlers on moto: decide, reward, retrain, decide again."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import islice

import boto3
import pytest
import time_machine

from infra.shops import CITIES, Visitor, conversion_probability, visitors
from infra.stack import LocalStack
from tests.conftest import retrain_report

REWARD_WAIT = timedelta(seconds=600)  # the template's default
WINTER_NORTH = Visitor(
    datetime(2026, 1, 15, 15, tzinfo=UTC), CITIES["boston"], "mobile", returning=False
)
SUMMER_SOUTH = Visitor(
    datetime(2026, 1, 15, 15, tzinfo=UTC), CITIES["sydney"], "mobile", returning=False
)


@pytest.fixture
def stack(timed_stack: LocalStack) -> LocalStack:
    return timed_stack


def ranking(stack: LocalStack, visitor: Visitor) -> dict[str, float]:
    response = stack.post("/decide", visitor.request("home-hero"))
    assert response.status == 200, response.body
    return {ranked["id"]: ranked["probability"] for ranked in response.json()["ranking"]}


def simulate(stack: LocalStack, clock: time_machine.Traveller, count: int, seed: int) -> int:
    """Send ``count`` visitors; report each conversion as a reward. Returns conversions."""
    rng, conversions = random.Random(seed), 0
    for number, visitor in enumerate(islice(visitors(seed), count)):
        # Client-chosen event ids make the exploration draws, and so the test, reproducible.
        body = {**visitor.request("home-hero"), "event_id": f"visit-{seed}-{number}"}
        decision = stack.post("/decide", body).json()
        if rng.random() < conversion_probability(visitor, decision["action_id"]):
            reward = stack.post(f"/events/{decision['event_id']}/reward", {"value": 1.0})
            assert reward.json()["status"] == "recorded"
            conversions += 1
        clock.shift(timedelta(milliseconds=50))
    return conversions


def retrain(stack: LocalStack) -> dict:
    return retrain_report(stack, "home-hero")


def test_the_loop_learns_a_different_best_offer_per_hemisphere_and_season(
    stack: LocalStack, clock: time_machine.Traveller
) -> None:
    # Given no model yet: every offer is equally likely, for every visitor
    for visitor in (WINTER_NORTH, SUMMER_SOUTH):
        assert list(ranking(stack, visitor).values()) == pytest.approx([0.25] * 4)

    # When a few thousand visitors are decided and rewarded, and retrain runs after the wait
    conversions = simulate(stack, clock, 3000, seed=7)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    report = retrain(stack)

    # Then the next decisions come from model version 1, with a different best offer each
    assert report["status"] == "trained"
    assert report["model_version"] == "1"
    assert report["decisions_learned"] >= 2400  # the newest fifth is held out to score it
    assert conversions > 0
    north, south = ranking(stack, WINTER_NORTH), ranking(stack, SUMMER_SOUTH)
    assert max(north, key=north.__getitem__) == "winter-coat"
    assert north["winter-coat"] >= 0.7
    assert max(south, key=south.__getitem__) == "sunglasses"
    assert south["sunglasses"] >= 0.7
    # And the candidate, scored on held-out decisions it had not learned, beats uniform random
    evaluation = report["evaluation"]
    assert evaluation["candidate"]["low"] > evaluation["uniform"]["high"]


def test_retraining_the_same_window_twice_trains_nothing_twice(
    stack: LocalStack, clock: time_machine.Traveller
) -> None:
    # Given 200 settled decisions: 160 learned, the newest 40 held out to score the model
    simulate(stack, clock, 200, seed=1)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    first = retrain(stack)
    assert (first["status"], first["decisions_learned"]) == ("trained", 160)
    assert first["evaluation"]["candidate"]["n"] == 40

    # When retrain runs again at once, it learns the 40 it held out, and only those
    second = retrain(stack)
    assert (second["status"], second["decisions_learned"], second["model_version"]) == (
        "trained",
        40,
        "2",
    )
    assert second["window_start"] == first["window_end"]
    # And a third run finds nothing new: no version is made
    third = retrain(stack)
    assert (third["status"], third["model_version"]) == ("not_settled", "2")

    # And later decisions are learned once, by the next run, in a window starting at the mark
    simulate(stack, clock, 50, seed=2)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    fourth = retrain(stack)
    assert (fourth["status"], fourth["decisions_learned"], fourth["model_version"]) == (
        "trained",
        50,
        "3",
    )
    assert fourth["window_start"] == second["window_end"]


def test_a_retrain_that_fails_midway_leaves_the_current_model_serving(
    stack: LocalStack, clock: time_machine.Traveller
) -> None:
    # Given model version 1 serving
    simulate(stack, clock, 300, seed=3)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain(stack)["model_version"] == "1"
    before = ranking(stack, WINTER_NORTH)

    # When the next retrain cannot store its model (the bucket refuses writes)
    simulate(stack, clock, 100, seed=4)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    bucket = stack.template.buckets["ModelsBucket"].name
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_bucket_policy(Bucket=bucket, Policy=_deny_puts(bucket))
    failed = retrain(stack)

    # Then it reports the failure, version 1 keeps serving, and the window is not skipped
    assert failed["status"] == "failed"
    decision = stack.post("/decide", WINTER_NORTH.request("home-hero")).json()
    assert decision["model_version"] == "1"
    assert ranking(stack, WINTER_NORTH) == pytest.approx(before)
    s3.delete_bucket_policy(Bucket=bucket)
    redone = retrain(stack)
    assert (redone["status"], redone["model_version"]) == ("trained", "2")
    # The whole window: version 1's 60 held-out decisions, the probe and 100 visitors, less the
    # newest fifth, held out in turn; later probes are not settled
    held_out = redone["evaluation"]["candidate"]["n"]
    assert redone["decisions_learned"] + held_out == 60 + 1 + 100


def _deny_puts(bucket: str) -> str:
    import json

    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:PutObject",
                    "Resource": f"arn:aws:s3:::{bucket}/*",
                }
            ],
        }
    )


def test_the_model_history_shows_each_versions_expected_and_earned_reward(
    stack: LocalStack, clock: time_machine.Traveller
) -> None:
    # Given two retrains: version 1 from uniform decisions, then version 2 after version 1
    # has served a few hundred visitors
    simulate(stack, clock, 400, seed=3)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain(stack)["model_version"] == "1"
    simulate(stack, clock, 400, seed=4)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain(stack)["model_version"] == "2"

    # When an operator reads the model history
    answer = stack.http("GET", "/decision-points/home-hero/models")

    # Then both versions are listed, newest first, version 2 serving
    assert answer.status == 200, answer.body
    history = answer.json()
    assert [(v["version"], v["current"]) for v in history["versions"]] == [(2, True), (1, False)]
    second, first = history["versions"]
    # Each with what it was expected to earn, on the newest fifth of its window, which it did
    # not learn (the next run did): version 1 learned 320 of 400, version 2 the 80 it left and
    # 304 of the next 400
    for version, held_out, learned in ((first, 80, 320), (second, 96, 384)):
        expected = version["expected"]["candidate"]
        assert expected["n"] == held_out
        assert expected["low"] <= expected["value"] <= expected["high"]
        assert version["decisions_learned"] == learned
    # And version 1 with what it earned on the 304 decisions it served that are settled
    assert first["realized"]["n"] == 304
    assert first["realized"]["low"] <= first["realized"]["mean"] <= first["realized"]["high"]
    assert second["realized"] == {"n": 0, "mean": None, "low": None, "high": None}
    # And version 2 was compared with version 1, the one serving when it was trained
    assert second["expected"]["current"]["n"] == 96
    # And a limit lists the newest only
    newest = stack.http("GET", "/decision-points/home-hero/models?limit=1").json()
    assert [v["version"] for v in newest["versions"]] == [2]


def test_the_model_history_of_an_unknown_decision_point_is_404(stack: LocalStack) -> None:
    answer = stack.http("GET", "/decision-points/never-seen/models")
    assert (answer.status, answer.json()["error"]["code"]) == (404, "unknown_decision_point")
