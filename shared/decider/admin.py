"""Per-decision-point settings, read and written by operators."""

from __future__ import annotations

import json
from datetime import datetime

from decider.errors import UnknownDecisionPoint
from decider.records import Registry, Tally, earned
from decider.schemas import (
    DecisionPointSettings,
    ModelHistory,
    ModelVersionSummary,
    Realized,
)


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


def model_history(registry: Registry, decision_point: str, limit: int = 50) -> ModelHistory:
    """The newest ``limit`` versions, each with its estimate and what it earned serving."""
    current = registry.current(decision_point)
    if current is None:
        raise UnknownDecisionPoint(f"no decision point {decision_point!r}", field="decision_point")
    versions = sorted(registry.versions(decision_point), key=lambda v: -v.version)
    earned_by = earned(versions)
    return ModelHistory(
        decision_point=decision_point,
        versions=[
            ModelVersionSummary(
                version=v.version,
                current=v.version == current.version,
                trained_at=v.trained_at,
                window_start=v.window_start,
                watermark=v.watermark,
                decisions_learned=v.decisions_learned,
                tuning=v.exploration,
                expected=json.loads(v.evaluation_json),
                realized=Realized.model_validate(earned_by.get(v.version, Tally()).as_dict()),
            )
            for v in versions[:limit]
        ],
    )
