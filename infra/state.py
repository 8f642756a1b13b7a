"""The local twin's state on disk: its tables, buckets and secrets, saved and restored.

    python -m infra.twin --state .twin-state      (make serve STATE=.twin-state)

A snapshot is a directory: ``dynamodb/<LogicalId>.jsonl`` (each item in DynamoDB's JSON),
``s3/<LogicalId>/`` (``objects.jsonl`` naming each object's file) and ``secrets.json``. It
is written beside the last one and swapped in whole, so a twin stopped mid-save keeps the
previous one. Restored into a fresh stack before it serves: decisions, rewards, models and
their registry, profiles, settings and the keys users are hashed with all come back. What is
in flight is not: queued messages, and streams' unread records (the pollers start after the
restore, at the streams' end, so restored decisions do not count as shown again).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
from decider.store.dynamo_log import batch_write

from infra.template import REGION, Template

CURRENT, NEXT, OLD = "snapshot", "snapshot.next", "snapshot.old"


def save(template: Template, directory: Path) -> dict[str, int]:
    """Write a snapshot of the stack's state into ``directory`` (made if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / NEXT
    shutil.rmtree(staging, ignore_errors=True)
    counts = _write(template, staging)
    current, old = directory / CURRENT, directory / OLD
    shutil.rmtree(old, ignore_errors=True)
    if current.exists():
        current.rename(old)
    staging.rename(current)
    shutil.rmtree(old, ignore_errors=True)
    return counts


def restore(template: Template, directory: Path) -> dict[str, int] | None:
    """Put the last snapshot's state into the stack's (empty) resources; None if none."""
    found = next((directory / n for n in (CURRENT, OLD) if (directory / n).is_dir()), None)
    if found is None:
        return None
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    counts = {"items": 0, "objects": 0, "secrets": 0}
    for table in template.tables.values():
        path = found / "dynamodb" / f"{table.logical_id}.jsonl"
        if path.exists():
            items = [json.loads(line) for line in path.read_text().splitlines()]
            batch_write(dynamodb, table.name, items)
            counts["items"] += len(items)
    for bucket in template.buckets.values():
        folder = found / "s3" / bucket.logical_id
        if (folder / "objects.jsonl").exists():
            for line in (folder / "objects.jsonl").read_text().splitlines():
                entry = json.loads(line)
                body = (folder / entry["file"]).read_bytes()
                s3.put_object(Bucket=bucket.name, Key=entry["key"], Body=body)
                counts["objects"] += 1
    secrets_file = found / "secrets.json"
    if secrets_file.exists():
        client = boto3.client("secretsmanager", region_name=REGION)
        for logical_id, value in json.loads(secrets_file.read_text()).items():
            if logical_id in template.secrets:
                client.put_secret_value(SecretId=template.secrets[logical_id].name,
                                        SecretString=value)  # fmt: skip
                counts["secrets"] += 1
    return counts


def _write(template: Template, into: Path) -> dict[str, int]:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    counts = {"items": 0, "objects": 0, "secrets": 0}
    (into / "dynamodb").mkdir(parents=True)
    for table in template.tables.values():
        pages = dynamodb.get_paginator("scan").paginate(TableName=table.name)
        lines = [json.dumps(item) for page in pages for item in page.get("Items", [])]
        path = into / "dynamodb" / f"{table.logical_id}.jsonl"
        path.write_text("".join(f"{line}\n" for line in lines))
        counts["items"] += len(lines)
    for bucket in template.buckets.values():
        folder = into / "s3" / bucket.logical_id
        folder.mkdir(parents=True)
        entries: list[dict[str, Any]] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket.name):
            for listed in page.get("Contents", []):
                name = f"{len(entries):08d}"
                body = s3.get_object(Bucket=bucket.name, Key=listed["Key"])["Body"].read()
                (folder / name).write_bytes(body)
                entries.append({"key": listed["Key"], "file": name})
        (folder / "objects.jsonl").write_text("".join(f"{json.dumps(e)}\n" for e in entries))
        counts["objects"] += len(entries)
    client = boto3.client("secretsmanager", region_name=REGION)
    secrets = {
        logical_id: client.get_secret_value(SecretId=spec.name)["SecretString"]
        for logical_id, spec in template.secrets.items()
    }
    (into / "secrets.json").write_text(json.dumps(secrets))
    counts["secrets"] = len(secrets)
    return counts
