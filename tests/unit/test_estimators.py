"""Off-policy estimators: hand-computed values, honest intervals, degenerate inputs, coverage."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from decider.estimators import Interval, OffPolicy, dr, ips, snips
from hypothesis import given
from hypothesis import strategies as st

# Four logged decisions, worked by hand below.
TARGET = [1.0, 0.5, 0.0, 0.25]
LOGGED = [0.5, 0.25, 0.5, 0.5]
REWARD = [1.0, 0.0, 1.0, 2.0]
PREDICTED_CHOSEN = [0.5, 0.5, 0.5, 1.0]
PREDICTED_TARGET = [0.8, 0.3, 0.4, 0.6]
# w = target / logged = [2, 2, 0, 0.5]; w * r = [2, 0, 0, 1]
# Student-t with 3 degrees of freedom, two-sided 95%: 3.182446 (from a table).
T_3 = 3.182446

probabilities = st.floats(0.0, 1.0)
logging_probabilities = st.floats(0.01, 1.0)
rewards = st.floats(-100.0, 100.0)
rows = st.lists(st.tuples(probabilities, logging_probabilities, rewards), max_size=60)


def columns(data: list[tuple[float, float, float]]) -> tuple[list[float], ...]:
    return tuple(list(c) for c in zip(*data, strict=True)) if data else ([], [], [])


def test_ips_of_four_decisions_by_hand() -> None:
    # IPS = (1/4) * (2*1 + 2*0 + 0*1 + 0.5*2) = 3/4
    estimate = ips(TARGET, LOGGED, REWARD)

    assert estimate.value == pytest.approx(0.75)
    assert estimate.n == 4
    # Under 30 rows the interval covers the t interval on the per-row terms [2, 0, 0, 1]:
    # s^2 = (1.25^2 + 0.75^2 + 0.75^2 + 0.25^2) / 3 = 2.75 / 3, half = 3.182446 * s / 2 = 1.523480,
    # and it is wider than the bootstrap's, which cannot leave [0, 2].
    assert estimate.low == pytest.approx(0.75 - 1.523480, abs=1e-5)
    assert estimate.high == pytest.approx(0.75 + 1.523480, abs=1e-5)


def test_snips_of_four_decisions_by_hand() -> None:
    # SNIPS = (2*1 + 2*0 + 0*1 + 0.5*2) / (2 + 2 + 0 + 0.5) = 3 / 4.5 = 2/3
    estimate = snips(TARGET, LOGGED, REWARD)

    assert estimate.value == pytest.approx(2 / 3)
    # Linearised terms w * (r - 2/3) / mean(w), mean(w) = 1.125: [16, -32, 0, 16] / 27;
    # s^2 = (256 + 1024 + 0 + 256) / 729 / 3, half = 3.182446 * s / 2 = 1.333528.
    assert estimate.low == pytest.approx(2 / 3 - 1.333528, abs=1e-5)
    assert estimate.high == pytest.approx(2 / 3 + 1.333528, abs=1e-5)


def test_doubly_robust_of_four_decisions_by_hand() -> None:
    # Terms predicted_target + w * (r - predicted_chosen):
    #   0.8 + 2 * (1 - 0.5) = 1.8;  0.3 + 2 * (0 - 0.5) = -0.7;  0.4 + 0 = 0.4;  0.6 + 0.5 * 1 = 1.1
    # DR = (1.8 - 0.7 + 0.4 + 1.1) / 4 = 2.6 / 4 = 0.65
    estimate = dr(TARGET, LOGGED, REWARD, PREDICTED_CHOSEN, PREDICTED_TARGET)

    assert estimate.value == pytest.approx(0.65)
    # s^2 = (1.15^2 + 1.35^2 + 0.25^2 + 0.45^2) / 3 = 3.41 / 3, half = 3.182446 * s / 2 = 1.696476
    assert estimate.low == pytest.approx(0.65 - 1.696476, abs=1e-5)
    assert estimate.high == pytest.approx(0.65 + 1.696476, abs=1e-5)


def test_on_policy_data_estimates_the_mean_reward() -> None:
    # Given the target is the logging policy, every weight is 1
    probability = [0.2, 0.5, 0.3, 0.9, 0.1]
    reward = [1.0, 0.0, 0.0, 1.0, 1.0]

    # Then IPS and SNIPS are the mean reward, 3/5
    assert ips(probability, probability, reward).value == pytest.approx(0.6)
    assert snips(probability, probability, reward).value == pytest.approx(0.6)


@given(data=rows)
def test_on_policy_ips_and_snips_are_the_mean_reward(
    data: list[tuple[float, float, float]],
) -> None:
    _, logged, reward = columns(data)
    mean = float(np.mean(reward)) if reward else 0.0

    assert ips(logged, logged, reward).value == pytest.approx(mean, abs=1e-9)
    assert snips(logged, logged, reward).value == pytest.approx(mean, abs=1e-9)


@given(data=rows)
def test_doubly_robust_without_a_reward_model_is_ips(
    data: list[tuple[float, float, float]],
) -> None:
    target, logged, reward = columns(data)
    zeros = [0.0] * len(reward)

    assert dr(target, logged, reward, zeros, zeros) == ips(target, logged, reward)


@given(data=rows, confidence=st.sampled_from([0.5, 0.8, 0.95, 0.99]))
def test_every_interval_contains_its_estimate(
    data: list[tuple[float, float, float]], confidence: float
) -> None:
    target, logged, reward = columns(data)
    predicted = [r / 2 for r in reward]  # a poor reward model, so DR differs from IPS

    for estimate in (
        ips(target, logged, reward, confidence=confidence),
        snips(target, logged, reward, confidence=confidence),
        dr(target, logged, reward, predicted, predicted, confidence=confidence),
    ):
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.n == len(data)


@given(data=rows)
def test_snips_is_a_weighted_mean_of_the_rewards_the_target_could_earn(
    data: list[tuple[float, float, float]],
) -> None:
    target, logged, reward = columns(data)
    reachable = [r for p, r in zip(target, reward, strict=True) if p > 0]

    value = snips(target, logged, reward).value

    if reachable:
        assert min(reachable) - 1e-9 <= value <= max(reachable) + 1e-9
    else:
        assert value == 0.0


def test_a_perfect_reward_model_leaves_doubly_robust_no_doubt() -> None:
    # Given deterministic rewards [1, 0, 0.5] per action and a model that knows them
    rng = np.random.default_rng(7)
    logging_pmf, target_pmf = np.array([0.05, 0.25, 0.7]), np.array([0.6, 0.3, 0.1])
    truth = 0.6 * 1.0 + 0.3 * 0.0 + 0.1 * 0.5
    action = rng.choice(3, size=300, p=logging_pmf)
    reward = np.array([1.0, 0.0, 0.5])[action]
    target, logged = target_pmf[action], logging_pmf[action]

    estimate = dr(target, logged, reward, reward, np.full(300, truth))

    # Then DR is the truth with a zero-width interval, where IPS still has to guess
    assert estimate.value == pytest.approx(truth)
    assert estimate.high - estimate.low < 1e-9
    assert estimate.low <= truth + 1e-12 and truth - 1e-12 <= estimate.high
    assert ips(target, logged, reward).high - ips(target, logged, reward).low > 0.1


def test_same_rows_give_the_same_interval() -> None:
    rng = np.random.default_rng(3)
    target, logged, reward = rng.random(200), rng.uniform(0.05, 1, 200), rng.normal(size=200)

    assert ips(target, logged, reward) == ips(target, logged, reward)
    assert snips(target, logged, reward) == snips(target, logged, reward)
    assert dr(target, logged, reward, reward, reward) == dr(target, logged, reward, reward, reward)


def test_off_policy_adds_decisions_one_at_a_time_to_the_same_estimates() -> None:
    rng = np.random.default_rng(5)
    target, logged, reward = rng.random(80), rng.uniform(0.05, 1, 80), rng.normal(size=80)
    predicted_chosen, predicted_target = rng.normal(size=80), rng.normal(size=80)
    evaluation = OffPolicy()

    for row in zip(target, logged, reward, predicted_chosen, predicted_target, strict=True):
        evaluation.add(*(float(x) for x in row))

    assert len(evaluation) == 80
    assert evaluation.estimates() == {
        "ips": ips(target, logged, reward),
        "snips": snips(target, logged, reward),
        "dr": dr(target, logged, reward, predicted_chosen, predicted_target),
    }


def test_a_lower_confidence_gives_a_narrower_interval_inside_the_wider_one() -> None:
    rng = np.random.default_rng(11)
    target, logged, reward = rng.random(500), rng.uniform(0.05, 1, 500), rng.random(500)

    wide = ips(target, logged, reward, confidence=0.95)
    narrow = ips(target, logged, reward, confidence=0.5)

    assert wide.low < narrow.low <= narrow.high < wide.high


def test_no_decisions_estimate_zero_over_zero_rows() -> None:
    empty = Interval(0.0, 0.0, 0.0, 0)

    assert OffPolicy().estimates() == {"ips": empty, "snips": empty, "dr": empty}
    assert empty.as_dict() == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 0}


def test_one_decision_shows_no_spread() -> None:
    # w = 0.5 / 0.25 = 2: IPS = 2 * 3 = 6; SNIPS = 6 / 2 = 3; DR = 1 + 2 * (3 - 2) = 3
    assert ips([0.5], [0.25], [3.0]) == Interval(6.0, 6.0, 6.0, 1)
    assert snips([0.5], [0.25], [3.0]) == Interval(3.0, 3.0, 3.0, 1)
    assert dr([0.5], [0.25], [3.0], [2.0], [1.0]) == Interval(3.0, 3.0, 3.0, 1)


def test_a_target_that_never_takes_a_logged_action_estimates_zero() -> None:
    # SNIPS has no weight to normalise by; it answers as IPS does
    zero = Interval(0.0, 0.0, 0.0, 40)

    assert snips([0.0] * 40, [0.5] * 40, [1.0] * 40) == zero
    assert ips([0.0] * 40, [0.5] * 40, [1.0] * 40) == zero


@pytest.mark.parametrize("n", [5, 100])
def test_a_constant_reward_collapses_the_snips_interval_but_not_the_ips_one(n: int) -> None:
    rng = np.random.default_rng(n)
    target, logged, reward = rng.random(n), rng.uniform(0.05, 1, n), np.full(n, 0.3)

    normalised = snips(target, logged, reward)
    weighted = ips(target, logged, reward)

    assert normalised.value == pytest.approx(0.3)
    assert normalised.low <= normalised.value <= normalised.high
    assert normalised.low == pytest.approx(0.3, abs=1e-12)
    assert normalised.high == pytest.approx(0.3, abs=1e-12)
    assert weighted.high - weighted.low > 0.05  # IPS still carries the weights' noise


@pytest.mark.parametrize("n", [50, 100, 1000])
def test_on_policy_constant_reward_collapses_every_interval(n: int) -> None:
    probability, reward = np.full(n, 0.4), np.full(n, 0.3)

    for estimate in (
        ips(probability, probability, reward),
        snips(probability, probability, reward),
        dr(probability, probability, reward, reward, reward),
    ):
        assert (estimate.low, estimate.high) == pytest.approx((0.3, 0.3), abs=1e-12)
        # exactly, not approximately: 0.3 * 100 rounds, and the interval must still hold 0.3
        assert estimate.low <= estimate.value <= estimate.high


def test_as_dict_is_plain_json() -> None:
    estimate = ips(np.array([0.5, 1.0]), np.array([0.5, 0.5]), np.array([1.0, 0.0]))

    shown = estimate.as_dict()

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
        ips(target, logged, reward)


def test_confidence_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="confidence"):
        ips([0.5], [0.5], [1.0], confidence=1.0)


def test_fifty_thousand_decisions_take_well_under_a_second() -> None:
    rng = np.random.default_rng(13)
    n = 50_000
    evaluation = OffPolicy()
    for row in rng.random((n, 5)).tolist():
        evaluation.add(row[0], 0.05 + 0.95 * row[1], row[2], row[3], row[4])

    started = time.perf_counter()
    evaluation.estimates()
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0


# A known 3-action problem: Bernoulli rewards with means [0.7, 0.4, 0.2], a logging policy down
# to 0.05 on the action the target likes best, and a biased reward model for DR.
LOGGING_PMF = np.array([0.05, 0.25, 0.70])
TARGET_PMF = np.array([0.6, 0.3, 0.1])
REWARD_MEANS = np.array([0.7, 0.4, 0.2])
REWARD_MODEL = np.array([0.5, 0.5, 0.3])
TRUE_VALUE = 0.6 * 0.7 + 0.3 * 0.4 + 0.1 * 0.2  # = 0.56
MODEL_VALUE = 0.6 * 0.5 + 0.3 * 0.5 + 0.1 * 0.3  # = 0.48, what the model thinks the target earns


def test_intervals_cover_the_true_value_about_95_percent_of_the_time() -> None:
    repetitions, n = 200, 500
    covered = dict.fromkeys(("ips", "snips", "dr"), 0)
    width = dict.fromkeys(("ips", "snips", "dr"), 0.0)

    for seed in range(repetitions):
        rng = np.random.default_rng(seed)
        action = rng.choice(3, size=n, p=LOGGING_PMF)
        reward = (rng.random(n) < REWARD_MEANS[action]).astype(float)
        evaluation = OffPolicy()
        for a, r in zip(action.tolist(), reward.tolist(), strict=True):
            evaluation.add(TARGET_PMF[a], LOGGING_PMF[a], r, REWARD_MODEL[a], MODEL_VALUE)
        for name, estimate in evaluation.estimates().items():
            covered[name] += estimate.low <= TRUE_VALUE <= estimate.high
            width[name] += (estimate.high - estimate.low) / repetitions

    for name, hits in covered.items():
        # 95% nominal; 200 draws put honest coverage within ~3 points of it, so below 90% is
        # too narrow and above 99% (at most 2 misses) is too wide to be useful.
        assert 0.90 <= hits / repetitions <= 0.99, (name, hits)
    assert width["dr"] < width["ips"]  # even a biased reward model takes variance out of IPS
