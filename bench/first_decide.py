"""One cold container: the decide function imported in a fresh interpreter (its init), asked
once (the first decide: what it builds or fetches on first use), then 200 times more (warm),
against moto's server of a running twin whose decision point ``bench`` has a trained model.
The raw anchor: an S3 GetObject of that model, VW loading it, and one parse and predict.
bench.ratios starts it (with the function's environment, as the template sets it) and reads
the JSON line it prints.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

started = time.perf_counter()
import app  # noqa: E402  # the decide function, as Lambda's init imports it

imported = time.perf_counter() - started

import boto3  # noqa: E402
import vowpal_wabbit_next as vw  # noqa: E402
from decider.learning.policy import vw_args  # noqa: E402
from decider.settings import LoopSettings  # noqa: E402


class Context:
    function_name = "DecideFunction"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DecideFunction"
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def event(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "POST /decide",
        "rawPath": "/decide",
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": "POST", "path": "/decide", "sourceIp": "127.0.0.1"},
            "routeKey": "POST /decide",
            "stage": "$default",
            "requestId": "bench",
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def main() -> None:
    bodies = [json.loads(line) for line in sys.stdin]
    started = time.perf_counter()
    answer = app.lambda_handler(event(bodies[0]), Context())
    first = time.perf_counter() - started
    assert answer["statusCode"] == 200 and json.loads(answer["body"])["model_version"], answer
    warm = []
    for body in bodies[1:]:
        started = time.perf_counter()
        answer = app.lambda_handler(event(body), Context())
        warm.append(time.perf_counter() - started)
        assert answer["statusCode"] == 200, answer

    s3 = boto3.client("s3")
    bucket = os.environ["MODELS_BUCKET"]
    key = max(s3.list_objects_v2(Bucket=bucket)["Contents"], key=lambda o: o["LastModified"])
    example = json.dumps({"c": {"hour=9": 1.0}, "_multi": [{"i": {"id=a": 1.0}}]})
    started = time.perf_counter()
    blob = s3.get_object(Bucket=bucket, Key=key["Key"])["Body"].read()
    workspace = vw.Workspace(vw_args(LoopSettings(reward_wait=60).tuning), model_data=blob)
    workspace.predict_one(vw.JsonFormatParser(workspace).parse_json(example))
    raw = time.perf_counter() - started
    found = {"import_ms": imported, "first_ms": first, "warm_ms": statistics.median(warm),
             "raw_ms": raw}  # fmt: skip
    print(json.dumps({name: seconds * 1000 for name, seconds in found.items()}))


if __name__ == "__main__":
    main()
