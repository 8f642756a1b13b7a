"""make demo: a simulated shop sends visitors to the local twin, over HTTP, and learns.

Each round, visitors ask ``POST /decide`` for an offer, convert with a probability that
depends on their context and the offer (infra/shops.py), and the shop reports each conversion
to ``POST /events/{event_id}/reward``. After the reward wait the retrain schedule fires, and
the next round is served by the new model. The table compares, per round, the reward rate of
what the API chose with uniform random choice and with the best possible choice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.shops import best_probability, conversion_probability, uniform_probability, visitors

ROOT = Path(__file__).resolve().parent.parent
DECISION_POINT = "home-hero"
REWARD_WAIT_SECONDS = 2
# The demo's only departures from the template defaults: a short reward wait and model
# refresh so that a round does not take a quarter of an hour; the schedule is fired by hand.
_TTY = sys.stdout.isatty()
PARAMS = f"RewardWaitSeconds={REWARD_WAIT_SECONDS} ModelRefreshSeconds=1 LogLevel=WARNING"


@dataclass
class Round:
    number: int
    model_version: str | None = None
    visitors: int = 0
    conversions: int = 0
    policy: float = 0.0  # expected conversions of the offers shown, summed
    uniform: float = 0.0
    best: float = 0.0

    def rate(self, total: float) -> float:
        return total / self.visitors if self.visitors else 0.0


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body or {}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            return json.loads(response.read())

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(self.base_url + "/_local/health", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def run_round(client: Client, number: int, size: int, stream: Any, rng: random.Random) -> Round:
    result = Round(number)
    for index in range(size):
        visitor = next(stream)
        decision = client.post("/decide", visitor.request(DECISION_POINT))
        p = conversion_probability(visitor, decision["action_id"])
        result.model_version = decision["model_version"]
        result.visitors += 1
        result.policy += p
        result.uniform += uniform_probability(visitor)
        result.best += best_probability(visitor)
        if rng.random() < p:
            order = f"order-{number}-{index}"
            reward = client.post(
                f"/events/{decision['event_id']}/reward", {"value": 1.0, "reward_id": order}
            )
            result.conversions += reward["status"] == "recorded"
        done = index + 1
        if done % (100 if _TTY else max(size // 4, 1)) == 0 or done == size:
            line = f"  round {number}: {done}/{size} visitors, {result.conversions} conversions"
            print(f"\r{line}" if _TTY else line, end="" if _TTY else "\n", flush=True)
    if _TTY:
        print()
    return result


def retrain(client: Client) -> dict[str, Any]:
    time.sleep(REWARD_WAIT_SECONDS + 3.3)  # the reward wait and retrain's 3 s settle margin
    reports = client.post("/_local/schedules/RetrainFunction")["reports"]
    report: dict[str, Any] = next(r for r in reports if r["decision_point"] == DECISION_POINT)
    expected = report.get("evaluation", {}).get("candidate")
    estimate = (
        f", expected reward {expected['value']:.3f} "
        f"(95% interval {expected['low']:.3f} to {expected['high']:.3f})"
        if expected
        else ""
    )
    print(
        f"  retrain: {report['status']}, model version {report['model_version']}, "
        f"{report['decisions_learned']} decisions learned{estimate}",
        flush=True,
    )
    time.sleep(1.1)  # decide checks for a new version at most every second
    return report


def table(rounds: list[Round]) -> str:
    header = (
        f"{'round':>5}  {'model':>5}  {'visitors':>8}  {'conv.':>5}  {'learned':>7}  "
        f"{'uniform':>7}  {'best':>5}  {'vs uniform':>10}  {'of best':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rounds:
        policy, uniform, best = r.rate(r.policy), r.rate(r.uniform), r.rate(r.best)
        lines.append(
            f"{r.number:>5}  {r.model_version or '-':>5}  {r.visitors:>8}  {r.conversions:>5}  "
            f"{policy:>7.3f}  {uniform:>7.3f}  {best:>5.3f}  {policy / uniform:>9.2f}x  "
            f"{policy / best:>7.0%}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the simulated shop against the twin.")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--visitors", type=int, default=800, help="visitors per round")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    args = parser.parse_args(argv)

    started = time.monotonic()
    twin = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.twin",
            "--port",
            str(args.port),
            "--quiet-requests",
            "--params",
            PARAMS,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        client = Client(f"http://127.0.0.1:{args.port}")
        client.wait_until_up()
        print(
            f"local twin up on 127.0.0.1:{args.port} ({PARAMS}); "
            f"{args.rounds} rounds of {args.visitors} visitors",
            flush=True,
        )
        rng, stream = random.Random(args.seed), visitors(args.seed)
        rounds = []
        for number in range(1, args.rounds + 1):
            rounds.append(run_round(client, number, args.visitors, stream, rng))
            retrain(client)
    finally:
        twin.terminate()
        twin.wait(timeout=10)

    print()
    print("Reward rate per visitor (expected conversions of the offer shown):")
    print(table(rounds))
    last = rounds[-1]
    policy, uniform, best = last.rate(last.policy), last.rate(last.uniform), last.rate(last.best)
    ok = policy >= 2 * uniform and policy >= 0.8 * best
    print(
        f"\n{'OK' if ok else 'NOT LEARNED'}: in the last round the learned policy earned "
        f"{policy:.3f} per visitor, {policy / uniform:.1f}x uniform random and "
        f"{policy / best:.0%} of the best possible ({time.monotonic() - started:.0f} s)."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
