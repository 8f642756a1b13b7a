"""Visitor profiles on DynamoDB: one item per visitor id (its keyed hash), written
conditionally on its version, expired by TTL."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from decider.records import StoredProfile
from decider.store.aws import AwsStore
from decider.store.dynamo_log import batch_get


class DynamoProfileStore(AwsStore):
    service = "dynamodb"

    def __init__(self, table: str, client: Any = None) -> None:
        super().__init__(client)
        self._table = table

    def read(self, visitor: str) -> StoredProfile | None:
        # Strongly consistent: a link just written must be seen (an eventually consistent
        # read of a person's new item as missing made its linked id its own again).
        item = self.client.get_item(
            TableName=self._table, Key={"visitor": {"S": visitor}}, ConsistentRead=True
        ).get("Item")
        return _stored(item) if item is not None else None

    def read_many(self, visitors: Collection[str]) -> dict[str, StoredProfile]:
        keys = [{"visitor": {"S": v}} for v in dict.fromkeys(visitors)]
        return {
            item["visitor"]["S"]: _stored(item)
            for item in batch_get(self.client, self._table, keys)
        }

    def write(self, item: StoredProfile, expires_at: int) -> bool:
        stored = _item(item, item.version + 1, expires_at)
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(visitor)"}
            if item.version == 0
            else {
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": {":version": {"N": str(item.version)}},
            }
        )
        try:
            self.client.put_item(TableName=self._table, Item=stored, **condition)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def write_copy(self, item: StoredProfile, expires_at: int) -> bool:
        # An update, so that the item's own version goes on growing (a conditional write of
        # it holding an older one fails), and only of a link that exists: a person erased
        # meanwhile is not brought back by a copy.
        assert item.linked_to is not None
        try:
            self.client.update_item(
                TableName=self._table,
                Key={"visitor": {"S": item.visitor}},
                UpdateExpression="SET body = :body, source_version = :source, "
                "expires_at = :expires ADD version :one",
                ConditionExpression="attribute_exists(visitor) AND linked_to = :known AND "
                "(attribute_not_exists(source_version) OR source_version < :source)",
                ExpressionAttributeValues={
                    ":body": {"S": item.body},
                    ":known": {"S": item.linked_to},
                    ":source": {"N": str(item.source_version)},
                    ":expires": {"N": str(expires_at)},
                    ":one": {"N": "1"},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete(self, visitors: Collection[str]) -> int:
        deleted = 0
        for visitor in set(visitors):
            answer = self.client.delete_item(
                TableName=self._table, Key={"visitor": {"S": visitor}}, ReturnValues="ALL_OLD"
            )
            deleted += "Attributes" in answer
        return deleted


def _item(item: StoredProfile, version: int, expires_at: int) -> dict[str, Any]:
    stored: dict[str, Any] = {
        "visitor": {"S": item.visitor},
        "body": {"S": item.body},
        "version": {"N": str(version)},
        "expires_at": {"N": str(expires_at)},
    }
    if item.linked_to is not None:
        stored["linked_to"] = {"S": item.linked_to}
    if item.source_version:
        stored["source_version"] = {"N": str(item.source_version)}
    if item.aliases:
        stored["aliases"] = {"SS": sorted(set(item.aliases))}
    return stored


def _stored(item: dict[str, Any]) -> StoredProfile:
    return StoredProfile(
        visitor=item["visitor"]["S"],
        body=item["body"]["S"],
        version=int(item["version"]["N"]),
        linked_to=item["linked_to"]["S"] if "linked_to" in item else None,
        aliases=tuple(item["aliases"]["SS"]) if "aliases" in item else (),
        source_version=int(item["source_version"]["N"]) if "source_version" in item else 0,
    )
