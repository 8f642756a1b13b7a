"""How honest are retrain's 95% intervals? Each method, on every version the benchmark trains.

    .venv/bin/python -m bench.intervals --seeds 3    (results: bench/results/levers/intervals.txt)

The loop runs on the learning benchmark's shops (bench/learning.py, no peers). Then every
version it trained is replayed on the decisions it was scored on, the held-out tail of its
window: its probability of each logged action, the logged probability, the reward, and the
simulator's truth (each offer's chance to convert). The mean truth under the version's pmf is
its true value on those decisions, which an honest 95% interval holds 95% of the time; what
it earned while serving is the benchmark's check. Each method is scored on both, with its
mean width and its point estimate's error.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from decider.learning.estimators import empirical_likelihood
from decider.learning.policy import Policy, lineage
from decider.records import earned
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry
from estimators.bandits import gaussian  # vw-estimators

from bench.learning import DP, WAIT, run, visits_of
from infra.shops import BENCHMARK_SHOPS


@dataclass(frozen=True)
class Scored:
    """One version's held-out decisions, replayed."""

    shop: str
    target: np.ndarray  # the version's probability of the logged action
    logged: np.ndarray
    reward: np.ndarray
    truth: float  # the version's true value on these decisions
    realized: float | None  # the mean reward it earned while serving


def replay(shop: str, seed: int, rounds: int, per_round: int) -> list[Scored]:
    visits = list(visits_of(BENCHMARK_SHOPS[shop], seed, rounds * per_round))
    found: list[Scored] = []

    def inspect(log: MemoryDecisionLog, store: MemoryModelStore, registry: MemoryRegistry) -> None:
        versions = registry.versions(DP)
        realized = earned(versions)
        records = sorted(
            (r for r in log.records.values() if r.learnable and r.activated),
            key=lambda r: r.decided_at,
        )
        default = LoopSettings(reward_wait=WAIT).tuning
        for version in versions:
            held_out = json.loads(version.evaluation_json).get("candidate", {}).get("n", 0)
            if not held_out or not version.model_key:
                continue
            policy = Policy(lineage(version.exploration, default), store.get(version.model_key))
            tail = [r for r in records if r.decided_at > version.watermark][:held_out]
            target, truth = [], []
            for record in tail:
                pmf = policy.pmf(record.features)
                chances = visits[int(record.event_id.rsplit("-", 1)[1])][0].truth
                target.append(pmf[record.chosen_index])
                truth.append(sum(p * c for p, c in zip(pmf, chances, strict=True)))
            tally = realized.get(version.version)
            found.append(
                Scored(
                    shop,
                    np.array(target),
                    np.array([r.probability for r in tail]),
                    np.array([r.reward or 0.0 for r in tail]),
                    statistics.fmean(truth),
                    tally.total / tally.n if tally and tally.n else None,
                )
            )

    run(shop, seed, rounds, per_round, peers=(), inspect=inspect)
    return found


def _bootstrap(
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> Callable[[Scored], tuple[float, float, float]]:
    """A percentile Poisson bootstrap (500 resamples) of a weighted statistic."""

    def interval(s: Scored) -> tuple[float, float, float]:
        w = s.target / s.logged
        counts = np.random.default_rng(7).poisson(1.0, size=(500, len(w)))
        draws = statistic(counts * w, s.reward)
        low, high = np.quantile(draws, [0.025, 0.975])
        value = float(statistic(w[None, :], s.reward)[0])
        return value, float(low), float(high)

    return interval


def _ips(weights: np.ndarray, reward: np.ndarray) -> np.ndarray:
    # weights are a resample's counts times w: its size is about n, as Poisson(1) counts sum
    return (weights * reward).sum(axis=1) / max(weights.shape[1], 1)


def _snips(weights: np.ndarray, reward: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    return np.divide((weights * reward).sum(axis=1), total, out=np.zeros_like(total),
                     where=total > 0)  # fmt: skip


def _normal(s: Scored) -> tuple[float, float, float]:
    interval = gaussian.Interval()
    for p_log, r, p_pred in zip(s.logged, s.reward, s.target, strict=True):
        interval.add_example(float(p_log), float(r), float(p_pred))
    low, high = interval.get(0.05)
    return float(np.mean(s.target / s.logged * s.reward)), low, high


def _empirical_likelihood(s: Scored) -> tuple[float, float, float]:
    found = empirical_likelihood(s.target, s.logged, s.reward, reward_range=(0.0, 1.0))
    return found.value, found.low, found.high


METHODS: dict[str, Callable[[Scored], tuple[float, float, float]]] = {
    "bootstrap IPS": _bootstrap(_ips),
    "bootstrap SNIPS": _bootstrap(_snips),
    "normal IPS (vw-estimators)": _normal,
    "empirical likelihood (served)": _empirical_likelihood,
}


def score(scored: list[Scored]) -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for name, method in METHODS.items():
        found = [(method(s), s) for s in scored]
        checked = [(iv, s.realized) for iv, s in found if s.realized is not None]
        table[name] = {
            "truth": statistics.fmean(lo <= s.truth <= hi for (_, lo, hi), s in found),
            "realized": statistics.fmean(lo <= earned <= hi for (_, lo, hi), earned in checked),
            "width": statistics.fmean(hi - lo for (_, lo, hi), _ in found),
            "rmse": math.sqrt(statistics.fmean((v - s.truth) ** 2 for (v, _, _), s in found)),
        }
    return table


def _job(args: tuple[str, int, int, int]) -> list[Scored]:
    return replay(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=1000)
    parser.add_argument("--shops", default=",".join(BENCHMARK_SHOPS))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    shops = args.shops.split(",")
    jobs = [(shop, seed, args.rounds, args.per_round) for seed in range(1, args.seeds + 1)
            for shop in shops]  # fmt: skip
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        scored = [s for found in pool.imap_unordered(_job, jobs) for s in found]
    print(f"# {len(jobs)} runs in {time.monotonic() - started:.0f} s: {' '.join(sys.argv)}")
    print("\nShare of versions whose 95% interval held their true value on the held-out")
    print("decisions / what they then earned; mean width; RMSE of the point estimate.\n")
    results: dict[str, Any] = {"all": score(scored)}
    for shop in shops:
        results[shop] = score([s for s in scored if s.shop == shop])
    print("| shop | method | holds truth | holds earned | width | RMSE |")
    print("|---|---|---|---|---|---|")
    for shop, table in results.items():
        count = len(scored) if shop == "all" else sum(s.shop == shop for s in scored)
        for name, row in table.items():
            print(f"| {shop} ({count}) | {name} | {row['truth']:.0%} | {row['realized']:.0%} "
                  f"| {row['width']:.3f} | {row['rmse']:.4f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
