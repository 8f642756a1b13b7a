"""Instructions per decide (the core, a trained model), counted by valgrind: repeatable where
timings on this machine are not. Run it with N=50 and N=250 under callgrind and divide the
difference by 200 (bench/RESULTS.md has the command); it runs against any checkout.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from itertools import islice

from decider.learning.model_cache import ModelCache
from decider.learning.trainer import retrain
from decider.loop.decide import Decider
from decider.schemas import DecideRequest
from decider.settings import LoopSettings
from decider.store.memory import MemoryDecisionLog, MemoryModelStore, MemoryRegistry

try:
    from infra.shops import visitors
except ImportError:
    from infra.shop import visitors  # type: ignore[no-redef]  # older checkouts
n = int(sys.argv[1])
clock = [datetime(2026, 11, 22, 10, tzinfo=UTC)]
log, store, registry = MemoryDecisionLog(), MemoryModelStore(), MemoryRegistry()
loop = LoopSettings(reward_wait=timedelta(seconds=1))
d = Decider(ModelCache(registry, store, loop.exploration, 3600), log, loop, now=lambda: clock[0])
reqs = [DecideRequest.model_validate(v.request("home-hero")) for v in islice(visitors(1), 400)]
for r in reqs:
    x = d.decide(r)
    log.record_reward(
        x.event_id, 1.0, "-", now=clock[0], on_time_since=clock[0], aggregation="earliest"
    )
    clock[0] += timedelta(milliseconds=1)
clock[0] += timedelta(seconds=5)
retrain("home-hero", log=log, store=store, registry=registry, loop=loop, now=clock[0])
d.models = ModelCache(registry, store, loop.exploration, 3600)
for r in reqs[:100]:
    d.decide(r.model_copy(update={"event_id": None}))
for r in reqs[100 : 100 + n]:
    d.decide(r.model_copy(update={"event_id": None}))
