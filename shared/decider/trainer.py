"""Retrain: settle decisions past their reward wait, learn them, store and promote a version."""

from __future__ import annotations

import hashlib
import logging
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from decider.evaluation import Evaluation, Realized
from decider.featurize import Label
from decider.policy import Examples, Policy, RewardModel
from decider.records import DecisionLog, DecisionRecord, ModelStore, ModelVersion, Registry
from decider.schemas import RetrainReport
from decider.settings import LoopSettings

logger = logging.getLogger(__name__)

# Settle a little after the reward wait: rewards stamped by a slightly slower clock, and the
# time-ordered index (eventually consistent) catching up with the last on-time rewards.
CLOCK_SKEW = timedelta(seconds=3)
# About 25 s of learning at typical sizes; far inside the function's 900 s even for big ones.
MAX_DECISIONS_PER_RUN = 50_000
# Fewer held-out decisions than this say too little to be worth keeping from the model.
MIN_HOLDOUT = 20


@dataclass(frozen=True)
class Window:
    """The settled decisions of one run, cut so that one run fits in the function's limits."""

    records: list[DecisionRecord]
    until: datetime
    seen: int


def retrain(
    decision_point: str,
    *,
    log: DecisionLog,
    store: ModelStore,
    registry: Registry,
    loop: LoopSettings,
    now: datetime,
    limit: int = MAX_DECISIONS_PER_RUN,
) -> RetrainReport:
    """Learn the window (watermark, now - reward wait - margin]. The watermark moves only
    together with the stored version, so a run that fails midway is redone whole by the next
    run; a window of more than ``limit`` decisions is cut where the time changes, and the next
    run goes on from there, so that one run always fits in the function's time limit.

    The window's most recent decisions (``loop.holdout_share``) are scored before the
    candidate learns them: that estimate, of the very model that will serve, is recorded with
    the version; and what each earlier version earned while it served is recorded with it."""
    current = registry.current(decision_point)
    version = current.version if current else None
    since = current.watermark if current else None
    until = now - loop.reward_wait - CLOCK_SKEW
    report = dict(decision_point=decision_point, window_start=since, window_end=until)
    if since is not None and until <= since:
        return RetrainReport(
            status="not_settled",
            model_version=_str(version),
            **report,
            decisions_seen=0,
            decisions_learned=0,
        )

    window = _window(log.settled(decision_point, since, until), until, limit)
    report["window_end"] = until = window.until
    new = [r for r in window.records if r.learnable and r.activated]
    if not new:
        registry.advance(decision_point, until, expected_version=version)
        return RetrainReport(
            status="nothing_to_learn",
            model_version=_str(version),
            **report,
            decisions_seen=window.seen,
            decisions_learned=0,
        )

    tuning = " ".join(loop.tuning)
    serving = _serving_model(store, current.model_key if current else None)
    lineage_holds = current is not None and current.exploration in (None, tuning)
    if loop.window is not None:
        # Retrain from scratch on recent history: old tastes leave the model with the window.
        start = until - loop.window
        learn = [
            r
            for r in _window(log.settled(decision_point, start, until), until, limit).records
            if r.learnable and r.activated
        ]
        model = None
    else:
        learn = new
        model = serving if lineage_holds else None
        if serving is not None and not lineage_holds and current is not None:
            # VW cannot continue a model under other arguments: a new lineage starts.
            logger.warning(
                "%s: tuning changed from %r to %r; training a new model",
                decision_point,
                current.exploration,
                tuning,
            )

    candidate = Policy(loop.tuning, model=model)
    held_out = _held_out(learn, loop.holdout_share)
    rewards = RewardModel(loop.learner)
    labelled = [(record, _label(record, loop.default_reward)) for record in learn]
    examples = [candidate.examples(record.features, label) for record, label in labelled]
    split = len(examples) - held_out
    _learn(candidate, examples[:split], loop.passes)
    for record, label in labelled[:split]:
        rewards.learn(record.features, label)

    evaluation = Evaluation()
    for _, label in labelled:
        evaluation.learned.add(-label.cost)
    incumbent = (
        Policy(_lineage(current.exploration, loop), model=serving)
        if current is not None and serving is not None
        else None
    )
    for (record, label), parsed in zip(labelled[split:], examples[split:], strict=True):
        count = len(record.features.actions)
        evaluation.add(
            candidate=candidate.pmf_of(parsed, count),
            current=incumbent.pmf(record.features) if incumbent else None,
            chosen=record.chosen_index,
            probability=record.probability,
            reward=-label.cost,
            predicted=rewards.predict(record.features),
        )
    _learn(candidate, examples[split:], loop.passes)

    realized = Realized.of(
        (r.model_version, r.reward if r.reward is not None else loop.default_reward)
        for r in new
        if r.model_version is not None
    )
    blob = candidate.serialize()
    next_version = (version or 0) + 1
    summary = evaluation.summary()
    registry.promote(
        ModelVersion(
            decision_point=decision_point,
            version=next_version,
            model_key=store.put(decision_point, next_version, blob),
            model_sha256=hashlib.sha256(blob).hexdigest(),
            exploration=tuning,
            window_start=since,
            watermark=until,
            trained_at=now,
            decisions_learned=len(learn),
            evaluation_json=evaluation.to_json(),
        ),
        expected_version=version,
        realized=realized,
    )
    return RetrainReport(
        status="trained",
        model_version=str(next_version),
        **report,
        decisions_seen=window.seen,
        decisions_learned=len(learn),
        evaluation=summary,
    )


def _window(records: Iterable[DecisionRecord], until: datetime, limit: int) -> Window:
    taken: list[DecisionRecord] = []
    for record in records:
        if taken and len(taken) >= limit and record.decided_at != taken[-1].decided_at:
            return Window(taken, taken[-1].decided_at, len(taken))  # the rest is the next run's
        taken.append(record)
    return Window(taken, until, len(taken))


def _held_out(learnable: list[DecisionRecord], share: float) -> int:
    count = int(len(learnable) * share)
    return count if count >= MIN_HOLDOUT else 0


def _label(record: DecisionRecord, default_reward: float) -> Label:
    reward = record.reward if record.reward is not None else default_reward
    return Label(record.chosen_index, -reward, record.probability)


def _learn(policy: Policy, examples: list[Examples], passes: int) -> None:
    for _ in range(passes):
        for example in examples:
            policy.learn_examples(example)


def _serving_model(store: ModelStore, model_key: str | None) -> bytes | None:
    return store.get(model_key) if model_key else None


def _lineage(tuning: str | None, loop: LoopSettings) -> list[str]:
    return shlex.split(tuning) if tuning is not None else loop.tuning


def _str(version: int | None) -> str | None:
    return None if version is None else str(version)


def retrain_all(
    *, log: DecisionLog, store: ModelStore, registry: Registry, loop: LoopSettings, now: datetime
) -> list[RetrainReport]:
    """Retrain every known decision point; one that fails leaves its current model serving
    and does not stop the others."""
    reports = []
    for decision_point in registry.decision_points():
        try:
            reports.append(
                retrain(decision_point, log=log, store=store, registry=registry, loop=loop, now=now)
            )
        except Exception:
            logger.exception(
                "retrain failed for %s; its current model keeps serving", decision_point
            )
            reports.append(
                RetrainReport(
                    decision_point=decision_point,
                    status="failed",
                    model_version=None,
                    window_start=None,
                    window_end=now,
                    decisions_seen=0,
                    decisions_learned=0,
                )
            )
    return reports
