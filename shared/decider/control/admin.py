"""Operators' views of a decision point: its settings and their history, its model versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from decider.errors import UnknownDecisionPoint
from decider.records import Registry, Tally, earned
from decider.schemas import (
    DecisionPoint,
    DecisionPointSettings,
    EffectiveSettings,
    ModelHistory,
    ModelVersionSummary,
    Realized,
    SettingsChange,
)
from decider.settings import LoopSettings

HISTORY_SHOWN = 50


def decision_point(registry: Registry, name: str, loop: LoopSettings) -> DecisionPoint:
    """A decision point's own settings, those in force, and their history."""
    current = registry.current(name)
    if current is None:
        raise UnknownDecisionPoint(f"no decision point {name!r}", field="decision_point")
    return DecisionPoint(
        decision_point=name,
        settings=current.settings,
        effective=loop.effective(current.settings),
        serving_version=current.version,
        history=registry.settings_history(name, HISTORY_SHOWN),
    )


def write_settings(
    registry: Registry,
    name: str,
    settings: DecisionPointSettings,
    *,
    loop: LoopSettings,
    principal: str,
    now: datetime,
) -> DecisionPoint:
    """Replace a decision point's own settings (one left out takes the stack's default).
    Decide picks them up with its next registry check (ModelRefreshSeconds), retrain with its
    next run. A change of exploration starts a new model lineage: VW cannot continue a model
    under other arguments, so the next retrain trains a new one."""
    current = registry.current(name)
    before = loop.effective(current.settings if current else DecisionPointSettings())
    after = loop.effective(settings)
    serving = current.exploration if current and current.version is not None else None
    new_lineage = serving is not None and serving != loop.for_decision_point(settings).lineage
    change = SettingsChange(
        at=now,
        principal=principal,
        changes={
            key: {"from": old, "to": new} for key, old, new in _fields(before, after) if old != new
        },
        new_lineage=new_lineage,
    )
    registry.configure(name, settings, change)
    shown = decision_point(registry, name, loop)
    return shown.model_copy(update={"new_lineage": new_lineage})


def serve_version(
    registry: Registry,
    name: str,
    version: int,
    *,
    loop: LoopSettings,
    principal: str,
    now: datetime,
) -> DecisionPoint:
    """Serve a recorded version, older (a rollback) or newer (one the promotion rule
    rejected). Decide serves it within ModelRefreshSeconds; the next retrain continues from it
    with the decisions not yet learned (the watermark stays where it was), or starts a new
    lineage if the decision point's exploration has changed since it was trained."""
    current = registry.current(name)
    if current is None:
        raise UnknownDecisionPoint(f"no decision point {name!r}", field="decision_point")
    tuning = loop.for_decision_point(current.settings).lineage
    change = SettingsChange(
        at=now,
        principal=principal,
        changes={"serving_version": {"from": current.version, "to": version}},
        new_lineage=False,
    )
    served = registry.serve(name, version, change)
    new_lineage = served.exploration != tuning
    shown = decision_point(registry, name, loop)
    return shown.model_copy(update={"new_lineage": new_lineage})


def _fields(before: EffectiveSettings, after: EffectiveSettings) -> Iterator[tuple[str, Any, Any]]:
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    for key in old:
        yield key, old[key], new[key]


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
                rejected=v.rejected,
            )
            for v in versions[:limit]
        ],
    )
