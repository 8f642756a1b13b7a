"""Profiles through the HTTP handlers on moto: interactions build them, decide reads them (one
GetItem), links join ids, explanations say why, and erasure takes them all."""

from __future__ import annotations

import json
import random
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import time_machine

from infra.shops import PLACES, PROFILE_OFFERS, Person, Shopper, shopper
from infra.stack import LocalStack
from tests.conftest import TEST_KEY, make_stack, retrain_report

DP = "app-home"
SERVER = {"x-api-key": TEST_KEY}
NO_KEY = {"x-api-key": "", "ocp-apim-subscription-key": ""}


def send(stack: LocalStack, path: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    """POST JSON with these headers (the stack's server key unless they say otherwise)."""
    sent = {"content-type": "application/json", **(headers or {})}
    return stack.http("POST", path, json.dumps(payload), sent)


@pytest.fixture
def stack(timed_stack: LocalStack) -> LocalStack:
    timed_stack.http("PUT", f"/decision-points/{DP}", "{}", {"content-type": "application/json"})
    return timed_stack


def profile_items(stack: LocalStack) -> list[dict[str, Any]]:
    table = stack.environment("DecideFunction")["PROFILES_TABLE"]
    return boto3.client("dynamodb").scan(TableName=table)["Items"]


def post_interactions(stack: LocalStack, items: list[dict[str, Any]]) -> dict[str, Any]:
    response = send(stack, "/interactions", {"interactions": items}, SERVER)
    assert response.status == 200, response.body
    return response.json()


def boots_browser(visitor: str, when: str) -> list[dict[str, Any]]:
    return [
        {"visitor": visitor, "type": kind, "item": f"boot-{n}", "category": "winter-boots",
         "channel": "web", "at": when, "interaction_id": f"{visitor}-{n}"}
        for n, kind in enumerate(("view", "view", "click", "add_to_cart"))
    ]  # fmt: skip


def test_interactions_need_a_key_and_build_a_profile_stored_under_a_keyed_hash(
    stack: LocalStack,
) -> None:
    items = boots_browser("cookie-7f3a", "2026-11-21T18:00:00Z")
    # Without a key, nothing is stored
    refused = send(stack, "/interactions", {"interactions": items}, NO_KEY)
    assert refused.status == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert profile_items(stack) == []
    # With the server key, each is recorded once, even when the batch is sent again
    assert post_interactions(stack, items) == {
        "recorded": 4, "duplicate": 0, "skipped": 0, "visitors": 1
    }  # fmt: skip
    assert post_interactions(stack, items)["duplicate"] == 4
    # And the visitor's id is stored only as its keyed hash
    (stored,) = profile_items(stack)
    assert "cookie-7f3a" not in str(stored)
    assert stored["visitor"]["S"].startswith("1:")


def test_a_page_with_a_publishable_key_reports_browsing_but_not_purchases() -> None:
    gen: Generator[LocalStack] = make_stack(PublishableKeys="pk_live_shop")
    stack = next(gen)
    page = {**NO_KEY, "x-client-key": "pk_live_shop"}
    views = boots_browser("cookie-1", "2026-11-21T18:00:00Z")
    assert send(stack, "/interactions", {"interactions": views}, page).status == 200
    purchase = [{"visitor": "cookie-1", "type": "purchase", "value": 90.0}]
    refused = send(stack, "/interactions", {"interactions": purchase}, page)
    assert refused.status == 403 and "purchase" in refused.json()["error"]["message"]
    wrong = send(stack, "/interactions", {"interactions": views}, {**NO_KEY, "x-client-key": "x"})
    assert wrong.status == 401
    # A server reports purchases
    assert send(stack, "/interactions", {"interactions": purchase}).status == 200
    gen.close()


def test_bad_interactions_are_400s_naming_the_field(stack: LocalStack) -> None:
    for item, field in (
        ({"visitor": "a b", "type": "view"}, "interactions.0.visitor"),
        ({"visitor": "v", "type": "View!"}, "interactions.0.type"),
        ({"visitor": "v", "type": "view", "channel": "fax"}, "interactions.0.channel"),
        ({"visitor": "v", "type": "purchase", "value": -3}, "interactions.0.value"),
        ({"visitor": "v", "type": "view", "colour": "red"}, "interactions.0.colour"),
    ):
        answer = send(stack, "/interactions", {"interactions": [item]}, SERVER)
        assert answer.status == 400, (item, answer.body)
        assert answer.json()["error"]["field"] == field
    assert profile_items(stack) == []


def train(stack: LocalStack, clock: time_machine.Traveller, count: int) -> None:
    """Shoppers browse (interactions only), then the app decides for them; conversions are
    rewarded; retrain runs after the wait."""
    rng = random.Random(3)
    for index in range(count):
        who = shopper(rng, index)
        post_interactions(stack, who.interactions(rng, rng.randint(2, 5)))
        body = {**who.request("app"), "decision_point": DP, "event_id": f"e-{index}"}
        decision = stack.post("/decide", body).json()
        chosen = [o["id"] for o in PROFILE_OFFERS].index(decision["action_id"])
        if rng.random() < who.truth()[chosen]:
            stack.post(f"/events/{decision['event_id']}/reward", {"value": 1.0})
        clock.shift(timedelta(milliseconds=20))
    clock.shift(timedelta(seconds=605))
    assert retrain_report(stack, DP)["status"] == "trained"


def test_a_visitor_who_browsed_boots_on_the_web_gets_boots_in_the_app_and_is_told_why(
    stack: LocalStack, clock: time_machine.Traveller
) -> None:
    train(stack, clock, 700)
    # Given a visitor who browsed winter boots on the web yesterday (interactions only)
    boston = Person(datetime(2026, 11, 20, 18, tzinfo=UTC), PLACES[0], "mobile", "new")
    who = Shopper("cookie-boots", "winter-boots", boston)
    at = (who.person.at - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    post_interactions(stack, boots_browser(who.visitor, at))

    # When the app decides for them, naming only their id, and asks why
    answers = [
        stack.post(
            "/decide",
            {**who.request("app"), "decision_point": DP, "event_id": f"ask-{n}", "explain": True},
        ).json()
        for n in range(8)
    ]

    # Then the decisions used their profile, the model's best is boots, and the reason
    # mentions what they browsed (an exploratory pick says only that it is something new)
    assert all(answer["profile_used"] for answer in answers)
    best = [a for a in answers if a["explanation"]["kind"] == "best"]
    assert best, answers
    for answer in best:
        assert answer["action_id"] == "boots-sale"
        assert answer["explanation"]["reason"] == "Because you looked at winter boots."
        factor = answer["explanation"]["factors"][0]
        assert (factor["namespace"], factor["value"]) == ("history", "winter-boots")
    for answer in answers:
        if answer["explanation"]["kind"] == "exploratory":
            assert answer["explanation"] == {
                "kind": "exploratory", "reason": "Something new we think you may like.",
                "factors": [],
            }  # fmt: skip

    # And a visitor who withdrew consent gets neither profile nor reason
    withdrawn = stack.post(
        "/decide",
        {**who.request("app"), "decision_point": DP, "consent": "none", "explain": True},
    ).json()
    assert withdrawn["profile_used"] is False and withdrawn["explanation"] is None
    anonymous = stack.post(
        "/decide",
        {**who.request("app"), "decision_point": DP, "consent": "anonymous", "explain": True},
    ).json()
    assert anonymous["profile_used"] is False
    assert "boots" not in anonymous["explanation"]["reason"]


def test_decide_reads_the_profile_with_one_get_item(stack: LocalStack) -> None:
    post_interactions(stack, boots_browser("cookie-9", "2026-11-21T18:00:00Z"))
    calls: list[tuple[str, str]] = []
    module = stack.module("DecideFunction")
    client = module.decider.profiles.store.client  # decide's one DynamoDB client
    client.meta.events.register(
        "before-parameter-build.dynamodb",
        lambda model, params, **_: calls.append((model.name, params.get("TableName"))),
    )
    body = {"decision_point": DP, "user_id": "cookie-9", "actions": PROFILE_OFFERS}
    assert stack.post("/decide", body).json()["profile_used"] is True
    profiles = stack.template.tables["ProfilesTable"].name
    assert [call for call in calls if call[1] == profiles] == [("GetItem", profiles)]


def test_a_link_merges_an_anonymous_history_into_the_known_person_and_erasure_takes_all(
    stack: LocalStack,
) -> None:
    # Given a visitor who browsed boots in the app before signing in, and coats on the web
    post_interactions(stack, boots_browser("install-42", "2026-11-20T09:00:00Z"))
    post_interactions(
        stack,
        [{"visitor": "user-1042", "type": kind, "category": "outerwear", "channel": "web",
          "at": "2026-11-21T09:00:00Z"} for kind in ("view", "add_to_cart")],
    )  # fmt: skip
    decided = stack.post(
        "/decide", {"decision_point": DP, "user_id": "install-42", "actions": PROFILE_OFFERS}
    )
    assert decided.status == 200

    # When the app links the install id to the id they signed in with (a server call)
    ids = {"anonymous": "install-42", "known": "user-1042"}
    assert send(stack, "/visitors/link", ids, NO_KEY).status == 401
    linked = send(stack, "/visitors/link", ids, SERVER)
    assert linked.json() == {"status": "linked", "linked_ids": 1}

    # Then both ids read one profile holding both histories
    export = stack.http("GET", "/users/user-1042/export").json()
    assert set(export["profile"]["top_categories"]) == {"winter-boots", "outerwear"}
    assert export["linked_ids"] == 1
    assert [d["event_id"] for d in export["decisions"]] == [decided.json()["event_id"]]
    both = stack.post(
        "/decide", {"decision_point": DP, "user_id": "install-42", "actions": PROFILE_OFFERS}
    ).json()
    assert both["profile_used"]

    # And erasing the person deletes the profile, the link and the install id's decisions
    erased = stack.http("DELETE", "/users/user-1042").json()
    assert erased == {"decisions_deleted": 2, "profiles_deleted": 2}
    assert profile_items(stack) == []
    after = stack.post(
        "/decide", {"decision_point": DP, "user_id": "install-42", "actions": PROFILE_OFFERS}
    ).json()
    assert after["profile_used"] is False


def test_what_a_visitor_was_shown_reaches_their_profile_as_fatigue_from_the_stream(
    stack: LocalStack,
) -> None:
    # Given a visitor decided for twice (shown), and once deferred (not shown yet)
    post_interactions(stack, boots_browser("cookie-5", "2026-11-21T18:00:00Z"))
    body = {"decision_point": DP, "user_id": "cookie-5", "actions": PROFILE_OFFERS}
    shown = [stack.post("/decide", body).json()["action_id"] for _ in range(2)]
    deferred = stack.post("/decide", {**body, "defer_activation": True}).json()

    # When the decisions table's stream reaches ShownFunction
    assert stack.drain_streams() == 2  # the deferred decision is filtered out

    # Then the next decision sees how often each action was shown
    fatigue = latest_fatigue(stack, body)
    counted = {a: fatigue[a]["times_shown"] for a in fatigue if fatigue[a]}
    assert counted == {a: float(shown.count(a)) for a in set(shown)}

    # And an activation later counts too
    stack.post(f"/events/{deferred['event_id']}/activate", {})
    assert stack.drain_streams() == 1
    fatigue = latest_fatigue(stack, body)
    assert fatigue[deferred["action_id"]]["times_shown"] == shown.count(deferred["action_id"]) + 1


def latest_fatigue(stack: LocalStack, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the model saw of each action's fatigue on a new decision for this visitor."""
    decided = stack.post("/decide", {**body, "defer_activation": True}).json()
    table = stack.environment("DecideFunction")["DECISIONS_TABLE"]
    item = boto3.client("dynamodb").get_item(
        TableName=table, Key={"event_id": {"S": decided["event_id"]}}
    )["Item"]
    features = json.loads(item["features"]["S"])
    fatigue = features.get("fatigue") or [{}] * len(features["actions"])
    return {action: seen for (action, _), seen in zip(features["actions"], fatigue, strict=True)}
