"""What the edges cost: hashing user ids in decide, and the key authorizer, in one run.

    .venv/bin/python -m bench.edges --decisions 2000 | tee bench/results/edges.txt

Decide's core is timed on the same visits twice, with user ids hashed (HMAC-SHA256, key held
in memory as a warm function holds it) and without. The authorizer is timed as API Gateway
calls it when its 5-minute cache misses: the whole handler, on moto in-process, its secret
cached as a warm function caches it. Both must add under 1 ms at p50 (issue 9).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from decider.learning.model_cache import ModelCache
from decider.loop.decide import Decider
from decider.privacy import HashKey, UserHasher
from decider.schemas import DecideRequest
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry
from moto import mock_aws

from infra.shops import visitors
from infra.stack import LocalStack, authorizer_event, http_event
from tests.conftest import TEST_KEY


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def decide_core(count: int) -> tuple[float, float]:
    """p50 ms of decide without and with user ids hashed, interleaved on the same visits."""
    now = datetime(2026, 11, 22, 10, tzinfo=UTC)
    loop = LoopSettings(reward_wait=timedelta(seconds=1))
    key = HashKey("1", b"k" * 64)
    deciders = [
        Decider(ModelCache(MemoryRegistry(), MemoryModelStore(), loop.exploration, 3600),
                MemoryDecisionLog(), loop, now=lambda: now, users=users)
        for users in (None, UserHasher(lambda: [key]))
    ]  # fmt: skip
    requests = [
        DecideRequest.model_validate({**v.request("home-hero"), "user_id": f"shopper-{n}@x.com"})
        for n, v in enumerate(islice(visitors(1), count))
    ]
    samples: list[list[float]] = [[], []]
    for number, request in enumerate(requests):
        order = (0, 1) if number % 2 else (1, 0)  # neither always goes first
        for which in order:
            decider = deciders[which]
            started = time.perf_counter()
            decider.decide(request)
            samples[which].append(time.perf_counter() - started)
    return p50(samples[0]), p50(samples[1])


def authorizer(count: int) -> float:
    """p50 ms of the authorizer's handler, on moto in-process, its secret cached."""
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        stack = LocalStack(api_keys=[TEST_KEY], extra_env={"POWERTOOLS_LOG_LEVEL": "WARNING"})
        stack.create_resources()
        route = next(r for r in stack.template.routes if r.authorizer == "ServerKey")
        request = http_event(route, "POST", "/events/x:y/reward", "", {"event_id": "x:y"}, "{}",
                             {"x-api-key": TEST_KEY})  # fmt: skip
        event = authorizer_event(request, [TEST_KEY])
        answers: list[Any] = [stack.invoke("AuthorizerFunction", event)]  # cold start
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            answers.append(stack.invoke("AuthorizerFunction", event))
            samples.append(time.perf_counter() - started)
        assert all(a["context"]["key_id"] for a in answers)
    return p50(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=2000)
    args = parser.parse_args()
    plain, hashed = decide_core(args.decisions)
    print(f"decide core p50, user ids not kept:   {plain:.3f} ms")
    print(f"decide core p50, user ids hashed:     {hashed:.3f} ms  (+{hashed - plain:.3f} ms)")
    authorized = authorizer(args.decisions // 4)
    print(f"key authorizer handler p50 (uncached by API Gateway): {authorized:.3f} ms")
    ok = hashed - plain < 1.0 and authorized < 1.0
    print("OK: each adds under 1 ms at p50" if ok else "OVER: one adds 1 ms or more at p50")


if __name__ == "__main__":
    main()
