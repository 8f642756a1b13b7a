"""The policy: safe exploration settings, reproducible sampling, and a model that round-trips."""

from __future__ import annotations

from collections import Counter

import pytest
from decider.learning.featurize import Label
from decider.learning.policy import Policy, sample
from decider.records import DecisionFeatures
from decider.settings import exploration_args
from decider.store.memory import MemoryModelStore
from hypothesis import given
from hypothesis import strategies as st

EXPLORATION = ["--epsilon", "0.2"]


def visit(season: str, segment: str = "returning") -> DecisionFeatures:
    return DecisionFeatures(
        context={"season": season, "hour": 10},
        custom={"referrer": "newsletter"},
        profile={"segment": segment, "interests": ["running"]},
        actions=[
            ("winter-coat", {"category": "outerwear", "price": 129.0}),
            ("sunglasses", {"category": "accessories", "price": 39.0}),
            ("umbrella", {"category": "accessories", "price": 19.0}),
        ],
    )


# --- exploration settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("--epsilon 0.2", ["--epsilon", "0.2"]),
        ("--squarecb --gamma_scale 10", ["--squarecb", "--gamma_scale", "10"]),
        ("--cover 3 --psi 0.1 --nounif", ["--cover", "3", "--psi", "0.1", "--nounif"]),
        ("", []),
    ],
)
def test_exploration_args_accepts_exploration_options(text: str, words: list[str]) -> None:
    assert exploration_args(text) == words
    Policy(words)  # and VW accepts them too


@pytest.mark.parametrize(
    "text",
    [
        "-f model.vw",  # would write a file
        "--data x",  # would read one
        "--epsilon 0.2 -i model.vw",
        "--epsilon",  # a flag missing its value
        "--squarecb --gamma_scale",
        "--epsilon --nounif",  # the value is missing, the next flag is not a value
        "--cb_type --squarecb",
        "--quiet",
        "0.2",
    ],
)
def test_exploration_args_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        exploration_args(text)


# --- sampling ------------------------------------------------------------------------------------


def test_sample_is_deterministic_per_event_id() -> None:
    pmf = [0.25, 0.25, 0.25, 0.25]
    draws = [sample(pmf, f"event-{i}") for i in range(200)]
    # Then the same event id always draws the same action
    assert draws == [sample(pmf, f"event-{i}") for i in range(200)]
    # And different event ids do not all draw the same one
    assert set(draws) == {0, 1, 2, 3}


pmfs = (
    st.lists(st.one_of(st.just(0.0), st.floats(1e-6, 1.0)), min_size=1, max_size=12)
    .filter(lambda weights: sum(weights) > 0)
    .map(lambda weights: [w / sum(weights) for w in weights])
)


@given(pmf=pmfs, event_id=st.text(min_size=1, max_size=64))
def test_sample_never_draws_a_zero_probability_action(pmf: list[float], event_id: str) -> None:
    chosen = sample(pmf, event_id)
    assert 0 <= chosen < len(pmf)
    assert pmf[chosen] > 0


def test_sample_respects_zeros_even_when_rounding_leaves_the_sum_short_of_one() -> None:
    pmf = [0.0, 0.3333333, 0.0, 0.3333333, 0.3333333, 0.0]  # sums to 0.9999999
    chosen = {sample(pmf, f"e{i}") for i in range(3000)}
    assert chosen == {1, 3, 4}


def test_sample_frequencies_match_the_pmf() -> None:
    # Given a skewed pmf and many event ids
    pmf = [0.6, 0.25, 0.1, 0.05, 0.0]
    n = 5000
    counts = Counter(sample(pmf, f"visit-{i:05d}") for i in range(n))
    # Then the draws follow the pmf: chi-square with 3 degrees of freedom below its 0.1 % quantile
    assert counts[4] == 0
    chi_square = sum((counts[i] - n * p) ** 2 / (n * p) for i, p in enumerate(pmf) if p > 0)
    assert chi_square < 16.27


# --- the VW policy -------------------------------------------------------------------------------


@pytest.mark.parametrize("exploration", [EXPLORATION, ["--squarecb"], ["--cover", "3"]])
def test_a_fresh_policy_gives_a_pmf_over_every_action(exploration: list[str]) -> None:
    pmf = Policy(exploration).pmf(visit("winter"))
    assert len(pmf) == 3
    assert all(p >= 0 for p in pmf)
    assert sum(pmf) == pytest.approx(1.0)


def trained_policy() -> Policy:
    """Winter visitors buy coats, summer visitors buy sunglasses."""
    policy = Policy(EXPLORATION)
    for _ in range(30):
        policy.learn(visit("winter"), Label(index=0, cost=-1.0, probability=1 / 3))
        policy.learn(visit("winter"), Label(index=1, cost=0.0, probability=1 / 3))
        policy.learn(visit("summer"), Label(index=1, cost=-1.0, probability=1 / 3))
        policy.learn(visit("summer"), Label(index=0, cost=0.0, probability=1 / 3))
    return policy


def test_a_trained_policy_prefers_what_converted() -> None:
    policy = trained_policy()
    winter, summer = policy.pmf(visit("winter")), policy.pmf(visit("summer"))
    # epsilon 0.2 over 3 actions: the greedy action gets 0.8 + 0.2 / 3
    assert winter == pytest.approx([0.8 + 0.2 / 3, 0.2 / 3, 0.2 / 3])
    assert summer == pytest.approx([0.2 / 3, 0.8 + 0.2 / 3, 0.2 / 3])


def test_model_store_round_trip_keeps_the_probabilities() -> None:
    # Given a policy that learned something
    policy = trained_policy()
    visits = [visit("winter"), visit("summer"), visit("autumn", segment="new")]
    before = [policy.pmf(v) for v in visits]
    assert before[0] != before[1]
    # When it is serialized, stored, loaded back
    store = MemoryModelStore()
    key = store.put("home-hero", 1, policy.serialize())
    loaded = Policy(EXPLORATION, model=store.get(key))
    # Then it gives the same probabilities
    for visit_, expected in zip(visits, before, strict=True):
        assert loaded.pmf(visit_) == pytest.approx(expected)


def test_a_loaded_model_keeps_learning_where_it_left_off() -> None:
    original = trained_policy()
    loaded = Policy(EXPLORATION, model=original.serialize())
    for policy in (original, loaded):
        for _ in range(60):
            policy.learn(visit("winter"), Label(index=2, cost=-2.0, probability=1 / 3))
    assert loaded.pmf(visit("winter")) == pytest.approx(original.pmf(visit("winter")))
    assert loaded.pmf(visit("winter"))[2] == pytest.approx(0.8 + 0.2 / 3)


def test_a_garbage_model_is_refused() -> None:
    with pytest.raises(RuntimeError):
        Policy(EXPLORATION, model=b"not a model")
