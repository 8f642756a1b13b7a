"""Warm starts through the admin handler on moto: history in, retrain, a model that knows."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from decider.http.api import MAX_BODY_BYTES, MAX_HISTORY_BODY_BYTES

from infra.stack import HttpResponse, LocalStack
from tests.conftest import retrain_report
from tests.history_files import (
    BEST,
    DRINKS,
    START,
    coffee_csv,
    coffee_dsjson,
    personalizer_line,
)

DP = "coffee"
HISTORY = f"/decision-points/{DP}/history"


@pytest.fixture
def stack(timed_stack: LocalStack) -> LocalStack:
    return timed_stack


def upload(
    stack: LocalStack, content: str, format: str = "dsjson", path: str = HISTORY, **body: Any
) -> HttpResponse:
    return stack.post(path, {"format": format, "content": content, **body})


def logged_decisions(stack: LocalStack) -> int:
    table = stack.template.tables["DecisionsTable"].name
    count: int = boto3.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
    return count


def best_drink(stack: LocalStack, weather: str) -> tuple[str, str | None]:
    body = {
        "decision_point": DP,
        "context": {"features": {"weather": weather}},
        "actions": [{"id": name, "features": features} for name, features in DRINKS],
    }
    decided = stack.post("/decide", body)
    assert decided.status == 200, decided.body
    return decided.json()["ranking"][0]["id"], decided.json()["model_version"]


@pytest.mark.parametrize(("format", "content"), [("dsjson", coffee_dsjson), ("csv", coffee_csv)])
def test_history_seeds_a_decision_point_that_the_next_retrain_learns(
    stack: LocalStack, format: str, content: Any
) -> None:
    # Given 400 visits of a coffee shop logged by a uniform policy, imported over HTTP
    imported = upload(stack, content(400), format)
    assert imported.status == 200, imported.body
    report = imported.json()
    assert (report["decisions"], report["imported"], report["already_present"]) == (400, 400, 0)
    assert report["first_decided_at"] == "2026-10-01T08:00:00Z"

    # When the retrain schedule fires
    retrained = retrain_report(stack, DP)

    # Then it learns the imported decisions (the newest fifth held out to score the model, for
    # the next run), and decide serves what the history rewarded
    assert (retrained["status"], retrained["model_version"]) == ("trained", "1")
    held_out = retrained["evaluation"]["candidate"]["n"]
    assert (retrained["decisions_learned"], held_out) == (320, 80)
    for weather, best in BEST.items():
        assert best_drink(stack, weather) == (best, "1")


def test_importing_again_changes_nothing_and_after_retrain_history_is_refused(
    stack: LocalStack,
) -> None:
    assert upload(stack, coffee_dsjson(20)).json()["imported"] == 20
    again = upload(stack, coffee_dsjson(20))
    assert (again.status, again.json()["already_present"]) == (200, 20)
    assert logged_decisions(stack) == 20

    assert retrain_report(stack, DP)["decisions_learned"] == 20
    refused = upload(stack, coffee_dsjson(30))
    assert refused.status == 409
    assert refused.json()["error"]["code"] == "already_trained"
    assert logged_decisions(stack) == 20


def test_a_file_with_bad_lines_is_a_400_listing_them_and_imports_nothing(
    stack: LocalStack,
) -> None:
    lines = coffee_dsjson(5).split("\n")
    lines[1] = lines[1].replace(
        '"_label_probability": 0.3333333333333333', '"_label_probability": 0'
    )
    lines[3] = "{not json"

    refused = upload(stack, "\n".join(lines))

    assert refused.status == 400
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_history", "content")
    assert error["message"].startswith("2 of 5 lines cannot be imported")
    assert [line["line"] for line in error["lines"]] == [2, 4]
    assert error["lines"][0]["field"] == "_label_probability"
    assert "field" not in error["lines"][1]
    # Nothing was logged, and the decision point is not known
    assert logged_decisions(stack) == 0
    assert stack.http("GET", f"/decision-points/{DP}").status == 404


def test_the_same_event_ids_in_another_decision_point_are_its_own(stack: LocalStack) -> None:
    assert upload(stack, coffee_dsjson(3), path="/decision-points/tea/history").status == 200
    answer = upload(stack, coffee_dsjson(3))
    assert answer.status == 200, answer.body
    assert answer.json()["imported"] == 3
    assert logged_decisions(stack) == 6


def test_the_decision_point_s_own_action_limit_applies(stack: LocalStack) -> None:
    settings = json.dumps({"max_actions": 2})
    put = stack.http(
        "PUT", f"/decision-points/{DP}", settings, {"content-type": "application/json"}
    )
    assert put.status == 200
    refused = upload(stack, coffee_dsjson(1))  # three drinks
    assert refused.status == 400
    assert "at most 2" in refused.json()["error"]["lines"][0]["message"]


def test_the_history_route_takes_a_bigger_body_than_the_others(stack: LocalStack) -> None:
    # A CSV of about 100 kB: over the API's 64 kB, well under the history route's limit
    big = coffee_csv(1200)
    assert MAX_BODY_BYTES < len(big) < MAX_HISTORY_BODY_BYTES
    assert upload(stack, big, "csv").status == 200

    too_big = upload(stack, "x" * MAX_HISTORY_BODY_BYTES, "csv")
    assert too_big.status == 413
    assert too_big.json()["error"]["code"] == "payload_too_large"
    settings = json.dumps({"max_actions": 5, "padding": "x" * MAX_BODY_BYTES})
    headers = {"content-type": "application/json"}
    assert stack.http("PUT", f"/decision-points/{DP}", settings, headers).status == 413


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "xml", "content": "a"}, "format"),
        ({"format": "csv", "content": ""}, "content"),
        ({"format": "csv", "content": "a", "encoding": "utf-8"}, "encoding"),
        ({"format": "csv", "content": "a", "actions": [{"id": "a"}, {"id": "a"}]}, "actions"),
        ({"format": "dsjson", "content": "{}", "actions": [{"id": "a"}]}, "actions"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field(
    stack: LocalStack, body: dict[str, Any], field: str
) -> None:
    refused = stack.post(HISTORY, body)
    assert refused.status == 400
    assert refused.json()["error"]["field"] == field


def test_a_line_never_shown_is_imported_but_not_learned(stack: LocalStack) -> None:
    hidden = personalizer_line("hidden", START, [], DRINKS, 0, 0.5, 1.0, _skipLearn=True)
    report = upload(stack, coffee_dsjson(4) + "\n" + hidden).json()
    assert (report["imported"], report["not_activated"]) == (5, 1)
    assert retrain_report(stack, DP)["decisions_learned"] == 4
