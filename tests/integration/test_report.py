"""GET /decision-points/{id}/report through the twin's HTTP API: per day what was served and
earned, per week the lift the holdout measured next to the lift the estimates predicted."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import time_machine

from infra.stack import LocalStack
from tests.conftest import retrain_report

DP = "/decision-points/home-hero"
REWARD_WAIT = timedelta(seconds=600)


def a_day_of_traffic(
    stack: LocalStack, clock: time_machine.Traveller, day: int, count: int
) -> dict[str, list[float]]:
    """``count`` visitors a second apart; a1 converts, a0 (the baseline) one time in ten. The
    rewards of model and holdout traffic, as the report should count them."""
    earned: dict[str, list[float]] = {"model": [], "holdout": []}
    for number in range(count):
        clock.shift(timedelta(seconds=1))
        body = {
            "decision_point": "home-hero",
            "event_id": f"d{day}-{number}",
            "user_id": f"visitor-{day}-{number}",
            "actions": [{"id": "a0"}, {"id": "a1"}, {"id": "a2"}],
        }
        answer = stack.post("/decide", body).json()
        holdout = answer["probability"] == 1.0 and answer["model_version"] is None
        reward = 1.0 if answer["action_id"] == "a1" or number % 10 == 0 else 0.0
        if reward:
            stack.post(f"/events/home-hero:d{day}-{number}/reward", {"value": reward})
        earned["holdout" if holdout else "model"].append(reward)
    return earned


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def test_the_report_shows_each_day_and_the_measured_and_predicted_lift_of_each_week(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given a decision point with a 30% holdout, a day of traffic and a retrain (a Sunday,
    # ISO week 47), then a day served by version 1 (Monday, week 48)
    setting = stack.http(
        "PUT", DP, json.dumps({"holdout_share": 0.3}), {"content-type": "application/json"}
    )
    assert setting.status == 200
    sunday = a_day_of_traffic(stack, clock, 1, 300)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain_report(stack, "home-hero")["model_version"] == "1"
    clock.shift(timedelta(days=1))
    monday = a_day_of_traffic(stack, clock, 2, 300)
    clock.shift(REWARD_WAIT + timedelta(seconds=5))

    # When an operator asks for the report
    answer = stack.http("GET", f"{DP}/report?days=7")

    # Then each day shows its decisions and what model and holdout traffic earned
    assert answer.status == 200, answer.body
    report: dict[str, Any] = answer.json()
    assert report["complete"] is True
    assert [d["day"] for d in report["days"]] == ["2026-11-22", "2026-11-23"]
    for day, earned in zip(report["days"], (sunday, monday), strict=True):
        assert day["decisions"] == 300
        assert (day["model"]["n"], day["holdout"]["n"]) == tuple(map(len, earned.values()))
        assert 60 < day["holdout"]["n"] < 120  # about 30% of 300
        assert abs(day["model"]["mean"] - mean(earned["model"])) < 1e-9
        assert abs(day["holdout"]["mean"] - mean(earned["holdout"])) < 1e-9
        assert abs(day["holdout"]["mean"] - 0.1) < 0.1  # the baseline, a0
    # And the share of exploratory choices once there was a model to explore away from
    sunday_shown, monday_shown = report["days"]
    assert sunday_shown["exploratory_share"] is None
    assert 0.0 <= monday_shown["exploratory_share"] <= 1.0
    assert monday_shown["apprentice_agreement"] is None
    # And each week the lift the holdout measured, and, once a version served, the lift
    # its estimate predicted
    week47, week48 = report["weeks"]
    assert (week47["week"], week48["week"]) == ("2026-W47", "2026-W48")
    measured = week48["measured_lift"]
    assert abs(measured["value"] - (mean(monday["model"]) - mean(monday["holdout"]))) < 1e-9
    assert measured["low"] < measured["value"] < measured["high"]
    assert week47["predicted_lift"] is None  # no version served on Sunday
    assert week48["served_by"] == {"1": len(monday["model"])}
    predicted = week48["predicted_lift"]
    assert predicted["low"] <= predicted["value"] <= predicted["high"] and predicted["n"] > 0
    # And the versions and the settings changes beside them
    assert [v["version"] for v in report["versions"]] == [1]
    assert report["settings_changes"][0]["changes"] == {"holdout_share": {"from": 0.0, "to": 0.3}}
    assert report["effective"]["holdout_share"] == 0.3


def test_a_report_of_an_unknown_decision_point_or_bad_days_is_refused(stack: LocalStack) -> None:
    assert stack.http("GET", "/decision-points/never-seen/report").status == 404
    stack.post("/decide", {"decision_point": "home-hero", "actions": [{"id": "a"}]})
    for days in ("0", "91", "x"):
        answer = stack.http("GET", f"{DP}/report?days={days}")
        assert (answer.status, answer.json()["error"]["field"]) == (400, "query.days"), answer.body
    assert stack.http("GET", f"{DP}/report").json()["days"][0]["decisions"] == 1
