"""Speed as ratios against raw anchors measured in the same run (this machine is noisy).

    make bench      (.venv/bin/python -m bench.ratios; --full adds a million decisions)

- decide core / raw VW: ``Decider.decide`` (enrich, featurize, predict, sample, record, the
  answer) against VW alone parsing the same example's JSON and predicting, on the same model,
  interleaved request by request; medians. 4 and 50 actions. The requests are decided once
  before they are timed: a container's traffic is today's, from places it has seen, so its
  per-day caches (a place's zone, a day's holidays) hit; the shop's visits span a year.
- retrain / raw VW: retrain runs until a window of N decisions is learned, against VW alone
  doing the same VW work on the same examples' JSON (each parsed once, learned by the reward
  model and ``passes`` times by the policy, over the same chunks). Also against one
  parse+learn per example, the anchor the issue measured first (VW's work alone is 4 learns
  of a chunked example to its 1). 10k and 100k decisions (and 1M with --full).
- cold import: the decide function's module (in a fresh interpreter, its environment as the
  template sets it, tracing off and on) against a bare ``import vowpal_wabbit_next, boto3``.
- first decide / warm decide: after the import, on moto in-process, with a trained model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import vowpal_wabbit_next as vw
from decider.learning.featurize import Label, to_vw_json
from decider.learning.model_cache import ModelCache
from decider.learning.policy import vw_args
from decider.learning.trainer import CLOCK_SKEW, LEARN_CHUNK, retrain
from decider.loop.decide import Decider
from decider.records import DecisionRecord
from decider.schemas import DecideRequest
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

from infra.shops import BENCHMARK_SHOPS, Visit

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 11, 23, tzinfo=UTC)


def many_actions(visit: Visit, count: int) -> dict[str, Any]:
    """The visit's request with ``count`` offers (each a category and a price)."""
    actions = [
        {"id": f"offer-{n}", "features": {"category": f"c{n % 7}", "price": 5.0 + n}}
        for n in range(count)
    ]
    return {**visit.request, "actions": actions}


class Shop:
    """A decision point of the seasonal shop, decided by the real Decider, in memory."""

    def __init__(self, actions: int | None, seed: int = 1) -> None:
        self.loop = LoopSettings(reward_wait=timedelta(minutes=5))
        self.clock = [START]
        self.log = MemoryDecisionLog()
        self.store, self.registry = MemoryModelStore(), MemoryRegistry()
        self.decider = Decider(self.models(), self.log, self.loop, lambda: self.clock[0])
        self.actions = actions
        self.shop = BENCHMARK_SHOPS["seasonal-solar"]
        self.rng, self.coins = random.Random(seed), random.Random(seed + 1)
        self.count = 0

    def models(self) -> ModelCache:
        return ModelCache(self.registry, self.store, self.loop.exploration, 0)

    def request(self, index: int, total: int) -> DecideRequest:
        visit = self.shop.visit(self.rng, index, total)
        body = visit.request if self.actions is None else many_actions(visit, self.actions)
        return DecideRequest.model_validate({"decision_point": "bench", **body})

    def fill(self, total: int) -> None:
        """``total`` decisions, 10 ms apart, a sixth of them rewarded."""
        for index in range(total):
            request = self.request(index, total)
            decision = self.decider.decide(request)
            if self.coins.random() < 1 / 6:
                now = self.clock[0]
                self.log.record_reward(decision.event_id, 1.0, "-", now=now, on_time_since=now,
                                       aggregation="earliest")  # fmt: skip
            self.clock[0] += timedelta(milliseconds=10)
        self.count += total

    def settle(self) -> datetime:
        self.clock[0] += self.loop.reward_wait + CLOCK_SKEW + timedelta(seconds=1)
        return self.clock[0]

    def retrain_all(self) -> int:
        """Retrain until the window is learned (a run takes at most its limit): learned."""
        learned, now = 0, self.settle()
        while True:
            report = retrain("bench", log=self.log, store=self.store, registry=self.registry,
                             loop=self.loop, now=now)  # fmt: skip
            learned += report.decisions_learned
            if report.status != "trained":
                return learned


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


# --- decide core -----------------------------------------------------------------------------


def bench_decide(actions: int | None, count: int) -> dict[str, float]:
    shop = Shop(actions)
    shop.fill(2000)
    shop.retrain_all()
    shop.decider.models = shop.models()
    served = shop.decider.models.model("bench", shop.clock[0])
    assert served.policy is not None
    workspace = vw.Workspace(vw_args(shop.loop.tuning), model_data=served.policy.serialize())
    parser = vw.JsonFormatParser(workspace)
    requests = [shop.request(index, count) for index in range(count)]
    for request in requests:  # warm: a container's traffic is today's, from places it saw
        shop.decider.decide(request)
    requests = [request.model_copy(update={"event_id": None}) for request in requests]
    ours, raw = [], []
    for request in requests:
        started = time.perf_counter()
        decision = shop.decider.decide(request)
        ours.append(time.perf_counter() - started)
        record = shop.log.records[decision.event_id]
        text = to_vw_json(record.features)  # the same example, as VW's JSON
        started = time.perf_counter()
        workspace.predict_one(parser.parse_json(text))
        raw.append(time.perf_counter() - started)
    return {"ours_ms": median_ms(ours), "raw_ms": median_ms(raw),
            "ratio": median_ms(ours) / median_ms(raw)}  # fmt: skip


# --- retrain ---------------------------------------------------------------------------------


def labelled_json(record: DecisionRecord, scale: float = 1.0) -> str:
    cost = -(record.reward or 0.0) / scale
    return to_vw_json(record.features, Label(record.chosen_index, cost, record.probability))


def bench_retrain(total: int) -> dict[str, float]:
    shop = Shop(None, seed=3)
    shop.fill(total)
    learnable = [r for r in shop.log.records.values() if r.learnable and r.activated]
    texts = [labelled_json(r, shop.loop.reward_scale) for r in learnable]
    started = time.perf_counter()
    learned = shop.retrain_all()
    ours = time.perf_counter() - started

    # The same VW work, as raw VW does it: each example parsed once, learned by the reward
    # model, then ``passes`` times by the policy, over the same chunks of LEARN_CHUNK.
    policy = vw.Workspace(vw_args(shop.loop.tuning))
    rewards = vw.Workspace(vw_args(shop.loop.learner, reduction="--cb_adf"))
    parser = vw.JsonFormatParser(policy)
    started = time.perf_counter()
    for start in range(0, len(texts), LEARN_CHUNK):
        parsed = [parser.parse_json(text) for text in texts[start : start + LEARN_CHUNK]]
        for examples in parsed:
            rewards.learn_one(examples)
        for _ in range(shop.loop.passes):
            for examples in parsed:
                policy.learn_one(examples)
    same_work = time.perf_counter() - started

    single = vw.Workspace(vw_args(shop.loop.tuning))
    parser = vw.JsonFormatParser(single)
    started = time.perf_counter()
    for text in texts:
        single.learn_one(parser.parse_json(text))
    one_pass = time.perf_counter() - started
    return {
        "decisions": total,
        "learned": learned,
        "ours_s": ours,
        "per_s": learned / ours,
        "same_work_s": same_work,
        "throughput_vs_same_work": same_work / ours,
        "one_pass_s": one_pass,
        "throughput_vs_one_pass": one_pass / ours,
    }


# --- cold start ------------------------------------------------------------------------------


def decide_environment(tracing: bool) -> dict[str, str]:
    from infra.stack import LocalStack

    env = LocalStack().environment("DecideFunction")
    if tracing:
        env.pop("POWERTOOLS_TRACE_DISABLED", None)
    return {**os.environ, **env, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
            "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT / 'functions' / 'decide'}"}  # fmt: skip


_TIMED_IMPORT = "import time; t = time.perf_counter(); {}; print(time.perf_counter() - t)"


def timed_import(statement: str, env: dict[str, str]) -> float:
    script = _TIMED_IMPORT.format(statement)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, check=True, cwd=ROOT / "functions" / "decide")  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def bench_cold(repeats: int) -> dict[str, float]:
    bare_env = off = decide_environment(False)
    on = decide_environment(True)
    bare, app_off, app_on = [], [], []
    for _ in range(repeats):  # interleaved: the machine's noise falls on all three alike
        bare.append(timed_import("import vowpal_wabbit_next, boto3", bare_env))
        app_off.append(timed_import("import app", off))
        app_on.append(timed_import("import app", on))
    b = statistics.median(bare)
    return {
        "bare_ms": b * 1000,
        "tracing_off_ms": statistics.median(app_off) * 1000,
        "tracing_on_ms": statistics.median(app_on) * 1000,
        "ratio_off": statistics.median(app_off) / b,
        "ratio_on": statistics.median(app_on) / b,
    }


_FIRST_DECIDE = ROOT / "bench" / "first_decide.py"
_KEY = "dk_bench-ratios-0000000000000000000000000000000000000"


def bench_first(repeats: int) -> dict[str, float]:
    """Fresh interpreters (bench/first_decide.py), each a new container of the decide function
    against a running twin's moto, with a trained model for its decision point."""
    from bench.local_twin import running_twin
    from infra.demo import Client

    shop, rng, coins = BENCHMARK_SHOPS["seasonal-solar"], random.Random(5), random.Random(6)
    bodies = [{"decision_point": "bench", **shop.visit(rng, i, 600).request} for i in range(600)]
    runs = []
    with running_twin(_KEY, "RewardWaitSeconds=1 ModelRefreshSeconds=3600") as twin:
        client = Client(twin.base, _KEY)
        client.post("/decision-points/bench", {}, method="PUT")
        for body in bodies[:400]:
            decision = client.post("/decide", body)
            if coins.random() < 0.2:
                client.reward(decision["event_id"], 1.0)
        time.sleep(4.5)  # the reward wait and retrain's settle margin
        client.post("/_local/schedules/RetrainStateMachine")
        env = {**decide_environment(False), "AWS_ENDPOINT_URL": twin.aws}
        lines = "".join(json.dumps(body) + "\n" for body in bodies[400:])
        for _ in range(repeats):
            done = subprocess.run([sys.executable, str(_FIRST_DECIDE)], input=lines, env=env,
                                  capture_output=True, text=True, check=True,
                                  cwd=ROOT / "functions" / "decide")  # fmt: skip
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    result = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    result["first_vs_warm"] = result["first_ms"] / result["warm_ms"]
    result["first_vs_raw"] = result["first_ms"] / result["raw_ms"]
    return result


# --- report ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=2000, help="decides timed per case")
    parser.add_argument("--sizes", default="10000,100000", help="retrain windows")
    parser.add_argument("--full", action="store_true", help="add a window of 1,000,000")
    parser.add_argument("--repeats", type=int, default=7, help="cold starts per case")
    parser.add_argument("--parts", default="decide,retrain,cold,first", help="what to measure")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.full:
        sizes.append(1_000_000)
    print(f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    print("# a ratio is ours / the raw anchor measured beside it (throughput: anchor time / ours)")

    def row(name: str, measured: str, goal: str) -> None:
        print(f"{name:<44} {measured:<44} {goal}", flush=True)

    for actions, label in ((None, "4"), (50, "50")) if "decide" in parts else ():
        found = bench_decide(actions, args.decisions)
        row(f"decide core / raw VW parse+predict, {label} actions",
            f"x{found['ratio']:.2f} ({found['ours_ms']:.3f} / {found['raw_ms']:.3f} ms)",
            "goal <= x1.5")  # fmt: skip
    for size in sizes if "retrain" in parts else ():
        found = bench_retrain(size)
        row(f"retrain {size:,} decisions: throughput",
            f"{found['per_s']:,.0f}/s; x{found['throughput_vs_same_work']:.2f} of raw VW",
            "goal >= x0.8")  # fmt: skip
        row("  (against one parse+learn per example)",
            f"x{found['throughput_vs_one_pass']:.2f} ({found['one_pass_s']:.1f} s vs "
            f"{found['ours_s']:.1f} s)", "")  # fmt: skip
    if "cold" in parts:
        cold_start(args.repeats, row)
    if "first" in parts:
        first_decide(args.repeats, row)


def cold_start(repeats: int, row: Callable[[str, str, str], None]) -> None:
    cold = bench_cold(repeats)
    row("cold import of decide / bare vw+boto3",
        f"x{cold['ratio_off']:.2f} ({cold['tracing_off_ms']:.0f} / {cold['bare_ms']:.0f} ms)",
        "goal <= x1.3")  # fmt: skip
    row("  with tracing on (X-Ray)",
        f"x{cold['ratio_on']:.2f} ({cold['tracing_on_ms']:.0f} ms)", "")  # fmt: skip


def first_decide(repeats: int, row: Callable[[str, str, str], None]) -> None:
    first = bench_first(max(3, repeats // 2))
    row("first decide / warm decide",
        f"x{first['first_vs_warm']:.2f} ({first['first_ms']:.1f} / {first['warm_ms']:.2f} ms)",
        "goal <= x2")  # fmt: skip
    row("  first decide / raw S3 get + VW load + predict",
        f"x{first['first_vs_raw']:.2f} ({first['raw_ms']:.1f} ms)", "")  # fmt: skip


if __name__ == "__main__":
    main()
