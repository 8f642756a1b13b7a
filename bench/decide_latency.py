"""How long a decision takes: the core alone, and the whole decide handler on moto.

    make bench        (or: .venv/bin/python -m bench.decide_latency --decisions 2000)

The core timing (enrich, featurize, VW predict, sample, log to an in-memory fake) is what
a Lambda adds on top of its DynamoDB calls. The handler timing includes Powertools, pydantic
validation and the boto3 calls to moto in-process, which is slower than DynamoDB's own
single-digit-millisecond writes but shows the handler's overhead.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from decider.learning.model_cache import ModelCache
from decider.learning.trainer import retrain
from decider.loop.decide import Decider
from decider.schemas import DecideRequest
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry
from moto import mock_aws

from infra.shops import visitors
from infra.stack import LocalStack


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return (
        f"p50 {cuts[49] * 1000:.3f} ms  p95 {cuts[94] * 1000:.3f} ms  "
        f"p99 {cuts[98] * 1000:.3f} ms  (n={len(samples)})"
    )


def bench_core(count: int) -> dict[str, str]:
    clock = [datetime(2026, 11, 22, 10, tzinfo=UTC)]
    log, store, registry = MemoryDecisionLog(), MemoryModelStore(), MemoryRegistry()
    loop = LoopSettings(reward_wait=timedelta(seconds=1))
    decider = Decider(
        ModelCache(registry, store, loop.exploration, 3600), log, loop, now=lambda: clock[0]
    )
    requests = [
        DecideRequest.model_validate(v.request("home-hero")) for v in islice(visitors(1), count)
    ]
    results = {"core, no model (uniform)": _time(decider.decide, requests)}
    for request in requests:  # learn something so that VW predicts for real
        decision = decider.decide(request.model_copy(update={"event_id": None}))
        log.record_reward(
            decision.event_id,
            1.0,
            "-",
            now=clock[0],
            on_time_since=clock[0],
            aggregation="earliest",
        )
    clock[0] += timedelta(seconds=5)
    retrain("home-hero", log=log, store=store, registry=registry, loop=loop, now=clock[0])
    decider.models = ModelCache(registry, store, loop.exploration, 3600)
    results["core, trained VW model"] = _time(decider.decide, requests)
    return results


def bench_handler(count: int) -> dict[str, str]:
    with mock_aws():
        stack = LocalStack({"ModelRefreshSeconds": "5"}, {"POWERTOOLS_LOG_LEVEL": "WARNING"})
        stack.create_resources()
        # A decision point exists before it is decided for: an operator creates it
        created = stack.http(
            "PUT", "/decision-points/home-hero", "{}", {"content-type": "application/json"}
        )
        assert created.status == 200, created.body
        bodies = [v.request("home-hero") for v in islice(visitors(2), count)]
        samples = []
        with contextlib.redirect_stdout(io.StringIO()):  # the metrics (EMF) lines
            stack.post("/decide", bodies[0])  # cold start, not measured
            for body in bodies:
                started = time.perf_counter()
                response = stack.post("/decide", body)
                samples.append(time.perf_counter() - started)
                assert response.status == 200, response.body
        return {"decide handler on moto (in-process)": percentiles(samples)}


def _time(decide: Any, requests: list[DecideRequest]) -> str:
    samples = []
    for request in requests:
        started = time.perf_counter()
        decide(request)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{args.decisions} decisions, 4 actions each"
    )
    for name, result in {**bench_core(args.decisions), **bench_handler(args.decisions)}.items():
        print(f"{name:<40} {result}")


if __name__ == "__main__":
    main()
