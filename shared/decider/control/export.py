"""Logs out: each decision point's settled decisions, joined with their rewards, to S3.

A day (UTC) is exported once retrain has settled all of it (its watermark is past the day's
end): rewards after that are late and never learned, so the day's files never change. Two
formats, each partitioned by decision point and day, for Athena, notebooks and VW:

    exports/dsjson/decision_point=<dp>/date=<YYYY-MM-DD>/part-00000.json
    exports/jsonl/decision_point=<dp>/date=<YYYY-MM-DD>/part-00000.jsonl

DSJSON is the log format of VW's decision service and of Personalizer (``_label_cost``,
``_label_probability``, ``_labelIndex``, ``_label_Action``, ``EventId``, ``Timestamp``, ``c``
with ``_multi``; the field names that VW's CCB format extends with ``_slots`` and
``_outcomes``): ``vw --cb_explore_adf --dsjson`` reads it, and POST
/decision-points/{id}/history imports it, so a decision point can be replayed from its export.
JSON Lines keeps every field of the log as it is.

Objects are named by the day and the part, so a run redone after a crash writes the same
objects again; the export's own watermark (the last day exported) moves only after a day's
objects are all written, with a condition on its previous value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from decider.records import DecisionLog, DecisionRecord, Registry, iso
from decider.settings import LoopSettings

logger = logging.getLogger(__name__)

PART_SIZE = 50_000  # decisions per object: a few tens of MB of DSJSON


class ExportStore(Protocol):
    def put_text(self, key: str, text: str, content_type: str) -> None:
        """Write (or overwrite) one object."""


@dataclass(frozen=True)
class Exported:
    decision_point: str
    days: list[str]
    decisions: int
    keys: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_point": self.decision_point,
            "days": self.days,
            "decisions": self.decisions,
            "objects": len(self.keys),
        }


def export(
    decision_point: str,
    *,
    log: DecisionLog,
    registry: Registry,
    store: ExportStore,
    loop: LoopSettings,
) -> Exported:
    """Export the days retrain has settled since the last export."""
    current = registry.current(decision_point)
    if current is None or current.watermark is None:
        return Exported(decision_point, [], 0, [])
    loop = loop.for_decision_point(current.settings)
    until = datetime.combine(current.watermark.astimezone(UTC).date(), time(), tzinfo=UTC)
    since = current.exported
    if since is not None and since >= until:
        return Exported(decision_point, [], 0, [])
    days, keys, count = [], [], 0
    # settled() is (since, until]: one microsecond back keeps a decision made exactly at
    # midnight with its own day, which starts there.
    start = since - timedelta(microseconds=1) if since is not None else None
    end = until - timedelta(microseconds=1)
    for day, records in _by_day(log.settled(decision_point, start, end)):
        for part, chunk in enumerate(_chunks(records, PART_SIZE)):
            for form, suffix, line in (("dsjson", "json", dsjson), ("jsonl", "jsonl", jsonl)):
                key = (
                    f"exports/{form}/decision_point={decision_point}/date={day.isoformat()}/"
                    f"part-{part:05d}.{suffix}"
                )
                text = "".join(line(r, loop.default_reward) + "\n" for r in chunk)
                store.put_text(key, text, "application/x-ndjson")
                keys.append(key)
            count += len(chunk)
        days.append(day.isoformat())
        # Marked day by day: a run cut short by the function's time limit keeps its days.
        done = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
        registry.exported(decision_point, done, expected=since)
        since = done
    if since is None or since < until:
        registry.exported(decision_point, until, expected=since)
    return Exported(decision_point, days, count, keys)


def export_all(
    *, log: DecisionLog, registry: Registry, store: ExportStore, loop: LoopSettings
) -> list[Exported]:
    """Export every decision point; one that fails does not stop the others."""
    done = []
    for decision_point in registry.decision_points():
        try:
            done.append(export(decision_point, log=log, registry=registry, store=store, loop=loop))
        except Exception:
            logger.exception("export failed for %s; the next run redoes it", decision_point)
    return done


def _by_day(records: Iterable[DecisionRecord]) -> Iterator[tuple[date, list[DecisionRecord]]]:
    day: date | None = None
    taken: list[DecisionRecord] = []
    for record in records:
        today = record.decided_at.astimezone(UTC).date()
        if day is not None and today != day:
            yield day, taken
            taken = []
        day = today
        taken.append(record)
    if day is not None:
        yield day, taken


def _chunks(records: list[DecisionRecord], size: int) -> Iterator[list[DecisionRecord]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def dsjson(record: DecisionRecord, default_reward: float) -> str:
    """One decision as a DSJSON line: a joined cb_explore_adf event."""
    reward = record.reward if record.reward is not None else default_reward
    features = record.features
    shared: dict[str, Any] = {
        name: values
        for name, values in (
            ("context", features.context),
            ("custom", features.custom),
            ("profile", features.profile),
        )
        if values
    }
    ordered = [record.chosen_index] + [
        i for i in range(len(features.actions)) if i != record.chosen_index
    ]
    event: dict[str, Any] = {
        "_label_cost": -reward,
        "_label_probability": record.probability,
        "_label_Action": record.chosen_index + 1,
        "_labelIndex": record.chosen_index,
        "Timestamp": iso(record.decided_at),
        "Version": "1",
        "EventId": record.event_id,
        "a": [i + 1 for i in ordered],
        "c": {
            **shared,
            "_multi": [
                {"_tag": action_id, **({"action": values} if values else {})}
                for action_id, values in features.actions
            ],
        },
        "p": [record.probability],
        "VWState": {"m": str(record.model_version) if record.model_version is not None else ""},
    }
    if not (record.learnable and record.activated):
        event["_skipLearn"] = True  # never learned: holdout, logging-only, no consent, unshown
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def jsonl(record: DecisionRecord, default_reward: float) -> str:
    """One decision with every field the log keeps, for Athena and notebooks."""
    features = record.features
    actions = [action_id for action_id, _ in features.actions]
    row = {
        "event_id": record.event_id,
        "decision_point": record.decision_point,
        "decided_at": iso(record.decided_at),
        "context": features.context,
        "custom": features.custom,
        "profile": features.profile,
        "actions": [{"id": i, "features": f} for i, f in features.actions],
        "chosen_action": record.chosen_action,
        "chosen_index": record.chosen_index,
        "probability": record.probability,
        "reward": record.reward,
        "learned_reward": record.reward if record.reward is not None else default_reward,
        "model_version": record.model_version,
        "learnable": record.learnable,
        "activated": record.activated,
        "holdout": record.holdout,
        "mode": record.mode,
        "baseline_action": actions[record.baseline_index],
        "model_top_action": actions[record.model_top] if record.model_top is not None else None,
        "exploratory": record.exploratory,
    }
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)
