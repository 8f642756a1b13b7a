"""Decide's in-memory model, refreshed from the registry at most every few seconds."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from decider.errors import UnknownDecisionPoint
from decider.learning.policy import Policy, lineage
from decider.records import CurrentModel, ModelStore, Registry
from decider.schemas import DecisionPointSettings

log = logging.getLogger(__name__)


@dataclass
class ServedModel:
    version: int | None
    policy: Policy | None
    checked_at: float
    settings: DecisionPointSettings = field(default_factory=DecisionPointSettings)


# Names found not to exist, remembered for a refresh interval (bounded: a caller sending
# thousands of names must not grow a warm function's memory).
MAX_UNKNOWN = 10_000


class ModelCache:
    def __init__(
        self,
        registry: Registry,
        store: ModelStore,
        exploration: Sequence[str],
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        auto_create: int | None = None,
        own: Collection[str] = (),
    ) -> None:
        """``auto_create``: how many decision points decide may create on first use (None:
        any, as in-process tools want; 0: only those an operator created). ``own``: decision
        points these functions serve by their configuration, created on first use anyway."""
        self._registry = registry
        self._store = store
        self._exploration = list(exploration)
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._auto_create = auto_create
        self._own = frozenset(own)
        self._served: dict[str, ServedModel] = {}
        self._unknown: dict[str, float] = {}

    def model(self, decision_point: str, now: datetime) -> ServedModel:
        """The model to serve; a failing registry or a broken blob keeps the one in memory.
        Raises UnknownDecisionPoint for one that does not exist and may not be created."""
        served = self._served.get(decision_point)
        if served is not None and self._clock() - served.checked_at < self._refresh_seconds:
            return served
        refused_at = self._unknown.get(decision_point)
        if refused_at is not None and self._clock() - refused_at < self._refresh_seconds:
            raise self._refusal(decision_point)
        try:
            current = self._registry.current(decision_point)
            if current is None and served is None and not self._create(decision_point, now):
                if len(self._unknown) >= MAX_UNKNOWN:
                    self._unknown.clear()
                self._unknown[decision_point] = self._clock()
                raise self._refusal(decision_point)
        except UnknownDecisionPoint:
            raise
        except Exception:
            # The registry is down: serve what is in memory, and check again next interval;
            # a name never seen is served uniformly, and not remembered (it may be junk).
            log.exception("registry read failed for %s", decision_point)
            if served is None:
                return ServedModel(version=None, policy=None, checked_at=self._clock())
            current = None
        self._unknown.pop(decision_point, None)
        served = served or ServedModel(version=None, policy=None, checked_at=0.0)
        served.checked_at = self._clock()
        self._served[decision_point] = served
        if current is None:
            return served
        try:
            served.settings = current.settings
            if current.version is not None and current.version != served.version:
                policy = self._load(current)
                served.version, served.policy = current.version, policy
        except Exception:
            log.exception(
                "model refresh failed for %s; serving version %s", decision_point, served.version
            )
        return served

    def _create(self, decision_point: str, now: datetime) -> bool:
        if decision_point in self._own or self._auto_create is None:
            self._registry.register(decision_point, now)
            return True
        return self._auto_create > 0 and self._registry.create(
            decision_point, now, self._auto_create
        )

    def _refusal(self, decision_point: str) -> UnknownDecisionPoint:
        return UnknownDecisionPoint(
            f"decision point {decision_point!r} does not exist: an operator creates it with "
            f"PUT /decision-points/{decision_point}",
            field="decision_point",
        )

    def _load(self, current: CurrentModel) -> Policy:
        assert current.model_key is not None
        blob = self._store.get(current.model_key)
        if current.model_sha256 and hashlib.sha256(blob).hexdigest() != current.model_sha256:
            raise ValueError(f"model blob {current.model_key} does not match its digest")
        # Load with the arguments the model was trained with: VW cannot read it under others.
        return Policy(lineage(current.exploration, self._exploration), model=blob)
