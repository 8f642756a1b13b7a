"""Decisions as Vowpal Wabbit examples, always through VW's JSON parser.

Namespaces: ``c`` derived context, ``x`` the shop's own context features, ``p`` the profile
the request sends, ``ph`` the visitor's stored profile (its own hash space, crossed with the
actions like ``p``: VW groups namespaces by their first letter), ``a`` action features, ``i``
action identity, ``f`` fatigue (how often and how lately the visitor saw the action).
Strings are categorical (``name=value`` with weight 1), numbers are magnitudes, ``true`` is a
flag, lists of strings are sets, nulls and ``false`` add nothing. Names are escaped so that
no value can rename, add or remove a feature.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from decider.context.enrichment import DISPLAY_ONLY
from decider.records import DecisionFeatures
from decider.schemas import Action, DecideRequest

RawFeatures = Mapping[str, Any]
SHARED_NAMESPACES = ("c", "x", "p")
ACTION_NAMESPACES = ("a", "i")
INTERACTIONS = tuple(s + a for s in SHARED_NAMESPACES for a in ACTION_NAMESPACES)
# Context x profile x action: "returning visitors in the evening" is more than either alone.
CUBIC_INTERACTIONS = ("cpa", "cpi")
# Numbers are learned as magnitudes and as the half-octave they fall in (docs/benchmarks.md).
NUMBER_BUCKETS = True


HISTORY_NAMESPACE = "ph"
FATIGUE_NAMESPACE = "f"


def features_of(
    request: DecideRequest,
    context_used: RawFeatures,
    actions: Sequence[Action],
    history: RawFeatures | None = None,
    fatigue: Sequence[RawFeatures] = (),
) -> DecisionFeatures:
    """What the model sees of a decision: the derived context (what is only shown to the
    caller left out), the shop's own context features, the profile given personal consent
    (the stored one's features, ``history``, where the request's own profile names none of
    them), and the actions with what the visitor saw of each (``fatigue``)."""
    personal = request.tier == "personal"
    profile = dict(request.profile) if personal else {}
    stored = {k: v for k, v in (history or {}).items() if k not in profile} if personal else {}
    return DecisionFeatures(
        context={k: v for k, v in context_used.items() if k not in DISPLAY_ONLY},
        custom=dict(request.context.features),
        profile=profile,
        actions=[(action.id, action.features) for action in actions],  # read, never changed
        history=stored,
        fatigue=[dict(f) for f in fatigue] if personal and any(fatigue) else [],
    )


@dataclass(frozen=True)
class Label:
    """The logged outcome of a decision: which action (index), its cost and probability."""

    index: int
    cost: float
    probability: float


def to_vw_json(features: DecisionFeatures, label: Label | None = None) -> str:
    """One multi-line ``cb_explore_adf`` example in VW's JSON format. Each action's part is
    escaped and serialised once and then kept (``action_json``): a decision point offers the
    same actions over and over."""
    parts = []
    if label is not None:
        parts.append(
            json.dumps(
                {
                    "_label_cost": label.cost,
                    "_label_probability": label.probability,
                    "_label_Action": label.index + 1,
                    "_labelIndex": label.index,
                },
                allow_nan=False,
            )[1:-1]
        )
    for name, raw, categorical in (
        ("c", features.context, True),
        ("x", features.custom, False),
        ("p", features.profile, False),
        (HISTORY_NAMESPACE, features.history, False),
    ):
        found = namespace_json(raw, categorical_numbers=categorical) if raw else ""
        if found:
            parts.append(f'"{name}":{{{found}}}')
    fatigue = features.fatigue or [{}] * len(features.actions)
    lines = ",".join(
        action_json(action_id, action_features, seen)
        for (action_id, action_features), seen in zip(features.actions, fatigue, strict=True)
    )
    parts.append(f'"_multi":[{lines}]')
    return "{" + ",".join(parts) + "}"


# Actions' parts of an example, by id and features (their repr, which tells 1, 1.0 and True
# apart, as featurizing does): bounded, emptied when full.
_ACTIONS: dict[tuple[str, str], str] = {}
_ACTIONS_KEPT = 4096


def action_json(action_id: str, action_features: RawFeatures, fatigue: RawFeatures) -> str:
    """An action's line of an example, as JSON; kept when it depends on nothing else."""
    if fatigue:  # the visitor's own: made each time
        return _action_text(action_id, action_features, fatigue)
    key = (action_id, repr(action_features))
    found = _ACTIONS.get(key)
    if found is None:
        if len(_ACTIONS) >= _ACTIONS_KEPT:
            _ACTIONS.clear()
        found = _ACTIONS[key] = _action_text(action_id, action_features, fatigue)
    return found


def _action_text(action_id: str, action_features: RawFeatures, fatigue: RawFeatures) -> str:
    line = action_namespaces(action_id, action_features, fatigue)
    return json.dumps(line, ensure_ascii=False, allow_nan=False)


def shared_namespaces(features: DecisionFeatures) -> dict[str, dict[str, float]]:
    return {
        "c": namespace(features.context, categorical_numbers=True),
        "x": namespace(features.custom),
        "p": namespace(features.profile),
        HISTORY_NAMESPACE: namespace(features.history),
    }


def action_namespaces(
    action_id: str, action_features: RawFeatures, fatigue: RawFeatures
) -> dict[str, dict[str, float]]:
    line = {"a": namespace(action_features), "i": {f"id={escape_value(action_id)}": 1.0}}
    if fatigue:
        line[FATIGUE_NAMESPACE] = namespace(fatigue)
    return line


# Features' JSON, by (name, value, its type, numbers categorical): bounded, emptied when full.
_FRAGMENTS: dict[tuple[str, Any, type, bool], str] = {}
_FRAGMENTS_KEPT = 65536


def namespace_json(raw: RawFeatures, *, categorical_numbers: bool = False) -> str:
    """``namespace``'s features as the inside of a JSON object (empty for none): each
    feature's text made once and kept, since a shop's visits repeat the same few values."""
    parts = []
    for name, value in raw.items():
        if isinstance(value, list):  # not hashable: made each time
            found = _fragment(name, value, categorical_numbers)
        else:
            key = (name, value, type(value), categorical_numbers)
            kept = _FRAGMENTS.get(key)
            if kept is None:
                if len(_FRAGMENTS) >= _FRAGMENTS_KEPT:
                    _FRAGMENTS.clear()
                kept = _FRAGMENTS[key] = _fragment(name, value, categorical_numbers)
            found = kept
        if found:
            parts.append(found)
    return ",".join(parts)


def _fragment(name: str, value: Any, categorical_numbers: bool) -> str:
    features = namespace({name: value}, categorical_numbers=categorical_numbers)
    return json.dumps(features, ensure_ascii=False, allow_nan=False)[1:-1]


def namespace(raw: RawFeatures, *, categorical_numbers: bool = False) -> dict[str, float]:
    """VW features of one namespace; every key is an escaped name, every value a number."""
    out: dict[str, float] = {}
    for name, value in raw.items():
        key = escape_name(name)
        if value is None or value is False:
            continue
        if value is True:
            out[key] = 1.0
        elif isinstance(value, int | float) and not categorical_numbers:
            out[key] = float(value)
            if NUMBER_BUCKETS:
                out[f"{key}~{magnitude_bucket(value)}"] = 1.0
        elif isinstance(value, list):
            for item in value:
                out[f"{key}={escape_value(item)}"] = 1.0
        else:
            out[f"{key}={escape_value(str(value))}"] = 1.0
    return out


def magnitude_bucket(value: float) -> str:
    """A number's half-octave, as a category: what a price or a count is worth is seldom a
    straight line, and a linear weight per magnitude cannot bend."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else "+"
    return f"{sign}2^{math.floor(math.log2(abs(value)) * 2) / 2:g}"


# Escaped names, by name (a shop sends the same few): bounded, emptied when full.
_NAMES: dict[str, str] = {}
_NAMES_KEPT = 65536


def escape_name(name: str) -> str:
    found = _NAMES.get(name)
    if found is None:
        if len(_NAMES) >= _NAMES_KEPT:
            _NAMES.clear()
        found = _NAMES[name] = _escaped_name(name)
    return found


def _escaped_name(name: str) -> str:
    """Injective: names never hold a raw ``=`` (the value separator) or ``~`` (a number's
    bucket), a leading ``_`` (VW's
    JSON parser reserves those keys) or a NUL (where VW's parser cuts a string short)."""
    escaped = escape_value(name).replace("=", "%3D").replace("~", "%7E")
    return "%5F" + escaped[1:] if escaped.startswith("_") else escaped


def escape_value(value: str) -> str:
    """Injective, and free of NUL, which VW's JSON parser takes for the end of the string."""
    return value.replace("%", "%25").replace("\0", "%00")
