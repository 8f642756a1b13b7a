"""Does the lift the estimates predict hold when a holdout measures it? Over seeds and shops.

    .venv/bin/python -m bench.lift --seeds 5    (results: bench/results/lift.txt)

The loop runs with a 10% holdout (served the first offer, the shops' baseline) on the demo's
shop and the learning benchmark's (bench/learning.py, no peers). In each round from the
second on, one version serves, and three lifts over the baseline are set side by side:

- predicted: the version's paired estimate on its held-out decisions, with its 95% interval
  (what GET /decision-points/{id}/report shows as the predicted lift);
- measured: the round's model traffic's mean reward minus the holdout's, with its 95%
  interval (the report's measured lift);
- true: from the simulator, the mean over model traffic of the chance of the offer shown
  minus the chance of the baseline's, on the same visitors.

A predicted interval that is honest holds the true lift 95% of the time. The measured lift is
itself a noisy sample, so it falls inside a perfect prediction less often than that.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

from decider.control.report import measured_lift
from decider.records import Tally
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

from bench.learning import DP, run, visits_of
from infra.shops import SHOPS

SHOWN = ("demo", *[s for s in SHOPS if s != "demo"])


@dataclass(frozen=True)
class Compared:
    shop: str
    seed: int
    round: int
    predicted: tuple[float, float, float]  # value, low, high
    separate: tuple[float, float, float]  # the difference of the two separate EL intervals
    measured: tuple[float, float, float]
    true: float

    def inside(self, value: float, interval: tuple[float, float, float]) -> bool:
        return interval[1] <= value <= interval[2]


def compare(shop: str, seed: int, rounds: int, per_round: int) -> list[Compared]:
    visits = list(visits_of(SHOPS[shop], seed, rounds * per_round))
    found: list[Compared] = []

    def inspect(log: MemoryDecisionLog, store: MemoryModelStore, registry: MemoryRegistry) -> None:
        del store
        predicted: dict[int, tuple[float, float, float]] = {}
        separate: dict[int, tuple[float, float, float]] = {}
        for trained in registry.versions(DP):
            evaluation = json.loads(trained.evaluation_json)
            lift = evaluation.get("lift", {})
            if lift.get("n"):
                predicted[trained.version] = (lift["mean"], lift["low"], lift["high"])
                c, b = evaluation["candidate"], evaluation["baseline"]
                separate[trained.version] = (
                    c["value"] - b["value"],
                    c["low"] - b["high"],
                    c["high"] - b["low"],
                )
        for number in range(rounds):
            model, holdout, true = Tally(), Tally(), Tally()
            versions: set[int | None] = set()
            for index in range(number * per_round, (number + 1) * per_round):
                record = log.records[f"{DP}:{seed}-{index}"]
                reward = record.reward or 0.0
                if record.holdout:
                    holdout.add(reward)
                elif record.learnable:
                    model.add(reward)
                    truth = visits[index][0].truth
                    true.add(truth[record.chosen_index] - truth[record.baseline_index])
                    versions.add(record.model_version)
            measured = measured_lift(model, holdout)
            if len(versions) != 1 or measured is None:
                continue
            (version,) = versions
            if version is None or version not in predicted:
                continue  # the first round, served before any version
            found.append(
                Compared(shop, seed, number + 1, predicted[version], separate[version],
                         (measured.value, measured.low, measured.high), true.total / true.n)
            )  # fmt: skip

    run(shop, seed, rounds, per_round, variant="holdout10", peers=(), inspect=inspect)
    return found


def score(compared: list[Compared]) -> dict[str, Any]:
    def share(hits: list[bool]) -> float:
        return sum(hits) / len(hits)

    return {
        "rounds": len(compared),
        "measured_in_predicted": share([c.inside(c.measured[0], c.predicted) for c in compared]),
        "true_in_predicted": share([c.inside(c.true, c.predicted) for c in compared]),
        "true_in_separate": share([c.inside(c.true, c.separate) for c in compared]),
        "separate_width": statistics.fmean(c.separate[2] - c.separate[1] for c in compared),
        "true_in_measured": share([c.inside(c.true, c.measured) for c in compared]),
        "intervals_overlap": share(
            [c.predicted[1] <= c.measured[2] and c.measured[1] <= c.predicted[2] for c in compared]
        ),
        "predicted_width": statistics.fmean(c.predicted[2] - c.predicted[1] for c in compared),
        "measured_width": statistics.fmean(c.measured[2] - c.measured[1] for c in compared),
        "predicted_error": math.sqrt(
            statistics.fmean((c.predicted[0] - c.true) ** 2 for c in compared)
        ),
        "measured_error": math.sqrt(
            statistics.fmean((c.measured[0] - c.true) ** 2 for c in compared)
        ),
    }


def table(compared: list[Compared], shops: list[str]) -> str:
    header = (
        f"{'shop':<16} {'rounds':>6} {'measured in':>11} {'true in':>8} {'true in':>8} "
        f"{'overlap':>7} {'width':>6} {'width':>6} {'RMSE':>6} {'RMSE':>6} "
        f"{'true in':>8} {'width':>6}"
    )
    under = (
        f"{'':<16} {'':>6} {'predicted':>11} {'pred.':>8} {'measured':>8} "
        f"{'':>7} {'pred.':>6} {'meas.':>6} {'pred.':>6} {'meas.':>6} "
        f"{'separate':>8} {'sep.':>6}"
    )
    lines = [header, under, "-" * len(header)]
    for shop in [*shops, "all"]:
        rows = [c for c in compared if shop in ("all", c.shop)]
        if not rows:
            continue
        s = score(rows)
        lines.append(
            f"{shop:<16} {s['rounds']:>6} {s['measured_in_predicted']:>11.0%} "
            f"{s['true_in_predicted']:>8.0%} {s['true_in_measured']:>8.0%} "
            f"{s['intervals_overlap']:>7.0%} {s['predicted_width']:>6.3f} "
            f"{s['measured_width']:>6.3f} {s['predicted_error']:>6.3f} {s['measured_error']:>6.3f} "
            f"{s['true_in_separate']:>8.0%} {s['separate_width']:>6.3f}"
        )
    return "\n".join(lines)


def _job(args: tuple[str, int, int, int]) -> list[Compared]:
    return compare(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=1000)
    parser.add_argument("--shops", default=",".join(SHOWN))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    shops = args.shops.split(",")
    jobs = [(s, seed, args.rounds, args.per_round) for seed in range(1, args.seeds + 1)
            for s in shops]  # fmt: skip
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        compared = [c for found in pool.imap_unordered(_job, jobs) for c in found]
    compared.sort(key=lambda c: (shops.index(c.shop), c.seed, c.round))
    print(
        f"# {platform.machine()}, Python {platform.python_version()}, {args.workers} workers, "
        f"{len(jobs)} runs in {time.monotonic() - started:.0f} s: {' '.join(sys.argv)}\n"
    )
    print("Lift over the baseline, per serving round, with a 10% holdout:")
    print(table(compared, shops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
