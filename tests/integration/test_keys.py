"""Server keys on the keyed routes: a 401 without a valid one, two valid at once, rotated
with no failed request."""

from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest
import time_machine
from decider.http.keys import key_hash, new_key

from infra.keys import rotate
from infra.stack import HttpResponse, LocalStack
from tests.conftest import TEST_KEY, make_stack

JSON = {"content-type": "application/json"}


def decided(stack: LocalStack) -> str:
    body = {"decision_point": "hero", "actions": [{"id": "a"}, {"id": "b"}]}
    event_id: str = stack.post("/decide", body).json()["event_id"]
    return event_id


def reward(stack: LocalStack, event_id: str, key: str | None) -> HttpResponse:
    headers = {**JSON, "x-api-key": key or ""}
    return stack.http("POST", f"/events/{event_id}/reward", json.dumps({"value": 1}), headers)


def personalizer(stack: LocalStack, path: str, body: object, key: str | None) -> HttpResponse:
    headers = {**JSON, "Ocp-Apim-Subscription-Key": key or ""}
    return stack.http("POST", f"/personalizer/v1.0{path}", json.dumps(body), headers)


RANK = {"contextFeatures": [{"a": 1}], "actions": [{"id": "x", "features": [{"b": 1}]}]}


def test_a_reward_without_a_key_or_with_a_wrong_one_is_a_401_and_records_nothing(
    stack: LocalStack,
) -> None:
    event_id = decided(stack)
    # Without the header API Gateway answers before any function runs
    missing = reward(stack, event_id, None)
    assert (missing.status, missing.json()) == (401, {"message": "Unauthorized"})
    # With a wrong key the route answers in the API's error shape
    wrong = reward(stack, event_id, new_key())
    assert wrong.status == 401, wrong.body
    assert wrong.json()["error"]["code"] == "unauthorized"
    assert "x-api-key" in wrong.json()["error"]["message"]
    # And the reward was not stored: the right key records it as the first
    assert reward(stack, event_id, TEST_KEY).json()["status"] == "recorded"


@pytest.mark.parametrize(
    ("path", "body"),
    [("/rank", RANK), ("/events/e-1/reward", {"value": 1}), ("/events/e-1/activate", None)],
)
def test_the_personalizer_routes_take_the_subscription_key(
    stack: LocalStack, path: str, body: object
) -> None:
    assert personalizer(stack, path, body, None).status == 401
    wrong = personalizer(stack, path, body, "not-a-key")
    assert wrong.status == 401, wrong.body
    assert wrong.json()["error"]["code"] == "PermissionDenied"


def test_activate_and_decide_need_no_key(stack: LocalStack) -> None:
    stack.headers = {}  # a browser
    event_id = decided(stack)
    answer = stack.http("POST", f"/events/{event_id}/activate", None, {})
    assert answer.status == 200, answer.body


def test_either_of_two_keys_works_and_a_rotation_fails_no_request(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    secret = stack.template.secrets["ApiKeysSecret"].name
    client = boto3.client("secretsmanager", region_name="us-east-1")
    # Given a server sending the current key all along
    old = TEST_KEY
    events = [decided(stack) for _ in range(6)]
    assert reward(stack, events[0], old).status == 200
    # When the operator rotates: a new key, and the old one still valid
    new = rotate(secret, client)
    hashes = json.loads(client.get_secret_value(SecretId=secret)["SecretString"])["server"]
    assert hashes == [key_hash(new), key_hash(old)]
    # Then requests with the old key and with the new one both go through, in any order
    keys = [old, new, old, new]
    statuses = [reward(stack, e, k).status for e, k in zip(events[1:5], keys, strict=True)]
    assert statuses == [200, 200, 200, 200]
    # And a second rotation, a while later, keeps the newest two: the first key is retired
    clock.shift(timedelta(minutes=1))
    newer = rotate(secret, client)
    hashes = json.loads(client.get_secret_value(SecretId=secret)["SecretString"])["server"]
    assert hashes == [key_hash(newer), key_hash(new)]
    assert reward(stack, events[5], newer).status == 200
    # And once the caches have expired (API Gateway's 5 minutes), the retired key is refused
    clock.shift(timedelta(minutes=6))
    assert reward(stack, events[5], old).status == 401


def test_a_stack_may_ask_pages_for_a_publishable_key_on_decide_and_activate() -> None:
    for stack in make_stack(PublishableKeys="pk_shop_web,pk_shop_app"):
        stack.headers = {}  # a browser
        body = json.dumps({"decision_point": "hero", "actions": [{"id": "a"}]})
        missing = stack.http("POST", "/decide", body, JSON)
        assert missing.status == 401 and "x-client-key" in missing.json()["error"]["message"]
        wrong = stack.http("POST", "/decide", body, {**JSON, "x-client-key": "pk_other"})
        assert wrong.status == 401
        decided = stack.http("POST", "/decide", body, {**JSON, "x-client-key": "pk_shop_app"})
        assert decided.status == 200, decided.body
        event_id = decided.json()["event_id"]
        path = f"/events/{event_id}/activate"
        assert stack.http("POST", path, None, {}).status == 401
        assert stack.http("POST", path, None, {"x-client-key": "pk_shop_web"}).status == 200
