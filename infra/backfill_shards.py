"""Upgrade a stack deployed before the sharded time index: give every decision its time index
key, ``dp_shard`` (README, "Upgrading a stack").

    python -m infra.backfill_shards --table <DecisionsTable> [--segments 8]

It scans the decisions table (in parallel segments) for decisions without the key and writes
it on each, conditionally: a decision erased meanwhile stays erased, and one the new code
wrote keeps its own. Running it again writes nothing twice: run it before the deployment that
adds the index (the index is then built with every decision in it) and again after it (the
decisions the old code wrote during the deployment; that deployment pauses retrain until the
next one). Against the local twin, set AWS_ENDPOINT_URL to its moto server.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config
from decider.records import log_shard

# A decision of the old code: no time index key, but what the key is made of.
_UNKEYED = (
    "attribute_not_exists(dp_shard) AND attribute_exists(decision_point) "
    "AND attribute_exists(decided_at)"
)


def backfill(table: str, client: Any = None, segments: int = 8) -> Counter[str]:
    """Key every decision of ``table`` that has no ``dp_shard``: how many were ``keyed``,
    ``gone`` (erased, or keyed by another writer, between the scan and the write), and how
    many items the scan read (``scanned``)."""
    dynamodb = client or boto3.client("dynamodb", config=Config(max_pool_connections=segments))

    def segment(number: int) -> Counter[str]:
        counts: Counter[str] = Counter()
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table,
            Segment=number,
            TotalSegments=segments,
            FilterExpression=_UNKEYED,
            ConsistentRead=True,  # the old code's last writes too
            ProjectionExpression="event_id, decision_point",
        )
        for page in pages:
            counts["scanned"] += page["ScannedCount"]
            for item in page["Items"]:
                event_id, decision_point = item["event_id"]["S"], item["decision_point"]["S"]
                try:
                    dynamodb.update_item(
                        TableName=table,
                        Key={"event_id": {"S": event_id}},
                        UpdateExpression="SET dp_shard = :shard",
                        ConditionExpression="attribute_exists(event_id) AND "
                        "attribute_not_exists(dp_shard)",
                        ExpressionAttributeValues={
                            ":shard": {"S": log_shard(decision_point, event_id)}
                        },
                    )
                    counts["keyed"] += 1
                except dynamodb.exceptions.ConditionalCheckFailedException:
                    counts["gone"] += 1
        return counts

    with ThreadPoolExecutor(max_workers=segments) as pool:
        return sum(pool.map(segment, range(segments)), Counter())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", required=True, help="the stack's DecisionsTable")
    parser.add_argument("--segments", type=int, default=8, help="parallel scan segments")
    args = parser.parse_args(argv)
    counts = backfill(args.table, segments=args.segments)
    print(f"{counts['keyed']} decisions keyed, {counts['gone']} erased or keyed meanwhile, "
          f"{counts['scanned']} items read")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
