"""Shared fixtures: AWS is moto in-process; the stack comes from template.yaml."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
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


def make_stack(**overrides: str) -> Iterator[LocalStack]:
    with mock_aws():
        stack = LocalStack(
            overrides={"ModelRefreshSeconds": "0", **overrides},
            extra_env={"POWERTOOLS_LOG_LEVEL": "WARNING"},
        )
        stack.create_resources()
        yield stack


@pytest.fixture
def stack() -> Iterator[LocalStack]:
    yield from make_stack()
