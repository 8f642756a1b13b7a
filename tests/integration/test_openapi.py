"""The OpenAPI document: generated from the functions' resolvers, checked in, valid, complete."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from infra import openapi
from infra.stack import ROOT, LocalStack

# Every non-2xx answer each native route can give; all in the ErrorResponse shape.
NATIVE_ERRORS = {
    ("post", "/decide"): {"400", "401", "404", "409", "413", "415"},
    ("post", "/events/{event_id}/reward"): {"400", "401", "404", "413", "415"},
    ("post", "/events/{event_id}/activate"): {"400", "401", "404"},
    ("post", "/decision-points/{decision_point}/history"): {"400", "404", "409", "413", "415"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.generate()


def test_the_checked_in_document_is_what_the_code_generates(document: dict[str, Any]) -> None:
    if openapi.DOCUMENT.read_text() != openapi.render(document):
        pytest.fail("docs/openapi.json is not what the code generates: run `make openapi`")


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate(document)  # raises, saying where, if it is not


def test_every_route_of_the_template_is_an_operation(document: dict[str, Any]) -> None:
    routes = LocalStack().template.routes
    assert routes
    documented = {
        (method.upper(), path) for path, item in document["paths"].items() for method in item
    }
    assert documented == {(route.method, route.path) for route in routes}


def test_native_errors_are_documented_in_the_error_shape(document: dict[str, Any]) -> None:
    for (method, path), errors in NATIVE_ERRORS.items():
        responses = document["paths"][path][method]["responses"]
        assert set(responses) == {"200", *errors}, path
        for status in errors:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, status)
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]


def test_no_operation_promises_powertools_422(document: dict[str, Any]) -> None:
    # Validation failures are 400s in our error shape (decider.http.api), never Powertools' 422.
    for item in document["paths"].values():
        for operation in item.values():
            assert "422" not in operation["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_documented_examples_are_accepted(document: dict[str, Any], stack: LocalStack) -> None:
    schemas = document["components"]["schemas"]
    [decide] = schemas["DecideRequest"]["examples"]
    decided = stack.post("/decide", decide)
    assert decided.status == 200, decided.body
    [reward] = schemas["RewardRequest"]["examples"]
    rewarded = stack.post(f"/events/{decided.json()['event_id']}/reward", reward)
    assert (rewarded.status, rewarded.json()["status"]) == (200, "recorded"), rewarded.body
    [history] = schemas["HistoryImport"]["examples"]
    imported = stack.post("/decision-points/example/history", history)
    assert (imported.status, imported.json()["imported"]) == (200, 2), imported.body


HELLO_APP = """
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel


class Greeting(BaseModel):
    text: str


app = APIGatewayHttpResolver(enable_validation=True)


@app.get("/hello")
def hello() -> Greeting:
    return Greeting(text="hello")


def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def _project(root: Path, routes: dict[str, tuple[str, str]]) -> LocalStack:
    """A project whose template has one function, HelloFunction, with these HttpApi routes."""
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "functions" / "hello").mkdir(parents=True)
    (root / "functions" / "hello" / "app.py").write_text(HELLO_APP)
    events = "".join(
        f"        {name}:\n          Type: HttpApi\n"
        f"          Properties: {{Method: {method}, Path: {path}}}\n"
        for name, (method, path) in routes.items()
    )
    (root / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        "Description: A greeting API.\n"
        "Resources:\n"
        "  HelloFunction:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: functions/hello/\n"
        "      Handler: app.lambda_handler\n"
        "      Events:\n" + events
    )
    return LocalStack(root=root)


def test_a_function_added_to_the_template_is_documented(tmp_path: Path) -> None:
    stack = _project(tmp_path, {"Hello": ("GET", "/hello")})
    generated = openapi.generate(stack)
    greeting = generated["paths"]["/hello"]["get"]["responses"]["200"]["content"]
    assert greeting["application/json"]["schema"] == {"$ref": "#/components/schemas/Greeting"}
    assert generated["info"]["description"].startswith("A greeting API.")
    json.dumps(generated)  # plain JSON, ready to write


def test_a_template_route_that_no_resolver_serves_is_refused(tmp_path: Path) -> None:
    stack = _project(tmp_path, {"Hello": ("GET", "/hello"), "Goodbye": ("POST", "/goodbye")})
    with pytest.raises(ValueError, match=r"HelloFunction: template\.yaml routes"):
        openapi.generate(stack)
