"""The contextual-bandit policy: VW ``--cb_explore_adf`` and exploration sampling."""

from __future__ import annotations

import hashlib
import random
import shlex
from collections.abc import Sequence
from typing import cast

import vowpal_wabbit_next as vw

from decider.featurize import CUBIC_INTERACTIONS, INTERACTIONS, DecisionFeatures, Label, to_vw_json

# Only exploration options may come from settings; anything else (files, learners) is refused.
_EXPLORATION_FLAGS = {
    "--epsilon": 1,
    "--first": 1,
    "--bag": 1,
    "--cover": 1,
    "--psi": 1,
    "--nounif": 0,
    "--softmax": 0,
    "--lambda": 1,
    "--squarecb": 0,
    "--gamma_scale": 1,
    "--gamma_exponent": 1,
    "--regcb": 0,
    "--regcbopt": 0,
    "--mellowness": 1,
    "--first_only": 0,
    "--synthcover": 0,
    "--synthcoverpsi": 1,
    "--synthcoversize": 1,
    "--cb_type": 1,
}


def exploration_args(text: str) -> list[str]:
    """Parse and check exploration arguments such as ``--epsilon 0.2``."""
    words = shlex.split(text)
    position = 0
    while position < len(words):
        flag = words[position]
        if flag not in _EXPLORATION_FLAGS:
            raise ValueError(f"not an exploration argument: {flag!r}")
        arity = _EXPLORATION_FLAGS[flag]
        # A missing value must not swallow the next flag: VW would only fail later, at load.
        if arity and (position + 1 >= len(words) or words[position + 1].startswith("--")):
            raise ValueError(f"{flag!r} needs a value")
        position += 1 + arity
    return words


def vw_args(exploration: Sequence[str]) -> list[str]:
    quadratic = [arg for pair in INTERACTIONS for arg in ("-q", pair)]
    cubic = [arg for triple in CUBIC_INTERACTIONS for arg in ("--cubic", triple)]
    return ["--cb_explore_adf", "--quiet", *quadratic, *cubic, *exploration]


class Policy:
    """A VW workspace, fresh or loaded from a stored model."""

    def __init__(self, exploration: Sequence[str], model: bytes | None = None) -> None:
        self._workspace = vw.Workspace(vw_args(exploration), model_data=model)
        self._parser = vw.JsonFormatParser(self._workspace)

    def pmf(self, features: DecisionFeatures) -> list[float]:
        """The probability of each action, in the order of ``features.actions``."""
        examples = self._parser.parse_json(to_vw_json(features))
        probabilities = [0.0] * len(features.actions)
        scored = cast(list[tuple[int, float]], self._workspace.predict_one(examples))
        for index, probability in scored:  # cb_explore_adf predicts (action, probability) pairs
            probabilities[index] = probability
        return normalized(probabilities)

    def learn(self, features: DecisionFeatures, label: Label) -> None:
        self._workspace.learn_one(self._parser.parse_json(to_vw_json(features, label)))

    def serialize(self) -> bytes:
        return self._workspace.serialize()


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
