"""Rewards and activations for logged decisions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from decider.errors import RewardOutOfRange, UnknownEvent
from decider.records import EVENT_SCOPE, DecisionLog
from decider.schemas import (
    ActivateResponse,
    Conversion,
    ConversionResult,
    ConversionsResponse,
    ConversionStatus,
    RewardRequest,
    RewardResponse,
)
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


# Rewards written at a time for one batch of conversions (each one conditional write).
CONVERSION_WRITERS = 8
# A conversion's time may run ahead of ours by this much (clocks differ), no more.
FUTURE_SKEW = timedelta(minutes=5)


def record_conversions(
    log: DecisionLog, items: Sequence[Any], loop: LoopSettings, now: datetime
) -> ConversionsResponse:
    """Each conversion as a reward of its decision, idempotent by its reward_id, answered one
    by one: an invalid or unknown item never keeps the others from being recorded."""
    # Items of one event are recorded in the batch's order (one writer each): the first of
    # two deliveries of an order is the one accepted, the second the duplicate.
    by_event: dict[object, list[tuple[int, Any]]] = {}
    for index, item in enumerate(items):
        event_id = item.get("event_id") if isinstance(item, dict) else None
        key = event_id if isinstance(event_id, str) else ("item", index)
        by_event.setdefault(key, []).append((index, item))

    def record_in_order(group: list[tuple[int, Any]]) -> list[ConversionResult]:
        return [record_conversion(log, index, item, loop, now) for index, item in group]

    with ThreadPoolExecutor(max_workers=CONVERSION_WRITERS) as writers:
        grouped = writers.map(record_in_order, by_event.values())
        results = sorted((r for group in grouped for r in group), key=lambda r: r.index)
    counts = Counter(result.status for result in results)
    return ConversionsResponse(results=results, counts=dict(counts))


def record_conversion(
    log: DecisionLog, index: int, item: Any, loop: LoopSettings, now: datetime
) -> ConversionResult:
    given = item if isinstance(item, dict) else {}
    names = {"index": index, "event_id": _text(given.get("event_id")),
             "reward_id": _text(given.get("reward_id"))}  # fmt: skip
    try:
        conversion = Conversion.model_validate(item)
    except ValidationError as invalid:
        detail = invalid.errors()[0]
        where = ".".join(str(part) for part in detail["loc"]) or "item"
        message = str(detail["msg"]).removeprefix("Value error, ")
        return ConversionResult(**names, status="invalid", message=f"{where}: {message}")
    if conversion.occurred_at is not None and conversion.occurred_at > now + FUTURE_SKEW:
        return ConversionResult(**names, status="invalid", message="occurred_at is in the future")
    reward = RewardRequest(value=conversion.value, reward_id=conversion.reward_id)
    try:
        status = record_reward(log, conversion.event_id, reward, loop, now).status
    except UnknownEvent as unknown:
        return ConversionResult(**names, status="unknown", message=unknown.message)
    except RewardOutOfRange as refused:
        return ConversionResult(**names, status="invalid", message=f"value: {refused.message}")
    accepted: ConversionStatus = "accepted" if status == "recorded" else status
    return ConversionResult(**names, status=accepted)


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None
