"""A person's data, by their user id: access (GDPR art. 15, CCPA) and erasure (art. 17).

The id is hashed under every key kept (a rotation keeps the previous ones), so every decision
and profile stored under any of them is found, and with the profile every id linked to it (a
cookie or an app install the person signed in from), whose decisions are theirs too. Erasure
deletes the decisions with their rewards, the profile and the links; what a model learned
from them stays in its weights (it names no one), and exported days keep the features of a
decision, never a user id or its hash.
"""

from __future__ import annotations

from datetime import datetime

from decider.loop.interactions import Profiles, readable
from decider.records import DecisionLog, DecisionRecord
from decider.schemas import UserDecision, UserErased, UserExport


def export(log: DecisionLog, profiles: Profiles, user_id: str, now: datetime) -> UserExport:
    profile, ids = profiles.person(profiles.users.every_hash(user_id))
    decisions = log.of_user(ids | set(profiles.users.every_hash(user_id)))
    return UserExport(
        decisions=[_shown(record) for record in decisions],
        profile=readable(profile, now, profiles.half_life_days),
        linked_ids=max(len(ids) - 1, 0),
    )


def erase(log: DecisionLog, profiles: Profiles, user_id: str) -> UserErased:
    # The decisions first, the profile and its links last: an erasure cut short and sent
    # again still finds the ids linked to the person, and their decisions.
    hashes = profiles.users.every_hash(user_id)
    _, ids = profiles.person(hashes)
    decisions = log.of_user(ids | set(hashes))
    decisions_deleted = log.forget([r.event_id for r in decisions])
    deleted = profiles.delete(ids)
    return UserErased(decisions_deleted=decisions_deleted, profiles_deleted=deleted)


def _shown(record: DecisionRecord) -> UserDecision:
    return UserDecision(
        event_id=record.event_id,
        decision_point=record.decision_point,
        decided_at=record.decided_at,
        consent=record.consent,
        context=record.features.context,
        features=record.features.custom,
        profile={**record.features.history, **record.features.profile},
        actions=[action for action, _ in record.features.actions],
        shown=record.chosen_action,
        probability=record.probability,
        reward=record.reward,
    )
