"""Decide, reward and retrain together on the local twin, with everything accounted for.

    make bench-load        (.venv/bin/python -m bench.load --clients 32 --seconds 30)

``clients`` threads, each on its own kept-alive connection (loopback only), decide for one
decision point as fast as the twin answers and reward one decision in four; meanwhile the
retrain schedule is fired every few seconds. Bounded by ``seconds`` and ``decisions``. Then
the accounting, read from the twin's DynamoDB (moto) and retrain's reports: every decision
answered is in the table once, every reward answered ``recorded`` is on its decision, and
once retrain has caught up every decision was learned exactly once. Throughput, p50 and p99
per route, and every error (non-200 answers and failed connections) are reported.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3

from bench.local_twin import Twin, running_twin
from infra.shops import BENCHMARK_SHOPS

KEY = "dk_bench-load-00000000000000000000000000000000000000"
DECISION_POINT = "load"
WAIT = 2  # the reward wait, seconds


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    errors: dict[tuple[str, int], Any] = field(default_factory=dict)  # an answer of each
    decided: set[str] = field(default_factory=set)
    rewarded: set[str] = field(default_factory=set)
    reward_statuses: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, route: str, status: int, seconds: float, answer: Any = None) -> None:
        with self.lock:
            self.latencies.setdefault(route, []).append(seconds)
            self.statuses[route, status] += 1
            if status != 200:
                self.errors.setdefault((route, status), answer)


class Connection:
    """One client's kept-alive HTTP connection to the twin."""

    def __init__(self, base: str) -> None:
        url = urlparse(base)
        self._http = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
        self._http.request("POST", path, json.dumps(body),
                           {"content-type": "application/json", **headers})  # fmt: skip
        answer = self._http.getresponse()
        return answer.status, json.loads(answer.read() or b"null")


def client(twin: Twin, number: int, tally: Tally, until: float, budget: list[int]) -> None:
    connection = Connection(twin.base)
    rng, coins = random.Random(number), random.Random(number + 1000)
    shop = BENCHMARK_SHOPS["seasonal-solar"]
    index = 0
    while time.monotonic() < until:
        with tally.lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        body = {**shop.visit(rng, index, 10_000).request, "decision_point": DECISION_POINT,
                "event_id": f"c{number}-{index}"}  # fmt: skip
        index += 1
        try:
            started = time.perf_counter()
            status, answer = connection.post("/decide", body, {})
            tally.add("decide", status, time.perf_counter() - started, answer)
            if status != 200:
                continue
            with tally.lock:
                tally.decided.add(answer["event_id"])
            if coins.random() < 0.25:
                path = f"/events/{answer['event_id']}/reward"
                started = time.perf_counter()
                status, reward = connection.post(path, {"value": 1.0}, {"x-api-key": KEY})
                tally.add("reward", status, time.perf_counter() - started, reward)
                if status == 200:
                    with tally.lock:
                        tally.reward_statuses[reward["status"]] += 1
                        if reward["status"] == "recorded":
                            tally.rewarded.add(answer["event_id"])
        except (OSError, http.client.HTTPException) as failure:
            with tally.lock:
                tally.failures[type(failure).__name__] += 1
            connection = Connection(twin.base)


def retrainer(twin: Twin, tally: Tally, until: float, reports: list[dict[str, Any]]) -> None:
    connection = Connection(twin.base)
    while time.monotonic() < until:
        time.sleep(3)
        started = time.perf_counter()
        status, answer = connection.post("/_local/schedules/RetrainStateMachine", {}, {})
        tally.add("retrain", status, time.perf_counter() - started)
        if status == 200:
            reports.extend(r for r in answer["reports"] if r["decision_point"] == DECISION_POINT)


def percentile(samples: list[float], share: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(share * len(samples)))] * 1000


def stored(twin: Twin) -> list[dict[str, Any]]:
    dynamodb = boto3.client("dynamodb", endpoint_url=twin.aws, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
    table = next(t for t in dynamodb.list_tables()["TableNames"] if "Decisions" in t)
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="decision_point = :dp",
        ExpressionAttributeValues={":dp": {"S": DECISION_POINT}},
    )
    return [item for page in pages for item in page["Items"]]


def run(clients: int, seconds: float, decisions: int) -> list[str]:
    lines = []
    tally, reports = Tally(), list[dict[str, Any]]()
    params = f"RewardWaitSeconds={WAIT} ModelRefreshSeconds=1 LogLevel=WARNING"
    with running_twin(KEY, params) as twin:
        setup = Connection(twin.base)
        setup._http.request("PUT", f"/decision-points/{DECISION_POINT}", "{}",
                            {"content-type": "application/json"})  # fmt: skip
        assert setup._http.getresponse().read()
        until = time.monotonic() + seconds
        budget = [decisions]
        threads = [threading.Thread(target=client, args=(twin, n, tally, until, budget))
                   for n in range(clients)]  # fmt: skip
        threads.append(threading.Thread(target=retrainer, args=(twin, tally, until, reports)))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        during = sum(r["decisions_learned"] for r in reports)
        # Retrain catches up once the last rewards' wait is over
        time.sleep(WAIT + 3.5)
        for _ in range(20):
            _, answer = Connection(twin.base).post("/_local/schedules/RetrainStateMachine", {}, {})
            mine = [r for r in answer["reports"] if r["decision_point"] == DECISION_POINT]
            reports.extend(mine)
            if all(r["status"] in ("nothing_to_learn", "not_settled") for r in mine):
                break
        items = stored(twin)

    answered = sum(n for (route, status), n in tally.statuses.items() if route != "retrain")
    errors = sum(n for (_, status), n in tally.statuses.items() if status != 200)
    lines.append(f"# {clients} clients for {elapsed:.0f} s on loopback; retrain fired every 3 s; "
                 f"{answered:,} decide and reward answers")  # fmt: skip
    for route, samples in sorted(tally.latencies.items()):
        rate = len(samples) / elapsed
        lines.append(f"{route:<8} {len(samples):>7,} ({rate:,.0f}/s)  p50 "
                     f"{statistics.median(samples) * 1000:7.1f} ms  p99 "
                     f"{percentile(samples, 0.99):7.1f} ms")  # fmt: skip
    lines.append(f"errors: {errors} non-200 answers {dict(tally.statuses)}; failed connections: "
                 f"{dict(tally.failures) or 0}")  # fmt: skip
    lines.extend(f"  {route} {status}: {json.dumps(answer)[:300]}"
                 for (route, status), answer in tally.errors.items())  # fmt: skip
    logged = Counter(item["event_id"]["S"] for item in items)
    with_reward = {item["event_id"]["S"] for item in items if "reward" in item}
    learned = sum(r["decisions_learned"] for r in reports)
    lost = len(tally.decided - set(logged))
    lines.append(
        f"accounting: {len(tally.decided):,} decisions answered, {len(logged):,} in the table "
        f"(lost: {lost}, extra: {len(set(logged) - tally.decided)}, twice: "
        f"{sum(1 for n in logged.values() if n > 1)}); {len(tally.rewarded):,} rewards recorded,"
        f" {len(with_reward & tally.rewarded):,} on their decisions (lost: "
        f"{len(tally.rewarded - with_reward)}, extra: {len(with_reward - tally.rewarded)}); "
        f"reward answers {dict(tally.reward_statuses)} (late: past the {WAIT} s reward wait, "
        "kept apart and never learned)"
    )
    lines.append(f"retrain: {during:,} decisions learned while the load ran, {learned:,} in all "
                 f"after it caught up ({learned - len(logged):+,} against the table)")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--decisions", type=int, default=50_000, help="at most, in all")
    args = parser.parse_args()
    for line in run(args.clients, args.seconds, args.decisions):
        print(line, flush=True)


if __name__ == "__main__":
    main()
