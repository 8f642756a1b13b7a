"""Logs out with the in-memory stores: what a run cut short keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from decider.control.export import export
from decider.records import DecisionFeatures, DecisionRecord
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryExportStore, MemoryRegistry

DP = "home-hero"
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
LOOP = LoopSettings(reward_wait=timedelta(minutes=10))


def decision(number: int, at: datetime) -> DecisionRecord:
    return DecisionRecord(
        event_id=f"{DP}:v-{number}",
        decision_point=DP,
        decided_at=at,
        features=DecisionFeatures(context={}, custom={}, profile={}, actions=[("a", {})]),
        chosen_index=0,
        probability=1.0,
        model_version=None,
        learnable=True,
        activated=True,
        expires_at=0,
    )


class FailingAfter(MemoryExportStore):
    """An export store that fails (as a Lambda timing out would stop) after some objects."""

    def __init__(self, objects: int) -> None:
        super().__init__()
        self.left = objects

    def put_text(self, key: str, text: str, content_type: str) -> None:
        if self.left == 0:
            raise TimeoutError("the function's time ran out")
        self.left -= 1
        super().put_text(key, text, content_type)


def test_a_run_cut_short_keeps_the_days_it_wrote_and_the_next_run_goes_on_from_there() -> None:
    # Given three settled days of decisions
    log, registry = MemoryDecisionLog(), MemoryRegistry()
    for day in range(3):
        for number in range(4):
            log.put(decision(day * 10 + number, MONDAY + timedelta(days=day, hours=number)))
    registry.advance(DP, MONDAY + timedelta(days=3, hours=1), expected_version=None)

    # When an export writes the first day's two objects and fails on the second day
    with pytest.raises(TimeoutError):
        export(DP, log=log, registry=registry, store=FailingAfter(3), loop=LOOP)

    # Then the first day is marked exported, and the next run exports only the other two
    current = registry.current(DP)
    assert current is not None and current.exported == MONDAY + timedelta(days=1)
    store = MemoryExportStore()
    done = export(DP, log=log, registry=registry, store=store, loop=LOOP)
    assert done.days == ["2026-11-24", "2026-11-25"] and done.decisions == 8
    assert len(store.objects) == 4
    current = registry.current(DP)
    assert current is not None and current.exported == MONDAY + timedelta(days=3)
