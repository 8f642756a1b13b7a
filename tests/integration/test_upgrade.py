"""Upgrading a stack deployed before the sharded time index: the template keeps the old index
for one deployment, and the backfill gives the old code's decisions their shard key."""

from __future__ import annotations

from datetime import timedelta

import boto3
from decider.records import log_shard
from decider.store.dynamo_log import DynamoDecisionLog
from moto import mock_aws

from infra.backfill_shards import backfill
from infra.stack import LocalStack
from tests.integration.test_stores import DP, T0, record


def index_names(stack: LocalStack) -> list[str]:
    definition = stack.template.tables["DecisionsTable"].definition
    return [index["IndexName"] for index in definition["GlobalSecondaryIndexes"]]


def test_the_old_time_index_is_kept_only_for_an_upgrade_s_first_deployment() -> None:
    # A new stack has the sharded index only; an upgrade's first deployment keeps the old one
    # beside it (CloudFormation adds or removes one index per update)
    assert index_names(LocalStack()) == ["by-user", "by-shard-time"]
    upgrading = LocalStack({"KeepDecisionTimeIndex": "true"})
    assert index_names(upgrading) == ["by-user", "by-shard-time", "by-decision-time"]
    attributes = upgrading.template.tables["DecisionsTable"].definition["AttributeDefinitions"]
    assert "decision_point" in [a["AttributeName"] for a in attributes]
    # And retrain is paused until the backfill has keyed the old code's last decisions: a
    # retrain before it would move its watermark past them
    assert "RetrainStateMachine" not in upgrading.schedules()
    assert "RetrainStateMachine" in LocalStack().schedules()


def test_the_backfill_keys_the_old_code_s_decisions_once_and_leaves_the_rest() -> None:
    with mock_aws():
        stack = LocalStack({"KeepDecisionTimeIndex": "true"})
        stack.create_resources()
        table = stack.template.tables["DecisionsTable"].name
        client = boto3.client("dynamodb")
        log = DynamoDecisionLog(table, "by-shard-time")
        # Given 300 decisions, 200 of them written by the old code (no shard key), and a
        # campaign batch's claim (not a decision)
        for n in range(300):
            log.put(record(f"visit-{n}", T0 + timedelta(seconds=n)))
        old = [f"visit-{n}" for n in range(300) if n % 3]
        for event_id in old:
            client.update_item(
                TableName=table,
                Key={"event_id": {"S": event_id}},
                UpdateExpression="REMOVE dp_shard",
            )
        claim = {"event_id": {"S": "claim#x#500"}, "expires_at": {"N": "1"}}
        client.put_item(TableName=table, Item=claim)
        until = T0 + timedelta(seconds=300)
        assert len(list(log.settled(DP, None, until))) == 100  # the index misses the old ones

        # When the backfill runs, twice
        first = backfill(table, segments=4)
        again = backfill(table, segments=4)

        # Then each old decision got its shard key, once; the claim is left as it was
        assert (first["keyed"], first["gone"], first["scanned"]) == (200, 0, 301)
        assert again["keyed"] == 0
        for event_id in old[:20]:
            item = client.get_item(TableName=table, Key={"event_id": {"S": event_id}})["Item"]
            assert item["dp_shard"]["S"] == log_shard(DP, event_id)
        assert client.get_item(TableName=table, Key={"event_id": claim["event_id"]})["Item"] == (
            claim
        )
        # And retrain reads every decision through the shards again, in time order
        settled = [r.event_id for r in log.settled(DP, None, until)]
        assert settled == [f"visit-{n}" for n in range(300)]
