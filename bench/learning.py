"""The learning benchmark: how much of what each shop's data allows does the loop learn?

    make bench-learning     (.venv/bin/python -m bench.learning --seeds 5)

Every simulated shop (infra/shops.py) sends the same visitors, with the same coin flips, to
every peer. A round is 1,000 visitors; after each round the loop's scheduled retrain runs
(the real core: Decider, the in-memory log, trainer.retrain) and the batch peers learn the
round. Per round, the metric is the share of the oracle's gain over uniform random captured:
(policy - uniform) / (oracle - uniform), on the expected conversions of the offers shown.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from decider.context.enrichment import DISPLAY_ONLY
from decider.learning import featurize, trainer
from decider.learning.featurize import Label
from decider.learning.model_cache import ModelCache
from decider.learning.policy import Policy, sample
from decider.learning.trainer import CLOCK_SKEW, retrain
from decider.loop.decide import Decider
from decider.loop.events import record_reward
from decider.loop.interactions import Profiles
from decider.privacy import HashKey, UserHasher
from decider.records import DecisionFeatures, Tally, earned
from decider.schemas import DecideRequest, InteractionsRequest, RewardRequest
from decider.settings import LoopSettings
from decider.store.memory import (
    MemoryDecisionLog,
    MemoryModelStore,
    MemoryProfileStore,
    MemoryRegistry,
)

from infra.shops import BENCHMARK_SHOPS, SHOPS, HistoryVisit, SimulatedShop, Visit

DEFAULT_CHUNK = trainer.LEARN_CHUNK

ROOT = Path(__file__).resolve().parent.parent
DP = "bench"
T0 = datetime(2026, 11, 23, tzinfo=UTC)
WAIT = timedelta(minutes=5)
PERSONALIZER_ARGS = [
    "--cb_explore_adf", "--quiet", "--epsilon", "0.2", "--power_t", "0", "-l", "0.001",
    "--cb_type", "mtr", "-q", "::",
]  # fmt: skip


@dataclass
class Trace:
    """What one peer served, round by round: expected conversions summed per round."""

    served: list[float] = field(default_factory=list)


@dataclass
class RunResult:
    shop: str
    seed: int
    variant: str
    rounds: int
    uniform: list[float]
    oracle: list[float]
    peers: dict[str, list[float]]  # expected conversions per round, per peer
    versions: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def shares(self, peer: str) -> list[float]:
        return [
            (p - u) / (o - u) if o > u else 0.0
            for p, u, o in zip(self.peers[peer], self.uniform, self.oracle, strict=True)
        ]


# --- peers -----------------------------------------------------------------------------------


class Peer:
    """A contender: ``choose`` for each visit of a round, then ``end_round`` with rewards."""

    name = "peer"

    def choose(self, index: int, visit: Visit, features: DecisionFeatures, seed: str) -> int:
        raise NotImplementedError

    def end_round(self, rewards: list[tuple[DecisionFeatures, int, float, float]]) -> None:
        """The round's (features, chosen index, probability, reward)."""


class VowpalPeer(Peer):
    """VW with Personalizer's default arguments, learning in batches or after every visit."""

    def __init__(self, online: bool) -> None:
        self.name = "personalizer-online" if online else "personalizer-batch"
        self.online = online
        self.policy = Policy([], args=PERSONALIZER_ARGS)
        self._last: tuple[DecisionFeatures, int, float] | None = None

    @property
    def last_probability(self) -> float:
        return self._last[2] if self._last else 1.0

    def choose(self, index: int, visit: Visit, features: DecisionFeatures, seed: str) -> int:
        pmf = self.policy.pmf(features)
        chosen = sample(pmf, seed)
        self._last = (features, chosen, pmf[chosen])
        return chosen

    def reward(self, value: float) -> None:
        if self.online and self._last:
            features, chosen, probability = self._last
            self.policy.learn(features, Label(chosen, -value, probability))

    def end_round(self, rewards: list[tuple[DecisionFeatures, int, float, float]]) -> None:
        if not self.online:
            for features, chosen, probability, value in rewards:
                self.policy.learn(features, Label(chosen, -value, probability))


class LinUcbPeer(Peer):
    """LinUCB (mabwiser), one linear model per action on hashed context features, in batches."""

    name = "linucb"

    def __init__(self, arms: list[str], seed: int) -> None:
        from mabwiser.mab import MAB, LearningPolicy
        from sklearn.feature_extraction import FeatureHasher

        self.arms = arms
        self.mab = MAB(arms, LearningPolicy.LinUCB(alpha=1.0), seed=seed)
        self.hasher = FeatureHasher(n_features=64, input_type="dict", alternate_sign=False)
        self.fitted = False
        self.rng = random.Random(seed)
        self.round: list[int] = []

    def vector(self, features: DecisionFeatures) -> dict[str, float]:
        flat: dict[str, float] = {}
        for space, values in (("c", features.context), ("x", features.custom),
                              ("p", features.profile), ("ph", features.history)):  # fmt: skip
            for name, value in featurize.namespace(
                values, categorical_numbers=space == "c"
            ).items():
                flat[f"{space}:{name}"] = value
        return flat

    def plan(self, features: list[DecisionFeatures]) -> list[int]:
        if not self.fitted:
            return [self.rng.randrange(len(self.arms)) for _ in features]
        matrix = self.hasher.transform([self.vector(f) for f in features]).toarray()
        chosen = self.mab.predict(matrix)
        chosen = chosen if isinstance(chosen, list) else [chosen]
        return [self.arms.index(arm) for arm in chosen]

    def learn(self, rows: list[tuple[DecisionFeatures, int, float, float]]) -> None:
        matrix = self.hasher.transform([self.vector(f) for f, _, _, _ in rows]).toarray()
        decisions = [self.arms[chosen] for _, chosen, _, _ in rows]
        rewards = [value for _, _, _, value in rows]
        if self.fitted:
            self.mab.partial_fit(decisions, rewards, matrix)
        else:
            self.mab.fit(decisions, rewards, matrix)
            self.fitted = True


# --- one run ---------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


def visits_of(shop: SimulatedShop, seed: int, total: int) -> Iterator[tuple[Visit, float]]:
    """The visits and each one's coin: a visitor converts when the coin is under the chance."""
    rng, coins = random.Random(seed), random.Random(seed + 7919)
    for index in range(total):
        yield shop.visit(rng, index, total), coins.random()


def run(
    shop_name: str,
    seed: int,
    rounds: int,
    per_round: int,
    variant: str = "default",
    peers: tuple[str, ...] = ("personalizer-batch", "personalizer-online", "linucb"),
    inspect: Callable[[MemoryDecisionLog, MemoryModelStore, MemoryRegistry], None] | None = None,
) -> RunResult:
    """One shop, one seed: every peer round by round. ``inspect`` sees the loop's log, model
    store and registry at the end (bench/intervals.py replays its versions)."""
    shop = SHOPS[shop_name]
    chosen_variant = VARIANTS[variant]
    loop = chosen_variant.loop().model_copy(update={"reward_range": shop.reward_range})
    # What the model sees of the context (this process runs one job at a time).
    featurize.DISPLAY_ONLY = DISPLAY_ONLY | chosen_variant.hidden
    if chosen_variant.buckets is not None:
        featurize.NUMBER_BUCKETS = chosen_variant.buckets
    trainer.LEARN_CHUNK = chosen_variant.chunk or DEFAULT_CHUNK
    clock = Clock()
    log, store, registry = MemoryDecisionLog(), MemoryModelStore(), MemoryRegistry()
    users = UserHasher(lambda: [HashKey("bench", b"bench")])
    profiles = Profiles(MemoryProfileStore(), users) if chosen_variant.profiles else None
    decider = Decider(
        ModelCache(registry, store, loop.exploration, 0),
        log,
        loop,
        now=clock,
        users=users,
        profiles=profiles,
    )
    visits = list(visits_of(shop, seed, rounds * per_round))
    arms = visits[0][0].action_ids
    contenders: dict[str, Peer] = {}
    if "personalizer-batch" in peers:
        contenders["personalizer-batch"] = VowpalPeer(online=False)
    if "personalizer-online" in peers:
        contenders["personalizer-online"] = VowpalPeer(online=True)
    linucb = LinUcbPeer(arms, seed) if "linucb" in peers else None
    names = ["loop", *contenders, *(["linucb"] if linucb else []), "best-fixed"]
    served = {name: [0.0] * rounds for name in names}
    uniform, oracle = [0.0] * rounds, [0.0] * rounds
    seconds = {name: 0.0 for name in names}
    totals = [0.0] * len(arms)
    for visit, _ in visits:
        totals = [t + p for t, p in zip(totals, visit.truth, strict=True)]
    best_fixed = totals.index(max(totals))

    for number in range(rounds):
        batch = visits[number * per_round : (number + 1) * per_round]
        rows: dict[str, list[tuple[DecisionFeatures, int, float, float]]] = {
            n: [] for n in contenders
        }
        features_of: list[DecisionFeatures] = []
        for offset, (visit, coin) in enumerate(batch):
            index = number * per_round + offset
            event_id = f"{seed}-{index}"
            uniform[number] += sum(visit.truth) / len(visit.truth)
            oracle[number] += max(visit.truth)
            served["best-fixed"][number] += visit.truth[best_fixed]
            started = time.perf_counter()
            if profiles is not None and isinstance(visit, HistoryVisit):
                reported = InteractionsRequest.model_validate(
                    {"interactions": list(visit.interactions)}
                )
                profiles.record(reported.interactions, clock())
            request = DecideRequest.model_validate(
                {"decision_point": DP, "event_id": event_id, **visit.request}
            )
            decision = decider.decide(request)
            chosen = visit.action_ids.index(decision.action_id)
            served["loop"][number] += visit.truth[chosen]
            reward = visit.outcome(chosen, coin)
            if reward:
                record_reward(log, decision.event_id, RewardRequest(value=reward), loop, clock())
            seconds["loop"] += time.perf_counter() - started
            clock.at += timedelta(seconds=1)
            features = log.records[decision.event_id].features
            features_of.append(features)
            for name, peer in contenders.items():
                started = time.perf_counter()
                pick = peer.choose(index, visit, features, f"{name}-{event_id}")
                value = visit.outcome(pick, coin)
                if isinstance(peer, VowpalPeer):
                    peer.reward(value)
                    probability = peer.last_probability
                else:
                    probability = 1.0
                rows[name].append((features, pick, probability, value))
                served[name][number] += visit.truth[pick]
                seconds[name] += time.perf_counter() - started
        if linucb:
            started = time.perf_counter()
            picks = linucb.plan(features_of)
            learned = []
            for (visit, coin), features, pick in zip(batch, features_of, picks, strict=True):
                served["linucb"][number] += visit.truth[pick]
                learned.append((features, pick, 1.0, visit.outcome(pick, coin)))
            linucb.learn(learned)
            seconds["linucb"] += time.perf_counter() - started
        for name, peer in contenders.items():
            started = time.perf_counter()
            peer.end_round(rows[name])
            seconds[name] += time.perf_counter() - started
        clock.at += WAIT + CLOCK_SKEW + timedelta(seconds=1)
        started = time.perf_counter()
        retrain(DP, log=log, store=store, registry=registry, loop=loop, now=clock())
        seconds["loop"] += time.perf_counter() - started
    if inspect is not None:
        inspect(log, store, registry)
    earned_by = earned(registry.versions(DP))
    versions = [
        {
            "version": v.version,
            "expected": json.loads(v.evaluation_json),
            "realized": earned_by.get(v.version, Tally()).as_dict(),
        }
        for v in registry.versions(DP)
    ]
    return RunResult(shop_name, seed, variant, rounds, uniform, oracle, served, versions, seconds)


# --- the loop's settings under test ----------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """The loop under one configuration: its settings, and context keys kept from the model."""

    settings: dict[str, Any] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    buckets: bool | None = None  # numbers as half-octave categories too (None: the default)
    profiles: bool = True  # interactions build visitors' profiles, which decide reads
    chunk: int | None = None  # decisions parsed and learned together (None: the default)

    def loop(self) -> LoopSettings:
        return LoopSettings(reward_wait=WAIT, **self.settings)


_NO_CALENDAR = frozenset({"month", "seasonal_month"})
COIN = ["--coin"]
_ISSUE_2 = {"learner": [], "passes": 1, "exploration": ["--squarecb"]}
VARIANTS: dict[str, Variant] = {
    # The defaults of this code base, whatever they are now.
    "default": Variant(),
    # Issue 2's loop: SGD at VW's defaults, one pass, continued; no calendar features.
    "before": Variant(_ISSUE_2, _NO_CALENDAR, buckets=False),
    "calendar": Variant(_ISSUE_2, buckets=False),
    "coin": Variant({"learner": COIN, "passes": 1}),
    "coin-3": Variant({"learner": COIN, "passes": 3}),
    "coin-3-nocal": Variant({"learner": COIN, "passes": 3}, _NO_CALENDAR),
    "coin-3-weekday": Variant({"learner": COIN, "passes": 3}, frozenset({"hour", "timezone"})),
    "coin-3-gamma50": Variant(
        {"learner": COIN, "passes": 3, "exploration": ["--squarecb", "--gamma_scale", "50"]}
    ),
    "coin-3-gamma3": Variant(
        {"learner": COIN, "passes": 3, "exploration": ["--squarecb", "--gamma_scale", "3"]}
    ),
    "coin-3-eps05": Variant({"learner": COIN, "passes": 3, "exploration": ["--epsilon", "0.05"]}),
    # SquareCB takes only --cb_type mtr; the other estimators are tried under epsilon.
    "coin-3-eps05-dr": Variant(
        {"learner": COIN, "passes": 3, "exploration": ["--epsilon", "0.05", "--cb_type", "dr"]}
    ),
    "coin-3-eps05-ips": Variant(
        {"learner": COIN, "passes": 3, "exploration": ["--epsilon", "0.05", "--cb_type", "ips"]}
    ),
    "coin-3-automl": Variant({"learner": [*COIN, "--automl", "4"], "passes": 3}),
    "coin-3-gamma50-buckets": Variant(
        {"learner": COIN, "passes": 3, "exploration": ["--squarecb", "--gamma_scale", "50"]},
        buckets=True,
    ),
    # Profile x profile x action ("returning visitors who cook"), and context x context x
    # action ("December in the south"), on top of the default interactions.
    "ppa": Variant({"learner": [*COIN, "--cubic", "ppa", "--cubic", "ppi"]}),
    "ppa-cca": Variant({"learner": [*COIN, "--cubic", "ppa", "--cubic", "ppi", "--cubic", "cca"]}),
    # A constant gamma: SquareCB otherwise grows it with the square root of examples seen,
    # and turns nearly greedy.
    "gamma50-const": Variant(
        {"exploration": ["--squarecb", "--gamma_scale", "50", "--gamma_exponent", "0"]}
    ),
    "gamma100-const": Variant(
        {"exploration": ["--squarecb", "--gamma_scale", "100", "--gamma_exponent", "0"]}
    ),
    "gamma10": Variant({"exploration": ["--squarecb"]}),
    "gamma50-exp025": Variant(
        {"exploration": ["--squarecb", "--gamma_scale", "50", "--gamma_exponent", "0.25"]}
    ),
    # Passes over chunks of fewer decisions (issue 11: a chunk of 1,000 parsed examples is
    # three times slower to learn than one of 10, from the memory it holds).
    "chunk-100": Variant(chunk=100),
    "chunk-10": Variant(chunk=10),
    "chunk-1": Variant(chunk=1),
    "sgd-3": Variant({"learner": [], "passes": 3}),
    "sgd-3-gamma50": Variant(
        {"learner": [], "passes": 3, "exploration": ["--squarecb", "--gamma_scale", "50"]}
    ),
    "sgd-3-l01": Variant({"learner": ["-l", "0.1"], "passes": 3}),
    # Importance weights capped (VW's --clip_p): an explored action logged at p = 0.001 is
    # learned with a weight of 1,000 otherwise.
    "clip01": Variant({"learner": [*COIN, "--clip_p", "0.01"]}),
    "clip05": Variant({"learner": [*COIN, "--clip_p", "0.05"]}),
    # Bagging: exploration from the disagreement of 5 bootstrapped models, the first one
    # greedy; and online cover.
    "bag5": Variant({"exploration": ["--bag", "5", "--greedify"]}),
    "cover3": Variant({"exploration": ["--cover", "3"]}),
    "passes5": Variant({"passes": 5}),
    # A tenth of the traffic served the first offer, to measure the lift (bench/lift.py).
    "holdout10": Variant({"holdout_share": 0.1}),
    # Interactions are not reported: decide sees only the visit (what profiles are worth).
    "no-profiles": Variant(profiles=False),
    # Rewards learned in the shop's units, not divided by the reward range's largest magnitude.
    "unscaled": Variant({"scale_rewards": False}),
}


# --- report ----------------------------------------------------------------------------------


def summarize(results: list[RunResult]) -> dict[str, Any]:
    """Per shop and peer: the share per round (mean, min, max over seeds)."""
    summary: dict[str, Any] = {}
    for shop in dict.fromkeys(r.shop for r in results):
        runs = [r for r in results if r.shop == shop]
        peers: dict[str, Any] = {}
        for peer in runs[0].peers:
            per_round = list(zip(*(r.shares(peer) for r in runs), strict=True))
            peers[peer] = {
                "mean": [statistics.fmean(v) for v in per_round],
                "min": [min(v) for v in per_round],
                "max": [max(v) for v in per_round],
                "seconds": statistics.fmean(r.seconds.get(peer, 0.0) for r in runs),
            }
        summary[shop] = {
            "seeds": [r.seed for r in runs],
            "peers": peers,
            "coverage": coverage(runs),
        }
        change = SHOPS[shop].change_at
        if change is not None:
            at = int(change * runs[0].rounds)
            summary[shop]["recovery"] = {
                peer: [recovery(r.shares(peer), at) for r in runs] for peer in runs[0].peers
            }
    return summary


def coverage(runs: list[RunResult]) -> dict[str, Any]:
    """How often each version's 95% interval, estimated on held-out decisions before it
    served, held the mean reward it then earned while serving; and the interval's mean width."""
    held, widths = [], []
    for run in runs:
        for version in run.versions:
            realized, expected = version["realized"], version["expected"].get("candidate")
            if not expected or not realized.get("n"):
                continue
            held.append(expected["low"] <= realized["mean"] <= expected["high"])
            widths.append(expected["high"] - expected["low"])
    return {
        "versions": len(held),
        "covered": statistics.fmean(held) if held else None,
        "width": statistics.fmean(widths) if widths else None,
    }


def recovery(shares: list[float], change_round: int) -> int | None:
    """Rounds from the change (the first round after it is 1) until the share is back within
    90% of the last share before it; None if never."""
    before = shares[change_round - 1]
    for offset, share in enumerate(shares[change_round:], start=1):
        if share >= 0.9 * before:
            return offset
    return None


def table(summary: dict[str, Any]) -> str:
    peers = list(next(iter(summary.values()))["peers"])
    lines = [
        "| shop | " + " | ".join(peers) + " |",
        "|---|" + "---|" * len(peers),
    ]
    for shop, data in summary.items():
        cells = []
        for peer in peers:
            stats = data["peers"][peer]
            cells.append(f"{stats['mean'][-1]:.2f} ({stats['min'][-1]:.2f}-{stats['max'][-1]:.2f})")
        lines.append(f"| {shop} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shops = list(summary)
    columns = 3
    rows = (len(shops) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False)
    for axis, shop in zip(axes.flat, shops, strict=False):
        for peer, stats in summary[shop]["peers"].items():
            x = range(1, len(stats["mean"]) + 1)
            axis.plot(x, stats["mean"], label=peer, linewidth=2.2 if peer == "loop" else 1.2)
            axis.fill_between(x, stats["min"], stats["max"], alpha=0.12)
        axis.set_title(shop)
        axis.set_xlabel("round (1,000 visitors each)")
        axis.set_ylabel("share of the oracle's gain")
        axis.set_ylim(-0.3, 1.05)
        axis.axhline(0.85, color="grey", linestyle=":", linewidth=1)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(shops) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)


def _job(args: tuple[str, int, int, int, str, tuple[str, ...]]) -> RunResult | str:
    try:
        return run(*args)
    except Exception as failure:  # one configuration VW refuses must not lose the others
        return f"{args[4]} {args[0]} seed {args[1]}: {failure}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=1000)
    parser.add_argument("--shops", default=",".join(BENCHMARK_SHOPS))
    parser.add_argument("--variants", default="default")
    parser.add_argument("--peers", default="personalizer-batch,personalizer-online,linucb")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "learning")
    args = parser.parse_args(argv)
    peers = tuple(p for p in args.peers.split(",") if p)
    jobs = [
        (shop, seed, args.rounds, args.per_round, variant, peers)
        for seed in range(args.first_seed, args.first_seed + args.seeds)
        for shop in args.shops.split(",")
        for variant in args.variants.split(",")
    ]
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        results: list[RunResult] = []
        for done, result in enumerate(pool.imap_unordered(_job, jobs, chunksize=1), start=1):
            if isinstance(result, str):
                print(f"  [{done}/{len(jobs)}] FAILED {result}", file=sys.stderr, flush=True)
                continue
            results.append(result)
            print(
                f"  [{done}/{len(jobs)}] {result.variant} {result.shop} seed "
                f"{result.seed}: last round {result.shares('loop')[-1]:.2f}",
                file=sys.stderr,
                flush=True,
            )
        results.sort(key=lambda r: (r.variant, list(SHOPS).index(r.shop), r.seed))
    elapsed = time.monotonic() - started
    print(
        f"# {platform.machine()}, Python {platform.python_version()}, {args.workers} workers, "
        f"{len(jobs)} runs in {elapsed:.0f} s: {' '.join(sys.argv)}"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in args.variants.split(","):
        if not any(r.variant == variant for r in results):
            continue
        summary = summarize([r for r in results if r.variant == variant])
        print(f"\n## variant {variant}: last round's share of the oracle's gain (mean, range)\n")
        print(table(summary))
        for shop, data in summary.items():
            if "recovery" in data:
                print(f"\nrounds to recover on {shop}: {data['recovery']}")
        print("\n95% intervals holding the realized reward (versions checked):")
        for shop, data in summary.items():
            cover = data["coverage"]
            if cover["covered"] is not None:
                print(
                    f"  {shop}: {cover['covered']:.0%} of {cover['versions']} versions, "
                    f"mean width {cover['width']:.3f}"
                )
        overall = coverage([r for r in results if r.variant == variant])
        if overall["covered"] is not None:
            print(f"  all: {overall['covered']:.0%} of {overall['versions']} versions")
        (args.out / f"{variant}.json").write_text(
            json.dumps({"summary": summary, "runs": [r.__dict__ for r in results
                                                     if r.variant == variant]}, indent=1)
        )  # fmt: skip
        plot(summary, args.out / f"{variant}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
