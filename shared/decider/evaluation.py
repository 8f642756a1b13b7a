"""What a model version is expected to earn, and what it earned.

Expected: off-policy estimates (IPS, SNIPS, doubly robust, each with a 95% interval) of the
candidate, the serving model, uniform random and the baseline action, on held-out decisions
the candidate has not learned. Earned: ``records.tallies`` and ``records.earned``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from decider.estimators import OffPolicy
from decider.records import Tally

TARGETS = ("candidate", "current", "uniform", "baseline")


@dataclass
class Evaluation:
    targets: dict[str, OffPolicy] = field(
        default_factory=lambda: {name: OffPolicy() for name in TARGETS}
    )
    logged: Tally = field(default_factory=lambda: Tally())  # the held-out decisions' rewards
    learned: Tally = field(default_factory=lambda: Tally())  # every learned decision's reward

    def add(
        self,
        *,
        candidate: Sequence[float],
        current: Sequence[float] | None,
        chosen: int,
        probability: float,
        reward: float,
        predicted: Sequence[float],
    ) -> None:
        """One held-out decision: the pmfs of the policies scored, what was logged, and the
        reward model's prediction for each action."""
        count = len(candidate)
        pmfs: dict[str, Sequence[float] | None] = {
            "candidate": candidate,
            "current": current,
            "uniform": [1.0 / count] * count,
            "baseline": [1.0] + [0.0] * (count - 1),
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
        self.logged.add(reward)

    def estimate(self, target: str) -> dict[str, Any]:
        off = self.targets[target]
        return {kind: i.as_dict() for kind, i in off.estimates().items()} if len(off) else {}

    def summary(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            name: self.estimate(name) for name, off in self.targets.items() if len(off)
        }
        found["logged"] = self.logged.as_dict()
        found["learned"] = self.learned.as_dict()
        return found

    def to_json(self) -> str:
        return json.dumps(self.summary())
