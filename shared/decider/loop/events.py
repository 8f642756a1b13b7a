"""Rewards and activations for logged decisions."""

from __future__ import annotations

from datetime import datetime

from decider.records import DecisionLog
from decider.schemas import ActivateResponse, RewardRequest, RewardResponse
from decider.settings import LoopSettings

# Without a reward_id, a decision takes one reward: a repeat is a duplicate.
DEFAULT_REWARD_ID = "-"


def record_reward(
    log: DecisionLog,
    event_id: str,
    reward: RewardRequest,
    loop: LoopSettings,
    now: datetime,
    activate: bool = False,
) -> RewardResponse:
    status = log.record_reward(
        event_id,
        reward.value,
        reward.reward_id or DEFAULT_REWARD_ID,
        now=now,
        on_time_since=now - loop.reward_wait,
        aggregation=loop.aggregation,
        activate=activate,
    )
    return RewardResponse(event_id=event_id, status=status)


def activate(log: DecisionLog, event_id: str) -> ActivateResponse:
    return ActivateResponse(event_id=event_id, status=log.activate(event_id))
