"""Retrain fanned out by the template's state machine: a plan of the decision points, one
invocation of the retrain function per decision point, invoked again while its backlog lasts."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from decider.learning.trainer import Schedule
from decider.schemas import RetrainReport

from infra.stack import LocalStack


@pytest.fixture
def stack(timed_stack: LocalStack) -> LocalStack:
    return timed_stack


def decide(stack: LocalStack, decision_point: str, count: int) -> None:
    body = {"decision_point": decision_point, "actions": [{"id": "a"}, {"id": "b"}]}
    for _ in range(count):
        assert stack.post("/decide", body).status == 200


def test_each_decision_point_is_retrained_in_an_invocation_of_its_own(
    stack: LocalStack, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three decision points with decisions past their reward wait
    for name, count in (("hero", 30), ("banner", 20), ("footer", 10)):
        decide(stack, name, count)
    clock.shift(timedelta(seconds=700))
    invoked: list[Any] = []
    module = stack.module("RetrainFunction")
    handler = module.lambda_handler

    def recording(event: dict[str, Any], context: Any) -> Any:
        invoked.append(event)
        return handler(event, context)

    monkeypatch.setattr(module, "lambda_handler", recording)
    # When the retrain schedule starts the state machine
    output = stack.fire_schedule("RetrainStateMachine")
    # Then the plan came first, then one invocation per decision point, each learning its own
    assert invoked[0] == {"plan": True}
    assert sorted(event["decision_point"] for event in invoked[1:]) == ["banner", "footer", "hero"]
    learned = {r["decision_point"]: r["decisions_learned"] for r in output["reports"]}
    assert learned == {"hero": 30, "banner": 20, "footer": 10}
    # And the execution's output keeps each one's statuses, not its reports (those are in the
    # logs and the history): a thousand decision points stay far under Step Functions' 256 kB
    retrained = output["output"]["retrained"]
    assert sorted((r["decision_point"], r["statuses"], r["more"]) for r in retrained) == [
        ("banner", ["trained"], False),
        ("footer", ["trained"], False),
        ("hero", ["trained"], False),
    ]
    assert len(json.dumps(retrained)) / len(retrained) * 1000 < 256_000


def test_a_decision_point_whose_time_ran_out_with_a_backlog_is_invoked_again(
    stack: LocalStack, clock: time_machine.Traveller, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a decision point whose first invocation ends with a backlog left (its time ran
    # out after a run cut at the run's limit)
    decide(stack, "busy", 10)
    clock.shift(timedelta(seconds=700))
    module = stack.module("RetrainFunction")
    real = module.retrain_backlog
    calls: list[str] = []

    def first_with_backlog(decision_point: str, schedule: Schedule) -> list[RetrainReport]:
        calls.append(decision_point)
        reports: list[RetrainReport] = real(decision_point, schedule)
        if len(calls) == 1:  # as if the function's time had run out with more to learn
            reports[-1] = reports[-1].model_copy(update={"backlog": True})
        return reports

    monkeypatch.setattr(module, "retrain_backlog", first_with_backlog)
    # When the state machine runs
    output = stack.fire_schedule("RetrainStateMachine")
    # Then the decision point was invoked again, and the second invocation found the window
    # learned by the first (version 1) and nothing after it; the execution's output is each
    # decision point's last invocation
    assert calls == ["busy", "busy"]
    assert [(r["status"], r["model_version"], r["backlog"]) for r in output["reports"]] == [
        ("trained", "1", True),
        ("not_settled", "1", False),
    ]
    assert output["output"] == {
        "retrained": [{"decision_point": "busy", "more": False, "statuses": ["not_settled"]}]
    }
