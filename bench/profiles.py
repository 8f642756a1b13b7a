"""What profiles and explanations cost, and whether the profile path keeps up.

    make bench-profiles   (.venv/bin/python -m bench.profiles)

1. Latency, as ratios measured in one run, requests interleaved (A, B, C, A, B, C, ...) so the
   machine's noise falls on all three alike, on a model trained on the browsing shop:
   A decide for a visitor without a profile, B decide reading the visitor's profile (one
   GetItem), C the same with ``explain: true``. Once through the whole handler on moto
   in-process, once through the core on in-memory stores.
2. Load: POST /interactions on the local twin over real HTTP at a target rate (1,000
   interactions a second by default, in batches as a collector sends them) for a bounded
   time, then the accounting: every interaction recorded once, the same batches sent again
   all duplicates, and a sample of profiles holding exactly what was sent.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import platform
import random
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from decider.learning.model_cache import ModelCache
from decider.learning.trainer import CLOCK_SKEW, retrain
from decider.loop.decide import Decider
from decider.loop.events import record_reward
from decider.loop.interactions import Profiles
from decider.privacy import HashKey, UserHasher
from decider.schemas import DecideRequest, InteractionsRequest, RewardRequest
from decider.settings import LoopSettings
from decider.store.memory import (
    MemoryDecisionLog,
    MemoryModelStore,
    MemoryProfileStore,
    MemoryRegistry,
)
from moto import mock_aws

from bench.local_twin import running_twin
from infra.shops import PROFILE_OFFERS, shopper
from infra.stack import LocalStack

DP = "app-home"
KINDS = ("no profile", "profile read", "profile + explain")


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def interleaved(calls: list[Callable[[], Any]], rounds: int) -> list[list[float]]:
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(rounds):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            call()
            samples[index].append(time.perf_counter() - started)
    return samples


def report(title: str, samples: list[list[float]]) -> list[str]:
    base = p50(samples[0])
    lines = [f"## {title}", ""]
    for kind, found in zip(KINDS, samples, strict=True):
        lines.append(
            f"{kind:<20} p50 {p50(found):7.3f} ms   x{p50(found) / base:.2f} of no profile"
            f"   (n={len(found)})"
        )
    return lines


def without_user(request: dict[str, Any]) -> dict[str, Any]:
    """The same visit for a visitor the request does not name: no profile is read."""
    return {k: v for k, v in request.items() if k != "user_id"}


def shoppers(count: int, seed: int) -> list[tuple[dict[str, Any], list[dict[str, Any]], Any]]:
    rng = random.Random(seed)
    made = []
    for index in range(count):
        who = shopper(rng, index)
        made.append((who.request("app"), who.interactions(rng, rng.randint(2, 5)), who))
    return made


def bench_core(rounds: int) -> list[str]:
    clock = [datetime(2026, 11, 22, 10, tzinfo=UTC)]
    loop = LoopSettings(reward_wait=timedelta(seconds=1))
    log, store, registry = MemoryDecisionLog(), MemoryModelStore(), MemoryRegistry()
    users = UserHasher(lambda: [HashKey("1", b"bench")])
    profiles = Profiles(MemoryProfileStore(), users)
    decider = Decider(
        ModelCache(registry, store, loop.exploration, 3600),
        log,
        loop,
        now=lambda: clock[0],
        users=users,
        profiles=profiles,
    )
    rng = random.Random(5)
    for request, history, who in shoppers(2000, 1):
        profiles.record(InteractionsRequest.model_validate({"interactions": history}).interactions,
                        clock[0])  # fmt: skip
        decision = decider.decide(DecideRequest.model_validate({**request, "decision_point": DP}))
        chosen = [o["id"] for o in PROFILE_OFFERS].index(decision.action_id)
        if rng.random() < who.truth()[chosen]:
            record_reward(log, decision.event_id, RewardRequest(value=1.0), loop, clock[0])
    clock[0] += timedelta(seconds=5)
    retrain(DP, log=log, store=store, registry=registry, loop=loop, now=clock[0])
    decider.models = ModelCache(registry, store, loop.exploration, 3600)
    request, _, _ = shoppers(1, 1)[0]
    bodies = [
        {**without_user(request), "decision_point": DP},
        {**request, "decision_point": DP},
        {**request, "decision_point": DP, "explain": True},
    ]
    parsed = [DecideRequest.model_validate(body) for body in bodies]
    calls: list[Callable[[], Any]] = [functools.partial(decider.decide, r) for r in parsed]
    interleaved(calls, 200)  # warm
    return report("core, in-memory stores, trained model, 4 actions", interleaved(calls, rounds))


def bench_handler(rounds: int) -> list[str]:
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()):
        overrides = {"ModelRefreshSeconds": "0", "RewardWaitSeconds": "1"}
        stack = LocalStack(overrides, {"POWERTOOLS_LOG_LEVEL": "WARNING"},
                           api_keys=["dk_bench"], headers={"x-api-key": "dk_bench"})  # fmt: skip
        stack.create_resources()
        json_type = {"content-type": "application/json"}
        stack.http("PUT", f"/decision-points/{DP}", "{}", json_type)
        rng = random.Random(5)
        for index, (request, history, who) in enumerate(shoppers(1500, 2)):
            stack.post("/interactions", {"interactions": history})
            decision = stack.post(
                "/decide", {**request, "decision_point": DP, "event_id": f"t-{index}"}
            ).json()
            chosen = [o["id"] for o in PROFILE_OFFERS].index(decision["action_id"])
            if rng.random() < who.truth()[chosen]:
                stack.post(f"/events/{decision['event_id']}/reward", {"value": 1.0})
        time.sleep(1 + CLOCK_SKEW.total_seconds())  # the reward wait, then retrain
        report_ = stack.fire_schedule("RetrainStateMachine")
        request, history, _ = shoppers(1, 3)[0]
        stack.post("/interactions", {"interactions": history})
        bodies = [
            {**without_user(request), "decision_point": DP},
            {**request, "decision_point": DP},
            {**request, "decision_point": DP, "explain": True},
        ]
        answers = [stack.post("/decide", body).json() for body in bodies]
        calls: list[Callable[[], Any]] = [
            functools.partial(stack.post, "/decide", b) for b in bodies
        ]
        interleaved(calls, 100)
        samples = interleaved(calls, rounds)
    trained = [r.get("status") for r in report_.get("reports", [])]
    lines = report("decide handler on moto (in-process), 4 actions", samples)
    lines.append(f"(retrain: {trained}; profile used: {[a['profile_used'] for a in answers]}; "
                 f"reason: {answers[2]['explanation']['reason']!r})")  # fmt: skip
    return lines


def bench_load(rate: int, seconds: float, batch: int, per_visitor: int) -> list[str]:
    """Interactions on the twin at ``rate`` a second for ``seconds``, then the accounting."""
    key = "dk_load-bench"
    with running_twin(key) as twin:
        return _drive(twin.base, key, rate, seconds, batch, per_visitor)


def _post(base: str, key: str, path: str, body: Any) -> tuple[int, Any, float]:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", "x-api-key": key},
    )  # fmt: skip
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read()), time.perf_counter() - started
    except urllib.error.HTTPError as failure:
        body = failure.read().decode()
        return failure.code, body, time.perf_counter() - started


def _drive(
    base: str, key: str, rate: int, seconds: float, batch: int, per_visitor: int
) -> list[str]:
    batches_per_second = rate / batch
    total = int(seconds * batches_per_second)
    now = datetime.now(UTC).replace(microsecond=0)
    at = now.isoformat().replace("+00:00", "Z")
    batches = []
    for number in range(total):
        items = []
        for visitor in range(batch // per_visitor):
            for step in range(per_visitor):
                items.append({"visitor": f"load-{number}-{visitor}", "type": "view",
                              "category": f"c{step % 3}", "channel": "web", "at": at,
                              "interaction_id": f"{number}-{visitor}-{step}"})  # fmt: skip
        batches.append(items)
    sent = sum(len(b) for b in batches)
    answers: list[tuple[int, Any, float]] = []
    lock = threading.Lock()
    started = time.perf_counter()

    def send(index: int) -> None:
        due = started + index / batches_per_second
        time.sleep(max(0.0, due - time.perf_counter()))
        answer = _post(base, key, "/interactions", {"interactions": batches[index]})
        with lock:
            answers.append(answer)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(send, range(total)))
    elapsed = time.perf_counter() - started
    failed = [a for a in answers if a[0] != 200]
    recorded = sum(a[1]["recorded"] for a in answers if a[0] == 200)
    latencies = sorted(a[2] for a in answers)
    # Sent again: every one is a duplicate (all were stored)
    again = [_post(base, key, "/interactions", {"interactions": b}) for b in batches[:20]]
    duplicates = sum(a[1]["duplicate"] for a in again if a[0] == 200)
    # A sample of profiles holds exactly what was sent
    sample = random.Random(0).sample(range(total), min(20, total))
    exact: int = 0
    for number in sample:
        who = f"load-{number}-0"
        with urllib.request.urlopen(f"{base}/users/{who}/export", timeout=30) as answer:
            profile = json.loads(answer.read())["profile"]
        exact += int(abs(profile.get("n_view", 0) - per_visitor) < 0.01)
    return [
        f"## POST /interactions on the twin: target {rate}/s for {seconds:.0f} s, "
        f"batches of {batch} ({per_visitor} per visitor), 16 client threads",
        "",
        f"sent {sent} interactions in {total} batches in {elapsed:.1f} s: "
        f"{sent / elapsed:.0f} interactions/s achieved",
        f"batch latency p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms; non-200 answers: "
        f"{len(failed)} {[f[0] for f in failed[:5]]}",
        f"recorded {recorded} of {sent} (lost: {sent - recorded}); the first 20 batches sent "
        f"again: {duplicates} of {sum(len(b) for b in batches[:20])} duplicates",
        f"profiles checked: {exact} of {len(sample)} hold exactly the {per_visitor} views sent",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--per-visitor", type=int, default=10)
    parser.add_argument("--skip-load", action="store_true")
    args = parser.parse_args(argv)
    print(f"# {platform.machine()}, Python {platform.python_version()}: "
          f"python -m bench.profiles {' '.join(argv or sys.argv[1:])}")  # fmt: skip
    for lines in (bench_core(args.rounds), bench_handler(args.rounds)):
        print("\n".join(["", *lines]), flush=True)
    if not args.skip_load:
        load = bench_load(args.rate, args.seconds, args.batch, args.per_visitor)
        print("\n".join(["", *load]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
