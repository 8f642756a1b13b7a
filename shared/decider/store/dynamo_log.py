"""The decision log on DynamoDB: one item per decision, rewards stored on it conditionally."""

from __future__ import annotations

import heapq
import itertools
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from decider.errors import BatchClaimed, DuplicateEvent, RewardOutOfRange, UnknownEvent
from decider.records import (
    CLAIM_STALE,
    ActivateStatus,
    Aggregation,
    Claim,
    DecisionFeatures,
    DecisionRecord,
    RewardStatus,
    after,
    iso,
    log_shard,
    log_shards,
    parse_iso,
)
from decider.schemas import ConsentTier, LearningMode
from decider.store.aws import AwsStore

_REWARD_UPDATE = {
    "earliest": "SET reward = if_not_exists(reward, :value){activate} ADD reward_ids :reward_ids",
    "sum": "ADD reward :value, reward_ids :reward_ids{activate_set}",
    # The mean is kept as a total and a count, divided when the decision is read.
    "average": "ADD reward_total :value, reward_count :one, reward_ids :reward_ids{activate_set}",
    # Only a larger value replaces the reward (the condition below); a smaller one is still
    # recorded by its id, so that it counts once (_record_id).
    "max": "SET reward = :value{activate} ADD reward_ids :reward_ids",
}
_LARGER = " AND (attribute_not_exists(reward) OR reward < :value)"
_REWARD_CONDITION = (
    "attribute_exists(event_id) AND NOT contains(reward_ids, :reward_id)"
    " AND NOT contains(late_reward_ids, :reward_id)"
    # On time by the decision's own deadline, else by the stack's reward wait
    " AND ((attribute_exists(reward_until) AND reward_until >= :now)"
    " OR (attribute_not_exists(reward_until) AND decided_at >= :since))"
    " AND (attribute_not_exists(reward_low) OR (reward_low <= :value AND reward_high >= :value))"
)
_STACK_AGGREGATION = " AND (attribute_not_exists(aggregation) OR aggregation = :aggregation)"
_OWN_AGGREGATION = " AND aggregation = :aggregation"


class DynamoDecisionLog(AwsStore):
    service = "dynamodb"

    def __init__(
        self, table: str, index: str, client: Any = None, user_index: str = "by-user"
    ) -> None:
        super().__init__(client)
        self._table = table
        self._index = index
        self._user_index = user_index
        self._pool: ThreadPoolExecutor | None = None  # the time index's shard readers

    def of_user(self, user_hashes: Collection[str]) -> list[DecisionRecord]:
        found: list[DecisionRecord] = []
        for user_hash in user_hashes:
            query: dict[str, Any] = dict(
                TableName=self._table,
                IndexName=self._user_index,
                KeyConditionExpression="user_hash = :user",
                ExpressionAttributeValues={":user": {"S": user_hash}},
            )
            while True:
                page = self.client.query(**query)
                found.extend(record_of(item) for item in page.get("Items", []))
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return sorted(found, key=lambda record: record.decided_at)

    def forget(self, event_ids: Collection[str]) -> int:
        forgotten = 0
        for event_id in event_ids:
            answer = self.client.delete_item(
                TableName=self._table,
                Key={"event_id": {"S": event_id}},
                ReturnValues="ALL_OLD",
            )
            forgotten += "Attributes" in answer
        return forgotten

    def put(self, record: DecisionRecord) -> None:
        # This write's own mark: boto3 sends the very same request again when the first one's
        # answer was lost, and finding the mark means the decision found is this one
        item = {**_item(record), "written_by": {"S": uuid.uuid4().hex}}
        try:
            self.client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(event_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as failure:
            # boto3 sends a request again when its answer was lost (a timeout, a 500): the
            # decision found may be this very one, written by the first try
            if failure.response.get("Item", {}).get("written_by") == item["written_by"]:
                return
            raise DuplicateEvent(
                f"event {record.event_id!r} already exists", field="event_id"
            ) from None

    def get(self, event_id: str) -> DecisionRecord | None:
        item = self.client.get_item(
            TableName=self._table, Key={"event_id": {"S": event_id}}, ConsistentRead=True
        ).get("Item")
        return record_of(item) if item is not None else None

    def get_many(self, event_ids: Collection[str]) -> dict[str, DecisionRecord]:
        keys = [{"event_id": {"S": e}} for e in dict.fromkeys(event_ids)]
        items = batch_get(self.client, self._table, keys, consistent=True)
        return {item["event_id"]["S"]: record_of(item) for item in items}

    def put_many(self, records: Sequence[DecisionRecord], claim: Claim | None = None) -> set[str]:
        """With a claim: the batch claimed (one conditional put), then BatchWriteItems of
        25. Without: one conditional PutItem each, PUT_THREADS at a time (a BatchWriteItem
        cannot be conditional, and a transaction costs twice the write units)."""
        if claim is not None and records:
            self._claim(claim.key, claim.owner, claim.at)
            batch_write(self.client, self._table, [_item(record) for record in records])
            return set()

        def taken(record: DecisionRecord) -> str | None:
            try:
                self.put(record)
            except DuplicateEvent:
                return record.event_id
            return None

        with ThreadPoolExecutor(max_workers=PUT_THREADS) as pool:
            return {found for found in pool.map(taken, records) if found is not None}

    def _claim(self, key: str, owner: str, now: datetime) -> None:
        # No decision_point or decided_at: the claim is in no index (retrain, export and a
        # person's data never see it); it expires in a day.
        try:
            self.client.put_item(
                TableName=self._table,
                Item={
                    "event_id": {"S": key},
                    "owner": {"S": owner},
                    "claimed_at": {"S": iso(now)},
                    "expires_at": {"N": str(int(now.timestamp()) + 86400)},
                },
                ConditionExpression="attribute_not_exists(event_id) OR #owner = :owner "
                "OR claimed_at < :stale",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":stale": {"S": iso(now - CLAIM_STALE)},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise BatchClaimed(
                f"another execution of this campaign holds batch {key}; run one at a time"
            ) from None

    def record_reward(
        self,
        event_id: str,
        value: float,
        reward_id: str,
        *,
        now: datetime,
        on_time_since: datetime,
        aggregation: Aggregation,
        activate: bool = False,
    ) -> RewardStatus:
        values = {
            ":value": {"N": _number(value)},
            ":reward_ids": {"SS": [reward_id]},
            ":reward_id": {"S": reward_id},
        }
        # The decision's own settings decide (its decision point's when it was made); one
        # logged without them takes the stack's. The write assumes the stack's aggregation
        # and, if the decision has another, is made again under it.
        stack_aggregation, assumed = aggregation, aggregation
        for _ in range(2):
            try:
                self.client.update_item(
                    TableName=self._table,
                    Key={"event_id": {"S": event_id}},
                    UpdateExpression=_REWARD_UPDATE[assumed].format(
                        activate=", activated = :yes" if activate else "",
                        activate_set=" SET activated = :yes" if activate else "",
                    ),
                    ConditionExpression=_REWARD_CONDITION
                    + (_STACK_AGGREGATION if assumed == stack_aggregation else _OWN_AGGREGATION)
                    + (_LARGER if assumed == "max" else ""),
                    ExpressionAttributeValues={
                        **values,
                        ":now": {"S": iso(now)},
                        ":since": {"S": iso(on_time_since)},
                        ":aggregation": {"S": assumed},
                        **({":yes": {"BOOL": True}} if activate else {}),
                        **({":one": {"N": "1"}} if assumed == "average" else {}),
                    },
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return "recorded"
            except self.client.exceptions.ConditionalCheckFailedException as failure:
                old = failure.response.get("Item")
            if old is None:
                raise UnknownEvent(f"no decision with event id {event_id!r}")
            if "reward_low" in old:
                low, high = float(old["reward_low"]["N"]), float(old["reward_high"]["N"])
                if not low <= value <= high:
                    raise RewardOutOfRange(
                        f"{value!r} is outside this decision point's reward range, "
                        f"{low:g} to {high:g}",
                        field="value",
                    )
            ids = [
                *old.get("reward_ids", {}).get("SS", []),
                *old.get("late_reward_ids", {}).get("SS", []),
            ]
            if reward_id in ids:
                return "duplicate"
            deadline = old["reward_until"]["S"] if "reward_until" in old else None
            if (deadline or old["decided_at"]["S"]) < iso(now if deadline else on_time_since):
                return self._record_late(event_id, values)
            own = old["aggregation"]["S"] if "aggregation" in old else stack_aggregation
            if own == assumed:
                return self._record_id(event_id, values, activate)  # max, and not larger
            assumed = cast(Aggregation, own)
        raise RuntimeError(f"{event_id}: the reward write did not settle")  # unreachable

    def _record_id(self, event_id: str, values: dict[str, Any], activate: bool) -> RewardStatus:
        try:
            self.client.update_item(
                TableName=self._table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression="ADD reward_ids :reward_ids"
                + (" SET activated = :yes" if activate else ""),
                ConditionExpression="NOT contains(reward_ids, :reward_id)",
                ExpressionAttributeValues={
                    ":reward_ids": values[":reward_ids"],
                    ":reward_id": values[":reward_id"],
                    **({":yes": {"BOOL": True}} if activate else {}),
                },
            )
            return "recorded"
        except self.client.exceptions.ConditionalCheckFailedException:
            return "duplicate"

    def _record_late(self, event_id: str, values: dict[str, Any]) -> RewardStatus:
        # Kept for reporting, never learned: the decision was settled without it.
        try:
            self.client.update_item(
                TableName=self._table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression="ADD late_reward :value, late_reward_ids :reward_ids",
                ConditionExpression="NOT contains(late_reward_ids, :reward_id)",
                ExpressionAttributeValues=values,
            )
            return "late"
        except self.client.exceptions.ConditionalCheckFailedException:
            return "duplicate"

    def activate(self, event_id: str) -> ActivateStatus:
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression="SET activated = :yes",
                ConditionExpression="attribute_exists(event_id)",
                ExpressionAttributeValues={":yes": {"BOOL": True}},
                # Not UPDATED_OLD: an attribute set to the value it had may be left out of it.
                ReturnValues="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            raise UnknownEvent(f"no decision with event id {event_id!r}") from None
        was_active = response.get("Attributes", {}).get("activated", {}).get("BOOL", False)
        return "already_active" if was_active else "activated"

    def settled(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        return self._between(decision_point, since, until, oldest_first=True)

    def recent(
        self, decision_point: str, since: datetime | None, until: datetime
    ) -> Iterator[DecisionRecord]:
        return self._between(decision_point, since, until, oldest_first=False)

    def _between(
        self, decision_point: str, since: datetime | None, until: datetime, oldest_first: bool
    ) -> Iterator[DecisionRecord]:
        """The decision point's shards queried side by side, their pages merged in time
        order; each shard's next page is asked for while its current one is read."""
        start = iso(after(since)) if since else "0"
        queries = [
            dict(
                TableName=self._table,
                IndexName=self._index,
                KeyConditionExpression="dp_shard = :key AND decided_at BETWEEN :start AND :end",
                ExpressionAttributeValues={
                    ":key": {"S": key},
                    ":start": {"S": start},
                    ":end": {"S": iso(until)},
                },
                ScanIndexForward=oldest_first,
            )
            for key in log_shards(decision_point)
        ]
        pool = self._readers()
        shards = [self._pages(pool, query, pool.submit(self.client.query, **query))
                  for query in queries]  # fmt: skip
        merged = heapq.merge(*shards, key=_decided_at, reverse=not oldest_first)
        return (record_of(item) for item in merged)

    def _pages(
        self, pool: ThreadPoolExecutor, query: dict[str, Any], first: Future[Any]
    ) -> Iterator[dict[str, Any]]:
        page = first.result()
        while True:
            following = None
            if "LastEvaluatedKey" in page:
                query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}
                following = pool.submit(self.client.query, **query)
            yield from page.get("Items", [])
            if following is None:
                return
            page = following.result()

    def _readers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=READ_THREADS)
        return self._pool

    def decision_points_of(self, event_ids: Collection[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(event_ids))
        for start in range(0, len(unique), _BATCH_GET_KEYS):
            keys = [{"event_id": {"S": i}} for i in unique[start : start + _BATCH_GET_KEYS]]
            request: dict[str, Any] = {
                self._table: {
                    "Keys": keys,
                    "ProjectionExpression": "event_id, decision_point",
                    "ConsistentRead": True,
                }
            }
            for attempt in itertools.count():
                page = self.client.batch_get_item(RequestItems=request)
                for item in page.get("Responses", {}).get(self._table, []):
                    found[item["event_id"]["S"]] = item["decision_point"]["S"]
                request = page.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(min(0.05 * 2**attempt, 1.0))  # throttled: back off, then the rest
        return found


_BATCH_GET_KEYS = 100  # DynamoDB's most per BatchGetItem


def _number(value: float) -> str:
    """A float as a DynamoDB number, written out in full (0.00001, not 1e-05): the same number
    to DynamoDB, and one that moto's ADD can add to (it reads a number without a point as an
    integer)."""
    return format(Decimal(repr(value)), "f")


def _item(record: DecisionRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "event_id": {"S": record.event_id},
        "decision_point": {"S": record.decision_point},
        "decided_at": {"S": iso(record.decided_at)},
        "dp_shard": {"S": log_shard(record.decision_point, record.event_id)},
        "features": {"S": record.features.to_json()},
        "chosen_index": {"N": str(record.chosen_index)},
        "chosen_action": {"S": record.chosen_action},
        "probability": {"N": _number(record.probability)},
        "learnable": {"BOOL": record.learnable},
        "activated": {"BOOL": record.activated},
        "expires_at": {"N": str(record.expires_at)},
    }
    if record.model_version is not None:
        item["model_version"] = {"N": str(record.model_version)}
    if record.reward is not None:  # a decision imported from history comes with its reward
        item["reward"] = {"N": _number(record.reward)}
    if record.holdout:
        item["holdout"] = {"BOOL": True}
    if record.baseline_index:
        item["baseline"] = {"N": str(record.baseline_index)}
    if record.mode != "online":
        item["mode"] = {"S": record.mode}
    if record.model_top is not None:
        item["model_top"] = {"N": str(record.model_top)}
    if record.reward_until is not None:
        item["reward_until"] = {"S": iso(record.reward_until)}
    if record.aggregation is not None:
        item["aggregation"] = {"S": record.aggregation}
    if record.consent != "personal":
        item["consent"] = {"S": record.consent}
    if record.user_hash is not None:  # the by-user index is sparse: only decisions with one
        item["user_hash"] = {"S": record.user_hash}
    if record.reward_range is not None:
        item["reward_low"] = {"N": _number(record.reward_range[0])}
        item["reward_high"] = {"N": _number(record.reward_range[1])}
    return item


def _reward(item: dict[str, Any]) -> float | None:
    if "reward_count" in item:  # average
        return float(item["reward_total"]["N"]) / float(item["reward_count"]["N"])
    return float(item["reward"]["N"]) if "reward" in item else None


def record_of(item: dict[str, Any]) -> DecisionRecord:
    """A decision as stored (DynamoDB's JSON, as a query or a stream record has it)."""
    return DecisionRecord(
        event_id=item["event_id"]["S"],
        decision_point=item["decision_point"]["S"],
        decided_at=parse_iso(item["decided_at"]["S"]),
        features=DecisionFeatures.from_json(item["features"]["S"]),
        chosen_index=int(item["chosen_index"]["N"]),
        probability=float(item["probability"]["N"]),
        model_version=int(item["model_version"]["N"]) if "model_version" in item else None,
        learnable=item["learnable"]["BOOL"],
        activated=item["activated"]["BOOL"],
        expires_at=int(item["expires_at"]["N"]),
        reward=_reward(item),
        holdout="holdout" in item and item["holdout"]["BOOL"],
        baseline_index=int(item["baseline"]["N"]) if "baseline" in item else 0,
        mode=cast(LearningMode, item["mode"]["S"]) if "mode" in item else "online",
        model_top=int(item["model_top"]["N"]) if "model_top" in item else None,
        reward_until=parse_iso(item["reward_until"]["S"]) if "reward_until" in item else None,
        aggregation=cast(Aggregation, item["aggregation"]["S"]) if "aggregation" in item else None,
        reward_range=(float(item["reward_low"]["N"]), float(item["reward_high"]["N"]))
        if "reward_low" in item
        else None,
        consent=cast(ConsentTier, item["consent"]["S"]) if "consent" in item else "personal",
        user_hash=item["user_hash"]["S"] if "user_hash" in item else None,
    )


BATCH_GET = 100  # keys a BatchGetItem takes
BATCH_WRITE = 25  # items a BatchWriteItem takes
PUT_THREADS = 8  # a batch's conditional puts under way at once
READ_THREADS = 16  # the time index's shards read at once (a page each, and the next)


def _decided_at(item: dict[str, Any]) -> str:
    return str(item["decided_at"]["S"])


def batch_get(
    client: Any, table: str, keys: list[dict[str, Any]], *, consistent: bool = False
) -> list[dict[str, Any]]:
    """Every item of these keys that exists, in BatchGetItems of 100, the unprocessed keys
    asked again (with a pause that grows) until none is left."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), BATCH_GET):
        waiting: dict[str, Any] = {
            table: {"Keys": keys[start : start + BATCH_GET], "ConsistentRead": consistent}
        }
        for attempt in itertools.count():
            answer = client.batch_get_item(RequestItems=waiting)
            found.extend(answer.get("Responses", {}).get(table, []))
            waiting = answer.get("UnprocessedKeys") or {}
            if not waiting:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
    return found


def batch_write(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Put these items in BatchWriteItems of 25, the unprocessed ones sent again (with a
    pause that grows) until none is left."""
    for start in range(0, len(items), BATCH_WRITE):
        waiting: dict[str, Any] = {
            table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE]]
        }
        for attempt in itertools.count():
            answer = client.batch_write_item(RequestItems=waiting)
            waiting = answer.get("UnprocessedItems") or {}
            if not waiting:
                break
            time.sleep(min(0.05 * 2**attempt, 2.0))
