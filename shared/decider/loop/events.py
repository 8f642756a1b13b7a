"""Rewards and activations for logged decisions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from decider.errors import UnknownEvent
from decider.records import EVENT_SCOPE, DecisionLog
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
    with _hinted(event_id):
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
    with _hinted(event_id):
        return ActivateResponse(event_id=event_id, status=log.activate(event_id))


@contextmanager
def _hinted(event_id: str) -> Iterator[None]:
    """An unknown event id without its decision point says how event ids are written."""
    try:
        yield
    except UnknownEvent as unknown:
        if EVENT_SCOPE in event_id:
            raise
        raise UnknownEvent(
            f"{unknown.message}: an event id is the one decide answered, "
            f"<decision_point>{EVENT_SCOPE}<id>"
        ) from None
