"""Does one retrain of a full window fit the retrain function's limits (900 s, 2,048 MB)?

    .venv/bin/python -m bench.retrain_scale --decisions 50000

Fills the in-memory log with the seasonal shop's decisions (the real Decider), then times one
retrain under the default settings and reports its peak memory (the process's max RSS) next
to raw VW's parse+learn of the same examples in the same run, as a ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import time
from datetime import UTC, datetime, timedelta

import vowpal_wabbit_next as vw
from decider.learning.featurize import Label, to_vw_json
from decider.learning.model_cache import ModelCache
from decider.learning.policy import vw_args
from decider.learning.trainer import CLOCK_SKEW, retrain
from decider.loop.decide import Decider
from decider.schemas import DecideRequest
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

from infra.shops import BENCHMARK_SHOPS


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=50_000)
    args = parser.parse_args()
    loop = LoopSettings(reward_wait=timedelta(minutes=5))
    clock = [datetime(2026, 11, 23, tzinfo=UTC)]
    log, store, registry = MemoryDecisionLog(), MemoryModelStore(), MemoryRegistry()
    decider = Decider(ModelCache(registry, store, loop.exploration, 0), log, loop, lambda: clock[0])
    shop, rng, coins = BENCHMARK_SHOPS["seasonal-solar"], random.Random(1), random.Random(2)
    for index in range(args.decisions):
        visit = shop.visit(rng, index, args.decisions)
        request = {"decision_point": "scale", "event_id": f"e{index}", **visit.request}
        decision = decider.decide(DecideRequest.model_validate(request))
        if coins.random() < visit.truth[visit.action_ids.index(decision.action_id)]:
            log.record_reward(decision.event_id, 1.0, "-", now=clock[0], on_time_since=clock[0],
                              aggregation="earliest")  # fmt: skip
        clock[0] += timedelta(milliseconds=10)
    before = max_rss_mb()
    clock[0] += loop.reward_wait + CLOCK_SKEW + timedelta(seconds=1)

    started = time.perf_counter()
    report = retrain("scale", log=log, store=store, registry=registry, loop=loop, now=clock[0])
    seconds = time.perf_counter() - started
    after = max_rss_mb()

    # The raw anchor: VW alone parses and learns the same labelled examples, once each.
    workspace = vw.Workspace(vw_args(loop.tuning))
    parser_ = vw.JsonFormatParser(workspace)
    texts = [
        to_vw_json(r.features, Label(r.chosen_index, -(r.reward or 0.0), r.probability))
        for r in log.records.values()
    ]
    started = time.perf_counter()
    for text in texts:
        workspace.learn_one(parser_.parse_json(text))
    raw = time.perf_counter() - started

    print(f"# {platform.machine()}, Python {platform.python_version()}, {args.decisions} "
          f"decisions, settings {json.dumps(loop.model_dump(mode='json'))}")  # fmt: skip
    print(f"retrain: {report.status}, {report.decisions_learned} learned in {seconds:.1f} s "
          f"({report.decisions_learned / seconds:,.0f}/s); raw VW parse+learn, one pass: "
          f"{raw:.1f} s; ratio {seconds / raw:.1f}x")  # fmt: skip
    print(f"max RSS: {before:.0f} MB before retrain, {after:.0f} MB after "
          f"(the retrain function has 2,048 MB and 900 s)")  # fmt: skip


if __name__ == "__main__":
    main()
