"""What the stores keep, and the small protocols they keep it behind."""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from decider.schemas import (
    Aggregation,
    ConsentTier,
    DecisionPointSettings,
    LearningMode,
    SettingsChange,
)

RewardStatus = Literal["recorded", "duplicate", "late"]
# A batch's claim another execution may take over: longer than a batch can run and be retried.
CLAIM_STALE = timedelta(minutes=20)
ActivateStatus = Literal["activated", "already_active"]
# The decisions table's time index is keyed by decision point *and* shard, so that one busy
# decision point's writes spread over this many index partitions (each takes about 1,000
# write units a second): 32 carry 10,000 decisions a second of 2 kB items (docs/decisions.md,
# issue 11). It may be raised (readers then read the new shards too), never lowered.
LOG_SHARDS = 32


@dataclass(frozen=True)
class DecisionFeatures:
    """Everything the model sees of one decision; logged as is and replayed by retrain."""

    context: dict[str, Any]
    custom: dict[str, Any]
    profile: dict[str, Any]
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # From the visitor's stored profile (context.profiles): shared, and per action (fatigue:
    # how often and how lately each was shown), in the order of ``actions``; empty without one.
    history: dict[str, Any] = field(default_factory=dict)
    fatigue: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "context": self.context,
            "custom": self.custom,
            "profile": self.profile,
            "actions": [[i, f] for i, f in self.actions],
        }
        if self.history:
            data["history"] = self.history
        if any(self.fatigue):
            data["fatigue"] = self.fatigue
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> DecisionFeatures:
        data = json.loads(text)
        return cls(
            context=data["context"],
            custom=data["custom"],
            profile=data["profile"],
            actions=[(i, f) for i, f in data["actions"]],
            history=data.get("history", {}),
            fatigue=data.get("fatigue", []),
        )


@dataclass
class Tally:
    """A running mean with its 95% interval (normal; a version serves hundreds or more)."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.squares += value * value

    def merged(self, other: Tally) -> Tally:
        return Tally(self.n + other.n, self.total + other.total, self.squares + other.squares)

    def as_dict(self) -> dict[str, float | int]:
        if self.n == 0:
            return {"n": 0}
        mean = self.total / self.n
        variance = max(self.squares / self.n - mean * mean, 0.0)
        half = 1.96 * math.sqrt(variance / self.n)
        return {"n": self.n, "mean": mean, "low": mean - half, "high": mean + half}


def tallies(rewards: Iterable[tuple[int, float]]) -> dict[int, Tally]:
    """Rewards tallied by the version that served them."""
    found: dict[int, Tally] = {}
    for version, reward in rewards:
        found.setdefault(version, Tally()).add(reward)
    return found


def earned(versions: Iterable[ModelVersion]) -> dict[int, Tally]:
    """What each version earned while it served, summed over the windows that settled it."""
    total: dict[int, Tally] = {}
    for version in versions:
        for number, tally in version.served.items():
            total[number] = total.get(number, Tally()).merged(tally)
    return total


def served_to_json(served: Mapping[int, Tally]) -> str:
    return json.dumps({str(v): [t.n, t.total, t.squares] for v, t in served.items()})


def served_from_json(text: str) -> dict[int, Tally]:
    return {int(v): Tally(int(n), total, squares) for v, (n, total, squares) in
            json.loads(text).items()}  # fmt: skip


@dataclass(frozen=True)
class DecisionRecord:
    event_id: str
    decision_point: str
    decided_at: datetime
    features: DecisionFeatures
    chosen_index: int
    probability: float
    model_version: int | None
    learnable: bool
    activated: bool
    expires_at: int
    reward: float | None = None
    holdout: bool = False  # served the baseline to measure the bandit's lift; never learned
    baseline_index: int = 0  # the action the shop would have shown without the bandit
    mode: LearningMode = "online"  # the decision point's learning mode when it decided
    model_top: int | None = None  # the model's best action then (None: no model was asked)
    # The decision point's reward settings when it decided (None: the stack's): rewards
    # after reward_until are late; values outside reward_range are refused.
    reward_until: datetime | None = None
    aggregation: Aggregation | None = None
    reward_range: tuple[float, float] | None = None
    consent: ConsentTier = "personal"  # what the visitor allowed (before issue 9: personal)
    user_hash: str | None = None  # the visitor's keyed hash (personal consent), never the id

    @property
    def exploratory(self) -> bool:
        """Whether the model served something other than its best guess, to learn."""
        return (
            self.mode == "online"
            and self.model_top is not None
            and (self.chosen_index != self.model_top)
        )

    @property
    def chosen_action(self) -> str:
        return self.features.actions[self.chosen_index][0]


@dataclass(frozen=True)
class CurrentModel:
    """The registry's pointer for a decision point: what decide serves, how far retrain got."""

    decision_point: str
    version: int | None
    model_key: str | None
    watermark: datetime | None
    model_sha256: str | None = None
    exploration: str | None = None  # the VW tuning arguments the model was trained with
    settings: DecisionPointSettings = field(default_factory=DecisionPointSettings)
    latest: int | None = None  # the newest version trained, served or rejected
    exported: datetime | None = None  # logs out: the decisions before this are exported
    settings_revision: int = 0  # how many times its settings were written (0: never)

    @property
    def next_version(self) -> int:
        return max(self.version or 0, self.latest or 0) + 1


@dataclass(frozen=True)
class ModelVersion:
    decision_point: str
    version: int
    model_key: str
    model_sha256: str
    window_start: datetime | None
    watermark: datetime
    trained_at: datetime
    decisions_learned: int
    evaluation_json: str
    exploration: str = ""  # the VW tuning arguments it was trained with: its lineage
    # What the versions that served this version's window earned in it, by version.
    served: Mapping[int, Tally] = field(default_factory=dict)
    # Why the promotion rule kept it from serving; None for a version that served.
    rejected: str | None = None


class DecisionLog(Protocol):
    def put(self, record: DecisionRecord) -> None:
        """Store a new decision; raises DuplicateEvent when the event id exists."""

    def get(self, event_id: str) -> DecisionRecord | None:
        """The decision stored under this event id, if any."""

    def get_many(self, event_ids: Collection[str]) -> dict[str, DecisionRecord]:
        """The decisions stored under any of these event ids, by event id."""

    def put_many(self, records: Sequence[DecisionRecord], claim: Claim | None = None) -> set[str]:
        """Store new decisions together, each only if its event id is free; the event ids
        that were taken (nothing is written for them). With ``claim`` (a campaign's batch),
        the batch is claimed for its owner first (a claim older than CLAIM_STALE may be taken
        over) and its decisions, just found free, written unconditionally; raises
        BatchClaimed when another owner holds the claim."""

    def record_reward(
        self,
        event_id: str,
        value: float,
        reward_id: str,
        *,
        now: datetime,
        on_time_since: datetime,
        aggregation: Aggregation,
        activate: bool = False,
    ) -> RewardStatus:
        """Store a reward under the decision's own reward settings (``reward_until``,
        ``aggregation``, ``reward_range``), or for one logged without them the stack's: it is
        learned only when the decision was made at or after ``on_time_since``, aggregated
        as ``aggregation`` says. With ``activate``, the same write activates the decision.
        Raises UnknownEvent, and RewardOutOfRange for a value outside the decision's range."""

    def activate(self, event_id: str) -> ActivateStatus:
        """Mark a deferred decision as shown. Raises UnknownEvent."""

    def settled(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        """Decisions made in (since, until], oldest first."""

    def recent(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        """Decisions made in (since, until], newest first (read as far as the caller goes)."""

    def decision_points_of(self, event_ids: Collection[str]) -> dict[str, str]:
        """The decision point of each of these event ids that is logged (a history import
        checks its event ids before it writes any)."""

    def of_user(self, user_hashes: Collection[str]) -> list[DecisionRecord]:
        """Every decision stored under any of these keyed hashes of one person, oldest first."""

    def forget(self, event_ids: Collection[str]) -> int:
        """Delete these decisions with their rewards; how many there were."""


@dataclass(frozen=True)
class StoredProfile:
    """A visitor's profile item: their own profile (``body``, context.profiles' JSON), or, for
    an id linked to a known visitor, a copy of that visitor's (``linked_to`` names them), so
    decide reads any id in one read."""

    visitor: str  # the keyed hash of the id
    body: str
    version: int = 0  # bumped by every write: the condition of the next
    linked_to: str | None = None
    aliases: tuple[str, ...] = ()  # on a known visitor's item: the ids linked to it
    source_version: int = 0  # on a linked id's copy: the known visitor's version copied


class ProfileStore(Protocol):
    def read(self, visitor: str) -> StoredProfile | None: ...

    def read_many(self, visitors: Collection[str]) -> dict[str, StoredProfile]:
        """The items of any of these visitors, by visitor."""

    def write(self, item: StoredProfile, expires_at: int) -> bool:
        """Store ``item`` with version ``item.version + 1``, only if the stored one is still at
        ``item.version`` (0: none stored); False, and nothing written, otherwise."""

    def write_copy(self, item: StoredProfile, expires_at: int) -> bool:
        """Refresh a linked id's copy of its known visitor's profile, only if the id is still
        linked to that visitor and holds an older copy than ``item.source_version``; its
        version grows."""

    def delete(self, visitors: Collection[str]) -> int:
        """Delete these visitors' items; how many there were."""


class ModelStore(Protocol):
    def put(self, decision_point: str, version: int, blob: bytes) -> str:
        """Store a model blob under a new, never reused key, and return the key."""

    def get(self, key: str) -> bytes: ...


class Registry(Protocol):
    def current(self, decision_point: str) -> CurrentModel | None: ...

    def register(self, decision_point: str, now: datetime) -> None:
        """Make a decision point known to retrain (idempotent)."""

    def create(self, decision_point: str, now: datetime, cap: int) -> bool:
        """Register a decision point that a caller named for the first time, if fewer than
        ``cap`` have been created that way; False when the cap is reached (and nothing was
        written). True, too, if it exists already."""

    def decision_points(self) -> list[str]: ...

    def promote(self, version: ModelVersion, expected_version: int | None) -> None:
        """Record a version and make it current, only if current is still ``expected_version``;
        raises StaleModel otherwise."""

    def reject(self, version: ModelVersion, expected_version: int | None) -> None:
        """Record a version the promotion rule kept from serving (``version.rejected`` says
        why), only if current is still ``expected_version``; the watermark stays, so the
        serving version's next candidate learns the same decisions. Raises StaleModel."""

    def serve(self, decision_point: str, version: int, change: SettingsChange) -> ModelVersion:
        """Make a recorded version current (a rollback, or forward), keeping the watermark,
        and keep the change in the settings history. Raises UnknownVersion."""

    def advance(
        self, decision_point: str, watermark: datetime, expected_version: int | None
    ) -> None:
        """Move the watermark without a new version (a window with nothing to learn)."""

    def versions(self, decision_point: str) -> list[ModelVersion]: ...

    def exported(self, decision_point: str, until: datetime, expected: datetime | None) -> None:
        """Record that the decisions before ``until`` are exported, only if the previous mark
        is still ``expected``; raises StaleExport otherwise."""

    def configure(
        self,
        decision_point: str,
        settings: DecisionPointSettings,
        change: SettingsChange,
        *,
        expected_revision: int | None = None,
    ) -> None:
        """Store a decision point's settings (registering it if new) and, in the same write,
        the change in its history. With ``expected_revision``, only if its settings are still
        at that revision (``CurrentModel.settings_revision``); raises StaleSettings otherwise."""

    def settings_history(self, decision_point: str, limit: int) -> list[SettingsChange]:
        """The newest ``limit`` changes of a decision point's settings, newest first."""


@dataclass(frozen=True)
class Claim:
    """A campaign batch's claim for the execution that runs it: ``key`` names the batch (its
    first event id and its size; no event id holds a '#')."""

    key: str
    owner: str
    at: datetime


class StaleExport(Exception):
    """Another export moved the export's mark first; its objects are the same."""


class StaleSettings(Exception):
    """A decision point's settings changed since they were read; nothing was written."""


class StaleModel(Exception):
    """Another retrain promoted first; this run's result is dropped, the next run redoes it."""


# An event id names its decision point: ``<decision_point>:<id>``, where the id is the
# caller's own (unique within its decision point) or made by the server. Decision point
# names hold no colon, so the first one ends the decision point.
EVENT_SCOPE = ":"
MAX_EVENT_ID = 64 + 1 + 128  # a decision point's name, the colon, a caller's id


def scoped_event_id(decision_point: str, event_id: str) -> str:
    return f"{decision_point}{EVENT_SCOPE}{event_id}"


def log_shard(decision_point: str, event_id: str) -> str:
    """The time index's key for a decision: its decision point and a shard, a stable hash of
    its event id (so a decision's shard never changes), fixed width so no two keys collide."""
    return f"{decision_point}#{zlib.crc32(event_id.encode()) % LOG_SHARDS:02d}"


def log_shards(decision_point: str) -> list[str]:
    """Every time index key a decision point's decisions are under."""
    return [f"{decision_point}#{shard:02d}" for shard in range(LOG_SHARDS)]


def iso(instant: datetime) -> str:
    """Fixed-width UTC timestamps, so that string order is time order in DynamoDB."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def after(instant: datetime) -> datetime:
    """The first representable instant after ``instant`` (timestamps are kept to the µs)."""
    return instant + timedelta(microseconds=1)
