"""What a model version is expected to earn, and what it earned.

Expected: off-policy estimates of the candidate, the serving model, uniform random and the
baseline action, on held-out decisions the candidate has not learned: the empirical-likelihood
value with its 95% interval, and IPS, SNIPS and doubly robust beside it (``estimators``).
Earned: ``records.tallies`` and ``records.earned``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from decider.learning.estimators import OffPolicy
from decider.records import Tally

TARGETS = ("candidate", "current", "uniform", "baseline")


@dataclass
class Evaluation:
    targets: dict[str, OffPolicy] = field(
        default_factory=lambda: {name: OffPolicy() for name in TARGETS}
    )
    logged: Tally = field(default_factory=lambda: Tally())  # the held-out decisions' rewards
    learned: Tally = field(default_factory=lambda: Tally())  # every learned decision's reward
    holdout: Tally = field(default_factory=lambda: Tally())  # the baseline's, on holdout traffic
    # The candidate's lift over the baseline, paired on each held-out decision (IPS of each).
    lift: Tally = field(default_factory=lambda: Tally())
    reward_range: tuple[float, float] | None = None  # the lowest and highest reward seen
    apprentice: dict[str, Any] | None = None  # apprentice mode: how the model compares

    def add_learned(self, reward: float) -> None:
        """One decision the candidate learned."""
        self.learned.add(reward)
        self._saw(reward)

    def _saw(self, reward: float) -> None:
        low, high = self.reward_range or (reward, reward)
        self.reward_range = (min(low, reward), max(high, reward))

    def add(
        self,
        *,
        candidate: Sequence[float],
        current: Sequence[float] | None,
        chosen: int,
        probability: float,
        reward: float,
        predicted: Sequence[float],
        baseline: int = 0,
    ) -> None:
        """One held-out decision: the pmfs of the policies scored, what was logged, the
        reward model's prediction for each action, and which action was the baseline."""
        count = len(candidate)
        pmfs: dict[str, Sequence[float] | None] = {
            "candidate": candidate,
            "current": current,
            "uniform": [1.0 / count] * count,
            "baseline": [1.0 if index == baseline else 0.0 for index in range(count)],
        }
        for name, pmf in pmfs.items():
            if pmf is None:
                continue
            self.targets[name].add(
                pmf[chosen],
                probability,
                reward,
                predicted_chosen=predicted[chosen],
                predicted_target=sum(p * r for p, r in zip(pmf, predicted, strict=True)),
            )
        shown_baseline = 1.0 if chosen == baseline else 0.0
        self.lift.add((candidate[chosen] - shown_baseline) / probability * reward)
        self.logged.add(reward)
        self._saw(reward)

    def estimate(self, target: str) -> dict[str, Any]:
        """One policy's estimate; what any decision can earn is taken from every reward of the
        window, learned or held out (the held-out ones alone may not show the range)."""
        off = self.targets[target]
        return off.estimate(reward_range=self.reward_range).as_dict() if len(off) else {}

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            name: self.estimate(name) for name, off in self.targets.items() if len(off)
        }
        found["logged"] = self.logged.as_dict()
        found["learned"] = self.learned.as_dict()
        found["holdout"] = self.holdout.as_dict()
        found["lift"] = self.lift.as_dict()
        if self.apprentice is not None:
            found["apprentice"] = self.apprentice
        return found

    def to_json(self) -> str:
        return json.dumps(self.summary())
