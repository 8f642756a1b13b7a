"""Shared fixtures: AWS is moto in-process; the stack comes from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine
from moto import mock_aws

from infra.stack import LocalStack


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert "AWS_ENDPOINT_URL" not in os.environ


# The server key of test stacks (a real key's shape; its hash is what the stack keeps), sent
# by LocalStack.post as a configured server would send it.
TEST_KEY = "dk_test-key-0000000000000000000000000000000000000"
KEY_HEADERS = {"x-api-key": TEST_KEY, "ocp-apim-subscription-key": TEST_KEY}


def make_stack(**overrides: str) -> Generator[LocalStack]:
    with mock_aws():
        stack = LocalStack(
            # Decide creates the decision points tests name (the template's default creates
            # none: tests/integration/test_edges.py shows that).
            overrides={"ModelRefreshSeconds": "0", "AutoCreateDecisionPoints": "1000", **overrides},
            extra_env={"POWERTOOLS_LOG_LEVEL": "WARNING"},
            api_keys=[TEST_KEY],
            headers=KEY_HEADERS,
        )
        stack.create_resources()
        yield stack


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    yield from make_stack()


# The request example of DESIGN.md §4 (without ``explain``, which no issue has defined yet).
DESIGN_EXAMPLE: dict[str, Any] = {
    "decision_point": "home-hero",
    "context": {
        "timestamp": "2026-11-22T10:00:00Z",
        "season": "winter",
        "geo": {
            "country": "US",
            "region": "MA",
            "lat": 42.36,
            "lon": -71.06,
            "timezone": "America/New_York",
        },
        "device": {"type": "mobile", "user_agent": "Mozilla/5.0"},
        "channel": "web",
        "features": {"referrer": "newsletter", "cart_items": 2},
    },
    "profile": {
        "segment": "returning",
        "interests": ["running", "hiking"],
        "lifetime_value": 120.5,
    },
    "user_id": "shopper-42",
    "consent": True,
    "actions": [
        {"id": "winter-coat", "features": {"category": "outerwear", "price": 129.0}},
        {"id": "sunglasses", "features": {"category": "accessories", "price": 39.0}},
    ],
    "excluded_actions": [],
    "defer_activation": False,
}


# Tests that move the clock start here: a Sunday in November, no holiday near.
START = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def timed_stack(clock: time_machine.Traveller) -> Iterator[LocalStack]:
    """The stack on a clock that moves only when the test moves it."""
    yield from make_stack()


def retrain_report(stack: LocalStack, decision_point: str) -> dict[str, Any]:
    """Fire the retrain schedule; the last report for one decision point."""
    reports = stack.fire_schedule("RetrainStateMachine")["reports"]
    return [r for r in reports if r["decision_point"] == decision_point][-1]
