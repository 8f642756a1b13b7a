"""Azure Personalizer's official Python SDK (v1.0 client) against the local twin, over HTTP.

A team leaving Personalizer changes the endpoint and the key, and nothing else.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.cognitiveservices.personalizer import PersonalizerClient
from azure.cognitiveservices.personalizer.models import (
    ErrorResponseException,
    RankableAction,
    RankRequest,
)
from msrest.authentication import CognitiveServicesCredentials
from msrest.exceptions import HttpOperationError

from tests.conftest import TEST_KEY
from tests.e2e.test_twin import RunningTwin, start_twin

pytestmark = pytest.mark.e2e

ACTIONS = [
    RankableAction(id="pasta", features=[{"taste": "salty", "spiceLevel": "medium"}]),
    RankableAction(id="ice-cream", features=[{"taste": "sweet"}, {"nutrition": {"level": 2}}]),
    RankableAction(id="juice", features=[{"taste": "sweet", "drink": True}]),
]
CONTEXT = [
    {"timeOfDay": "Morning"},
    {"user": {"profileType": "AnonymousUser", "latlong": [47.6, -122.1]}},
]


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    with start_twin() as running:
        yield running


@pytest.fixture
def client(twin: RunningTwin) -> PersonalizerClient:
    # Only the endpoint and the key change: the twin checks the key as the stack does on AWS
    return sdk(twin, TEST_KEY)


def sdk(twin: RunningTwin, key: str) -> PersonalizerClient:
    personalizer = PersonalizerClient(twin.base_url, CognitiveServicesCredentials(key))
    personalizer.config.proxies.use_env_settings = False  # the twin is on 127.0.0.1
    return personalizer


def test_the_sdk_ranks_rewards_and_activates_and_the_next_retrain_learns_it(
    twin: RunningTwin, client: PersonalizerClient
) -> None:
    # Given a deferred rank through the SDK, with one action excluded
    event_id = str(uuid.uuid4())
    ranked = client.rank(
        RankRequest(
            context_features=CONTEXT,
            actions=ACTIONS,
            excluded_actions=["juice"],
            event_id=event_id,
            defer_activation=True,
        )
    )
    assert ranked.event_id == event_id
    assert ranked.reward_action_id in {"pasta", "ice-cream"}
    assert [action.id for action in ranked.ranking][-1] == "juice"
    assert ranked.ranking[-1].probability == 0.0
    assert sum(action.probability for action in ranked.ranking) == pytest.approx(1.0)
    # And one the page never shows: deferred, never activated, never learned
    client.rank(RankRequest(context_features=CONTEXT, actions=ACTIONS, defer_activation=True))

    # And one shown but never converted: activated through the SDK, never rewarded
    shown = client.rank(
        RankRequest(context_features=CONTEXT, actions=ACTIONS, defer_activation=True)
    )

    # When the SDK activates the first and rewards it, and activates the third (each a 204)
    client.events.activate(event_id)
    client.events.reward(event_id, 1.0)
    client.events.activate(shown.event_id)

    # And the reward wait (1 s, plus retrain's 3 s margin) passes and retrain runs
    time.sleep(4.5)
    fired = twin.request("POST", "/_local/schedules/RetrainStateMachine")
    assert fired.status == 200, fired.body
    report = next(r for r in fired.body["reports"] if r["decision_point"] == "personalizer")

    # Then the two activated decisions, made through the SDK, are what version 1 learned
    # (the third only because the SDK's activate reached it: it has no reward)
    assert (report["status"], report["model_version"]) == ("trained", "1"), report
    assert (report["decisions_seen"], report["decisions_learned"]) == (3, 2)
    # And the SDK keeps ranking, now from that model
    again = client.rank(RankRequest(context_features=CONTEXT, actions=ACTIONS))
    assert {action.id for action in again.ranking} == {"pasta", "ice-cream", "juice"}


def test_the_sdk_sees_personalizer_s_errors(client: PersonalizerClient) -> None:
    with pytest.raises(HttpOperationError) as unknown:
        client.events.reward("never-ranked", 1.0)
    assert unknown.value.response.status_code == 404

    unrepresentable = [RankableAction(id="a", features=[{"orders": [{"id": 1}]}])]
    with pytest.raises(ErrorResponseException) as refused:
        client.rank(RankRequest(actions=unrepresentable))
    assert refused.value.response.status_code == 400
    assert refused.value.error is not None
    error = refused.value.error.error
    assert (error.code, error.target) == ("BadRequest", "actions.0.features.0.orders")
    assert "only strings" in error.message


def test_the_sdk_with_a_wrong_key_gets_a_401(twin: RunningTwin) -> None:
    wrong = sdk(twin, "the-key-of-another-resource")
    with pytest.raises(ErrorResponseException) as refused:
        wrong.rank(RankRequest(context_features=CONTEXT, actions=ACTIONS))
    assert refused.value.response.status_code == 401
    assert refused.value.error is not None
    assert refused.value.error.error.code == "PermissionDenied"
    with pytest.raises(HttpOperationError) as reward:
        wrong.events.reward("any-event", 1.0)
    assert reward.value.response.status_code == 401
