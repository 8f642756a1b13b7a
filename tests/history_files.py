"""Logged history for the warm-start tests, in the shapes real logs have.

DSJSON lines are shaped as Azure Personalizer's exported logs, of which VW keeps one as test
data (VowpalWabbit/vowpal_wabbit, test/train-sets/dsjson_cb.json): ``_label_cost`` (minus the
reward), ``_label_probability``, ``_label_Action`` (from 1) and ``_labelIndex`` (from 0), ``o``
(the outcomes: a reward ``v``, or ``ActionTaken`` for an activation), ``Timestamp`` with
seven fractional digits, ``Version``, ``EventId``, ``a`` (the ranking, from 1), ``c`` with the
rank request's context features as a list of objects under ``FromUrl`` and ``_multi``, each
action with its id as ``_tag``, the ``i`` namespace Personalizer adds (``constant`` and
``id``) and the request's features as a list under ``j``; then ``p`` (the ranking's
probabilities), ``VWState`` and ``_original_label_cost``. ``_skipLearn`` is how VW's
reinforcement_learning log converter marks a decision never activated
(VowpalWabbit/reinforcement_learning, its log converter); ``DeferredAction``, ``_deferred``,
``RewardValue`` lines (a reward without its decision) and ``[``-lines (checkpoints) are from
the decision service's older logs as microsoft/mwt-ds's ds_parse.py reads them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
DRINKS: list[tuple[str, dict[str, Any]]] = [
    ("hot-cocoa", {"temperature": "hot", "price": 3.5}),
    ("iced-coffee", {"temperature": "cold", "price": 4.0}),
    ("green-tea", {"temperature": "hot", "price": 2.5}),
]
WEATHERS = ("snowy", "sunny")
# What each weather's visitors buy; everything else earns nothing.
BEST = {"snowy": "hot-cocoa", "sunny": "iced-coffee"}


def timestamp(at: datetime) -> str:
    """Personalizer's Timestamp: UTC with seven fractional digits."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def personalizer_line(
    event_id: str | None,
    at: datetime,
    context: Sequence[dict[str, Any]],
    actions: Sequence[tuple[str, dict[str, Any]]],
    chosen: int,
    probability: float,
    reward: float,
    **extra: Any,
) -> str:
    """One decision as Personalizer logs it, joined with its reward."""
    ranking = [chosen + 1] + [i + 1 for i in range(len(actions)) if i != chosen]
    rest = (1 - probability) / max(len(actions) - 1, 1)
    line: dict[str, Any] = {
        "_label_cost": -reward,
        "_label_probability": probability,
        "_label_Action": chosen + 1,
        "_labelIndex": chosen,
        "o": [{"v": reward, "EventId": event_id, "ActionTaken": False}],
        "Timestamp": timestamp(at),
        "Version": "1",
        "EventId": event_id,
        "a": ranking,
        "c": {
            "FromUrl": list(context),
            "_multi": [
                {"_tag": name, "i": {"constant": 1, "id": name}, "j": [features]}
                for name, features in actions
            ],
        },
        "p": [probability] + [rest] * (len(actions) - 1),
        "VWState": {"m": "ff0744c1aa494e1ab39ba0c78d048146/550c12cbd3aa47f09fbed3387fb9c6ec"},
        "_original_label_cost": -reward,
    }
    if event_id is None:
        del line["EventId"]
        line["o"][0].pop("EventId")
    line.update(extra)
    return json.dumps(line)


def coffee_shop(count: int) -> list[tuple[str, datetime, str, int, float]]:
    """``count`` visits logged by a uniform policy: (event id, time, weather, drink, reward)."""
    visits = []
    for n in range(count):
        weather = WEATHERS[n % 2]
        drink = (n // 2) % len(DRINKS)
        reward = 1.0 if DRINKS[drink][0] == BEST[weather] else 0.0
        visits.append((f"visit-{n:05d}", START + timedelta(minutes=n), weather, drink, reward))
    return visits


def coffee_dsjson(count: int) -> str:
    return "\n".join(
        personalizer_line(event_id, at, [{"weather": weather}], DRINKS, drink, 1 / 3, reward)
        for event_id, at, weather, drink, reward in coffee_shop(count)
    )


def coffee_csv(count: int) -> str:
    header = ["event_id", "timestamp", "action", "probability", "reward", "context.weather"]
    for name, features in DRINKS:
        header += [f"action.{name}.{feature}" for feature in features]
    rows = [",".join(header)]
    for event_id, at, weather, drink, reward in coffee_shop(count):
        cells = [event_id, at.isoformat(), DRINKS[drink][0], "0.3333", str(reward), weather]
        for _, features in DRINKS:
            cells += [str(value) for value in features.values()]
        rows.append(",".join(cells))
    return "\n".join(rows) + "\n"
