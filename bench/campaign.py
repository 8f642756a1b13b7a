"""A campaign of 10,000 rows on the local twin, over real HTTP, timed end to end.

    make bench-campaign   (.venv/bin/python -m bench.campaign --rows 10000)

The list (CSV) goes into the twin's campaigns bucket, the execution runs the template's
state machine (its Distributed Map run in-process: batches of 500, one at a time), and the
output is read back and checked: one decision per row, each with its event id. What the same
job takes on AWS is arithmetic from the measured time per batch (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import platform
import random
import sys
import time
import urllib.request
from typing import Any

import boto3

from bench.local_twin import running_twin

DP = "email-offer"
OFFERS = [
    {"id": "boots-sale", "features": {"category": "winter-boots"}},
    {"id": "swim-edit", "features": {"category": "beachwear"}},
    {"id": "gift-card", "features": {"category": "gifts"}},
    {"id": "free-shipping", "features": {"category": "service"}},
]


def call(base: str, method: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method=method,
        headers={"content-type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=600) as answer:
        return json.loads(answer.read())


def the_list(rows: int) -> str:
    rng = random.Random(1)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["visitor", "country", "consent", "interest", "orders"])
    for n in range(rows):
        writer.writerow([f"subscriber-{n}", rng.choice(["US", "GB", "AU", "DE"]), "personal",
                         rng.choice(["boots", "swim", "gifts"]), rng.randrange(6)])  # fmt: skip
    return text.getvalue()


def run(rows: int) -> list[str]:
    with running_twin("dk_campaign-bench", params="AutoCreateDecisionPoints=10") as twin:
        s3 = boto3.client(
            "s3", endpoint_url=twin.aws, region_name="us-east-1",
            aws_access_key_id="local", aws_secret_access_key="local",
        )  # fmt: skip
        bucket = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "campaigns" in b["Name"])
        s3.put_object(Bucket=bucket, Key="lists/bench.csv", Body=the_list(rows).encode())
        call(twin.base, "PUT", f"/decision-points/{DP}", {})
        job = {"campaign_id": "bench", "decision_point": DP, "channel": "email",
               "input": {"key": "lists/bench.csv", "format": "csv"}, "actions": OFFERS}  # fmt: skip
        started = time.perf_counter()
        execution = call(twin.base, "POST", "/_local/state-machines/CampaignStateMachine", job)
        elapsed = time.perf_counter() - started
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="campaigns/bench/decisions/")
        decided: list[dict[str, Any]] = []
        for entry in listed.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()
            decided.extend(json.loads(line) for line in body.splitlines())
    ids = {d["event_id"] for d in decided if d["status"] == "decided"}
    per_batch = elapsed / execution["batches"]
    return [
        f"{rows} rows in {execution['batches']} batches of 500: {elapsed:.1f} s on the twin "
        f"({rows / elapsed:.0f} rows/s; {per_batch:.2f} s a batch, batches one at a time)",
        f"decisions written: {len(decided)}, with distinct event ids: {len(ids)}, "
        f"rows: {sorted({d['row'] for d in decided}) == list(range(rows))}",
        f"on AWS (arithmetic): 100,000 rows are 200 batches; at MaxConcurrency 40, 5 waves of "
        f"{per_batch:.1f} s (this machine's batch time; DynamoDB's own is faster than moto's) "
        f"= about {5 * per_batch:.0f} s, plus the map's start (seconds)",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args(argv)
    print(f"# {platform.machine()}, Python {platform.python_version()}: "
          f"python -m bench.campaign --rows {args.rows}")  # fmt: skip
    print("\n".join(run(args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
