"""Does the scheduled retrain keep up with a busy decision point? Time scaled, in memory.

    .venv/bin/python -m bench.backlog                       (1,000 decisions/s, scale 10)
    .venv/bin/python -m bench.backlog --rate 100 --intervals 3     (CI's smoke)

A decision point takes ``rate`` decisions a second of simulated time (the real Decider, one
in six rewarded at once). Everything with a duration is divided by ``scale``: the schedule's
15 minutes and the function's 900 s become 90 s each at scale 10, the reward wait 60 s, and
the time retrain keeps in hand before starting a run 12 s.
Arrivals per interval (rate x interval) and the compute the function has to learn them are
then in the same proportion as on AWS, so retrain keeps up here exactly when it keeps up there
(retrain's own speed is real; it is not scaled). After each scheduled run the benchmark
counts the backlog: settled decisions (their reward wait is over) not yet learned. Bounded:
it does not grow from interval to interval, and each run took less than its time limit.
Learned decisions are dropped from the in-memory log after each run, as the table's TTL
would, to keep memory bounded.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from decider.learning.model_cache import ModelCache
from decider.learning.trainer import CLOCK_SKEW, RETRAIN_MARGIN, Schedule, retrain_all
from decider.loop.decide import Decider
from decider.schemas import DecideRequest
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

from infra.shops import BENCHMARK_SHOPS

START = datetime(2026, 11, 23, tzinfo=UTC)
SCHEDULE = timedelta(minutes=15)
FUNCTION_LIMIT = timedelta(seconds=900)
REWARD_WAIT = timedelta(minutes=10)


def run(rate: int, scale: float, intervals: int, say: Callable[[str], None] = print
        ) -> list[dict[str, float]]:  # fmt: skip
    interval, limit, wait = SCHEDULE / scale, FUNCTION_LIMIT / scale, REWARD_WAIT / scale
    loop = LoopSettings(reward_wait=wait)
    log, store, registry = MemoryDecisionLog(), MemoryModelStore(), MemoryRegistry()
    clock = [START]
    decider = Decider(ModelCache(registry, store, loop.exploration, 0), log, loop, lambda: clock[0])
    shop, rng, coins = BENCHMARK_SHOPS["seasonal-solar"], random.Random(1), random.Random(2)
    step = timedelta(seconds=1 / rate)
    per_interval = int(rate * interval.total_seconds())
    learned_total = decided = 0
    rows = []
    say(
        f"# {rate:,} decisions/s; scale {scale:g}: schedule every {interval}, function limit "
        f"{limit}, reward wait {wait}; {per_interval:,} decisions per interval"
    )
    say("interval  decided  learned  runs  retrain s  limit s  backlog  pending")
    for number in range(1, intervals + 1):
        for _ in range(per_interval):  # the interval's traffic
            visit = shop.visit(rng, decided, per_interval * intervals)
            request = DecideRequest.model_validate({"decision_point": "busy", **visit.request})
            decision = decider.decide(request)
            if coins.random() < 1 / 6:
                log.record_reward(decision.event_id, 1.0, "-", now=clock[0],
                                  on_time_since=clock[0], aggregation="earliest")  # fmt: skip
            clock[0] += step
            decided += 1
        ends = time.perf_counter() + limit.total_seconds()

        def seconds_left(ends: float = ends) -> float:
            return ends - time.perf_counter()

        reports = retrain_all(
            Schedule(
                log=log,
                store=store,
                registry=registry,
                loop=loop,
                now=clock[0],
                seconds_left=seconds_left,
                margin=RETRAIN_MARGIN / scale,
            )
        )
        seconds = time.perf_counter() - (ends - limit.total_seconds())
        learned_total += sum(r.decisions_learned for r in reports)
        current = registry.current("busy")
        mark = current.watermark if current and current.watermark else START
        settled_until = clock[0] - wait - CLOCK_SKEW
        backlog = sum(1 for r in log.records.values() if mark < r.decided_at <= settled_until)
        pending = sum(1 for r in log.records.values() if r.decided_at > settled_until)
        for event_id in [e for e, r in log.records.items() if r.decided_at <= mark]:
            del log.records[event_id]  # learned: the table's TTL would take it in time
        row = {"interval": number, "decided": decided, "learned": learned_total,
               "runs": len(reports), "seconds": seconds, "limit": limit.total_seconds(),
               "backlog": backlog, "pending": pending}  # fmt: skip
        rows.append(row)
        say(
            f"{number:>8}  {decided:>7,}  {learned_total:>7,}  {len(reports):>4}  {seconds:>9.1f}  "
            f"{limit.total_seconds():>7.0f}  {backlog:>7,}  {pending:>7,}"
        )
    return rows


def bound(per_interval: int, share: float) -> float:
    """The backlog's ceiling: by design a run leaves its window's newest ``share`` for the next
    run (held out to score the candidate), so the backlog settles at share / (1 - share) of an
    interval's arrivals, whatever the number of intervals; 10% slack."""
    return share / (1 - share) * per_interval * 1.1


def bounded(rows: list[dict[str, float]], ceiling: float) -> bool:
    """Every run within its time limit, and every backlog under the ceiling."""
    return all(row["seconds"] < row["limit"] and row["backlog"] <= ceiling for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=1000, help="decisions a second")
    parser.add_argument("--scale", type=float, default=10.0, help="durations divided by this")
    parser.add_argument("--intervals", type=int, default=5)
    args = parser.parse_args()
    rows = run(args.rate, args.scale, args.intervals)
    per_interval = int(args.rate * (SCHEDULE / args.scale).total_seconds())
    ceiling = bound(per_interval, LoopSettings(reward_wait=REWARD_WAIT).scored_share)
    verdict = "bounded" if bounded(rows, ceiling) else "NOT bounded"
    print(f"backlog {verdict}: after every scheduled run at most {ceiling:,.0f} settled "
          "decisions were not yet learned (the held-out tail, learned by the next run), and "
          "every run ended within the function's limit")  # fmt: skip


if __name__ == "__main__":
    main()
