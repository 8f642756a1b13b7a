"""One reward delivered 20 times at once counts once, under every aggregation, through
/events/{id}/reward and through Personalizer's reward route, over real HTTP to the twin."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import pytest

from tests.conftest import KEY_HEADERS
from tests.e2e.test_twin import RunningTwin, start_twin

pytestmark = pytest.mark.e2e
T = TypeVar("T")

WAIT = 5  # seconds: long enough for 40 deliveries, short enough to wait out
AGGREGATIONS = ("earliest", "sum", "average", "max")
# Two rewards (each delivered 20 times at once): what each aggregation learns of them
FIRST, SECOND = 0.5, 0.25
EXPECTED = {"earliest": 0.5, "sum": 0.75, "average": 0.375, "max": 0.5}
JSON = "application/json"


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    with start_twin(f"RewardWaitSeconds={WAIT} ModelRefreshSeconds=0") as running:
        yield running


def at_once(count: int, send: Callable[[], T]) -> list[T]:
    """``send`` from ``count`` threads at once."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: send(), range(count)))


def put(twin: RunningTwin, decision_point: str, settings: dict[str, object]) -> None:
    answer = twin.request(
        "PUT", f"/decision-points/{decision_point}", json.dumps(settings).encode(), JSON
    )
    assert answer.status == 200, answer.body


def learned(twin: RunningTwin, decision_point: str) -> float:
    """The reward model traffic earned today, as the report shows it past the reward wait."""
    day = twin.request("GET", f"/decision-points/{decision_point}/report?days=1").body["days"][0]
    return float(day["model"]["mean"])


def test_twenty_deliveries_at_once_count_once_through_the_reward_route(twin: RunningTwin) -> None:
    events = {}
    for aggregation in AGGREGATIONS:
        put(twin, f"{aggregation}-hero", {"reward_aggregation": aggregation})
        body = {"decision_point": f"{aggregation}-hero", "actions": [{"id": "a"}, {"id": "b"}]}
        events[aggregation] = twin.post("/decide", body).body["event_id"]

    for aggregation, event_id in events.items():
        for reward_id, value in (("order-1", FIRST), ("order-2", SECOND)):
            statuses = at_once(20, partial(_reward, twin, event_id, value, reward_id))
            assert Counter(statuses) == {"recorded": 1, "duplicate": 19}, aggregation

    time.sleep(WAIT + 0.5)
    for aggregation in AGGREGATIONS:
        assert learned(twin, f"{aggregation}-hero") == pytest.approx(EXPECTED[aggregation])


def test_twenty_deliveries_at_once_count_once_through_personalizers_route(
    twin: RunningTwin,
) -> None:
    # The Personalizer routes serve one decision point; a decision keeps the aggregation in
    # force when it was ranked, so each aggregation is set before its own rank call
    for aggregation in AGGREGATIONS:
        put(twin, "personalizer", {"reward_aggregation": aggregation})
        rank = {
            "eventId": f"p-{aggregation}",
            "contextFeatures": [{"weather": "snow"}],
            "actions": [{"id": "x", "features": [{"n": 1}]}, {"id": "y", "features": [{"n": 2}]}],
        }
        assert twin.post("/personalizer/v1.0/rank", rank).status == 201
        for delivery, value in (("request-1", FIRST), ("request-2", SECOND)):
            statuses = at_once(
                20, partial(_personalizer_reward, twin, f"p-{aggregation}", value, delivery)
            )
            assert statuses == [204] * 20

    time.sleep(WAIT + 0.5)
    assert learned(twin, "personalizer") == pytest.approx(
        sum(EXPECTED.values()) / len(EXPECTED)  # the four decisions of the day
    )


def _reward(twin: RunningTwin, event_id: str, value: float, reward_id: str) -> str:
    body = {"value": value, "reward_id": reward_id}
    return str(twin.post(f"/events/{event_id}/reward", body).body["status"])


def _personalizer_reward(twin: RunningTwin, event_id: str, value: float, delivery: str) -> int:
    request = urllib.request.Request(
        f"{twin.base_url}/personalizer/v1.0/events/{event_id}/reward",
        data=json.dumps({"value": value}).encode(),
        headers={"content-type": JSON, "x-ms-client-request-id": delivery, **KEY_HEADERS},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)
