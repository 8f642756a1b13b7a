"""Off-policy estimators: hand-computed values, the empirical-likelihood interval checked against
Vowpal Wabbit's own implementation, degenerate inputs, and coverage where a bootstrap fails."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from decider.learning.estimators import (
    Estimate,
    Interval,
    OffPolicy,
    _t_critical,
    dr,
    empirical_likelihood,
    ips,
    snips,
)
from estimators.bandits import cressieread  # vw-estimators: the reference implementation
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as scipy_stats

# Four logged decisions, worked by hand below.
TARGET = [1.0, 0.5, 0.0, 0.25]
LOGGED = [0.5, 0.25, 0.5, 0.5]
REWARD = [1.0, 0.0, 1.0, 2.0]
PREDICTED_CHOSEN = [0.5, 0.5, 0.5, 1.0]
PREDICTED_TARGET = [0.8, 0.3, 0.4, 0.6]
# w = target / logged = [2, 2, 0, 0.5]; w * r = [2, 0, 0, 1]

probabilities = st.floats(0.0, 1.0)
logging_probabilities = st.floats(0.01, 1.0)
rewards = st.floats(-100.0, 100.0)
rows = st.lists(st.tuples(probabilities, logging_probabilities, rewards), max_size=60)


def columns(data: list[tuple[float, float, float]]) -> tuple[list[float], ...]:
    return tuple(list(c) for c in zip(*data, strict=True)) if data else ([], [], [])


# --- point estimates by hand ---------------------------------------------------------------------


def test_ips_of_four_decisions_by_hand() -> None:
    # IPS = (1/4) * (2*1 + 2*0 + 0*1 + 0.5*2) = 3/4
    assert ips(TARGET, LOGGED, REWARD) == pytest.approx(0.75)


def test_snips_of_four_decisions_by_hand() -> None:
    # SNIPS = (2*1 + 2*0 + 0*1 + 0.5*2) / (2 + 2 + 0 + 0.5) = 3 / 4.5 = 2/3
    assert snips(TARGET, LOGGED, REWARD) == pytest.approx(2 / 3)


def test_doubly_robust_of_four_decisions_by_hand() -> None:
    # Terms predicted_target + w * (r - predicted_chosen):
    #   0.8 + 2 * (1 - 0.5) = 1.8;  0.3 + 2 * (0 - 0.5) = -0.7;  0.4 + 0 = 0.4;  0.6 + 0.5 * 1 = 1.1
    # DR = (1.8 - 0.7 + 0.4 + 1.1) / 4 = 2.6 / 4 = 0.65
    assert dr(TARGET, LOGGED, REWARD, PREDICTED_CHOSEN, PREDICTED_TARGET) == pytest.approx(0.65)


@given(data=rows)
def test_on_policy_ips_and_snips_are_the_mean_reward(
    data: list[tuple[float, float, float]],
) -> None:
    _, logged, reward = columns(data)
    mean = float(np.mean(reward)) if reward else 0.0

    assert ips(logged, logged, reward) == pytest.approx(mean, abs=1e-9)
    assert snips(logged, logged, reward) == pytest.approx(mean, abs=1e-9)


@given(data=rows)
def test_doubly_robust_without_a_reward_model_is_ips(
    data: list[tuple[float, float, float]],
) -> None:
    target, logged, reward = columns(data)
    zeros = [0.0] * len(reward)

    assert dr(target, logged, reward, zeros, zeros) == ips(target, logged, reward)


@given(data=rows)
def test_snips_is_a_weighted_mean_of_the_rewards_the_target_could_earn(
    data: list[tuple[float, float, float]],
) -> None:
    target, logged, reward = columns(data)
    reachable = [r for p, r in zip(target, reward, strict=True) if p > 0]

    value = snips(target, logged, reward)

    if reachable:
        assert min(reachable) - 1e-9 <= value <= max(reachable) + 1e-9
    else:
        assert value == 0.0


def test_a_target_that_never_takes_a_logged_action_has_zero_ips_and_snips() -> None:
    assert snips([0.0] * 40, [0.5] * 40, [1.0] * 40) == 0.0
    assert ips([0.0] * 40, [0.5] * 40, [1.0] * 40) == 0.0


# --- the empirical-likelihood interval -----------------------------------------------------------


def test_on_policy_the_value_is_the_mean_reward_and_the_interval_narrows_with_more_data() -> None:
    rng = np.random.default_rng(2)
    reward = (rng.random(4000) < 0.3).astype(float)
    probability = np.full(4000, 0.25)

    small = empirical_likelihood(probability[:400], probability[:400], reward[:400])
    large = empirical_likelihood(probability, probability, reward)

    assert small.value == pytest.approx(reward[:400].mean())
    assert large.value == pytest.approx(reward.mean())
    # About the normal interval of a mean of 0/1 rewards: 1.96 * sqrt(0.3 * 0.7 / n) each side
    assert large.high - large.low == pytest.approx(2 * 1.96 * math.sqrt(0.21 / 4000), rel=0.15)
    assert large.high - large.low < small.high - small.low


def reference(
    target: np.ndarray, logged: np.ndarray, reward: np.ndarray, confidence: float
) -> tuple[float, float, float]:
    """vw-estimators' Cressie-Read value and interval, weights known only to be in [0, inf)."""
    interval = cressieread.Interval(wmin=0, wmax=math.inf, rmin=0, rmax=1, empirical_r_bounds=True)
    estimator = cressieread.Estimator(wmin=0, wmax=math.inf)
    for p_log, r, p_pred in zip(logged.tolist(), reward.tolist(), target.tolist(), strict=True):
        interval.add_example(p_log, r, p_pred)
        estimator.add_example(p_log, r, p_pred)
    low, high = interval.get(1 - confidence)
    return float(estimator.get()), float(low), float(high)


@pytest.mark.parametrize("seed", range(40))
def test_the_interval_is_vowpal_wabbits_cressie_read_interval(seed: int) -> None:
    # Given logged decisions from a greedy-ish logger and a target that disagrees with it
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 2000))
    logged = rng.uniform(0.005, 1.0, n)
    target = rng.uniform(0.0, 1.0, n) * (rng.random(n) < rng.random())
    reward = (rng.random(n) < rng.random()).astype(float)
    confidence = [0.9, 0.95, 0.99][seed % 3]

    ours = empirical_likelihood(
        target, logged, reward, reward_range=(0.0, 1.0), confidence=confidence
    )
    value, low, high = reference(target, logged, reward, confidence)

    # Then value and bounds are VW's (ours takes the F quantile from Student's t, within 1e-6),
    # except where VW finds no bound: it answers the lower end for both, and ours the range's
    # own end, which is what an unbounded likelihood means.
    assert ours.value == pytest.approx(min(1.0, max(0.0, value)), abs=1e-6)
    assert ours.low == pytest.approx(min(low, ours.value), abs=1e-6)
    if high >= value:
        assert ours.high == pytest.approx(high, abs=1e-6)
    else:
        assert ours.high == 1.0


@given(data=rows, confidence=st.sampled_from([0.5, 0.8, 0.95, 0.99]))
def test_the_interval_holds_its_value_inside_the_rewards_that_can_be(
    data: list[tuple[float, float, float]], confidence: float
) -> None:
    target, logged, reward = columns(data)

    estimate = empirical_likelihood(
        target, logged, reward, reward_range=(-1.0, 1.0), confidence=confidence
    )

    assert estimate.n == len(data)
    assert estimate.low <= estimate.value <= estimate.high
    if data:
        assert min(-1.0, *reward) <= estimate.low and estimate.high <= max(1.0, *reward)


def test_a_target_that_never_takes_a_logged_action_could_earn_anything() -> None:
    # Given a target that never took what was logged: the data says nothing of its value
    estimate = empirical_likelihood([0.0] * 40, [0.5] * 40, [1.0] * 20 + [0.0] * 20)

    # Then the interval is every reward there can be, around the mean reward seen
    assert (estimate.low, estimate.value, estimate.high) == pytest.approx((0.0, 0.5, 1.0))


def test_a_single_reward_value_leaves_no_doubt() -> None:
    rng = np.random.default_rng(4)
    target, logged = rng.random(100), rng.uniform(0.05, 1, 100)

    assert empirical_likelihood(target, logged, np.full(100, 0.3)) == Interval(0.3, 0.3, 0.3, 100)


def test_a_lower_confidence_gives_a_narrower_interval_inside_the_wider_one() -> None:
    rng = np.random.default_rng(11)
    target, logged, reward = rng.random(500), rng.uniform(0.05, 1, 500), rng.random(500)

    wide = empirical_likelihood(target, logged, reward, confidence=0.95)
    narrow = empirical_likelihood(target, logged, reward, confidence=0.5)

    assert wide.low < narrow.low <= narrow.high < wide.high


def test_no_decisions_estimate_zero_over_zero_rows() -> None:
    empty = Interval(0.0, 0.0, 0.0, 0)

    assert OffPolicy().estimate() == Estimate(empty, 0.0, 0.0, 0.0)
    assert empty.as_dict() == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 0}


def test_off_policy_adds_decisions_one_at_a_time_to_the_same_estimates() -> None:
    rng = np.random.default_rng(5)
    target, logged, reward = rng.random(80), rng.uniform(0.05, 1, 80), rng.random(80)
    predicted_chosen, predicted_target = rng.random(80), rng.random(80)
    evaluation = OffPolicy()

    for row in zip(target, logged, reward, predicted_chosen, predicted_target, strict=True):
        evaluation.add(*(float(x) for x in row))

    assert len(evaluation) == 80
    assert evaluation.estimate(reward_range=(0.0, 1.0)) == Estimate(
        interval=empirical_likelihood(target, logged, reward, reward_range=(0.0, 1.0)),
        ips=ips(target, logged, reward),
        snips=snips(target, logged, reward),
        dr=dr(target, logged, reward, predicted_chosen, predicted_target),
    )


def test_as_dict_is_plain_json() -> None:
    evaluation = OffPolicy()
    evaluation.add(0.5, 0.5, 1.0)
    evaluation.add(1.0, 0.5, 0.0)

    shown = evaluation.estimate().as_dict()

    assert set(shown) == {"value", "low", "high", "n", "ips", "snips", "dr"}
    assert {type(v) for k, v in shown.items() if k != "n"} == {float}
    assert type(shown["n"]) is int
    assert json.loads(json.dumps(shown)) == shown


@pytest.mark.parametrize(
    ("target", "logged", "reward", "complaint"),
    [
        ([0.5], [0.0], [1.0], "logged probabilities"),
        ([-0.1], [0.5], [1.0], "target probabilities"),
        ([0.5], [0.5], [float("nan")], "reward"),
        ([0.5, 0.5], [0.5], [1.0], "one length"),
        ([[0.5]], [[0.5]], [[1.0]], "one length"),
    ],
)
def test_impossible_rows_are_refused(
    target: list[float], logged: list[float], reward: list[float], complaint: str
) -> None:
    with pytest.raises(ValueError, match=complaint):
        empirical_likelihood(target, logged, reward)
    with pytest.raises(ValueError, match=complaint):
        ips(target, logged, reward)


def test_confidence_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="confidence"):
        empirical_likelihood([0.5], [0.5], [1.0], confidence=1.0)


@pytest.mark.parametrize("df", [*range(1, 80), 100, 500, 10_000, 1_000_000])
def test_student_t_quantiles_match_scipy(df: int) -> None:
    for confidence in (0.5, 0.9, 0.95, 0.99):
        expected = float(scipy_stats.t.ppf(0.5 + confidence / 2, df))
        assert _t_critical(confidence, df) == pytest.approx(expected, abs=2e-6)


def test_fifty_thousand_decisions_take_well_under_a_second() -> None:
    rng = np.random.default_rng(13)
    n = 50_000
    evaluation = OffPolicy()
    for row in rng.random((n, 5)).tolist():
        evaluation.add(row[0], 0.05 + 0.95 * row[1], row[2], row[3], row[4])

    started = time.perf_counter()
    evaluation.estimate()
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0


# --- coverage ------------------------------------------------------------------------------------


def simulated_coverage(logging_pmf: list[float], repetitions: int = 200, n: int = 500) -> float:
    """How often the 95% interval holds the true value of a 3-action target policy."""
    logging, target = np.array(logging_pmf), np.array([0.6, 0.3, 0.1])
    means = np.array([0.7, 0.4, 0.2])
    truth = float(target @ means)
    covered = 0
    for seed in range(repetitions):
        rng = np.random.default_rng(seed)
        action = rng.choice(3, size=n, p=logging)
        reward = (rng.random(n) < means[action]).astype(float)
        found = empirical_likelihood(
            target[action], logging[action], reward, reward_range=(0.0, 1.0)
        )
        covered += found.low <= truth <= found.high
    return covered / repetitions


def test_the_interval_covers_the_true_value_at_least_95_percent_of_the_time() -> None:
    # A logging policy down to 0.05 on the action the target likes best
    assert 0.93 <= simulated_coverage([0.05, 0.25, 0.70]) <= 0.995


def test_it_stays_honest_when_the_logger_almost_never_tried_the_targets_choice() -> None:
    # A nearly greedy logger: the target's favourite was logged at 0.002, about once in 500
    # decisions, so most samples never show the weight of 300 that IPS hinges on. A bootstrap
    # of IPS then sees no spread and misses the truth; the empirical likelihood knows the
    # weights must average 1 and leaves room for what was not seen.
    assert simulated_coverage([0.002, 0.198, 0.80]) >= 0.95
