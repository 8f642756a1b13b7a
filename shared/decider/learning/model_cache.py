"""Decide's in-memory model, refreshed from the registry at most every few seconds."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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


class ModelCache:
    def __init__(
        self,
        registry: Registry,
        store: ModelStore,
        exploration: Sequence[str],
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._store = store
        self._exploration = list(exploration)
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._served: dict[str, ServedModel] = {}

    def model(self, decision_point: str, now: datetime) -> ServedModel:
        """The model to serve; a failing registry or a broken blob keeps the one in memory."""
        served = self._served.get(decision_point)
        if served is not None and self._clock() - served.checked_at < self._refresh_seconds:
            return served
        served = served or ServedModel(version=None, policy=None, checked_at=0.0)
        served.checked_at = self._clock()
        self._served[decision_point] = served
        try:
            current = self._registry.current(decision_point)
            if current is None:
                self._registry.register(decision_point, now)
                return served
            served.settings = current.settings
            if current.version is not None and current.version != served.version:
                policy = self._load(current)
                served.version, served.policy = current.version, policy
        except Exception:
            log.exception(
                "model refresh failed for %s; serving version %s", decision_point, served.version
            )
        return served

    def _load(self, current: CurrentModel) -> Policy:
        assert current.model_key is not None
        blob = self._store.get(current.model_key)
        if current.model_sha256 and hashlib.sha256(blob).hexdigest() != current.model_sha256:
            raise ValueError(f"model blob {current.model_key} does not match its digest")
        # Load with the arguments the model was trained with: VW cannot read it under others.
        return Policy(lineage(current.exploration, self._exploration), model=blob)
