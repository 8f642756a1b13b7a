"""In-memory fakes of the stores, for unit tests: same contract, no sockets."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime

from decider.errors import (
    BatchClaimed,
    DuplicateEvent,
    RewardOutOfRange,
    UnknownEvent,
    UnknownVersion,
)
from decider.records import (
    CLAIM_STALE,
    ActivateStatus,
    Aggregation,
    Claim,
    CurrentModel,
    DecisionRecord,
    ModelVersion,
    RewardStatus,
    StaleExport,
    StaleModel,
    StaleSettings,
    StoredProfile,
)
from decider.schemas import DecisionPointSettings, SettingsChange


class MemoryDecisionLog:
    def __init__(self) -> None:
        self.records: dict[str, DecisionRecord] = {}
        self.claims: dict[str, tuple[str, datetime]] = {}
        self.reward_ids: dict[str, set[str]] = {}
        self.late_rewards: dict[str, dict[str, float]] = {}
        self.reward_values: dict[str, list[float]] = {}

    def put(self, record: DecisionRecord) -> None:
        if record.event_id in self.records:
            raise DuplicateEvent(f"event {record.event_id!r} already exists", field="event_id")
        self.records[record.event_id] = record

    def get(self, event_id: str) -> DecisionRecord | None:
        return self.records.get(event_id)

    def get_many(self, event_ids: Collection[str]) -> dict[str, DecisionRecord]:
        return {e: self.records[e] for e in event_ids if e in self.records}

    def put_many(self, records: Sequence[DecisionRecord], claim: Claim | None = None) -> set[str]:
        if claim is not None and records:
            held = self.claims.get(claim.key)
            if held is not None and held[0] != claim.owner and held[1] > claim.at - CLAIM_STALE:
                raise BatchClaimed(f"batch {claim.key} is claimed by {held[0]}")
            self.claims[claim.key] = (claim.owner, claim.at)
        taken = {r.event_id for r in records if r.event_id in self.records}
        for record in records:
            if record.event_id not in taken:
                self.records[record.event_id] = record
        return taken

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
        record = self.records.get(event_id)
        if record is None:
            raise UnknownEvent(f"no decision with event id {event_id!r}")
        if record.reward_range is not None:
            low, high = record.reward_range
            if not low <= value <= high:
                raise RewardOutOfRange(
                    f"{value!r} is outside this decision point's reward range, {low:g} to {high:g}",
                    field="value",
                )
        seen = self.reward_ids.setdefault(event_id, set())
        late = self.late_rewards.setdefault(event_id, {})
        if reward_id in seen or reward_id in late:
            return "duplicate"
        on_time = (
            now <= record.reward_until
            if record.reward_until is not None
            else record.decided_at >= on_time_since
        )
        if not on_time:
            late[reward_id] = value
            return "late"
        aggregation = record.aggregation or aggregation
        seen.add(reward_id)
        imported = [] if record.reward is None else [record.reward]  # from a history import
        values = self.reward_values.setdefault(event_id, imported)
        values.append(value)
        reward = {
            "earliest": values[0],
            "sum": sum(values),
            "average": sum(values) / len(values),
            "max": max(values),
        }[aggregation]
        activated = record.activated or activate
        self.records[event_id] = dataclasses.replace(record, reward=reward, activated=activated)
        return "recorded"

    def activate(self, event_id: str) -> ActivateStatus:
        record = self.records.get(event_id)
        if record is None:
            raise UnknownEvent(f"no decision with event id {event_id!r}")
        self.records[event_id] = dataclasses.replace(record, activated=True)
        return "already_active" if record.activated else "activated"

    def settled(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        chosen = [
            r
            for r in self.records.values()
            if r.decision_point == decision_point
            and (since is None or r.decided_at > since)
            and r.decided_at <= until
        ]
        yield from sorted(chosen, key=lambda r: r.decided_at)

    def recent(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        yield from reversed(list(self.settled(decision_point, since, until)))

    def decision_points_of(self, event_ids: Collection[str]) -> dict[str, str]:
        return {i: self.records[i].decision_point for i in event_ids if i in self.records}

    def of_user(self, user_hashes: Collection[str]) -> list[DecisionRecord]:
        found = [r for r in self.records.values() if r.user_hash in set(user_hashes)]
        return sorted(found, key=lambda record: record.decided_at)

    def forget(self, event_ids: Collection[str]) -> int:
        for event_id in event_ids:  # the rewards go with the decision, as DeleteItem does
            for kept in (self.reward_ids, self.late_rewards, self.reward_values):
                kept.pop(event_id, None)
        return sum(self.records.pop(i, None) is not None for i in event_ids)


class MemoryModelStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._serial = itertools.count()

    def put(self, decision_point: str, version: int, blob: bytes) -> str:
        key = f"models/{decision_point}/{version:08d}-{next(self._serial)}.vw"
        self.blobs[key] = blob
        return key

    def get(self, key: str) -> bytes:
        return self.blobs[key]


class MemoryRegistry:
    def __init__(self) -> None:
        self.pointers: dict[str, CurrentModel] = {}
        self.history: dict[str, list[ModelVersion]] = {}
        self.changes: dict[str, list[SettingsChange]] = {}
        self.created = 0  # decision points created by decide, on first use

    def current(self, decision_point: str) -> CurrentModel | None:
        return self.pointers.get(decision_point)

    def register(self, decision_point: str, now: datetime) -> None:
        self.pointers.setdefault(decision_point, CurrentModel(decision_point, None, None, None))

    def create(self, decision_point: str, now: datetime, cap: int) -> bool:
        if decision_point in self.pointers:
            return True
        if self.created >= cap:
            return False
        self.created += 1
        self.register(decision_point, now)
        return True

    def configure(
        self,
        decision_point: str,
        settings: DecisionPointSettings,
        change: SettingsChange,
        *,
        expected_revision: int | None = None,
    ) -> None:
        current = self.pointers.get(decision_point) or CurrentModel(
            decision_point, None, None, None
        )
        if expected_revision is not None and current.settings_revision != expected_revision:
            raise StaleSettings(f"the settings of {decision_point!r} changed meanwhile")
        self.pointers[decision_point] = dataclasses.replace(
            current, settings=settings, settings_revision=current.settings_revision + 1
        )
        self.changes.setdefault(decision_point, []).append(change)

    def settings_history(self, decision_point: str, limit: int) -> list[SettingsChange]:
        return self.changes.get(decision_point, [])[::-1][:limit]

    def decision_points(self) -> list[str]:
        return sorted(self.pointers)

    def promote(self, version: ModelVersion, expected_version: int | None) -> None:
        current = self._expect(version.decision_point, expected_version)
        self.history.setdefault(version.decision_point, []).append(version)
        self.pointers[version.decision_point] = dataclasses.replace(
            current,
            version=version.version,
            model_key=version.model_key,
            watermark=version.watermark,
            model_sha256=version.model_sha256,
            exploration=version.exploration,
            latest=version.version,
        )

    def reject(self, version: ModelVersion, expected_version: int | None) -> None:
        current = self._expect(version.decision_point, expected_version)
        self.history.setdefault(version.decision_point, []).append(version)
        self.pointers[version.decision_point] = dataclasses.replace(current, latest=version.version)

    def serve(self, decision_point: str, version: int, change: SettingsChange) -> ModelVersion:
        found = next((v for v in self.versions(decision_point) if v.version == version), None)
        current = self.pointers.get(decision_point)
        if found is None or current is None:
            raise UnknownVersion(f"{decision_point!r} has no version {version}", field="version")
        self.pointers[decision_point] = dataclasses.replace(
            current,
            version=found.version,
            model_key=found.model_key,
            model_sha256=found.model_sha256,
            exploration=found.exploration,
        )
        self.changes.setdefault(decision_point, []).append(change)
        return found

    def advance(
        self, decision_point: str, watermark: datetime, expected_version: int | None
    ) -> None:
        current = self._expect(decision_point, expected_version)
        self.pointers[decision_point] = dataclasses.replace(current, watermark=watermark)

    def versions(self, decision_point: str) -> list[ModelVersion]:
        return list(self.history.get(decision_point, []))

    def exported(self, decision_point: str, until: datetime, expected: datetime | None) -> None:
        current = self.pointers[decision_point]
        if current.exported != expected:
            raise StaleExport(f"{decision_point}: another export moved on")
        self.pointers[decision_point] = dataclasses.replace(current, exported=until)

    def _expect(self, decision_point: str, expected_version: int | None) -> CurrentModel:
        current = self.pointers.get(decision_point) or CurrentModel(
            decision_point, None, None, None
        )
        if current.version != expected_version:
            raise StaleModel(f"{decision_point}: current moved on")
        return current


class MemoryExportStore:
    def __init__(self) -> None:
        self.objects: dict[str, str] = {}

    def put_text(self, key: str, text: str, content_type: str) -> None:
        del content_type
        self.objects[key] = text


class MemoryProfileStore:
    def __init__(self) -> None:
        self.items: dict[str, tuple[StoredProfile, int]] = {}
        self.reads = 0
        self._lock = threading.Lock()

    def read(self, visitor: str) -> StoredProfile | None:
        self.reads += 1
        found = self.items.get(visitor)
        return found[0] if found else None

    def read_many(self, visitors: Collection[str]) -> dict[str, StoredProfile]:
        self.reads += 1
        return {v: self.items[v][0] for v in visitors if v in self.items}

    def write(self, item: StoredProfile, expires_at: int) -> bool:
        with self._lock:
            stored = self.items.get(item.visitor)
            if (stored[0].version if stored else 0) != item.version:
                return False
            self.items[item.visitor] = (
                dataclasses.replace(item, version=item.version + 1),
                expires_at,
            )
            return True

    def write_copy(self, item: StoredProfile, expires_at: int) -> bool:
        with self._lock:
            stored = self.items.get(item.visitor)
            if stored is None or not (
                stored[0].linked_to == item.linked_to
                and stored[0].source_version < item.source_version
            ):
                return False
            copied = dataclasses.replace(
                stored[0], body=item.body, source_version=item.source_version,
                version=stored[0].version + 1,
            )  # fmt: skip
            self.items[item.visitor] = (copied, expires_at)
            return True

    def delete(self, visitors: Collection[str]) -> int:
        with self._lock:
            return sum(self.items.pop(v, None) is not None for v in set(visitors))
