"""Apprentice mode: what the decisions where the baseline served say about the model.

An apprentice decision point serves the baseline action at probability 1 and learns from it;
decide logs the serving model's own top choice beside it. Those decisions show how often the
model would have chosen as the shop did, and what it earned where it agreed; they cannot show
what any other action would have earned. So a disagreement is counted at the worst reward the
window saw: the model can be shown not worse than the baseline, never better, until it serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from decider.learning.estimators import empirical_likelihood
from decider.records import DecisionRecord, Tally
from decider.schemas import GraduateWhen

# The newest apprentice decisions that are judged (the "last 1,000 decisions").
APPRENTICE_WINDOW = 1000


@dataclass(frozen=True)
class Apprenticeship:
    """The newest apprentice decisions that had a model to ask, judged."""

    n: int
    agreement: float  # share where the model's top choice was the baseline
    model: dict[str, float | int]  # what the model would have earned: value, 95% interval
    baseline: dict[str, float | int]  # what the baseline earned
    difference: dict[str, float | int]  # the model's minus the baseline's, paired, pessimistic

    def graduates(self, rule: GraduateWhen) -> bool:
        return (
            self.n >= rule.min_decisions
            and self.agreement >= rule.min_agreement
            and float(self.difference["low"]) >= -rule.tolerance
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "model": self.model,
            "baseline": self.baseline,
            "difference": self.difference,
        }


def apprenticeship(
    records: Sequence[DecisionRecord], reward: Sequence[float]
) -> Apprenticeship | None:
    """Judge the newest ``APPRENTICE_WINDOW`` apprentice decisions (in ``records``, oldest
    first, each with its ``reward``) that were learnable and had a model to ask; None if none.
    """
    judged = [
        (record, value)
        for record, value in zip(records, reward, strict=True)
        if record.mode == "apprentice"
        and record.learnable
        and record.activated
        and record.model_top is not None
    ][-APPRENTICE_WINDOW:]
    if not judged:
        return None
    worst = min(reward)
    agrees = [record.model_top == record.baseline_index for record, _ in judged]
    values = [value for _, value in judged]
    model = empirical_likelihood(
        [1.0 if agree else 0.0 for agree in agrees],
        [1.0] * len(judged),
        values,
        reward_range=(worst, max(reward)),
    )
    baseline, difference = Tally(), Tally()
    for agree, value in zip(agrees, values, strict=True):
        baseline.add(value)
        difference.add(0.0 if agree else worst - value)
    return Apprenticeship(
        n=len(judged),
        agreement=sum(agrees) / len(judged),
        model=model.as_dict(),
        baseline=baseline.as_dict(),
        difference=difference.as_dict(),
    )
