"""The twin's OpenAPI document and Swagger UI, and schemathesis against the twin over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infra import openapi
from infra.stack import LocalStack
from tests.conftest import KEY_HEADERS
from tests.e2e.test_twin import RunningTwin, start_twin

pytestmark = pytest.mark.e2e

# Every answer: no 5xx, a documented status and content type, a body that matches its schema,
# and a body the schema forbids is refused. Not run: positive_data_acceptance (a schema-valid
# body can still be refused: duplicate action ids, an excluded id that is no action, an unknown
# timezone, a reward for an unknown event; JSON Schema cannot say these).
CHECKS = (
    "not_a_server_error",
    "negative_data_rejection",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
# 30 examples per operation and phase: about 40 s on 2 cores. Deterministic, so a failure
# here fails the same way on the next run (and in CI).
MAX_EXAMPLES = 30
RUN_TIMEOUT = 600


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    with start_twin() as running:
        yield running


def fetch(twin: RunningTwin, path: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(twin.base_url + path, timeout=30) as answer:
        return answer.status, answer.headers.get("content-type", ""), answer.read()


def test_the_twin_serves_the_checked_in_document(twin: RunningTwin) -> None:
    status, content_type, body = fetch(twin, "/openapi.json")
    assert (status, content_type) == (200, "application/json")
    served: dict[str, Any] = json.loads(body)
    # Its servers are the twin itself: Swagger UI's "Try it out" calls whatever host served it.
    assert served["servers"] == openapi.TWIN_SERVERS
    checked_in = json.loads(openapi.DOCUMENT.read_text())
    assert {**served, "servers": checked_in["servers"]} == checked_in


def test_the_swagger_ui_is_served_with_its_assets_from_the_twin(twin: RunningTwin) -> None:
    status, content_type, page = fetch(twin, "/docs")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    html = page.decode()
    assert "SwaggerUIBundle(" in html
    assert '"/decide"' in html  # the document is in the page
    # No CDN: every script and stylesheet the page loads comes from the twin.
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    assert sorted(assets) == sorted(openapi.SWAGGER_ASSETS)
    for path, expected_type in openapi.SWAGGER_ASSETS.items():
        status, content_type, asset = fetch(twin, path)
        assert (status, content_type) == (200, expected_type), path
        assert len(asset) > 100_000, path
    assert b"SwaggerUIBundle" in fetch(twin, "/docs/swagger-ui-bundle.min.js")[2]
    assert json.loads(fetch(twin, "/docs?format=json")[2])["paths"]


@pytest.mark.parametrize("method", ["PATCH", "OPTIONS", "TRACE", "QUERY"])
def test_any_method_without_a_route_is_api_gateway_s_404(twin: RunningTwin, method: str) -> None:
    # Found by schemathesis: Python's http.server answered these with a 501 and an HTML page.
    answer = twin.request(method, "/decide")
    assert (answer.status, answer.body) == (404, {"message": "Not Found"})


def test_schemathesis_finds_every_operation_answering_as_documented(
    twin: RunningTwin, tmp_path: Path
) -> None:
    # schemathesis' CLI: its pytest loader for a schema served by a fixture needs pytest < 9.
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{twin.base_url}/openapi.json",
        f"--checks={','.join(CHECKS)}",
        "--phases=examples,coverage,fuzzing",
        "--mode=all",
        f"--max-examples={MAX_EXAMPLES}",
        "--generation-deterministic",
        "--no-color",
        # A configured server's client: the keyed routes' refusals are tested elsewhere
        # (tests/integration/test_keys.py); without a header API Gateway answers them itself.
        *[f"--header={name}:{value}" for name, value in KEY_HEADERS.items()],
    ]
    # In a scratch directory: schemathesis keeps a cache of what it found where it runs.
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    tested = re.search(r"Tested: (\d+)", report)
    assert tested, report
    assert int(tested.group(1)) == len(LocalStack().template.routes), report
