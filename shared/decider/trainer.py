"""Retrain: settle decisions past their reward wait, learn them, store and promote a version."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from decider.evaluation import Evaluation
from decider.featurize import Label
from decider.policy import Policy
from decider.records import DecisionLog, ModelStore, ModelVersion, Registry
from decider.schemas import RetrainReport
from decider.settings import LoopSettings

logger = logging.getLogger(__name__)

# Settle a little after the reward wait: rewards stamped by a slightly slower clock, and the
# time-ordered index (eventually consistent) catching up with the last on-time rewards.
CLOCK_SKEW = timedelta(seconds=3)
# About 25 s of learning at typical sizes; far inside the function's 900 s even for big ones.
MAX_DECISIONS_PER_RUN = 50_000


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
    run goes on from there, so that one run always fits in the function's time limit."""
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

    exploration = " ".join(loop.exploration)
    model = None
    if current and current.model_key:
        if current.exploration in (None, exploration):
            model = store.get(current.model_key)
        else:  # VW cannot continue a model under other exploration: a new lineage starts
            logger.warning(
                "%s: exploration changed from %r to %r; training a new model",
                decision_point,
                current.exploration,
                exploration,
            )
    policy = Policy(loop.exploration, model=model)
    evaluation = Evaluation()
    seen = learned = 0
    last_at: datetime | None = None
    for record in log.settled(decision_point, since, until):
        if last_at is not None and seen >= limit and record.decided_at != last_at:
            until = last_at  # the rest of the window is the next run's
            report["window_end"] = until
            break
        seen += 1
        last_at = record.decided_at
        if not (record.learnable and record.activated):
            continue
        reward = record.reward if record.reward is not None else loop.default_reward
        evaluation.add(policy.pmf(record.features), record.chosen_index, record.probability, reward)
        policy.learn(record.features, Label(record.chosen_index, -reward, record.probability))
        learned += 1

    if learned == 0:
        registry.advance(decision_point, until, expected_version=version)
        return RetrainReport(
            status="nothing_to_learn",
            model_version=_str(version),
            **report,
            decisions_seen=seen,
            decisions_learned=0,
        )

    blob = policy.serialize()
    next_version = (version or 0) + 1
    summary = evaluation.summary()
    registry.promote(
        ModelVersion(
            decision_point=decision_point,
            version=next_version,
            model_key=store.put(decision_point, next_version, blob),
            model_sha256=hashlib.sha256(blob).hexdigest(),
            exploration=exploration,
            window_start=since,
            watermark=until,
            trained_at=now,
            decisions_learned=learned,
            evaluation_json=json.dumps(summary),
        ),
        expected_version=version,
    )
    return RetrainReport(
        status="trained",
        model_version=str(next_version),
        **report,
        decisions_seen=seen,
        decisions_learned=learned,
        evaluation=summary,
    )


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
