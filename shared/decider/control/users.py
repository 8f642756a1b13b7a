"""A person's data, by their user id: access (GDPR art. 15, CCPA) and erasure (art. 17).

The id is hashed under every key kept (a rotation keeps the previous ones), so every decision
stored under any of them is found. Erasure deletes the decisions with their rewards; what a
model learned from them stays in its weights (it names no one), and exported days keep the
features of a decision, never a user id or its hash.
"""

from __future__ import annotations

from decider.privacy import UserHasher
from decider.records import DecisionLog, DecisionRecord
from decider.schemas import UserDecision, UserErased, UserExport


def export(log: DecisionLog, users: UserHasher, user_id: str) -> UserExport:
    decisions = log.of_user(users.every_hash(user_id))
    return UserExport(decisions=[_shown(record) for record in decisions])


def erase(log: DecisionLog, users: UserHasher, user_id: str) -> UserErased:
    decisions = log.of_user(users.every_hash(user_id))
    return UserErased(decisions_deleted=log.forget([r.event_id for r in decisions]))


def _shown(record: DecisionRecord) -> UserDecision:
    return UserDecision(
        event_id=record.event_id,
        decision_point=record.decision_point,
        decided_at=record.decided_at,
        consent=record.consent,
        context=record.features.context,
        features=record.features.custom,
        profile=record.features.profile,
        actions=[action for action, _ in record.features.actions],
        shown=record.chosen_action,
        probability=record.probability,
        reward=record.reward,
    )
