"""A decision point's report: per day what it served and earned, per week the lift over the
baseline that the holdout measured next to the lift the off-policy estimates predicted."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from decider.control import admin
from decider.records import DecisionLog, ModelVersion, Registry, Tally
from decider.schemas import (
    DecisionPointReport,
    Lift,
    Realized,
    ReportDay,
    ReportWeek,
)
from decider.settings import LoopSettings

# Most decisions one report reads from the log (a few seconds of DynamoDB pages).
MAX_REPORT_DECISIONS = 200_000


@dataclass
class _Day:
    decisions: int = 0
    model: Tally = field(default_factory=Tally)
    holdout: Tally = field(default_factory=Tally)
    asked: int = 0  # model decisions with a model to ask
    explored: int = 0
    apprentice: int = 0
    agreed: int = 0

    def shown(self, day: date) -> ReportDay:
        return ReportDay(
            day=day,
            decisions=self.decisions,
            model=Realized.model_validate(self.model.as_dict()),
            holdout=Realized.model_validate(self.holdout.as_dict()),
            exploratory_share=self.explored / self.asked if self.asked else None,
            apprentice_agreement=self.agreed / self.apprentice if self.apprentice else None,
        )


@dataclass
class _Week:
    model: Tally = field(default_factory=Tally)
    holdout: Tally = field(default_factory=Tally)
    served_by: Counter[int] = field(default_factory=Counter)

    def shown(self, week: str, predicted: dict[int, Lift]) -> ReportWeek:
        return ReportWeek(
            week=week,
            measured_lift=measured_lift(self.model, self.holdout),
            predicted_lift=_weighted(self.served_by, predicted),
            served_by={str(v): n for v, n in sorted(self.served_by.items())},
        )


def report(
    log: DecisionLog,
    registry: Registry,
    name: str,
    *,
    loop: LoopSettings,
    now: datetime,
    days: int,
) -> DecisionPointReport:
    """The last ``days`` days (today included, UTC) of a decision point."""
    shown = admin.decision_point(registry, name, loop)  # raises for an unknown one
    loop = loop.for_decision_point(shown.settings)
    since = datetime.combine(now.date() - timedelta(days=days - 1), time(), tzinfo=UTC)
    settled = now - loop.reward_wait
    by_day: dict[date, _Day] = {}
    by_week: dict[str, _Week] = {}
    complete = True
    # Newest first: a report cut at its cap leaves out the oldest days, never today.
    for count, record in enumerate(log.recent(name, since - timedelta(microseconds=1), now)):
        if count == MAX_REPORT_DECISIONS:
            complete = False
            break
        day = by_day.setdefault(record.decided_at.date(), _Day())
        day.decisions += 1
        if not record.activated:
            continue
        model = record.learnable and record.mode == "online" and not record.holdout
        due = record.reward_until <= now if record.reward_until else record.decided_at <= settled
        if due and (model or record.holdout):
            reward = record.reward if record.reward is not None else loop.default_reward
            week = by_week.setdefault(_iso_week(record.decided_at), _Week())
            (day.model if model else day.holdout).add(reward)
            (week.model if model else week.holdout).add(reward)
            if model and record.model_version is not None:
                week.served_by[record.model_version] += 1
        if model and record.model_top is not None:
            day.asked += 1
            day.explored += record.exploratory
        if record.mode == "apprentice" and record.learnable and record.model_top is not None:
            day.apprentice += 1
            day.agreed += record.model_top == record.baseline_index
    predicted = _predicted_lifts(registry.versions(name))
    return DecisionPointReport(
        decision_point=name,
        since=since,
        until=now,
        complete=complete,
        effective=shown.effective,
        days=[d.shown(day) for day, d in sorted(by_day.items())],
        weeks=[w.shown(week, predicted) for week, w in sorted(by_week.items())],
        versions=admin.model_history(registry, name).versions,
        settings_changes=shown.history,
    )


def _iso_week(instant: datetime) -> str:
    year, week, _ = instant.isocalendar()
    return f"{year}-W{week:02d}"


def _predicted_lifts(versions: list[ModelVersion]) -> dict[int, Lift]:
    found = {}
    for version in versions:
        lift = json.loads(version.evaluation_json).get("lift", {})
        if lift.get("n"):
            found[version.version] = Lift(
                value=lift["mean"], low=lift["low"], high=lift["high"], n=lift["n"]
            )
    return found


def measured_lift(model: Tally, holdout: Tally) -> Lift | None:
    """Model traffic's mean minus the holdout's, two independent samples (normal interval)."""
    if model.n < 2 or holdout.n < 2:
        return None
    a, b = model.as_dict(), holdout.as_dict()
    value = float(a["mean"]) - float(b["mean"])
    half = math.hypot(float(a["high"]) - float(a["mean"]), float(b["high"]) - float(b["mean"]))
    return Lift(value=value, low=value - half, high=value + half, n=model.n + holdout.n)


def _weighted(served_by: Counter[int], predicted: dict[int, Lift]) -> Lift | None:
    """The predictions of the versions that served, weighted by the decisions each served."""
    weights = {v: n for v, n in served_by.items() if v in predicted}
    total = sum(weights.values())
    if not total:
        return None

    def mean(part: str) -> float:
        return sum(getattr(predicted[v], part) * n for v, n in weights.items()) / total

    return Lift(
        value=mean("value"),
        low=mean("low"),
        high=mean("high"),
        n=sum(predicted[v].n for v in weights),
    )
