"""The contextual-bandit policy: VW ``--cb_explore_adf`` and exploration sampling."""

from __future__ import annotations

import hashlib
import random
import shlex
from collections.abc import Sequence
from typing import cast

import vowpal_wabbit_next as vw

from decider.learning.featurize import CUBIC_INTERACTIONS, INTERACTIONS, Label, to_vw_json
from decider.records import DecisionFeatures


def vw_args(tuning: Sequence[str], reduction: str = "--cb_explore_adf") -> list[str]:
    """The whole VW command line: a reduction, the interactions, and the tuning (exploration
    and learning-rate arguments) that a model version records as its lineage."""
    quadratic = [arg for pair in INTERACTIONS for arg in ("-q", pair)]
    cubic = [arg for triple in CUBIC_INTERACTIONS for arg in ("--cubic", triple)]
    return [reduction, "--quiet", *quadratic, *cubic, *tuning]


Examples = list[vw.Example]


class Policy:
    """A VW workspace, fresh or loaded from a stored model."""

    def __init__(
        self,
        tuning: Sequence[str],
        model: bytes | None = None,
        args: Sequence[str] | None = None,
    ) -> None:
        arguments = list(args) if args is not None else vw_args(tuning)
        self._workspace = vw.Workspace(arguments, model_data=model)
        self._parser = vw.JsonFormatParser(self._workspace)

    def parse(self, example: str) -> Examples:
        """An example in VW's JSON (``to_vw_json``), parsed once to be scored and learned from
        any number of times; a label, if it has one, does not change what it scores."""
        return cast(Examples, self._parser.parse_json(example))

    def pmf(self, features: DecisionFeatures) -> list[float]:
        """The probability of each action, in the order of ``features.actions``."""
        return self.pmf_of(self.parse(to_vw_json(features)), len(features.actions))

    def pmf_of(self, examples: Examples, count: int) -> list[float]:
        probabilities = [0.0] * count
        scored = cast(list[tuple[int, float]], self._workspace.predict_one(examples))
        for index, probability in scored:  # cb_explore_adf predicts (action, probability) pairs
            probabilities[index] = probability
        return normalized(probabilities)

    def learn(self, features: DecisionFeatures, label: Label) -> None:
        self._workspace.learn_one(self.parse(to_vw_json(features, label)))

    def learn_examples(self, examples: Examples) -> None:
        self._workspace.learn_one(examples)

    def serialize(self) -> bytes:
        return self._workspace.serialize()


class RewardModel:
    """A regression of reward on context and action (VW ``--cb_adf``): the direct-method part
    of doubly robust estimates."""

    def __init__(self, tuning: Sequence[str]) -> None:
        self._workspace = vw.Workspace(vw_args(tuning, reduction="--cb_adf"))
        self._parser = vw.JsonFormatParser(self._workspace)

    def learn(self, example: str) -> None:
        """Learn a labelled example in VW's JSON (``to_vw_json``)."""
        self._workspace.learn_one(self._parser.parse_json(example))

    def predict(self, example: str, count: int) -> list[float]:
        """The predicted reward of each of the example's ``count`` actions, in their order."""
        rewards = [0.0] * count
        scored = self._workspace.predict_one(self._parser.parse_json(example))
        for index, cost in cast(list[tuple[int, float]], scored):
            rewards[index] = -cost
        return rewards


def lineage(recorded: str | None, default: Sequence[str]) -> list[str]:
    """The VW tuning a stored version must be loaded (or continued) with: the one it
    recorded, or, for versions from before it was recorded, the default."""
    return shlex.split(recorded) if recorded else list(default)


def uniform(count: int) -> list[float]:
    return [1.0 / count] * count


def normalized(probabilities: list[float]) -> list[float]:
    total = sum(probabilities)
    return [p / total for p in probabilities] if total > 0 else uniform(len(probabilities))


def sample(probabilities: Sequence[float], event_id: str) -> int:
    """Draw an action index; the same event id always draws the same action."""
    seed = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big")
    draw = random.Random(seed).random()
    cumulative = 0.0
    for index, probability in enumerate(probabilities):
        cumulative += probability
        if draw < cumulative:
            return index
    return max(i for i, p in enumerate(probabilities) if p > 0)
