"""Retrain: settle decisions past their reward wait, learn them, store and promote a version."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from decider.learning.apprentice import APPRENTICE_WINDOW, Apprenticeship, apprenticeship
from decider.learning.evaluation import Evaluation
from decider.learning.featurize import Label, to_vw_json
from decider.learning.policy import Policy, RewardModel, lineage
from decider.records import (
    CurrentModel,
    DecisionLog,
    DecisionRecord,
    ModelStore,
    ModelVersion,
    Registry,
    StaleSettings,
    tallies,
)
from decider.schemas import RetrainReport, SettingsChange
from decider.settings import LoopSettings

logger = logging.getLogger(__name__)

# Settle a little after the reward wait: rewards stamped by a slightly slower clock, and the
# time-ordered index (eventually consistent) catching up with the last on-time rewards.
CLOCK_SKEW = timedelta(seconds=3)
# About 25 s of learning at typical sizes; far inside the function's 900 s even for big ones.
MAX_DECISIONS_PER_RUN = 50_000
# Fewer held-out decisions than this say too little to be worth keeping from the model.
MIN_HOLDOUT = 20
# Decisions parsed at a time: bounded memory (VW examples are large), passes over each chunk.
LEARN_CHUNK = 1000
# The most decisions read back to find the newest apprentice ones (they may be interleaved
# with holdout and logging decisions).
APPRENTICE_READ = 5 * APPRENTICE_WINDOW
# The longest one decision point's run takes (MAX_DECISIONS_PER_RUN at a few kB each, with
# margin): none is started with less of the function's time left.
RETRAIN_MARGIN = timedelta(minutes=2)
# What a run that cut its window at the limit reports when the next may go on from the cut.
MOVED_ON = ("trained", "nothing_to_learn")
# Who switched an apprentice decision point online, in its settings history.
GRADUATION = "retrain: graduate_when"


@dataclass(frozen=True)
class Window:
    """The settled decisions of one run, cut so that one run fits in the function's limits."""

    records: list[DecisionRecord]
    until: datetime
    seen: int
    full: bool = False  # cut at the run's limit: more settled decisions wait


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

    The window's most recent decisions (``loop.scored_share``) are held out: the candidate,
    trained on the rest, is scored on them, and serves exactly as scored; the watermark stops
    before them, so the next run learns them. The estimate is recorded with the version, and so
    is what the versions that served the learned part of the window earned in it."""
    current = registry.current(decision_point)
    if current is not None:  # what the decision point sets itself, in place of the stack's
        loop = loop.for_decision_point(current.settings)
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

    window = _window(log.settled(decision_point, since, until), until, limit, now - CLOCK_SKEW)
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
            backlog=window.full,
        )

    tuning = loop.lineage
    serving = store.get(current.model_key) if current and current.model_key else None
    lineage_holds = current is not None and current.exploration in (None, tuning)
    if serving is not None and not lineage_holds and current is not None:
        # VW cannot continue a model under other arguments: a new lineage starts.
        logger.warning(
            "%s: tuning changed from %r to %r; training a new model",
            decision_point,
            current.exploration,
            tuning,
        )
    labelled = [(record, _label(record, loop.default_reward)) for record in new]
    split = _split(labelled, loop.scored_share)
    if split < len(labelled):
        # The held-out tail is learned by the next run: the version that serves is exactly
        # the model its estimate scored.
        report["window_end"] = until = labelled[split - 1][0].decided_at
    candidate = Policy(loop.tuning, model=serving if lineage_holds else None)
    scale = loop.reward_scale
    rewards = RewardModel(loop.learner, scale=scale)
    _learn(candidate, rewards, labelled[:split], loop.passes, scale)

    evaluation = Evaluation()
    incumbent = (
        Policy(lineage(current.exploration, loop.tuning), model=serving)
        if current is not None and serving is not None
        else None
    )
    for record, label in labelled[split:]:  # each parsed once, scored by all three
        examples = candidate.parse(to_vw_json(record.features, label))
        count = len(record.features.actions)
        evaluation.add(
            candidate=candidate.pmf_of(examples, count),
            current=incumbent.pmf_of(examples, count) if incumbent else None,
            chosen=record.chosen_index,
            probability=record.probability,
            reward=-label.cost,
            predicted=rewards.predict(examples, count),
            baseline=record.baseline_index,
        )
    learned = labelled[:split]
    for _, label in learned:
        evaluation.add_learned(-label.cost)
    for record in window.records:  # what the baseline earned on holdout traffic meanwhile
        if record.holdout and record.activated and record.decided_at <= until:
            evaluation.holdout.add(_reward(record, loop.default_reward))

    apprentice: Apprenticeship | None = None
    if loop.learning_mode == "apprentice" or any(r.mode == "apprentice" for r in new):
        judged = _newest_apprenticed(log, decision_point, until)
        apprentice = apprenticeship(judged, [_reward(r, loop.default_reward) for r in judged])
    if apprentice is not None:
        evaluation.apprentice = apprentice.as_dict()

    blob = candidate.serialize()
    next_version = current.next_version if current else 1
    summary = evaluation.summary()
    rejected = _rejection(summary, loop) if current is not None and serving is not None else None
    trained = ModelVersion(
        decision_point=decision_point,
        version=next_version,
        model_key=store.put(decision_point, next_version, blob),
        model_sha256=hashlib.sha256(blob).hexdigest(),
        exploration=tuning,
        window_start=since,
        watermark=until,
        trained_at=now,
        decisions_learned=len(learned),
        evaluation_json=evaluation.to_json(),
        # What the versions that served this window earned in it: kept on this version's
        # own record, so a window is counted once, with the watermark that ends it. A
        # rejected version ends no window: the serving version's next candidate learns it.
        served={}
        if rejected
        else tallies(
            (r.model_version, -label.cost) for r, label in learned if r.model_version is not None
        ),
        rejected=rejected,
    )
    if rejected:
        logger.warning("%s: version %s not promoted: %s", decision_point, next_version, rejected)
        registry.reject(trained, expected_version=version)
    else:
        registry.promote(trained, expected_version=version)
    graduated = (
        current is not None
        and apprentice is not None
        and _graduate(registry, current, loop, apprentice, now)
    )
    return RetrainReport(
        status="rejected" if rejected else "trained",
        graduated=graduated,
        backlog=window.full,
        model_version=str(next_version),
        **report,
        decisions_seen=window.seen,
        decisions_learned=len(learned),
        evaluation=summary,
    )


def _rejection(summary: dict[str, Any], loop: LoopSettings) -> str | None:
    """Why the promotion rule keeps a candidate from serving, or None if it may serve."""
    if loop.promotion_rule == "always":
        return None
    candidate, serving = summary.get("candidate"), summary.get("current")
    if not candidate or not serving:
        return "if_not_worse: too few held-out decisions to show it is not worse"
    floor = serving["value"] - loop.promotion_tolerance
    if candidate["low"] >= floor:
        return None
    return (
        f"if_not_worse: its 95% interval reaches {candidate['low']:.4g}, below the serving "
        f"version's estimate {serving['value']:.4g} minus the tolerance "
        f"{loop.promotion_tolerance:g}"
    )


def _graduate(
    registry: Registry,
    current: CurrentModel,
    loop: LoopSettings,
    apprentice: Apprenticeship,
    now: datetime,
) -> bool:
    """Switch an apprentice decision point to online when its ``graduate_when`` holds: one
    conditional write of its settings and their history, which an operator's change made
    meanwhile wins (the next run checks again)."""
    rule = current.settings.graduate_when
    if loop.learning_mode != "apprentice" or rule is None or not apprentice.graduates(rule):
        return False
    change = SettingsChange(
        at=now,
        principal=GRADUATION,
        changes={"learning_mode": {"from": "apprentice", "to": "online"}},
        new_lineage=False,
    )
    online = current.settings.model_copy(update={"learning_mode": "online"})
    try:
        registry.configure(
            current.decision_point, online, change, expected_revision=current.settings_revision
        )
    except StaleSettings:
        logger.info("%s: settings changed meanwhile; graduation checked next run",
                    current.decision_point)  # fmt: skip
        return False
    logger.info("%s: graduated to online: %s", current.decision_point, apprentice.as_dict())
    return True


def _window(
    records: Iterable[DecisionRecord], until: datetime, limit: int, due: datetime
) -> Window:
    """The decisions to learn now: up to ``limit`` (cut where the time changes), and none from
    the first one whose own reward wait has not passed by ``due`` (one made under a longer
    wait than today's): it and those after it wait for a later run, in order."""
    taken: list[DecisionRecord] = []
    for record in records:
        if record.reward_until is not None and record.reward_until > due:
            cut = record.decided_at - timedelta(microseconds=1)
            kept = [r for r in taken if r.decided_at <= cut]
            return Window(kept, cut, len(kept))
        if taken and len(taken) >= limit and record.decided_at != taken[-1].decided_at:
            return Window(taken, taken[-1].decided_at, len(taken), full=True)  # the next run's
        taken.append(record)
    return Window(taken, until, len(taken))


def _newest_apprenticed(
    log: DecisionLog, decision_point: str, until: datetime
) -> list[DecisionRecord]:
    """The settled decisions up to ``until`` that hold the newest ``APPRENTICE_WINDOW``
    apprentice decisions, oldest first: the judgement spans as many retrain windows as it
    takes, so a quiet decision point graduates too. At most APPRENTICE_READ are read."""
    found: list[DecisionRecord] = []
    apprenticed = 0
    for record in log.recent(decision_point, None, until):
        found.append(record)
        apprenticed += record.mode == "apprentice" and record.model_top is not None
        if apprenticed >= APPRENTICE_WINDOW or len(found) >= APPRENTICE_READ:
            break
    found.reverse()
    return found


def _split(labelled: list[tuple[DecisionRecord, Label]], share: float) -> int:
    """Where the held-out tail starts: after the last decision of a moment, so that the
    watermark (that moment) leaves the whole tail to the next run. No tail for a small window."""
    start = len(labelled) - int(len(labelled) * share)
    while 0 < start < len(labelled) and (
        labelled[start - 1][0].decided_at == labelled[start][0].decided_at
    ):
        start -= 1
    return start if start > 0 and len(labelled) - start >= MIN_HOLDOUT else len(labelled)


def _reward(record: DecisionRecord, default_reward: float) -> float:
    return record.reward if record.reward is not None else default_reward


def _label(record: DecisionRecord, default_reward: float) -> Label:
    return Label(record.chosen_index, -_reward(record, default_reward), record.probability)


def _learn(
    policy: Policy,
    rewards: RewardModel,
    labelled: list[tuple[DecisionRecord, Label]],
    passes: int,
    scale: float = 1.0,
) -> None:
    """Each decision featurized and parsed once for both models, the reward model first (see
    RewardModel); each chunk learned ``passes`` times by the policy, then dropped: a parsed
    example holds tens of kB in VW, too many to keep a whole window of them."""
    for start in range(0, len(labelled), LEARN_CHUNK):
        parsed = [
            policy.parse(
                to_vw_json(r.features, Label(label.index, label.cost / scale, label.probability))
            )
            for r, label in labelled[start : start + LEARN_CHUNK]
        ]
        for examples in parsed:
            rewards.learn(examples)
        for _ in range(passes):
            for examples in parsed:
                policy.learn_examples(examples)


def _str(version: int | None) -> str | None:
    return None if version is None else str(version)


@dataclass(frozen=True)
class Schedule:
    """What the runs of one scheduled invocation share: the stores, the loop's settings, the
    instant they settle to, the invocation's time left, a run's limit, and the margin of time
    a run needs."""

    log: DecisionLog
    store: ModelStore
    registry: Registry
    loop: LoopSettings
    now: datetime
    seconds_left: Callable[[], float] = lambda: math.inf
    limit: int = MAX_DECISIONS_PER_RUN
    margin: timedelta = RETRAIN_MARGIN

    def out_of_time(self) -> bool:
        return self.seconds_left() < self.margin.total_seconds()


def retrain_all(schedule: Schedule) -> list[RetrainReport]:
    """Retrain every known decision point in one invocation, the least recently retrained
    first (``in_turn``), and start none with less than the margin of the run's time left: one
    that is not reached goes first next run, so no decision point keeps another from its turn.
    (The template's state machine runs each decision point in an invocation of its own.)"""
    reports = []
    for decision_point in in_turn(schedule.registry):
        if schedule.out_of_time():
            reports.append(_report(decision_point, "deferred", schedule.now))
            continue
        reports.extend(retrain_backlog(decision_point, schedule))
    return reports


def retrain_backlog(decision_point: str, schedule: Schedule) -> list[RetrainReport]:
    """Retrain one decision point, run after run while a run was cut at the limit
    (``backlog``) and the margin of time is left: a window of any size is learned in order,
    over as many runs (and invocations) as it takes; the last report's ``backlog`` says
    whether some is left. One that fails reports ``failed`` and keeps its model serving."""
    reports = []
    try:
        while True:
            report = retrain(decision_point, log=schedule.log, store=schedule.store,
                             registry=schedule.registry, loop=schedule.loop, now=schedule.now,
                             limit=schedule.limit)  # fmt: skip
            reports.append(report)
            if not (report.status in MOVED_ON and report.backlog) or schedule.out_of_time():
                break
    except Exception:
        logger.exception("retrain failed for %s; its current model keeps serving", decision_point)
        reports.append(_report(decision_point, "failed", schedule.now))
    return reports


def in_turn(registry: Registry) -> list[str]:
    """Every decision point, the least recently retrained first (never retrained: first)."""

    def watermark(decision_point: str) -> tuple[bool, datetime]:
        current = registry.current(decision_point)
        mark = current.watermark if current else None
        return (mark is not None, mark or datetime.min.replace(tzinfo=UTC))

    return sorted(registry.decision_points(), key=watermark)


def _report(decision_point: str, status: Any, now: datetime) -> RetrainReport:
    return RetrainReport(
        decision_point=decision_point,
        status=status,
        model_version=None,
        window_start=None,
        window_end=now,
        decisions_seen=0,
        decisions_learned=0,
    )
