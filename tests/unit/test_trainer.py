"""Retrain with in-memory stores and a moved clock: every settled decision is learned once."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from decider.learning import trainer
from decider.learning.featurize import Label
from decider.learning.model_cache import ModelCache
from decider.learning.policy import Examples, Policy, lineage
from decider.learning.trainer import CLOCK_SKEW, Schedule, retrain, retrain_all
from decider.loop.decide import Decider
from decider.loop.events import activate, record_reward
from decider.records import DecisionRecord, StaleModel, earned
from decider.schemas import (
    DecideRequest,
    DecisionPointSettings,
    RetrainReport,
    RewardRange,
    RewardRequest,
    SettingsChange,
)
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
WAIT = timedelta(hours=1)
SECOND = timedelta(seconds=1)
DP = "home-hero"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def move_to(self, at: datetime) -> None:
        assert at >= self.at, "time only moves forward"
        self.at = at


class RecordingPolicy(Policy):
    """The trainer's policy, remembering which decisions it learned and with which label."""

    learned: list[tuple[str, Label]] = []  # noqa: RUF012  (reset per test by the fixture)

    def parse(self, example: str) -> Examples:
        parsed = super().parse(example)
        data = json.loads(example)
        if "_label_cost" in data:  # labelled: remember which decision it is, if it is learned
            (visit,) = (key.split("=", 1)[1] for key in data["x"] if key.startswith("visit="))
            label = Label(data["_labelIndex"], data["_label_cost"], data["_label_probability"])
            self._labels = getattr(self, "_labels", {})
            self._labels[id(parsed)] = (visit, label)
        return parsed

    def learn_examples(self, examples: Examples) -> None:
        RecordingPolicy.learned.append(self._labels[id(examples)])
        super().learn_examples(examples)


@pytest.fixture(autouse=True)
def recording_policy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Label]]:
    RecordingPolicy.learned = []
    monkeypatch.setattr(trainer, "Policy", RecordingPolicy)
    return RecordingPolicy.learned


class Shop:
    """Decide, reward and retrain for one decision point, on fakes and one clock."""

    def __init__(self, default_reward: float = 0.0, passes: int = 1) -> None:
        self.clock = Clock(T0)
        self.log = MemoryDecisionLog()
        self.store = MemoryModelStore()
        self.registry = MemoryRegistry()
        # Explicit epsilon-greedy, so that the greedy action's probability is known exactly
        self.loop = LoopSettings(
            reward_wait=WAIT,
            default_reward=default_reward,
            reward_range=(-5.0, 5.0),  # rewards of several conversions
            exploration=["--epsilon", "0.2"],
            passes=passes,
        )
        cache = ModelCache(self.registry, self.store, self.loop.exploration, refresh_seconds=0)
        self._serial = 0
        self.decider = Decider(models=cache, log=self.log, loop=self.loop, now=self.clock)

    def decide(
        self,
        count: int = 1,
        decision_point: str = DP,
        every: timedelta | None = None,
        **fields: Any,
    ) -> list[str]:
        event_ids = []
        for _ in range(count):
            if every is not None:
                self.clock.move_to(self.clock() + every)
            self._serial += 1
            event_id = f"visit-{self._serial:04d}"
            request = DecideRequest.model_validate(
                {
                    "decision_point": decision_point,
                    "event_id": event_id,
                    # The event id as logged (scoped), so a learned example names its decision
                    "context": {
                        "season": "winter",
                        "features": {"visit": f"{decision_point}:{event_id}"},
                    },
                    "profile": {"segment": "returning"},
                    "actions": [{"id": "winter-coat"}, {"id": "sunglasses"}, {"id": "umbrella"}],
                    **fields,
                }
            )
            event_ids.append(self.decider.decide(request).event_id)
        return event_ids

    def reward(self, event_id: str, value: float = 1.0) -> str:
        reward = RewardRequest(value=value)
        return record_reward(self.log, event_id, reward, self.loop, self.clock()).status

    def retrain(
        self, decision_point: str = DP, at: datetime | None = None, **stores: Any
    ) -> RetrainReport:
        stores = {"log": self.log, "store": self.store, "registry": self.registry, **stores}
        return retrain(decision_point, **stores, loop=self.loop, now=at or self.clock())

    def settle_after(self, decided_at: datetime) -> datetime:
        """The first retrain time whose window includes a decision made at ``decided_at``."""
        return decided_at + WAIT + CLOCK_SKEW


def learned_ids(learned: list[tuple[str, Label]]) -> list[str]:
    return [visit for visit, _ in learned]


# --- promotion and watermark ---------------------------------------------------------------------


def test_a_first_retrain_promotes_version_1_and_sets_the_watermark(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given four decisions at T0, two of them rewarded, and one decision 30 minutes later
    shop = Shop()
    settled = shop.decide(4)
    assert [shop.reward(e) for e in settled[:2]] == ["recorded", "recorded"]
    shop.clock.move_to(T0 + timedelta(minutes=30))
    shop.decide(1)
    # When retrain runs an hour and a bit after T0
    now = T0 + WAIT + timedelta(seconds=5)
    shop.clock.move_to(now)
    report = shop.retrain()
    # Then version 1 holds the four settled decisions and the watermark is now - wait - skew
    assert (report.status, report.model_version) == ("trained", "1")
    assert (report.decisions_seen, report.decisions_learned) == (4, 4)
    assert sorted(learned_ids(recording_policy)) == sorted(settled)
    current = shop.registry.current(DP)
    assert current is not None and current.version == 1
    assert current.watermark == now - WAIT - CLOCK_SKEW == report.window_end
    (version,) = shop.registry.versions(DP)
    assert (version.version, version.window_start) == (1, None)
    assert version.watermark == current.watermark
    assert version.decisions_learned == 4
    # And the stored blob is the promoted one and loads as a model
    assert current.model_key is not None
    blob = shop.store.get(current.model_key)
    assert hashlib.sha256(blob).hexdigest() == current.model_sha256 == version.model_sha256
    Policy(shop.loop.exploration, model=blob)
    # Four decisions are too few to hold any out: no estimate, only what was logged
    assert "candidate" not in report.evaluation
    assert report.evaluation["learned"]["n"] == 4
    assert report.evaluation["learned"]["mean"] == pytest.approx(0.5)


def test_decide_serves_the_promoted_version() -> None:
    shop = Shop()
    shop.decide(3)
    shop.clock.move_to(shop.settle_after(T0))
    shop.retrain()
    response = shop.decider.decide(
        DecideRequest.model_validate(
            {
                "decision_point": DP,
                "event_id": "after-retrain",
                "context": {"features": {"visit": "after-retrain"}},
                "actions": [{"id": "winter-coat"}, {"id": "sunglasses"}],
            }
        )
    )
    assert response.model_version == "1"
    assert shop.log.records[response.event_id].model_version == 1


def test_before_the_reward_wait_nothing_is_settled(
    recording_policy: list[tuple[str, Label]],
) -> None:
    shop = Shop()
    shop.decide(3)
    shop.clock.move_to(T0 + WAIT)  # one skew short of settled
    report = shop.retrain()
    assert (report.status, report.decisions_seen, report.decisions_learned) == (
        "nothing_to_learn",
        0,
        0,
    )
    assert recording_policy == []
    assert shop.registry.versions(DP) == []


# --- exactly once --------------------------------------------------------------------------------


def test_each_decision_is_learned_exactly_once_across_runs(
    recording_policy: list[tuple[str, Label]],
) -> None:
    shop = Shop()
    # Given decisions at T0 and at T0 + 30 min
    early = shop.decide(5)
    shop.clock.move_to(T0 + timedelta(minutes=30))
    middle = shop.decide(3)
    # When retrain runs once the first batch has settled
    first_run = shop.settle_after(T0)
    shop.clock.move_to(first_run)
    first = shop.retrain()
    assert (first.status, first.decisions_learned) == ("trained", 5)
    # And runs again at the same instant: the window is empty
    again = shop.retrain()
    assert (again.status, again.decisions_learned, again.model_version) == ("not_settled", 0, "1")
    # And a minute later, with nothing new settled
    shop.clock.move_to(first_run + timedelta(minutes=1))
    idle = shop.retrain()
    assert (idle.status, idle.decisions_learned, idle.model_version) == ("nothing_to_learn", 0, "1")
    assert len(shop.registry.versions(DP)) == 1
    current = shop.registry.current(DP)
    assert current is not None and current.watermark == idle.window_end
    # Given more decisions after that
    late = shop.decide(4)
    # When retrain runs after everything has settled, twice
    shop.clock.move_to(shop.clock() + WAIT + timedelta(minutes=5))
    second = shop.retrain()
    third = shop.retrain()
    # Then the later runs learned exactly the decisions made after the first watermark
    assert (second.status, second.model_version, second.decisions_learned) == ("trained", "2", 7)
    assert (third.status, third.decisions_learned) == ("not_settled", 0)
    assert [v.version for v in shop.registry.versions(DP)] == [1, 2]
    # And across all runs, every decision was learned once, none twice, none skipped
    counts = Counter(learned_ids(recording_policy))
    assert set(counts) == set(early + middle + late)
    assert set(counts.values()) == {1}


def test_a_decision_on_the_watermark_is_learned_once() -> None:
    # Given a decision made exactly at the instant that becomes the first watermark
    shop = Shop()
    watermark = T0 + timedelta(minutes=10)
    shop.clock.move_to(watermark)
    (on_edge,) = shop.decide(1)
    shop.clock.move_to(watermark + timedelta(microseconds=1))
    (just_after,) = shop.decide(1)
    # When retrain runs so that its window ends exactly on it, then once more later
    shop.clock.move_to(shop.settle_after(watermark))
    first = shop.retrain()
    shop.clock.move_to(shop.settle_after(watermark) + timedelta(hours=1))
    second = shop.retrain()
    # Then the window (since, until] takes it in the first run only
    assert first.window_end == watermark
    assert (first.decisions_learned, second.decisions_learned) == (1, 1)
    assert RecordingPolicy.learned[0][0] == on_edge
    assert RecordingPolicy.learned[1][0] == just_after


# --- what is learned -----------------------------------------------------------------------------


def test_decisions_without_consent_or_activation_are_not_learned(
    recording_policy: list[tuple[str, Label]],
) -> None:
    shop = Shop()
    (shown,) = shop.decide(1)
    (refused,) = shop.decide(1, consent=False)
    (never_shown,) = shop.decide(1, defer_activation=True)
    (shown_later,) = shop.decide(1, defer_activation=True)
    assert activate(shop.log, shown_later).status == "activated"
    for event_id in (shown, refused, never_shown, shown_later):
        shop.reward(event_id)
    shop.clock.move_to(shop.settle_after(T0))
    report = shop.retrain()
    assert (report.decisions_seen, report.decisions_learned) == (4, 2)
    assert sorted(learned_ids(recording_policy)) == sorted([shown, shown_later])


def test_a_missing_or_late_reward_is_learned_as_the_default_reward(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given a default reward of 0.25, and three decisions: rewarded, unrewarded, rewarded late
    shop = Shop(default_reward=0.25)
    rewarded, unrewarded, rewarded_late = shop.decide(3)
    assert shop.reward(rewarded, 2.0) == "recorded"
    shop.clock.move_to(T0 + WAIT + timedelta(microseconds=1))
    assert shop.reward(rewarded_late, 5.0) == "late"
    # When they are learned
    shop.clock.move_to(shop.settle_after(T0))
    shop.retrain()
    # Then the cost is minus the reward, the default where none arrived in time, divided by
    # the reward range's largest magnitude (5 here): what VW learns is on a conversion's scale
    labels = dict(recording_policy)
    assert labels[rewarded].cost == pytest.approx(-2.0 / 5)
    assert labels[unrewarded].cost == pytest.approx(-0.25 / 5)
    assert labels[rewarded_late].cost == pytest.approx(-0.25 / 5)
    # And each label carries the logged action and its probability
    for event_id, label in labels.items():
        record = shop.log.records[event_id]
        assert (label.index, label.probability) == (record.chosen_index, record.probability)


CHANGE = SettingsChange(at=T0, principal="tester", changes={}, new_lineage=False)


def test_a_decision_points_own_default_reward_is_learned_in_place_of_the_stacks(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given the stack's default reward is 0, and home-hero sets its own, -0.1
    shop = Shop(default_reward=0.0)
    unrewarded, rewarded = shop.decide(2)
    shop.reward(rewarded, 1.0)
    shop.registry.configure(DP, DecisionPointSettings(default_reward=-0.1), CHANGE)
    # When they are learned
    shop.clock.move_to(shop.settle_after(T0))
    shop.retrain()
    # Then the unrewarded decision is learned at home-hero's default (both on the scale of
    # the range, 5)
    labels = dict(recording_policy)
    assert labels[unrewarded].cost == pytest.approx(0.1 / 5)
    assert labels[rewarded].cost == pytest.approx(-1.0 / 5)


def test_a_retrain_continues_from_the_current_model() -> None:
    # Given a first window where only the sunglasses (the second action) convert
    shop = Shop()
    for event_id in shop.decide(30):
        shop.reward(event_id, 1.0 if shop.log.records[event_id].chosen_index == 1 else 0.0)
    shop.clock.move_to(shop.settle_after(T0))
    assert shop.retrain().model_version == "1"
    # And a second window with a single unrewarded decision
    (second_window,) = shop.decide(1)
    shop.clock.move_to(shop.clock() + WAIT + timedelta(minutes=1))
    assert shop.retrain().model_version == "2"
    # Then version 2 still knows what version 1 learned: the sunglasses are the greedy action
    current = shop.registry.current(DP)
    assert current is not None and current.model_key is not None
    policy = Policy(shop.loop.exploration, model=shop.store.get(current.model_key))
    visit = shop.log.records[f"{DP}:visit-0001"].features
    assert policy.pmf(visit) == pytest.approx([0.2 / 3, 0.8 + 0.2 / 3, 0.2 / 3])
    # Which a model trained on the second window alone would not know
    alone = Policy(shop.loop.exploration)
    record = shop.log.records[second_window]
    alone.learn(record.features, Label(record.chosen_index, 0.0, record.probability))
    assert alone.pmf(visit)[1] < 0.5


# --- failures ------------------------------------------------------------------------------------


class FailingModelStore(MemoryModelStore):
    def __init__(self, inner: MemoryModelStore) -> None:
        super().__init__()
        self.blobs = inner.blobs

    def put(self, decision_point: str, version: int, blob: bytes) -> str:
        raise ConnectionError("S3 is unreachable")


class LogBreakingAfter(MemoryDecisionLog):
    """Yields a few settled decisions, then loses its connection."""

    def __init__(self, inner: MemoryDecisionLog, records: int) -> None:
        super().__init__()
        self.records = inner.records
        self._limit = records

    def settled(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        for count, record in enumerate(super().settled(decision_point, since, until)):
            if count == self._limit:
                raise ConnectionError("DynamoDB went away")
            yield record


def trained_once() -> tuple[Shop, list[str]]:
    """A shop with version 1 promoted, and five decisions made since that are now settled."""
    shop = Shop()
    shop.decide(3)
    shop.clock.move_to(shop.settle_after(T0))
    shop.retrain()
    pending = shop.decide(5)
    shop.clock.move_to(shop.clock() + WAIT + timedelta(minutes=1))
    return shop, pending


@pytest.mark.parametrize("failure", ["model store put", "log iterator"])
def test_a_retrain_that_fails_midway_changes_nothing_and_is_redone_whole(
    failure: str, recording_policy: list[tuple[str, Label]]
) -> None:
    shop, pending = trained_once()
    before = shop.registry.current(DP)
    broken: dict[str, Any] = (
        {"store": FailingModelStore(shop.store)}
        if failure == "model store put"
        else {"log": LogBreakingAfter(shop.log, records=2)}
    )
    recording_policy.clear()
    # When the retrain fails midway
    with pytest.raises(ConnectionError):
        shop.retrain(**broken)
    # Then the current version and its watermark are untouched, and no version was added
    assert shop.registry.current(DP) == before
    assert [v.version for v in shop.registry.versions(DP)] == [1]
    # And the next run learns the whole window, all five decisions
    recording_policy.clear()
    report = shop.retrain()
    assert before is not None
    assert (report.status, report.model_version, report.window_start) == (
        "trained",
        "2",
        before.watermark,
    )
    assert report.decisions_learned == 5
    assert sorted(learned_ids(recording_policy)) == sorted(pending)


def test_a_first_retrain_that_fails_leaves_no_model() -> None:
    shop = Shop()
    shop.decide(4)
    shop.clock.move_to(shop.settle_after(T0))
    with pytest.raises(ConnectionError):
        shop.retrain(log=LogBreakingAfter(shop.log, records=3))
    current = shop.registry.current(DP)
    assert current is not None and (current.version, current.watermark) == (None, None)
    assert shop.retrain().decisions_learned == 4


class LogBrokenFor(MemoryDecisionLog):
    def __init__(self, inner: MemoryDecisionLog, broken: str) -> None:
        super().__init__()
        self.records = inner.records
        self._broken = broken

    def settled(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        if decision_point == self._broken:
            raise ConnectionError(f"cannot read {decision_point}")
        return super().settled(decision_point, since, until)


def test_retrain_all_reports_a_broken_decision_point_and_trains_the_others() -> None:
    shop = Shop()
    for decision_point in ("email-offer", "home-hero", "search-box"):
        shop.decide(2, decision_point=decision_point)
    shop.clock.move_to(shop.settle_after(T0))
    reports = retrain_all(
        Schedule(
            log=LogBrokenFor(shop.log, "home-hero"),
            store=shop.store,
            registry=shop.registry,
            loop=shop.loop,
            now=shop.clock(),
        )
    )
    assert {r.decision_point: r.status for r in reports} == {
        "email-offer": "trained",
        "home-hero": "failed",
        "search-box": "trained",
    }
    versions = {
        dp: (c.version if (c := shop.registry.current(dp)) else None)
        for dp in ("email-offer", "home-hero", "search-box")
    }
    assert versions == {"email-offer": 1, "home-hero": None, "search-box": 1}


class RacingLog(MemoryDecisionLog):
    """While this retrain reads the log, another one, started later, runs and promotes."""

    def __init__(self, shop: Shop, winner_at: datetime) -> None:
        super().__init__()
        self.records = shop.log.records
        self._shop = shop
        self._winner_at = winner_at

    def settled(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        assert self._shop.retrain(decision_point, at=self._winner_at).status == "trained"
        return super().settled(decision_point, since, until)


@pytest.mark.parametrize("would", ["promote", "advance"])
def test_a_retrain_that_another_one_beat_raises_stale_model(would: str) -> None:
    # Given version 1, and decisions made 30 minutes later
    shop = Shop()
    shop.decide(3)
    shop.clock.move_to(shop.settle_after(T0))
    shop.retrain()
    shop.clock.move_to(shop.clock() + timedelta(minutes=30))
    shop.decide(2)
    # When this retrain would learn them (or find nothing yet), but a later one promotes first
    ours = shop.clock() + (WAIT + timedelta(minutes=1) if would == "promote" else timedelta(0))
    winner_at = shop.clock() + WAIT + timedelta(minutes=2)
    with pytest.raises(StaleModel):
        shop.retrain(at=ours, log=RacingLog(shop, winner_at))
    # Then the winner's version and watermark stand, and the loser's result is not recorded
    assert [v.version for v in shop.registry.versions(DP)] == [1, 2]
    current = shop.registry.current(DP)
    assert current is not None and current.version == 2
    assert current.watermark == winner_at - WAIT - CLOCK_SKEW


# --- bounded runs and exploration lineage ----------------------------------------------------


def seven_decisions_two_at_one_instant() -> tuple[Shop, datetime]:
    """A shop with 7 decisions a second apart, the third and fourth at one instant, and the
    first time they are all settled."""
    shop = Shop()
    for step in range(6):
        shop.decide(2 if step == 2 else 1)
        shop.clock.move_to(shop.clock() + timedelta(seconds=1))
    return shop, shop.settle_after(shop.clock())


def test_a_window_bigger_than_one_run_is_learned_over_several_runs_without_a_gap(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given 7 decisions, two of them at the same instant, and runs of at most 3 decisions
    shop, at = seven_decisions_two_at_one_instant()
    # When retrain runs until nothing is left
    reports = [
        retrain(
            DP,
            log=shop.log,
            store=shop.store,
            registry=shop.registry,
            loop=shop.loop,
            now=at,
            limit=3,
        )
        for _ in range(4)
    ]
    # Then every decision was learned exactly once, and a run never split an instant
    assert sorted(learned_ids(recording_policy)) == sorted(shop.log.records)
    assert [r.decisions_learned for r in reports] == [4, 3, 0, 0]  # the 2 at one instant together
    assert reports[-1].status == "not_settled"


def test_one_scheduled_run_learns_a_backlog_of_several_windows_in_order(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given 7 settled decisions, two at one instant, and runs of at most 3 decisions
    shop, at = seven_decisions_two_at_one_instant()
    # When the schedule fires once
    reports = retrain_all(Schedule(log=shop.log, store=shop.store, registry=shop.registry,
                          loop=shop.loop, now=at, limit=3))  # fmt: skip
    # Then it ran window after window until none was left: each decision learned once, in order
    assert [(r.status, r.decisions_learned, r.backlog) for r in reports] == [
        ("trained", 4, True),
        ("trained", 3, False),
    ]
    assert learned_ids(recording_policy) == [r.event_id for r in shop.log.settled(DP, None, at)]


def test_a_backlog_waits_for_the_next_run_when_the_time_runs_out() -> None:
    # Given a backlog of several windows and a function with little time left after one run
    shop = Shop()
    shop.decide(7, every=SECOND)
    at = shop.settle_after(shop.clock())
    left = iter([1000.0, 10.0])
    # When the schedule fires
    reports = retrain_all(
        Schedule(
            log=shop.log,
            store=shop.store,
            registry=shop.registry,
            loop=shop.loop,
            now=at,
            limit=3,
            seconds_left=lambda: next(left),
        )
    )
    # Then it stopped after the run that fit, and the rest waits (nothing skipped)
    assert [(r.decisions_learned, r.backlog) for r in reports] == [(3, True)]
    again = retrain_all(Schedule(log=shop.log, store=shop.store, registry=shop.registry,
                        loop=shop.loop, now=at, limit=3))  # fmt: skip
    assert sum(r.decisions_learned for r in again) == 4


def test_a_run_cut_among_decisions_it_cannot_learn_goes_on_to_those_after_them() -> None:
    # Given 4 decisions without consent (never learned), then 3 learnable ones, a second apart
    shop = Shop()
    shop.decide(4, every=SECOND, consent="none")
    learnable = shop.decide(3, every=SECOND)
    at = shop.settle_after(shop.clock())
    # When the schedule fires once, with runs of at most 3 decisions
    reports = retrain_all(Schedule(log=shop.log, store=shop.store, registry=shop.registry,
                          loop=shop.loop, now=at, limit=3))  # fmt: skip
    # Then the first run, with nothing to learn but cut at the limit, did not end the turn
    assert reports[0].status == "nothing_to_learn" and reports[0].backlog
    assert sum(r.decisions_learned for r in reports) == len(learnable)


def test_a_change_of_exploration_starts_a_new_model_and_decide_loads_each_as_trained() -> None:
    # Given version 1 trained with epsilon-greedy
    shop = Shop()
    shop.decide(5)
    shop.clock.move_to(shop.settle_after(shop.clock()))
    assert shop.retrain().model_version == "1"
    # the lineage: exploration, learner, and the reward scale (this shop's range is -5 to 5)
    assert shop.registry.current(DP).exploration == "--epsilon 0.2 --coin --reward_scale 5"  # type: ignore[union-attr]
    # When the operator switches to an exploration VW cannot continue epsilon's model with
    shop.loop = shop.loop.model_copy(update={"exploration": ["--cover", "3"]})
    shop.decide(5)
    shop.clock.move_to(shop.settle_after(shop.clock()))
    report = shop.retrain()
    # Then version 2 is a new model, recorded with its own arguments
    assert (report.status, report.model_version, report.decisions_learned) == ("trained", "2", 5)
    assert shop.registry.current(DP).exploration == "--cover 3 --coin --reward_scale 5"  # type: ignore[union-attr]
    # And a decide configured with the old arguments still loads and serves version 2
    served = shop.decider.models.model(DP, shop.clock())
    assert served.version == 2
    assert served.policy is not None


# --- honest estimates ---------------------------------------------------------------------------


def test_the_candidate_is_scored_on_the_newest_decisions_before_it_learns_them(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given 100 settled decisions, one a second, a third of them rewarded
    shop = Shop()
    event_ids = shop.decide(100, every=SECOND)
    for event_id in event_ids[::3]:
        shop.reward(event_id)
    shop.clock.move_to(shop.settle_after(shop.clock()))

    # When retrain runs
    report = shop.retrain()

    # Then the newest fifth was held out: scored by the candidate trained on the rest, and by
    # uniform random and the baseline action, each with an interval around its estimate, inside
    # the rewards the window showed, and IPS, SNIPS and DR beside it
    evaluation = report.evaluation
    for target in ("candidate", "uniform", "baseline"):
        estimate = evaluation[target]
        assert estimate["n"] == 20
        assert 0.0 <= estimate["low"] <= estimate["value"] <= estimate["high"] <= 1.0
        assert {"ips", "snips", "dr"} <= set(estimate)
    assert "current" not in evaluation  # nothing served a model yet
    # And the model that serves is the one scored: the held-out 20 are left to the next run,
    # the watermark stopping at the last decision learned
    assert learned_ids(recording_policy) == event_ids[:80]
    assert report.decisions_learned == 80
    assert report.window_end == shop.log.records[event_ids[79]].decided_at
    shop.clock.move_to(shop.clock() + SECOND)
    assert shop.retrain().decisions_learned == 20
    assert learned_ids(recording_policy) == event_ids
    # And uniform random's estimate on uniformly logged decisions is what they earned
    held_out_rewards = [1.0 if i % 3 == 0 else 0.0 for i in range(80, 100)]
    assert evaluation["uniform"]["ips"] == pytest.approx(sum(held_out_rewards) / 20)
    assert evaluation["uniform"]["value"] == pytest.approx(sum(held_out_rewards) / 20)
    assert evaluation["logged"]["mean"] == pytest.approx(sum(held_out_rewards) / 20)


def test_what_a_version_earned_while_it_served_is_recorded_with_it() -> None:
    # Given version 1, trained on 50 decisions (too few to hold any out)
    shop = Shop()
    shop.decide(50, every=SECOND)
    shop.clock.move_to(shop.settle_after(shop.clock()))
    assert shop.retrain().model_version == "1"

    # When it serves 125 decisions, 25 of the first 100 rewarded, and the next retrain
    # learns 100 of them, holding the last 25 out
    served = shop.decide(125, every=SECOND)
    for event_id in served[:25]:
        shop.reward(event_id)
    shop.clock.move_to(shop.settle_after(shop.clock()))
    report = shop.retrain()
    assert report.decisions_learned == 100

    # Then version 1 holds what it earned, and version 2 was compared with it
    earned_by = earned(shop.registry.versions(DP))
    first = earned_by[1].as_dict()
    assert (first["n"], first["mean"]) == (100, pytest.approx(0.25))
    assert first["low"] < 0.25 < first["high"]
    assert 2 not in earned_by
    assert report.evaluation["current"]["n"] == 25
    # And the held-out 25, learned by the next run, count once, with that run's version
    shop.clock.move_to(shop.clock() + SECOND)
    assert shop.retrain().decisions_learned == 25
    assert earned(shop.registry.versions(DP))[1].n == 125
    assert shop.retrain().status == "not_settled"
    assert earned(shop.registry.versions(DP))[1].n == 125


def test_each_decision_is_learned_in_as_many_passes_as_set(
    recording_policy: list[tuple[str, Label]],
) -> None:
    shop = Shop(passes=3)
    event_ids = shop.decide(50)
    shop.clock.move_to(shop.settle_after(T0))
    assert shop.retrain().decisions_learned == 50
    # 50 decisions are too few to hold any out: three whole passes over them, in order
    assert learned_ids(recording_policy) == event_ids * 3


def test_the_held_out_tail_starts_at_a_new_instant_so_the_watermark_leaves_it_whole() -> None:
    def at(seconds: list[int]) -> list[tuple[DecisionRecord, Label]]:
        shop = Shop()
        for second in seconds:
            shop.clock.at = T0 + timedelta(seconds=second)
            shop.decide()
        return [(r, Label(0, 0.0, 1.0)) for r in shop.log.records.values()]

    # 100 decisions a second apart: the newest 20 are held out
    assert trainer._split(at(list(range(100))), 0.2) == 80
    # Decisions 75 to 84 share one instant: the cut moves back to before all of them
    seconds = [*range(75), *[75] * 10, *range(76, 91)]
    assert trainer._split(at(seconds), 0.2) == 75
    # A tail that would be smaller than 20, or a window of one instant: nothing held out
    assert trainer._split(at(list(range(50))), 0.2) == 50
    assert trainer._split(at([0] * 100), 0.2) == 100


# --- guarded promotion ---------------------------------------------------------------------------


def promotion(shop: Shop, rule: str, tolerance: float = 0.0) -> None:
    settings = DecisionPointSettings.model_validate(
        {"promotion_rule": rule, "promotion_tolerance": tolerance}
    )
    shop.registry.configure(DP, settings, CHANGE)


def serve_and_settle(shop: Shop, count: int) -> list[str]:
    """``count`` decisions, one a second, every third rewarded; then the clock past their wait."""
    event_ids = shop.decide(count, every=SECOND)
    for event_id in event_ids[::3]:
        shop.reward(event_id)
    shop.clock.move_to(shop.settle_after(shop.clock()))
    return event_ids


def test_if_not_worse_keeps_a_candidate_that_may_be_worse_from_serving() -> None:
    # Given version 1 serving, and the rule if_not_worse with no tolerance
    shop = Shop()
    serve_and_settle(shop, 200)
    assert shop.retrain().model_version == "1"
    promotion(shop, "if_not_worse")
    before = shop.registry.current(DP)
    assert before is not None

    # When the next candidate's interval reaches below version 1's estimate (a few hundred
    # decisions of random rewards cannot show it is not worse)
    serve_and_settle(shop, 200)
    report = shop.retrain()

    # Then it is kept as rejected, with its reason, and version 1 keeps serving and learning
    assert (report.status, report.model_version) == ("rejected", "2")
    low = report.evaluation["candidate"]["low"]
    assert low < report.evaluation["current"]["value"]
    after = shop.registry.current(DP)
    assert after is not None
    assert (after.version, after.watermark, after.latest) == (1, before.watermark, 2)
    (rejected,) = [v for v in shop.registry.versions(DP) if v.version == 2]
    assert rejected.rejected is not None and rejected.rejected.startswith("if_not_worse")
    assert rejected.served == {}  # its window is counted by the version that learns it
    # And the next candidate learns those decisions again, as version 3
    serve_and_settle(shop, 50)
    again = shop.retrain()
    assert again.model_version == "3"
    assert again.decisions_learned > report.decisions_learned


def test_a_tolerance_lets_a_candidate_within_it_serve() -> None:
    shop = Shop()
    serve_and_settle(shop, 200)
    assert shop.retrain().model_version == "1"
    promotion(shop, "if_not_worse", tolerance=1.0)  # rewards are 0 or 1: always within it

    serve_and_settle(shop, 200)
    report = shop.retrain()

    assert (report.status, report.model_version) == ("trained", "2")
    current = shop.registry.current(DP)
    assert current is not None and current.version == 2


def test_always_promotes_and_the_first_version_needs_no_comparison() -> None:
    shop = Shop()
    promotion(shop, "if_not_worse")
    serve_and_settle(shop, 200)
    assert shop.retrain().status == "trained"  # nothing serves yet: nothing to be worse than
    promotion(shop, "always")
    serve_and_settle(shop, 200)
    assert (shop.retrain().status, shop.registry.current(DP).version) == ("trained", 2)  # type: ignore[union-attr]


def test_after_a_rollback_retrain_continues_from_the_version_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given versions 1 and 2, and an operator serving version 1 again
    shop = Shop()
    for expected in ("1", "2"):
        serve_and_settle(shop, 120)
        assert shop.retrain().model_version == expected
    first = next(v for v in shop.registry.versions(DP) if v.version == 1)
    shop.registry.serve(DP, 1, CHANGE)
    started_from: list[bytes | None] = []

    class Remembering(Policy):
        def __init__(self, tuning: Any, model: bytes | None = None, **rest: Any) -> None:
            started_from.append(model)
            super().__init__(tuning, model=model, **rest)

    monkeypatch.setattr(trainer, "Policy", Remembering)

    # When the next retrain runs
    serve_and_settle(shop, 120)
    report = shop.retrain()

    # Then it continued from version 1's model, as version 3
    assert report.model_version == "3"
    assert started_from[0] == shop.store.get(first.model_key)


def test_holdout_traffic_is_never_learned_and_its_reward_is_measured_beside_the_models(
    recording_policy: list[tuple[str, Label]],
) -> None:
    # Given a decision point with a third of its traffic held out, all of it rewarded
    shop = Shop()
    shop.registry.configure(DP, DecisionPointSettings(holdout_share=0.34), CHANGE)
    event_ids = shop.decide(300, every=SECOND)
    for event_id in event_ids:
        shop.reward(event_id, 1.0 if shop.log.records[event_id].holdout else 0.5)
    shop.clock.move_to(shop.settle_after(shop.clock()))

    # When retrain runs
    report = shop.retrain()

    # Then no holdout decision was learned, and what holdout traffic earned is reported
    held = {e for e in event_ids if shop.log.records[e].holdout}
    assert 60 < len(held) < 140
    assert not held & {visit for visit, _ in recording_policy}
    learned_until = report.window_end
    counted = [e for e in held if shop.log.records[e].decided_at <= learned_until]
    assert report.evaluation["holdout"] == pytest.approx(
        {"n": len(counted), "mean": 1.0, "low": 1.0, "high": 1.0}
    )
    assert report.evaluation["learned"]["mean"] == pytest.approx(0.5)


def test_retrain_all_goes_least_recently_retrained_first_and_defers_when_time_runs_out() -> None:
    # Given three decision points: one never retrained, one retrained long ago, one lately
    shop = Shop()
    for decision_point in ("lately", "long-ago", "never"):
        shop.registry.register(decision_point, T0)
    shop.registry.advance("long-ago", T0 - timedelta(days=2), expected_version=None)
    shop.registry.advance("lately", T0 - timedelta(hours=1), expected_version=None)
    # When the run has time for one only
    left = iter([900.0, 60.0, 60.0])
    reports = retrain_all(
        Schedule(
            log=shop.log,
            store=shop.store,
            registry=shop.registry,
            loop=shop.loop,
            now=T0,
            seconds_left=lambda: next(left),
        )
    )
    # Then the never-retrained one ran, and the others are deferred, oldest first next time
    assert [(r.decision_point, r.status) for r in reports] == [
        ("never", "nothing_to_learn"),
        ("long-ago", "deferred"),
        ("lately", "deferred"),
    ]


def test_rewards_are_learned_on_the_scale_of_their_range_which_a_lineage_records() -> None:
    # A conversion (-1 to 1) is learned as it is; a margin of 0 to 60 EUR divided by 60
    loop = LoopSettings(reward_wait=WAIT)
    assert loop.reward_scale == 1.0
    assert loop.lineage == " ".join(loop.tuning)
    margins = loop.model_copy(update={"reward_range": (0.0, 60.0)})
    assert margins.reward_scale == 60.0
    # A model learned on one scale is not continued on another: the lineage says the scale,
    # and VW is loaded without it
    assert margins.lineage == " ".join(loop.tuning) + " --reward_scale 60"
    assert lineage(margins.lineage, []) == loop.tuning
    # the bench's "unscaled" variant learns in the reward's units
    unscaled = margins.model_copy(update={"scale_rewards": False})
    assert unscaled.reward_scale == 1.0


def test_a_new_reward_range_starts_a_new_model() -> None:
    shop = Shop()
    for event_id in shop.decide(30):
        shop.reward(event_id, 1.0 if shop.log.records[event_id].chosen_index == 1 else 0.0)
    shop.clock.move_to(shop.settle_after(T0))
    assert shop.retrain().model_version == "1"
    # When the decision point's rewards become margins of 0 to 60
    shop.registry.configure(
        DP, DecisionPointSettings(reward_range=RewardRange(low=0, high=60)), CHANGE
    )
    shop.decide(5)
    shop.clock.move_to(shop.clock() + WAIT + timedelta(minutes=1))
    shop.retrain()
    # Then the new version records the scale, and is a new lineage
    versions = shop.registry.versions(DP)
    assert versions[-1].exploration.endswith("--reward_scale 60")
    assert not versions[0].exploration.endswith("--reward_scale 60")
