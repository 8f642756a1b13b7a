"""Decide: enrich the context, rank the allowed actions, sample one, log the decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from decider.enrichment import enrich
from decider.errors import InvalidRequest
from decider.featurize import DecisionFeatures
from decider.model_cache import ModelCache
from decider.policy import sample, uniform
from decider.records import DecisionLog, DecisionRecord
from decider.schemas import DecideRequest, DecideResponse, DecisionPointSettings, RankedAction
from decider.settings import LoopSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Decider:
    models: ModelCache
    log: DecisionLog
    loop: LoopSettings
    now: Callable[[], datetime] = utc_now
    new_event_id: Callable[[], str] = field(default=new_event_id)

    def _retention(self, settings: DecisionPointSettings) -> timedelta:
        days = settings.retention_days
        return timedelta(days=days) if days is not None else self.loop.retention

    def decide(self, request: DecideRequest) -> DecideResponse:
        now = self.now()
        event_id = request.event_id or self.new_event_id()
        actions = request.allowed_actions()
        context_used = enrich(request.context, now)
        features = DecisionFeatures.of(request, context_used, actions)
        served = self.models.model(request.decision_point, now)
        limit = served.settings.max_actions
        if len(request.actions) > limit:
            raise InvalidRequest(
                f"decision point {request.decision_point!r} takes at most {limit} actions",
                field="actions",
            )
        if request.consent:
            version = served.version
            pmf = served.policy.pmf(features) if served.policy else uniform(len(actions))
            chosen = sample(pmf, event_id)
        else:
            # Without consent: the baseline action (the first allowed), nothing learned.
            version, pmf, chosen = None, [1.0] + [0.0] * (len(actions) - 1), 0
        self.log.put(
            DecisionRecord(
                event_id=event_id,
                decision_point=request.decision_point,
                decided_at=now,
                features=features,
                chosen_index=chosen,
                probability=pmf[chosen],
                model_version=version,
                learnable=request.consent,
                activated=not request.defer_activation,
                expires_at=int((now + self._retention(served.settings)).timestamp()),
            )
        )
        ranking = sorted(
            (RankedAction(id=a.id, probability=p) for a, p in zip(actions, pmf, strict=True)),
            key=lambda ranked: -ranked.probability,
        )
        return DecideResponse(
            event_id=event_id,
            decision_point=request.decision_point,
            action_id=actions[chosen].id,
            probability=pmf[chosen],
            ranking=ranking,
            model_version=str(version) if version is not None else None,
            context_used=context_used,
        )
