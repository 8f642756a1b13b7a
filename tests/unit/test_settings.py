"""Settings per decision point: structured exploration, and the stack's defaults in their place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from decider.schemas import DecisionPointSettings, EpsilonGreedy, SquareCB, StackExploration
from decider.settings import LoopSettings, StackSettings, exploration_of
from pydantic import ValidationError

STACK = LoopSettings(reward_wait=timedelta(minutes=10))


@pytest.mark.parametrize(
    ("exploration", "args"),
    [
        (SquareCB(algorithm="squarecb"), ["--squarecb", "--gamma_scale", "50"]),
        (
            SquareCB(algorithm="squarecb", gamma_scale=12.5, gamma_exponent=0.25),
            ["--squarecb", "--gamma_scale", "12.5", "--gamma_exponent", "0.25"],
        ),
        (EpsilonGreedy(algorithm="epsilon_greedy"), ["--epsilon", "0.2"]),
        (EpsilonGreedy(algorithm="epsilon_greedy", epsilon=0.05), ["--epsilon", "0.05"]),
    ],
)
def test_exploration_becomes_vw_arguments_and_back(
    exploration: SquareCB | EpsilonGreedy, args: list[str]
) -> None:
    assert exploration.vw_args() == args
    assert exploration_of(args) == exploration


def test_the_stacks_default_set_explicitly_is_the_same_lineage() -> None:
    explicit = DecisionPointSettings(exploration=SquareCB(algorithm="squarecb"))

    assert STACK.for_decision_point(explicit).tuning == STACK.tuning


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--squarecb"], SquareCB(algorithm="squarecb", gamma_scale=10.0)),  # VW's own default
        (["--bag", "5"], StackExploration(algorithm="vw", args="--bag 5")),
        (
            ["--squarecb", "--gamma_scale"],
            StackExploration(algorithm="vw", args="--squarecb --gamma_scale"),
        ),
        (["--epsilon", "x"], StackExploration(algorithm="vw", args="--epsilon x")),
    ],
)
def test_stack_exploration_is_shown_structured_when_it_can_be(
    args: list[str], shown: SquareCB | StackExploration
) -> None:
    assert exploration_of(args) == shown


def test_a_decision_points_own_settings_take_the_place_of_the_stacks() -> None:
    own = DecisionPointSettings(
        exploration=EpsilonGreedy(algorithm="epsilon_greedy", epsilon=0.1),
        default_reward=-0.5,
        retention_days=7,
        max_actions=12,
    )

    loop = STACK.for_decision_point(own)

    assert (loop.exploration, loop.default_reward, loop.retention) == (
        ["--epsilon", "0.1"],
        -0.5,
        timedelta(days=7),
    )
    assert (loop.learner, loop.reward_wait) == (STACK.learner, STACK.reward_wait)
    assert STACK.for_decision_point(DecisionPointSettings()) is STACK
    assert STACK.effective(own).model_dump() == {
        "exploration": {"algorithm": "epsilon_greedy", "epsilon": 0.1},
        "default_reward": -0.5,
        "reward_wait_seconds": int(STACK.reward_wait.total_seconds()),
        "reward_aggregation": "earliest",
        "reward_range": {"low": -1.0, "high": 1.0},
        "reward_unit": "conversion",
        "retention_days": 7,
        "promotion_rule": "always",
        "promotion_tolerance": 0.0,
        "learning_mode": "online",
        "baseline_action": None,
        "graduate_when": None,
        "holdout_share": 0.0,
        "max_actions": 12,
    }


def stack_settings(**changes: object) -> StackSettings:
    return StackSettings.model_validate(
        {"decisions_table": "d", "models_table": "m", "models_bucket": "b", "user_hash_secret": "s",
         "profiles_table": "p", "reward_wait_seconds": 60, **changes}
    )  # fmt: skip


def test_the_stacks_reward_range_defaults_to_minus_one_to_one_and_must_be_a_range() -> None:
    assert stack_settings().loop().reward_range == (-1.0, 1.0)
    wide = stack_settings(reward_min=-50, reward_max=500)
    assert wide.loop().reward_range == (-50.0, 500.0)
    for bad in ({"reward_min": 1, "reward_max": 1}, {"default_reward": 2}, {"reward_max": 1e-200}):
        with pytest.raises(ValidationError):
            stack_settings(**bad)
