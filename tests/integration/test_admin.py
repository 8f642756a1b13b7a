"""Per-decision-point settings: operators set limits, decide enforces them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.stack import HttpResponse, LocalStack

SETTINGS = "/decision-points/home-hero/settings"


def decide(stack: LocalStack, actions: int) -> HttpResponse:
    body = {"decision_point": "home-hero", "actions": [{"id": f"a{i}"} for i in range(actions)]}
    return stack.post("/decide", body)


def put(stack: LocalStack, body: Any, path: str = SETTINGS) -> HttpResponse:
    return stack.http("PUT", path, json.dumps(body), {"content-type": "application/json"})


def test_a_decision_point_takes_50_actions_unless_set_otherwise(stack: LocalStack) -> None:
    assert decide(stack, 50).status == 200
    refused = decide(stack, 51)
    assert refused.status == 400
    assert refused.json()["error"]["field"] == "actions"
    assert "at most 50" in refused.json()["error"]["message"]


def test_a_limit_set_by_an_operator_is_enforced_by_decide(stack: LocalStack) -> None:
    # Given the operator allows home-hero at most 3 actions
    answer = put(stack, {"max_actions": 3})
    assert (answer.status, answer.json()) == (200, {"max_actions": 3})
    # Then a decision with 4 actions is refused, naming the field, and 3 still decide
    refused = decide(stack, 4)
    assert (refused.status, refused.json()["error"]["field"]) == (400, "actions")
    assert decide(stack, 3).status == 200
    # And raising it above the default lets more actions through
    assert put(stack, {"max_actions": 120}).status == 200
    assert decide(stack, 120).status == 200
    assert stack.http("GET", SETTINGS).json() == {"max_actions": 120}


def test_settings_of_an_unknown_decision_point_are_404(stack: LocalStack) -> None:
    answer = stack.http("GET", "/decision-points/never-seen/settings")
    assert answer.status == 404
    assert answer.json()["error"]["code"] == "unknown_decision_point"


def test_a_decision_point_seen_by_decide_has_the_default_settings(stack: LocalStack) -> None:
    assert decide(stack, 2).status == 200
    assert stack.http("GET", SETTINGS).json() == {"max_actions": 50}


@pytest.mark.parametrize(
    "body",
    [
        {"max_actions": 0},
        {"max_actions": 201},
        {"max_actions": "5"},
        {"max_actions": 5.5},
        {"max_actions": 5, "surprise": 1},
        [],
        "nope",
    ],
)
def test_bad_settings_are_refused_and_change_nothing(stack: LocalStack, body: Any) -> None:
    assert put(stack, {"max_actions": 7}).status == 200
    answer = put(stack, body)
    assert answer.status == 400
    assert set(answer.json()) == {"error"}
    assert stack.http("GET", SETTINGS).json() == {"max_actions": 7}


def test_a_bad_decision_point_in_the_path_is_refused(stack: LocalStack) -> None:
    answer = put(stack, {"max_actions": 5}, "/decision-points/Not%20Valid/settings")
    assert answer.status == 400


def test_the_operator_routes_require_iam_on_aws(stack: LocalStack) -> None:
    routes = [r for r in stack.template.routes if r.path.startswith("/decision-points/")]
    assert {(r.method, r.path.rsplit("/", 1)[1], r.iam) for r in routes} == {
        ("GET", "settings", True),
        ("PUT", "settings", True),
        ("POST", "history", True),
        ("GET", "models", True),
    }
    assert not [r for r in stack.template.routes if r.iam and r not in routes]
