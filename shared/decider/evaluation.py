"""Off-policy estimates (IPS, SNIPS) of what a policy would have earned on logged decisions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Estimate:
    """Running IPS/SNIPS sums for one target policy."""

    n: int = 0
    weighted_reward: float = 0.0
    weighted_reward_sq: float = 0.0
    weight: float = 0.0

    def add(self, target_probability: float, logged_probability: float, reward: float) -> None:
        w = target_probability / logged_probability
        self.n += 1
        self.weighted_reward += w * reward
        self.weighted_reward_sq += (w * reward) ** 2
        self.weight += w

    def summary(self) -> dict[str, int | float]:
        if self.n == 0:
            return {"n": 0}
        ips = self.weighted_reward / self.n
        variance = max(self.weighted_reward_sq / self.n - ips**2, 0.0)
        half_width = 1.96 * math.sqrt(variance / self.n)
        snips = self.weighted_reward / self.weight if self.weight > 0 else 0.0
        return {
            "n": self.n,
            "ips": ips,
            "snips": snips,
            "ci_low": ips - half_width,
            "ci_high": ips + half_width,
        }


@dataclass
class Evaluation:
    """Progressive validation: the candidate is scored on each decision before learning it."""

    candidate: Estimate = field(default_factory=Estimate)
    logged: Estimate = field(default_factory=Estimate)
    uniform: Estimate = field(default_factory=Estimate)
    baseline: Estimate = field(default_factory=Estimate)

    def add(
        self, candidate_pmf: Sequence[float], chosen: int, probability: float, reward: float
    ) -> None:
        self.candidate.add(candidate_pmf[chosen], probability, reward)
        self.logged.add(probability, probability, reward)
        self.uniform.add(1.0 / len(candidate_pmf), probability, reward)
        self.baseline.add(1.0 if chosen == 0 else 0.0, probability, reward)

    def summary(self) -> dict[str, dict[str, int | float]]:
        return {
            "candidate": self.candidate.summary(),
            "logged": self.logged.summary(),
            "uniform": self.uniform.summary(),
            "baseline": self.baseline.summary(),
        }
