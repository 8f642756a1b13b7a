"""The model registry on DynamoDB: per decision point, a ``current`` pointer and its versions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from decider.errors import UnknownVersion
from decider.records import (
    CurrentModel,
    ModelVersion,
    StaleExport,
    StaleModel,
    StaleSettings,
    iso,
    parse_iso,
    served_from_json,
    served_to_json,
)
from decider.schemas import DecisionPointSettings, SettingsChange
from decider.store.aws import AwsStore

CURRENT = "current"
# How many decision points decide created on first use: an item no decision point can name
# (names start with a letter or digit), so it is never listed as one.
CREATED = {"decision_point": {"S": "#created"}, "record": {"S": "count"}}
SETTINGS = "settings#"  # a change of settings: settings#<when>#<unique>


def _version_record(version: int) -> str:
    return f"version#{version:08d}"


class DynamoRegistry(AwsStore):
    service = "dynamodb"

    def __init__(self, table: str, client: Any = None) -> None:
        super().__init__(client)
        self._table = table

    def current(self, decision_point: str) -> CurrentModel | None:
        item = self.client.get_item(
            TableName=self._table,
            Key=_key(decision_point, CURRENT),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        return CurrentModel(
            decision_point=decision_point,
            version=int(item["version"]["N"]) if "version" in item else None,
            model_key=item["model_key"]["S"] if "model_key" in item else None,
            watermark=parse_iso(item["watermark"]["S"]) if "watermark" in item else None,
            model_sha256=item["model_sha256"]["S"] if "model_sha256" in item else None,
            exploration=item["exploration"]["S"] if "exploration" in item else None,
            settings=DecisionPointSettings.model_validate_json(item["settings"]["S"])
            if "settings" in item
            else DecisionPointSettings(),
            latest=int(item["latest"]["N"]) if "latest" in item else None,
            exported=parse_iso(item["exported"]["S"]) if "exported" in item else None,
            settings_revision=int(item.get("settings_revision", {}).get("N", "0")),
        )

    def register(self, decision_point: str, now: datetime) -> None:
        self.client.update_item(
            TableName=self._table,
            Key=_key(decision_point, CURRENT),
            UpdateExpression="SET registered_at = if_not_exists(registered_at, :now)",
            ExpressionAttributeValues={":now": {"S": iso(now)}},
        )

    def create(self, decision_point: str, now: datetime, cap: int) -> bool:
        count = {
            "TableName": self._table,
            "Key": CREATED,
            "UpdateExpression": "SET created = if_not_exists(created, :zero) + :one",
            "ConditionExpression": "attribute_not_exists(created) OR created < :cap",
            "ExpressionAttributeValues": {
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":cap": {"N": str(cap)},
            },
        }
        new = {
            "TableName": self._table,
            "Key": _key(decision_point, CURRENT),
            "UpdateExpression": "SET registered_at = :now, created_by = :decide",
            "ConditionExpression": "attribute_not_exists(registered_at)",
            "ExpressionAttributeValues": {":now": {"S": iso(now)}, ":decide": {"S": "decide"}},
        }
        try:
            # One transaction: the count moves only with a decision point that is new.
            self.client.transact_write_items(TransactItems=[{"Update": count}, {"Update": new}])
        except self.client.exceptions.TransactionCanceledException as cancelled:
            reasons = cancelled.response.get("CancellationReasons", [])
            codes = [reason.get("Code") for reason in reasons]
            if codes[1:2] == ["ConditionalCheckFailed"]:
                return True  # it exists: created meanwhile, by decide or by an operator
            if codes[:1] == ["ConditionalCheckFailed"]:
                return False  # the cap is reached
            raise
        return True

    def configure(
        self,
        decision_point: str,
        settings: DecisionPointSettings,
        change: SettingsChange,
        *,
        expected_revision: int | None = None,
    ) -> None:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": _key(decision_point, CURRENT),
            "UpdateExpression": "SET settings = :settings, "
            "settings_revision = if_not_exists(settings_revision, :zero) + :one, "
            "registered_at = if_not_exists(registered_at, :now)",
            "ExpressionAttributeValues": {
                ":settings": {"S": settings.model_dump_json()},
                ":now": {"S": iso(change.at)},
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
            },
        }
        if expected_revision is not None:
            # A revision, not the settings' text: a field added to the settings later must
            # not make every stored decision point look changed.
            update["ConditionExpression"] = (
                "attribute_not_exists(settings_revision)"
                if expected_revision == 0
                else "settings_revision = :expected"
            )
            if expected_revision:
                update["ExpressionAttributeValues"][":expected"] = {"N": str(expected_revision)}
        try:
            # One transaction: the settings never change without their history entry.
            self.client.transact_write_items(
                TransactItems=[{"Update": update}, self._history_put(decision_point, change)]
            )
        except self.client.exceptions.TransactionCanceledException as cancelled:
            reasons = cancelled.response.get("CancellationReasons", [])
            if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
                raise StaleSettings(
                    f"the settings of {decision_point!r} changed meanwhile"
                ) from cancelled
            raise

    def _history_put(self, decision_point: str, change: SettingsChange) -> dict[str, Any]:
        entry = f"{SETTINGS}{iso(change.at)}#{uuid.uuid4().hex}"
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **_key(decision_point, entry),
                    "change": {"S": change.model_dump_json()},
                },
            }
        }

    def settings_history(self, decision_point: str, limit: int) -> list[SettingsChange]:
        page = self.client.query(
            TableName=self._table,
            KeyConditionExpression="decision_point = :dp AND begins_with(#record, :prefix)",
            ExpressionAttributeNames={"#record": "record"},
            ExpressionAttributeValues={":dp": {"S": decision_point}, ":prefix": {"S": SETTINGS}},
            ScanIndexForward=False,
            Limit=limit,
            ConsistentRead=True,  # a PUT shows its own change
        )
        return [SettingsChange.model_validate_json(i["change"]["S"]) for i in page["Items"]]

    def decision_points(self) -> list[str]:
        found: list[str] = []
        scan: dict[str, Any] = dict(
            TableName=self._table,
            FilterExpression="#record = :current",
            ExpressionAttributeNames={"#record": "record"},
            ExpressionAttributeValues={":current": {"S": CURRENT}},
            ProjectionExpression="decision_point",
        )
        while True:
            page = self.client.scan(**scan)
            found.extend(item["decision_point"]["S"] for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(found)
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def promote(self, version: ModelVersion, expected_version: int | None) -> None:
        self._record(
            version,
            expected_version,
            "SET version = :version, model_key = :key, model_sha256 = :sha, "
            "watermark = :watermark, exploration = :exploration, latest = :version",
            {
                ":key": {"S": version.model_key},
                ":sha": {"S": version.model_sha256},
                ":exploration": {"S": version.exploration},
                ":watermark": {"S": iso(version.watermark)},
            },
        )

    def reject(self, version: ModelVersion, expected_version: int | None) -> None:
        self._record(version, expected_version, "SET latest = :version", {})

    def _record(
        self,
        version: ModelVersion,
        expected_version: int | None,
        pointer_update: str,
        values: dict[str, Any],
    ) -> None:
        """The version's record and the pointer's update, in one conditional transaction."""
        record = {
            **_key(version.decision_point, _version_record(version.version)),
            "version": {"N": str(version.version)},
            "model_key": {"S": version.model_key},
            "model_sha256": {"S": version.model_sha256},
            "exploration": {"S": version.exploration},
            "watermark": {"S": iso(version.watermark)},
            "trained_at": {"S": iso(version.trained_at)},
            "decisions_learned": {"N": str(version.decisions_learned)},
            "evaluation": {"S": version.evaluation_json},
            # JSON, not DynamoDB numbers: sums of tiny rewards' squares underflow those.
            "served": {"S": served_to_json(version.served)},
        }
        if version.window_start is not None:
            record["window_start"] = {"S": iso(version.window_start)}
        if version.rejected is not None:
            record["rejected"] = {"S": version.rejected}
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": record,
                            "ConditionExpression": "attribute_not_exists(decision_point)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": _key(version.decision_point, CURRENT),
                            "UpdateExpression": pointer_update,
                            **_expecting(
                                expected_version,
                                {":version": {"N": str(version.version)}, **values},
                            ),
                        }
                    },
                ]
            )
        except self.client.exceptions.TransactionCanceledException as cancelled:
            raise StaleModel(f"{version.decision_point}: current moved on") from cancelled

    def serve(self, decision_point: str, version: int, change: SettingsChange) -> ModelVersion:
        item = self.client.get_item(
            TableName=self._table,
            Key=_key(decision_point, _version_record(version)),
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise UnknownVersion(f"{decision_point!r} has no version {version}", field="version")
        found = _version(item)
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(decision_point, CURRENT),
                        "UpdateExpression": "SET version = :version, model_key = :key, "
                        "model_sha256 = :sha, exploration = :exploration",
                        "ExpressionAttributeValues": {
                            ":version": {"N": str(found.version)},
                            ":key": {"S": found.model_key},
                            ":sha": {"S": found.model_sha256},
                            ":exploration": {"S": found.exploration},
                        },
                    }
                },
                self._history_put(decision_point, change),
            ]
        )
        return found

    def advance(
        self, decision_point: str, watermark: datetime, expected_version: int | None
    ) -> None:
        try:
            self.client.update_item(
                TableName=self._table,
                Key=_key(decision_point, CURRENT),
                UpdateExpression="SET watermark = :watermark",
                **_expecting(expected_version, {":watermark": {"S": iso(watermark)}}),
            )
        except self.client.exceptions.ConditionalCheckFailedException as failed:
            raise StaleModel(f"{decision_point}: current moved on") from failed

    def exported(self, decision_point: str, until: datetime, expected: datetime | None) -> None:
        values = {":until": {"S": iso(until)}}
        if expected is not None:
            values[":expected"] = {"S": iso(expected)}
        try:
            self.client.update_item(
                TableName=self._table,
                Key=_key(decision_point, CURRENT),
                UpdateExpression="SET exported = :until",
                ConditionExpression="exported = :expected"
                if expected is not None
                else "attribute_not_exists(exported)",
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException as failed:
            raise StaleExport(f"{decision_point}: another export moved on") from failed

    def versions(self, decision_point: str) -> list[ModelVersion]:
        query: dict[str, Any] = dict(
            TableName=self._table,
            KeyConditionExpression="decision_point = :dp AND begins_with(#record, :prefix)",
            ExpressionAttributeNames={"#record": "record"},
            ExpressionAttributeValues={":dp": {"S": decision_point}, ":prefix": {"S": "version#"}},
        )
        found: list[ModelVersion] = []
        while True:
            page = self.client.query(**query)
            found.extend(_version(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _key(decision_point: str, record: str) -> dict[str, Any]:
    return {"decision_point": {"S": decision_point}, "record": {"S": record}}


def _expecting(expected_version: int | None, values: dict[str, Any]) -> dict[str, Any]:
    if expected_version is None:
        return {
            "ConditionExpression": "attribute_not_exists(version)",
            "ExpressionAttributeValues": values,
        }
    return {
        "ConditionExpression": "version = :expected",
        "ExpressionAttributeValues": {**values, ":expected": {"N": str(expected_version)}},
    }


def _version(item: dict[str, Any]) -> ModelVersion:
    return ModelVersion(
        decision_point=item["decision_point"]["S"],
        version=int(item["version"]["N"]),
        model_key=item["model_key"]["S"],
        model_sha256=item["model_sha256"]["S"],
        exploration=item["exploration"]["S"] if "exploration" in item else "",
        window_start=parse_iso(item["window_start"]["S"]) if "window_start" in item else None,
        watermark=parse_iso(item["watermark"]["S"]),
        trained_at=parse_iso(item["trained_at"]["S"]),
        decisions_learned=int(item["decisions_learned"]["N"]),
        evaluation_json=item["evaluation"]["S"],
        served=served_from_json(item["served"]["S"]) if "served" in item else {},
        rejected=item["rejected"]["S"] if "rejected" in item else None,
    )
