"""Judging an apprentice: agreement with the baseline, and a pessimistic paired difference."""

from __future__ import annotations

from datetime import UTC, datetime

from decider.learning.apprentice import APPRENTICE_WINDOW, apprenticeship
from decider.records import DecisionFeatures, DecisionRecord
from decider.schemas import GraduateWhen

FEATURES = DecisionFeatures(context={}, custom={}, profile={}, actions=[("a", {}), ("b", {})])


def decision(number: int, *, top: int | None, mode: str = "apprentice") -> DecisionRecord:
    return DecisionRecord(
        event_id=f"e-{number}",
        decision_point="dp",
        decided_at=datetime(2026, 1, 1, tzinfo=UTC),
        features=FEATURES,
        chosen_index=0,
        probability=1.0,
        model_version=None,
        learnable=True,
        activated=True,
        expires_at=0,
        baseline_index=0,
        mode=mode,  # type: ignore[arg-type]
        model_top=top,
    )


def test_full_agreement_is_not_worse_than_the_baseline_and_graduates() -> None:
    records = [decision(n, top=0) for n in range(200)]
    rewards = [float(n % 2) for n in range(200)]

    judged = apprenticeship(records, rewards)

    assert judged is not None
    assert (judged.n, judged.agreement) == (200, 1.0)
    assert judged.baseline["mean"] == 0.5
    assert judged.difference == {"n": 200, "mean": 0.0, "low": 0.0, "high": 0.0}
    assert judged.graduates(GraduateWhen(min_decisions=100, tolerance=0.0))
    assert not judged.graduates(GraduateWhen(min_decisions=1000))  # too few yet


def test_a_disagreement_where_the_baseline_earned_counts_against_the_model() -> None:
    # The model disagrees on every fifth decision, each one the baseline converted
    records = [decision(n, top=1 if n % 5 == 0 else 0) for n in range(500)]
    rewards = [1.0 if n % 5 == 0 else float(n % 2) for n in range(500)]

    judged = apprenticeship(records, rewards)

    assert judged is not None and judged.agreement == 0.8
    assert judged.difference["mean"] == -0.2  # each disagreement at the worst reward, 0
    assert judged.model["low"] < judged.model["value"] < judged.model["high"]
    assert not judged.graduates(GraduateWhen(min_decisions=100, min_agreement=0.8))
    assert judged.graduates(GraduateWhen(min_decisions=100, min_agreement=0.8, tolerance=0.3))


def test_a_disagreement_where_the_baseline_earned_nothing_costs_nothing() -> None:
    records = [decision(n, top=n % 2) for n in range(200)]
    rewards = [0.0 if n % 2 else 1.0 for n in range(200)]  # disagreeing only where 0 was earned

    judged = apprenticeship(records, rewards)

    assert judged is not None and judged.agreement == 0.5
    assert judged.difference["mean"] == 0.0
    assert judged.graduates(GraduateWhen(min_decisions=100, min_agreement=0.5))


def test_only_the_newest_apprentice_decisions_with_a_model_to_ask_are_judged() -> None:
    records = (
        [decision(n, top=1) for n in range(APPRENTICE_WINDOW)]  # old: disagree
        + [decision(n, top=None) for n in range(50)]  # no model yet
        + [decision(n, top=1, mode="online") for n in range(50)]
        + [decision(n, top=0) for n in range(APPRENTICE_WINDOW)]  # newest: agree
    )
    judged = apprenticeship(records, [1.0] * len(records))
    assert judged is not None and (judged.n, judged.agreement) == (APPRENTICE_WINDOW, 1.0)
    assert apprenticeship(records[1000:1100], [1.0] * 100) is None
