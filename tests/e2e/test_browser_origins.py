"""A shop's page calls the twin from the browser: from an allowed origin, decide and activate
work; from another, the browser refuses (CORS), in headless Chromium."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.e2e.test_dashboard import chromium
from tests.e2e.test_twin import PARAMS, RunningTwin, _free_port, start_twin

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html><html><head><title>shop</title></head><body><pre id="result"></pre>
<script>
const api = new URLSearchParams(location.search).get("api");
async function run() {
  const out = document.getElementById("result");
  try {
    const decided = await (await fetch(api + "/decide", {
      method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({decision_point: "web-hero", defer_activation: true,
                            actions: [{id: "coat"}, {id: "boots"}]}),
    })).json();
    const activated = await (await fetch(
      api + "/events/" + encodeURIComponent(decided.event_id) + "/activate", {method: "POST"}
    )).json();
    out.textContent = JSON.stringify({decided, activated});
  } catch (error) {
    out.textContent = "refused: " + error;
  }
}
run();
</script></body></html>"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def page_server(port: int) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def shop() -> Iterator[tuple[RunningTwin, str, str]]:
    chromium()
    allowed, other = _free_port(), _free_port()
    with (
        page_server(allowed) as allowed_origin,
        page_server(other) as other_origin,
        start_twin(f"{PARAMS} AllowedOrigins={allowed_origin}") as twin,
    ):
        yield twin, allowed_origin, other_origin


def visit(url: str) -> tuple[str, list[str]]:
    """The page's result text, and the console's errors, after it ran in Chromium."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True)
        page = browser.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(url)
        page.wait_for_function("document.getElementById('result').textContent !== ''")
        result = page.inner_text("#result")
        browser.close()
    return result, problems


def test_a_page_of_an_allowed_origin_decides_and_activates(
    shop: tuple[RunningTwin, str, str],
) -> None:
    twin, allowed, _ = shop
    result, problems = visit(f"{allowed}/?api={twin.base_url}")
    assert '"action_id"' in result and '"status":"activated"' in result, result
    assert problems == []


def test_a_page_of_another_origin_is_refused_by_the_browser(
    shop: tuple[RunningTwin, str, str],
) -> None:
    twin, _, other = shop
    result, problems = visit(f"{other}/?api={twin.base_url}")
    assert result.startswith("refused: TypeError"), result
    assert any("CORS" in problem for problem in problems), problems
