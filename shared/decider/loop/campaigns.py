"""Campaigns: one decision per visitor of a mailing list or a push audience, in batches.

A Step Functions Distributed Map reads the list from S3 (CSV or JSON Lines) and hands each
batch of rows, with the job, to ``decide_batch``: every row becomes the decide request of that
visitor (the campaign's context and channel, the row's own features), decided by the same core
as POST /decide, under the event id ``<campaign>-<row>``, so a batch run again decides nothing
twice and answers the first decisions. Rewards for opens, clicks and purchases come later, to
POST /events/{event_id}/reward, and the next retrain learns them like any.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from decider.errors import DeciderError, DuplicateEvent
from decider.loop.decide import Cap, Capped, Decider
from decider.records import DecisionLog, DecisionRecord, scoped_event_id
from decider.schemas import (
    CampaignBatchResult,
    CampaignDecision,
    CampaignJob,
    DecideRequest,
    DecideResponse,
)

# Row columns the request takes as what they are; every other column is a context feature.
_GEO = ("country", "region", "timezone")
_OWN = ("visitor", "consent", *_GEO)


class TextStore(Protocol):
    def put_text(self, key: str, text: str, content_type: str) -> None: ...


def event_id(job: CampaignJob, row: int) -> str:
    """The id a row's decision is logged under (without its decision point's scope)."""
    return f"{job.campaign_id}-{row}"


def output_key(job: CampaignJob, rows: Sequence[int]) -> str:
    """Where a batch's decisions are written: the same object for the same rows, so a batch
    run again replaces its own file."""
    digest = hashlib.sha256(",".join(map(str, rows)).encode()).hexdigest()[:12]
    return f"campaigns/{job.campaign_id}/decisions/{min(rows):09d}-{digest}.jsonl"


def request_of(job: CampaignJob, row: int, values: Mapping[str, Any]) -> DecideRequest:
    """The decide request of one row: the campaign's context and channel, the row's geo and
    features, its visitor and consent. A ValidationError for a row that cannot be one."""
    own = {k: v for k, v in values.items() if k in _OWN and v not in ("", None)}
    features = {k: _feature(v) for k, v in values.items() if k not in _OWN and v not in ("", None)}
    context = job.context.model_dump(mode="json", exclude_none=True)
    context["channel"] = job.channel
    context["features"] = {**context.get("features", {}), **features}
    geo = {k: own[k] for k in _GEO if k in own}
    if geo:
        context["geo"] = {**context.get("geo", {}), **geo}
    body: dict[str, Any] = {
        "decision_point": job.decision_point,
        "event_id": event_id(job, row),
        "context": context,
        "actions": [action.model_dump() for action in job.actions],
    }
    if "visitor" in own:
        body["user_id"] = own["visitor"]
    if "consent" in own:
        body["consent"] = _consent(own["consent"])
    return DecideRequest.model_validate(body)


def decide_batch(
    decider: Decider,
    log: DecisionLog,
    job: CampaignJob,
    items: Sequence[Mapping[str, Any]],
    execution: str | None = None,
) -> list[CampaignDecision]:
    """Decide every row of a batch (``{"index": n, "value": row}`` as the map's ItemSelector
    hands them over), the profiles read and the decisions written together; one row's problem
    never stops the others, and a row decided by an earlier run answers that decision. The
    batch is claimed for ``execution`` (the state machine's execution id), so two runs of one
    campaign cannot overwrite each other: the second's batch fails with BatchClaimed."""
    cap = Cap(job.channel, job.cap.most, job.cap.days) if job.cap else None
    outcomes: list[CampaignDecision | None] = []
    requests: list[tuple[int, str | None, DecideRequest]] = []
    for item in items:
        row, values = int(item["index"]), item.get("value")
        visitor = values.get("visitor") if isinstance(values, Mapping) else None
        shown = str(visitor) if visitor not in (None, "") else None
        try:
            if not isinstance(values, Mapping):
                raise ValueError("a row is an object (CSV: a header row names the columns)")
            requests.append((row, shown, request_of(job, row, values)))
            outcomes.append(None)
        except ValidationError as invalid:
            outcomes.append(_invalid(row, shown, _problem(invalid)))
        except ValueError as refused:
            outcomes.append(_invalid(row, shown, str(refused)))
    answers = decider.decide_many([request for _, _, request in requests], cap, execution)
    earlier_ids = [
        scoped_event_id(job.decision_point, event_id(job, row))
        for (row, _, _), answer in zip(requests, answers, strict=True)
        if isinstance(answer, DuplicateEvent)
    ]
    earlier = log.get_many(earlier_ids) if earlier_ids else {}
    decided = iter(
        _outcome(row, shown, answer, earlier, job)
        for (row, shown, _), answer in zip(requests, answers, strict=True)
    )
    return [outcome if outcome is not None else next(decided) for outcome in outcomes]


def _outcome(
    row: int,
    shown: str | None,
    answer: DecideResponse | Exception,
    earlier: Mapping[str, DecisionRecord],
    job: CampaignJob,
) -> CampaignDecision:
    if isinstance(answer, DecideResponse):
        return CampaignDecision(
            row=row, visitor=shown, status="decided", event_id=answer.event_id,
            action_id=answer.action_id, probability=answer.probability,
            exploratory=answer.exploratory,
        )  # fmt: skip
    if isinstance(answer, Capped):
        return CampaignDecision(row=row, visitor=shown, status="capped", message=str(answer))
    if isinstance(answer, DuplicateEvent):
        scoped = scoped_event_id(job.decision_point, event_id(job, row))
        record = earlier.get(scoped)
        if record is None:  # taken, and gone since (erased): nothing to send
            return _invalid(row, shown, "decided before, and since erased")
        return CampaignDecision(
            row=row, visitor=shown, status="already_decided", event_id=scoped,
            action_id=record.chosen_action, probability=record.probability,
            exploratory=record.exploratory,
        )  # fmt: skip
    message = answer.message if isinstance(answer, DeciderError) else str(answer)
    return _invalid(row, shown, message)


def _invalid(row: int, shown: str | None, message: str) -> CampaignDecision:
    return CampaignDecision(row=row, visitor=shown, status="invalid", message=message)


def _problem(invalid: ValidationError) -> str:
    problem = invalid.errors()[0]
    where = ".".join(str(p) for p in problem["loc"])
    return f"{where}: {str(problem['msg']).removeprefix('Value error, ')}"


def write_batch(
    store: TextStore, job: CampaignJob, decided: Sequence[CampaignDecision]
) -> CampaignBatchResult:
    key = output_key(job, [d.row for d in decided])
    lines = "".join(d.model_dump_json(exclude_none=True) + "\n" for d in decided)
    store.put_text(key, lines, "application/x-ndjson")
    return CampaignBatchResult(key=key, counts=dict(Counter(d.status for d in decided)))


def _feature(value: Any) -> Any:
    """A CSV cell is text: a number in it is learned as a number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


def _consent(value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value
