"""Per-decision-point settings through the twin's HTTP API: operators set them, every change is
kept with who made it, decide and retrain follow them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from infra.stack import LOCAL_OPERATOR, HttpResponse, LocalStack
from tests.conftest import make_stack, retrain_report

DP = "/decision-points/home-hero"
STACK_DEFAULTS = {
    "exploration": {"algorithm": "squarecb", "gamma_scale": 50.0, "gamma_exponent": 0.5},
    "default_reward": 0.0,
    "reward_wait_seconds": 600,
    "reward_aggregation": "earliest",
    "reward_range": {"low": -1.0, "high": 1.0},
    "reward_unit": "conversion",
    "retention_days": 30,
    "promotion_rule": "always",
    "promotion_tolerance": 0.0,
    "learning_mode": "online",
    "baseline_action": None,
    "graduate_when": None,
    "holdout_share": 0.0,
    "max_actions": 50,
}
REWARD_WAIT = timedelta(seconds=600)  # the template's default


def decide(stack: LocalStack, actions: int, event_id: str | None = None) -> HttpResponse:
    body: dict[str, Any] = {
        "decision_point": "home-hero",
        "actions": [{"id": f"a{i}"} for i in range(actions)],
    }
    if event_id:
        body["event_id"] = event_id
    return stack.post("/decide", body)


def put(stack: LocalStack, body: Any, path: str = DP) -> HttpResponse:
    return stack.http("PUT", path, json.dumps(body), {"content-type": "application/json"})


def test_a_decision_point_takes_50_actions_unless_set_otherwise(stack: LocalStack) -> None:
    assert decide(stack, 50).status == 200
    refused = decide(stack, 51)
    assert refused.status == 400
    assert refused.json()["error"]["field"] == "actions"
    assert "at most 50" in refused.json()["error"]["message"]


def test_a_decision_point_seen_by_decide_has_the_stacks_defaults(stack: LocalStack) -> None:
    assert decide(stack, 2).status == 200

    shown = stack.http("GET", DP).json()

    assert shown["decision_point"] == "home-hero"
    assert shown["effective"] == STACK_DEFAULTS
    assert shown["settings"] == {
        "exploration": None,
        "default_reward": None,
        "reward_wait_seconds": None,
        "reward_aggregation": None,
        "reward_range": None,
        "reward_unit": None,
        "retention_days": None,
        "promotion_rule": None,
        "promotion_tolerance": None,
        "learning_mode": None,
        "baseline_action": None,
        "graduate_when": None,
        "holdout_share": None,
        "max_actions": 50,
    }
    assert (shown["serving_version"], shown["history"]) == (None, [])


def test_a_limit_set_by_an_operator_is_enforced_by_decide_and_kept_in_the_history(
    stack: LocalStack,
) -> None:
    # Given the operator allows home-hero at most 3 actions
    answer = put(stack, {"max_actions": 3})
    assert answer.status == 200, answer.body
    shown = answer.json()
    assert shown["effective"] == {**STACK_DEFAULTS, "max_actions": 3}
    assert shown["new_lineage"] is False
    # Then a decision with 4 actions is refused, naming the field, and 3 still decide
    refused = decide(stack, 4)
    assert (refused.status, refused.json()["error"]["field"]) == (400, "actions")
    assert decide(stack, 3).status == 200
    # And raising it above the default lets more actions through
    assert put(stack, {"max_actions": 120}).status == 200
    assert decide(stack, 120).status == 200
    # And both changes are kept, newest first, with who made them
    history = stack.http("GET", DP).json()["history"]
    assert [entry["changes"] for entry in history] == [
        {"max_actions": {"from": 3, "to": 120}},
        {"max_actions": {"from": 50, "to": 3}},
    ]
    assert {entry["principal"] for entry in history} == {LOCAL_OPERATOR["userArn"]}
    assert history[0]["at"] >= history[1]["at"]


def test_a_setting_left_out_goes_back_to_the_stacks_default(stack: LocalStack) -> None:
    assert put(stack, {"default_reward": -0.5, "retention_days": 7}).status == 200

    answer = put(stack, {"retention_days": 7})

    assert answer.json()["effective"] == {**STACK_DEFAULTS, "retention_days": 7}
    assert answer.json()["history"][0]["changes"] == {"default_reward": {"from": -0.5, "to": 0.0}}


def test_settings_of_an_unknown_decision_point_are_404(stack: LocalStack) -> None:
    answer = stack.http("GET", "/decision-points/never-seen")
    assert answer.status == 404
    assert answer.json()["error"]["code"] == "unknown_decision_point"


@pytest.mark.parametrize(
    "body",
    [
        {"max_actions": 0},
        {"max_actions": 201},
        {"max_actions": "5"},
        {"max_actions": 5.5},
        {"max_actions": 5, "surprise": 1},
        {"exploration": "--epsilon 0.2"},  # never a raw VW string
        {"exploration": {"algorithm": "bag", "bags": 5}},
        {"exploration": {"algorithm": "epsilon_greedy", "epsilon": 1.5}},
        {"exploration": {"algorithm": "squarecb", "gamma_scale": 0}},
        {"exploration": {"algorithm": "squarecb", "args": "--quiet"}},
        {"default_reward": "NaN"},
        {"default_reward": False},
        {"exploration": {"algorithm": "epsilon_greedy", "epsilon": True}},
        {"default_reward": 1e300},
        {"retention_days": 0},
        [],
        "nope",
    ],
)
def test_bad_settings_are_refused_and_change_nothing(stack: LocalStack, body: Any) -> None:
    assert put(stack, {"max_actions": 7}).status == 200
    answer = put(stack, body)
    assert answer.status == 400, answer.body
    assert set(answer.json()) == {"error"}
    shown = stack.http("GET", DP).json()
    assert shown["settings"]["max_actions"] == 7
    assert len(shown["history"]) == 1


def test_a_bad_decision_point_in_the_path_is_refused(stack: LocalStack) -> None:
    answer = put(stack, {"max_actions": 5}, "/decision-points/Not%20Valid")
    assert answer.status == 400


def test_a_new_exploration_starts_a_new_model_lineage_at_the_next_retrain(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given home-hero serves version 1, trained under the stack's SquareCB
    for number in range(60):
        decide(stack, 3, event_id=f"v-{number}")
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain_report(stack, "home-hero")["model_version"] == "1"

    # When the operator switches it to epsilon-greedy
    answer = put(stack, {"exploration": {"algorithm": "epsilon_greedy", "epsilon": 0.1}})

    # Then the answer says a new lineage starts, and version 1 keeps serving until then
    assert answer.status == 200
    shown = answer.json()
    assert shown["new_lineage"] is True
    assert shown["history"][0]["new_lineage"] is True
    assert shown["history"][0]["changes"]["exploration"]["to"] == {
        "algorithm": "epsilon_greedy",
        "epsilon": 0.1,
    }
    assert decide(stack, 3).json()["model_version"] == "1"
    # And the next retrain trains version 2 under epsilon-greedy, which decide then serves
    for number in range(60):
        decide(stack, 3, event_id=f"w-{number}")
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain_report(stack, "home-hero")["model_version"] == "2"
    versions = stack.http("GET", f"{DP}/models").json()["versions"]
    assert [v["tuning"] for v in versions] == [
        "--epsilon 0.1 --coin",
        "--squarecb --gamma_scale 50 --coin",
    ]
    assert decide(stack, 3).json()["model_version"] == "2"


def test_the_operator_routes_require_iam_on_aws(stack: LocalStack) -> None:
    routes = [r for r in stack.template.routes if r.path.startswith("/decision-points/")]
    assert {(r.method, r.path.removeprefix("/decision-points/{decision_point}"), r.iam)
            for r in routes} == {
        ("GET", "", True),
        ("PUT", "", True),
        ("POST", "/history", True),
        ("GET", "/models", True),
        ("POST", "/models/{version}/promote", True),
        ("GET", "/report", True),
    }  # fmt: skip
    people = {r.route_key for r in stack.template.routes if r.path.startswith("/users/")}
    assert people == {"GET /users/{user_id}/export", "DELETE /users/{user_id}"}
    assert not [r for r in stack.template.routes
                if r.iam and r not in routes and r.route_key not in people]  # fmt: skip
    # The dashboard page holds no data: it signs its calls to the routes above
    dashboard = next(r for r in stack.template.routes if r.path == "/dashboard")
    assert (dashboard.method, dashboard.iam) == ("GET", False)


def test_a_rollback_is_served_by_decide_and_the_next_retrain_continues_from_it(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given versions 1 and 2, version 2 serving
    for round_number in (1, 2):
        for number in range(60):
            decide(stack, 3, event_id=f"r{round_number}-{number}")
        clock.shift(REWARD_WAIT + timedelta(seconds=5))
        assert retrain_report(stack, "home-hero")["model_version"] == str(round_number)
    assert decide(stack, 3).json()["model_version"] == "2"

    # When the operator rolls back to version 1
    answer = stack.post(f"{DP}/models/1/promote", {})

    # Then decide serves version 1 (within the refresh interval, 0 s here), and the change is
    # in the history with who made it
    assert answer.status == 200, answer.body
    shown = answer.json()
    assert (shown["serving_version"], shown["new_lineage"]) == (1, False)
    assert shown["history"][0]["changes"] == {"serving_version": {"from": 2, "to": 1}}
    assert shown["history"][0]["principal"] == LOCAL_OPERATOR["userArn"]
    assert decide(stack, 3).json()["model_version"] == "1"
    # And the next retrain trains version 3 on the decisions since version 2's window
    for number in range(60):
        decide(stack, 3, event_id=f"r3-{number}")
    clock.shift(REWARD_WAIT + timedelta(seconds=5))
    assert retrain_report(stack, "home-hero")["model_version"] == "3"
    third, second, _ = stack.http("GET", f"{DP}/models").json()["versions"]
    assert third["window_start"] == second["watermark"]
    assert decide(stack, 3).json()["model_version"] == "3"


def test_promoting_a_version_that_does_not_exist_is_refused(stack: LocalStack) -> None:
    decide(stack, 2)
    missing = stack.post(f"{DP}/models/7/promote", {})
    assert (missing.status, missing.json()["error"]["code"]) == (404, "unknown_version")
    assert stack.post("/decision-points/never-seen/models/1/promote", {}).status == 404
    for bad in ("0", "one", "-1"):
        assert stack.post(f"{DP}/models/{bad}/promote", {}).status == 400


def test_logging_only_serves_the_baseline_and_retrain_learns_nothing(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    assert put(stack, {"learning_mode": "logging_only"}).status == 200
    for number in range(40):
        body = {
            "decision_point": "home-hero",
            "event_id": f"l-{number}",
            "actions": [{"id": "a0"}, {"id": "a1"}, {"id": "a2"}],
            "baseline": "a2",
        }
        answer = stack.post("/decide", body).json()
        assert (answer["action_id"], answer["probability"]) == ("a2", 1.0)
        stack.post(f"/events/home-hero:l-{number}/reward", {"value": 1.0})
    clock.shift(REWARD_WAIT + timedelta(seconds=5))

    report = retrain_report(stack, "home-hero")

    assert (report["status"], report["decisions_learned"]) == ("nothing_to_learn", 0)


def test_a_decision_points_baseline_action_is_the_baseline_of_requests_that_name_none(
    stack: LocalStack,
) -> None:
    assert put(stack, {"learning_mode": "logging_only", "baseline_action": "a2"}).status == 200
    body: dict[str, Any] = {
        "decision_point": "home-hero",
        "actions": [{"id": f"a{i}"} for i in range(3)],
    }
    assert stack.post("/decide", body).json()["action_id"] == "a2"
    # A request's own baseline wins; without the decision point's among the allowed, the first
    assert stack.post("/decide", {**body, "baseline": "a1"}).json()["action_id"] == "a1"
    assert stack.post("/decide", {**body, "excluded_actions": ["a2"]}).json()["action_id"] == "a0"


def test_holdout_visitors_get_the_baseline_every_time(stack: LocalStack) -> None:
    assert put(stack, {"holdout_share": 0.5}).status == 200
    served: dict[str, set[tuple[str, float]]] = {}
    for visitor in [f"visitor-{n}" for n in range(30)]:
        for _ in range(3):
            body = {
                "decision_point": "home-hero",
                "user_id": visitor,
                "actions": [{"id": "a0"}, {"id": "a1"}, {"id": "a2"}],
            }
            answer = stack.post("/decide", body).json()
            served.setdefault(visitor, set()).add((answer["action_id"], answer["probability"]))
    held_out = [v for v, shown in served.items() if shown == {("a0", 1.0)}]
    assert 5 <= len(held_out) <= 25  # about half, each always given the baseline


def test_the_templates_parameters_are_the_defaults_of_every_decision_point() -> None:
    overrides = {
        "LearningMode": "logging_only",
        "HoldoutShare": "0.1",
        "PromotionRule": "if_not_worse",
        "PromotionTolerance": "0.05",
    }
    for stack in make_stack(**overrides):
        answer = decide(stack, 3)
        assert (answer.json()["action_id"], answer.json()["probability"]) == ("a0", 1.0)
        effective = stack.http("GET", DP).json()["effective"]
        assert (effective["learning_mode"], effective["holdout_share"]) == ("logging_only", 0.1)
        assert (effective["promotion_rule"], effective["promotion_tolerance"]) == (
            "if_not_worse",
            0.05,
        )
        # And a decision point's own setting takes the default's place
        assert put(stack, {"learning_mode": "online"}).status == 200
        assert stack.http("GET", DP).json()["effective"]["learning_mode"] == "online"


def test_an_apprentice_serves_the_baseline_learns_from_it_and_graduates_on_its_own(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given an apprentice decision point that graduates after 100 decisions of agreement, and
    # a shop whose own rule shows a coat when it snows and sunglasses when it does not
    rule = {"min_decisions": 100, "min_agreement": 0.8, "tolerance": 0.05}
    setting = put(stack, {"learning_mode": "apprentice", "graduate_when": rule})
    assert setting.status == 200, setting.body
    actions = [{"id": "coat"}, {"id": "sunglasses"}, {"id": "umbrella"}]
    reports = []
    for round_number in (1, 2):
        for number in range(200):
            weather = "snow" if number % 2 else "sun"
            body = {
                "decision_point": "home-hero",
                "event_id": f"a{round_number}-{number}",
                "context": {"features": {"weather": weather}},
                "actions": actions,
                "baseline": "coat" if weather == "snow" else "sunglasses",
            }
            answer = stack.post("/decide", body).json()
            # Then every visitor is shown the shop's own choice
            assert (answer["action_id"], answer["probability"]) == (body["baseline"], 1.0)
            assert answer["model_version"] is None  # the model did not choose
            if number % 4 < 2:  # the shop's choice converts half the time
                stack.post(f"/events/home-hero:a{round_number}-{number}/reward", {"value": 1.0})
        clock.shift(REWARD_WAIT + timedelta(seconds=5))
        reports.append(retrain_report(stack, "home-hero"))

    # And the model learned from it: after the first round it had no model to compare; after
    # the second it agreed with the shop's rule and was not worse than it, so it graduated
    first, second = reports
    assert (first["status"], first["graduated"]) == ("trained", False)
    assert "apprentice" not in first["evaluation"]
    judged = second["evaluation"]["apprentice"]
    assert judged["n"] == 200 and judged["agreement"] >= 0.8, judged
    assert second["graduated"] is True
    shown = stack.http("GET", DP).json()
    assert shown["effective"]["learning_mode"] == "online"
    assert shown["history"][0]["principal"] == "retrain: graduate_when"
    assert shown["history"][0]["changes"] == {
        "learning_mode": {"from": "apprentice", "to": "online"}
    }
    # And from then on the model decides
    answer = stack.post(
        "/decide", {"decision_point": "home-hero", "actions": actions, "baseline": "coat"}
    ).json()
    assert answer["model_version"] == "2"


def test_a_quiet_apprentice_is_judged_across_retrain_windows_and_graduates(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given an apprentice that needs 100 decisions, and only 60 between two retrains
    rule = {"min_decisions": 100, "min_agreement": 0.8, "tolerance": 0.05}
    assert put(stack, {"learning_mode": "apprentice", "graduate_when": rule}).status == 200
    reports = []
    for round_number in range(1, 5):
        for number in range(60):
            event_id = f"q{round_number}-{number}"
            decide(stack, 3, event_id=event_id)
            if number % 2:
                stack.post(f"/events/home-hero:{event_id}/reward", {"value": 1.0})
        clock.shift(REWARD_WAIT + timedelta(seconds=5))
        reports.append(retrain_report(stack, "home-hero"))
        if reports[-1]["graduated"]:
            break

    # Then the judgement spans windows: it graduates once 100 decisions had a model to ask
    judged = [r["evaluation"].get("apprentice", {}).get("n", 0) for r in reports]
    assert judged == [0, 60, 120], judged
    assert reports[-1]["graduated"] is True


def test_decisions_made_under_a_longer_reward_wait_are_not_settled_early(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given decisions made while the wait was a day, then the wait cut to a minute
    assert put(stack, {"reward_wait_seconds": 86400}).status == 200
    for number in range(30):
        decide(stack, 2, event_id=f"w{number}")
    assert put(stack, {"reward_wait_seconds": 60}).status == 200

    # When retrain runs an hour later, it leaves them to their own day's wait
    clock.shift(timedelta(hours=1))
    assert retrain_report(stack, "home-hero")["decisions_seen"] == 0
    # And a reward two hours on is still on time, and is learned after the day
    clock.shift(timedelta(hours=1))
    answer = stack.post("/events/home-hero:w3/reward", {"value": 1.0}).json()
    assert answer["status"] == "recorded"
    clock.shift(timedelta(days=1))
    settled = retrain_report(stack, "home-hero")
    assert settled["decisions_seen"] == 30 and settled["status"] == "trained", settled


def test_an_apprentice_without_graduate_when_stays_one(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    assert put(stack, {"learning_mode": "apprentice"}).status == 200
    for round_number in (1, 2):
        for number in range(120):
            answer = decide(stack, 3, event_id=f"s{round_number}-{number}").json()
            assert (answer["action_id"], answer["probability"]) == ("a0", 1.0)
            stack.post(f"/events/home-hero:s{round_number}-{number}/reward", {"value": 1.0})
        clock.shift(REWARD_WAIT + timedelta(seconds=5))
        report = retrain_report(stack, "home-hero")
        assert (report["status"], report["graduated"]) == ("trained", False)
    assert report["evaluation"]["apprentice"]["agreement"] == 1.0
    assert stack.http("GET", DP).json()["effective"]["learning_mode"] == "apprentice"


def test_a_decision_points_own_reward_wait_makes_rewards_late_and_settles_retrain(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    assert put(stack, {"reward_wait_seconds": 60}, "/decision-points/quick").status == 200
    decisions = {}
    for name in ("quick", "home-hero"):  # home-hero waits the stack's 600 s
        body = {"decision_point": name, "actions": [{"id": "a0"}, {"id": "a1"}]}
        decisions[name] = stack.post("/decide", body).json()["event_id"]

    clock.shift(timedelta(seconds=120))
    statuses = {
        name: stack.post(f"/events/{event_id}/reward", {"value": 1.0}).json()["status"]
        for name, event_id in decisions.items()
    }

    assert statuses == {"quick": "late", "home-hero": "recorded"}
    # And retrain settles the quick one after its own wait, the other not yet
    clock.shift(timedelta(seconds=5))
    reports = {
        r["decision_point"]: r for r in stack.fire_schedule("RetrainStateMachine")["reports"]
    }
    assert reports["quick"]["status"] == "trained"
    assert (reports["home-hero"]["status"], reports["home-hero"]["decisions_seen"]) == (
        "nothing_to_learn",
        0,
    )


def test_if_not_worse_keeps_a_candidate_it_cannot_show_is_not_worse_and_a_tolerance_lets_it_serve(
    timed_stack: LocalStack, clock: time_machine.Traveller
) -> None:
    stack = timed_stack
    # Given a decision point that promotes only what is not worse, with no tolerance
    assert put(stack, {"promotion_rule": "if_not_worse", "promotion_tolerance": 0}).status == 200

    def a_round(number: int) -> dict[str, Any]:
        for visitor in range(150):
            clock.shift(timedelta(seconds=1))
            event_id = f"g{number}-{visitor}"
            decided = decide(stack, 3, event_id=event_id).json()
            if decided["action_id"] == "a0":  # only a0 converts
                stack.post(f"/events/{decided['event_id']}/reward", {"value": 1.0})
        clock.shift(REWARD_WAIT + timedelta(seconds=5))
        return retrain_report(stack, "home-hero")

    # Then the first version serves (there is nothing to be worse than)
    assert a_round(1)["status"] == "trained"
    # And the next candidate, whose honest interval reaches below the serving version's
    # estimate, is kept as rejected with its reason, and version 1 keeps serving
    second = a_round(2)
    assert second["status"] == "rejected", second["evaluation"]
    versions = stack.http("GET", f"{DP}/models").json()["versions"]
    assert versions[0]["version"] == 2 and versions[0]["rejected"].startswith("if_not_worse")
    assert decide(stack, 3).json()["model_version"] == "1"
    # And with a tolerance as wide as the reward, the next candidate serves
    assert put(stack, {"promotion_rule": "if_not_worse", "promotion_tolerance": 1}).status == 200
    third = a_round(3)
    assert (third["status"], third["model_version"]) == ("trained", "3")
    assert decide(stack, 3).json()["model_version"] == "3"
