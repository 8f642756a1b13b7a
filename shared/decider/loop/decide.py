"""Decide: enrich the context, rank the allowed actions, sample one, log the decision."""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from decider.context import profiles
from decider.context.enrichment import enrich
from decider.context.explanations import explanation
from decider.context.profiles import Profile
from decider.errors import DeciderError, DuplicateEvent, InvalidRequest
from decider.learning.featurize import features_of
from decider.learning.model_cache import ModelCache
from decider.learning.policy import sample, uniform
from decider.loop.interactions import Profiles
from decider.privacy import UserHasher
from decider.records import Claim, DecisionLog, DecisionRecord, scoped_event_id
from decider.schemas import (
    Action,
    ChoiceKind,
    DecideRequest,
    DecideResponse,
    DecisionPointSettings,
)
from decider.settings import LoopSettings


def in_holdout(request: DecideRequest, event_id: str, share: float) -> bool:
    """Whether this decision belongs to the holdout: a stable hash of the visitor when the
    request names one with personal consent (the same visitor is always in or out), else of
    the event. Without consent, never."""
    if share <= 0.0 or request.tier == "none":
        return False
    known = request.user_id is not None and request.tier == "personal"
    who = request.user_id if known else f"event:{event_id}"
    digest = hashlib.sha256(f"{request.decision_point}\x00{who}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < share * 2**64


@dataclass(frozen=True)
class Cap:
    """A frequency cap: at most ``most`` contacts on ``channel`` in ``days`` (the profile's
    contacts, counted from the decisions table's stream)."""

    channel: str
    most: int
    days: float


class Capped(Exception):
    """The visitor was reached on the cap's channel as often as it allows: no decision."""


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
    # Keys user ids before they are stored; None: user ids are not stored at all.
    users: UserHasher | None = None
    # Visitors' stored profiles, read (once) for a visitor with personal consent; None: none.
    profiles: Profiles | None = None
    # Each decision point's settings in force, kept until its own settings change.
    _loops: dict[str, tuple[DecisionPointSettings, LoopSettings]] = field(default_factory=dict)

    def _loop(self, decision_point: str, settings: DecisionPointSettings) -> LoopSettings:
        cached = self._loops.get(decision_point)
        if cached is None or cached[0] is not settings:
            cached = (settings, self.loop.for_decision_point(settings))
            self._loops[decision_point] = cached
        return cached[1]

    def _user_hash(self, request: DecideRequest) -> str | None:
        """The visitor's keyed hash, kept only with personal consent and a hasher."""
        if request.user_id is None or request.tier != "personal" or self.users is None:
            return None
        return self.users.hash(request.user_id)

    def decide(self, request: DecideRequest, cap: Cap | None = None) -> DecideResponse:
        """Decide and log; with ``cap``, raise Capped (and log nothing) for a visitor whose
        profile shows the cap reached."""
        now = self.now()
        user_hash = self._user_hash(request)
        stored = self.profiles.of(user_hash) if user_hash and self.profiles else None
        record, response = self._decided(request, now, user_hash, stored, cap)
        self.log.put(record)
        return response

    def decide_many(
        self,
        requests: Sequence[DecideRequest],
        cap: Cap | None = None,
        owner: str | None = None,
    ) -> list[DecideResponse | Exception]:
        """Decide a batch (a campaign's rows): the profiles read together, the decisions
        written together, each only if its event id is still free. Each answer is a
        decision, or what kept it from being one: DuplicateEvent for an event id already
        logged (checked first: a batch run again decides and caps nothing twice), Capped, or
        a DeciderError. With ``owner`` (a campaign's execution), the batch is claimed for it
        and written in a few requests (DecisionLog.put_many)."""
        now = self.now()
        requests = [
            r if r.event_id is not None else r.model_copy(update={"event_id": self.new_event_id()})
            for r in requests
        ]
        scoped = [scoped_event_id(r.decision_point, r.event_id or "") for r in requests]
        taken = set(self.log.get_many(scoped))
        hashes = [self._user_hash(request) for request in requests]
        stored: dict[str, Profile] = {}
        if self.profiles is not None:
            wanted = {h for h, e in zip(hashes, scoped, strict=True) if h and e not in taken}
            stored = self.profiles.of_many(wanted)
        answers: list[DecideResponse | Exception] = []
        records: list[DecisionRecord] = []
        sent: Counter[str] = Counter()  # a visitor listed twice: the batch's own contacts count
        for request, user_hash, event_id in zip(requests, hashes, scoped, strict=True):
            if event_id in taken:
                answers.append(DuplicateEvent(f"event {event_id!r} already exists"))
                continue
            try:
                found = stored.get(user_hash) if user_hash else None
                already = sent[user_hash] if user_hash else 0
                record, response = self._decided(request, now, user_hash, found, cap, already)
            except (Capped, DeciderError) as refused:
                answers.append(refused)
                continue
            if user_hash:
                sent[user_hash] += 1
            records.append(record)
            answers.append(response)
        claim = Claim(f"claim#{scoped[0]}#{len(scoped)}", owner, now) if owner and scoped else None
        lost = self.log.put_many(records, claim)  # taken meanwhile (a run beside this one)
        return [
            DuplicateEvent(f"event {answer.event_id!r} already exists", field="event_id")
            if isinstance(answer, DecideResponse) and answer.event_id in lost
            else answer
            for answer in answers
        ]

    def _decided(
        self,
        request: DecideRequest,
        now: datetime,
        user_hash: str | None,
        stored: Profile | None,
        cap: Cap | None,
        already: int = 0,
    ) -> tuple[DecisionRecord, DecideResponse]:
        """A decision and its answer, from the visitor's profile as read (nothing written);
        ``already``: the contacts this visitor got earlier in the same batch."""
        # Logged scoped to the decision point: no caller can take another decision point's
        # ids. The draw and the holdout hash depend on the id alone (and the decision point).
        given = request.event_id or self.new_event_id()
        event_id = scoped_event_id(request.decision_point, given)
        actions = request.allowed_actions()
        context_used = enrich(request.context, now)
        served = self.models.model(request.decision_point, now)
        limit = served.settings.max_actions
        if len(request.actions) > limit:
            raise InvalidRequest(
                f"decision point {request.decision_point!r} takes at most {limit} actions",
                field="actions",
            )
        # The profile as of the visit, as the context is (the visit's timestamp, or now).
        visit_at = request.context.timestamp or now
        if cap is not None and (stored is not None or already):
            since = (visit_at - timedelta(days=cap.days)).timestamp()
            past = stored.contacts_since(cap.channel, since) if stored is not None else 0
            if past + already >= cap.most:
                raise Capped(
                    f"the cap of {cap.most} on {cap.channel} in {cap.days:g} days is reached"
                )
        history, fatigue = self._history(stored, request.decision_point, actions, visit_at)
        features = features_of(request, context_used, actions, history, fatigue)
        loop = self._loop(request.decision_point, served.settings)
        # Only visitors who consented are held out: the lift compares like with like.
        holdout = in_holdout(request, given, loop.holdout_share)
        mode = loop.learning_mode
        learns = request.tier != "none" and mode != "logging_only" and not holdout
        baseline = request.baseline_index(actions, served.settings.baseline_action)
        version, top, pmf = None, None, None
        if learns and served.policy is not None:
            pmf = served.policy.pmf(features)
            top = max(range(len(pmf)), key=pmf.__getitem__)
        online = learns and mode == "online"
        if online:
            version = served.version if pmf is not None else None
            pmf = pmf or uniform(len(actions))
            chosen = sample(pmf, given)
        else:
            # In apprentice mode (the model learns from it, and its top choice is logged to
            # measure how often it agrees), without consent, in logging_only mode, and for
            # holdout traffic (never learned): the baseline action, at probability 1.
            chosen = baseline
            pmf = [1.0 if index == chosen else 0.0 for index in range(len(actions))]
        record = DecisionRecord(
            event_id=event_id,
            decision_point=request.decision_point,
            decided_at=now,
            features=features,
            chosen_index=chosen,
            probability=pmf[chosen],
            model_version=version,
            learnable=learns,
            activated=not request.defer_activation,
            expires_at=int((now + loop.retention).timestamp()),
            holdout=holdout,
            baseline_index=baseline,
            mode=mode,
            model_top=top,
            reward_until=now + loop.reward_wait,
            aggregation=loop.aggregation,
            reward_range=loop.reward_range,
            consent=request.tier,
            user_hash=user_hash,
        )
        kind: ChoiceKind = "baseline"
        if online:
            kind = "best" if top is not None and chosen == top else "exploratory"
        explained = None
        if request.explain and request.tier != "none":  # without consent, no reason either
            policy = served.policy
            found = policy.contributions(features, chosen, pmf) if kind == "best" and policy else []
            explained = explanation(kind, found)
        # The ranking as plain dicts: pydantic builds the whole answer in one validation, which
        # is faster than building each ranked action, with or without validation.
        order = sorted(range(len(actions)), key=lambda index: -pmf[index])
        ranking = [{"id": actions[index].id, "probability": pmf[index]} for index in order]
        return record, DecideResponse(
            event_id=event_id,
            decision_point=request.decision_point,
            action_id=actions[chosen].id,
            probability=pmf[chosen],
            ranking=ranking,
            model_version=str(version) if version is not None else None,
            context_used=context_used,
            exploratory=kind == "exploratory",
            profile_used=bool(features.history or features.fatigue),
            explanation=explained,
        )

    def _history(
        self, found: Profile | None, decision_point: str, actions: list[Action], now: datetime
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The visitor's stored profile as features, and what they saw of each action."""
        if found is None or self.profiles is None:
            return {}, []
        at, half_life = now.timestamp(), self.profiles.half_life_days
        return (
            profiles.features(found, at, half_life),
            profiles.fatigue(found, decision_point, [a.id for a in actions], at, half_life),
        )
