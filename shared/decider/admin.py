"""Per-decision-point settings, read and written by operators."""

from __future__ import annotations

from datetime import datetime

from decider.errors import UnknownDecisionPoint
from decider.records import Registry
from decider.schemas import DecisionPointSettings


def read_settings(registry: Registry, decision_point: str) -> DecisionPointSettings:
    current = registry.current(decision_point)
    if current is None:
        raise UnknownDecisionPoint(f"no decision point {decision_point!r}", field="decision_point")
    return current.settings


def write_settings(
    registry: Registry, decision_point: str, settings: DecisionPointSettings, now: datetime
) -> DecisionPointSettings:
    """Decide picks the new settings up with its next registry check (ModelRefreshSeconds)."""
    registry.configure(decision_point, settings, now)
    return settings
