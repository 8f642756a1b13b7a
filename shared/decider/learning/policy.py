"""The contextual-bandit policy: VW ``--cb_explore_adf`` and exploration sampling."""

from __future__ import annotations

import hashlib
import json
import random
import shlex
from collections.abc import Sequence
from typing import cast

import vowpal_wabbit_next as vw

from decider.learning.featurize import (
    CUBIC_INTERACTIONS,
    INTERACTIONS,
    Label,
    action_json,
    shared_namespaces,
    to_vw_json,
)
from decider.records import DecisionFeatures
from decider.settings import REWARD_SCALE_FLAG, without_exploration

# Explaining a choice compares it with at most this many of the other actions (the likeliest).
EXPLAIN_RIVALS = 3


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
        self._arguments = arguments
        self._workspace = vw.Workspace(arguments, model_data=model)
        self._parser = vw.JsonFormatParser(self._workspace)
        self._scorer: vw.Workspace | None = None

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

    def contributions(
        self, features: DecisionFeatures, chosen: int, pmf: Sequence[float]
    ) -> list[tuple[str, str, float]]:
        """What each shared feature did for the chosen action, as VW's audit reads it off the
        weights: its interactions with the chosen action's features, less their average with
        the likeliest other actions' (its own weight is the same for every action). Scored in
        one prediction, a line per feature and action holding only those; a number and its
        magnitude bucket count as one feature, and the three-way (context, profile, action)
        terms are left out. (namespace, VW feature, contribution), strongest first."""
        groups: dict[tuple[str, str], dict[str, float]] = {}
        for ns, names in shared_namespaces(features).items():
            for key, value in names.items():
                groups.setdefault((ns, key.split("~", 1)[0]), {})[key] = value
        others = sorted((i for i in range(len(pmf)) if i != chosen), key=lambda i: -pmf[i])
        compared = [chosen, *others[:EXPLAIN_RIVALS]]
        fatigue = features.fatigue or [{}] * len(features.actions)
        # The example's text put together from each part's JSON, made once: a line per
        # compared action alone, then one per (feature, action) holding only those.
        actions = [
            action_json(*features.actions[index], fatigue[index])[1:-1] for index in compared
        ]
        lines = [*actions]
        for (ns, _), names in groups.items():
            shared = f'"{ns}":{json.dumps(names, ensure_ascii=False)}'
            lines.extend(f"{shared},{action}" for action in actions)
        scores = self._scores('{"_multi":[{' + "},{".join(lines) + "}]}")
        if not scores:
            return []
        width = len(compared)
        alone = scores[:width]
        found = []
        for position, (ns, key) in enumerate(groups, start=1):
            row = scores[position * width : (position + 1) * width]
            raised = [with_it - without for with_it, without in zip(row, alone, strict=True)]
            rivals = raised[1:]
            edge = raised[0] - (sum(rivals) / len(rivals) if rivals else 0.0)
            found.append((ns, key, edge))
        return sorted(found, key=lambda item: -item[2])

    def _scores(self, example: str) -> list[float]:
        """Each line's predicted reward (VW's cost, negated), by a ``--cb_adf`` copy of the
        model's weights, which shows the scores its exploration turns into probabilities."""
        if self._scorer is None:
            scorer = vw.Workspace(["--cb_adf", *without_exploration(self._arguments[1:])])
            weights = self._workspace.weights()
            if scorer.weights().shape != weights.shape:
                return []  # an exploration that keeps several models (bagging, cover)
            scorer.weights()[:] = weights
            self._scorer = scorer
        examples = cast(Examples, vw.JsonFormatParser(self._scorer).parse_json(example))
        scores = [0.0] * len(examples)
        for index, cost in cast(list[tuple[int, float]], self._scorer.predict_one(examples)):
            scores[index] = -cost
        return scores

    def learn(self, features: DecisionFeatures, label: Label) -> None:
        self._scorer = None
        self._workspace.learn_one(self.parse(to_vw_json(features, label)))

    def learn_examples(self, examples: Examples) -> None:
        self._scorer = None
        self._workspace.learn_one(examples)

    def serialize(self) -> bytes:
        return self._workspace.serialize()


class RewardModel:
    """A regression of reward on context and action (VW ``--cb_adf``): the direct-method part
    of doubly robust estimates. It takes examples a ``Policy`` parsed (the same features and
    hashing), so retrain parses each decision once for both; it must learn an example before
    the policy does (the policy's learning leaves marks on an example that change what this
    one would learn from it; predicting leaves none)."""

    def __init__(self, tuning: Sequence[str], scale: float = 1.0) -> None:
        """``scale``: what the rewards it learns were divided by (its predictions are not)."""
        self._workspace = vw.Workspace(vw_args(tuning, reduction="--cb_adf"))
        self._scale = scale

    def learn(self, examples: Examples) -> None:
        """Learn a labelled example (``Policy.parse`` of ``to_vw_json``)."""
        self._workspace.learn_one(examples)

    def predict(self, examples: Examples, count: int) -> list[float]:
        """The predicted reward of each of the example's ``count`` actions, in their order."""
        rewards = [0.0] * count
        for index, cost in cast(list[tuple[int, float]], self._workspace.predict_one(examples)):
            rewards[index] = -cost * self._scale
        return rewards


def lineage(recorded: str | None, default: Sequence[str]) -> list[str]:
    """The VW tuning a stored version must be loaded (or continued) with: the one it
    recorded (without the reward scale, which is not VW's), or, for versions from before it
    was recorded, the default."""
    if not recorded:
        return list(default)
    words = shlex.split(recorded)
    if REWARD_SCALE_FLAG in words:
        at = words.index(REWARD_SCALE_FLAG)
        del words[at : at + 2]
    return words


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
