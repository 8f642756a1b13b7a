"""The dashboard as a person sees it: Debian's headless Chromium loads /dashboard from the twin
after a simulated shop's traffic, draws the report without a console error, and rolls back a
version with its button; decide then serves that version."""

from __future__ import annotations

import os
import random
import shutil
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from infra.shops import conversion_probability, visitors
from tests.e2e.test_twin import RunningTwin, start_twin

pytestmark = pytest.mark.e2e

DP = "dash-hero"
# The screenshot kept in docs/ is refreshed by `make screenshot`.
SCREENSHOT = (
    Path(os.environ.get("DASHBOARD_SCREENSHOT", ""))
    if os.environ.get("DASHBOARD_SCREENSHOT")
    else None
)


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed: apt-get install chromium")
    return found


def shop_traffic(twin: RunningTwin, rounds: int, size: int) -> None:
    """The demo's shop, a 20% holdout: ``rounds`` rounds of ``size`` visitors, each round
    retrained; the reward wait is 1 s."""
    answer = twin.request(
        "PUT", f"/decision-points/{DP}", b'{"holdout_share": 0.2}', "application/json"
    )
    assert answer.status == 200, answer.body
    rng, stream = random.Random(7), visitors(7)
    for _ in range(rounds):
        for _ in range(size):
            visitor = next(stream)
            request = {**visitor.request(DP), "user_id": f"visitor-{rng.randrange(10**9)}"}
            decision = twin.post("/decide", request).body
            if rng.random() < conversion_probability(visitor, decision["action_id"]):
                twin.post(f"/events/{decision['event_id']}/reward", {"value": 1.0})
        time.sleep(1 + 3.3)  # the reward wait and retrain's settle margin
        reports = twin.post("/_local/schedules/RetrainStateMachine", {}).body["reports"]
        assert next(r for r in reports if r["decision_point"] == DP)["status"] == "trained"


@pytest.fixture(scope="module")
def shop() -> Iterator[RunningTwin]:
    chromium()
    with start_twin() as twin:
        shop_traffic(twin, rounds=2, size=300)
        yield twin


def test_the_dashboard_shows_the_report_and_rolls_back_with_its_button(
    shop: RunningTwin, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())

        # When an operator opens the dashboard for the decision point
        page.goto(f"{shop.base_url}/dashboard?dp={DP}&days=7")
        page.wait_for_selector("#versions table")

        # Then it shows the report: its curves, the versions, the settings history
        assert "600 decisions" in page.inner_text("#status")
        assert page.locator("#rewards svg circle").count() >= 2  # model and holdout, today
        assert page.locator("#lift table tbody tr").count() == 1
        assert page.locator("#versions tbody tr").count() == 2
        assert "serving" in page.inner_text("#versions tbody tr:first-child")
        assert "holdout_share" in page.inner_text("#settings")
        page.screenshot(path=SCREENSHOT or str(tmp_path / "dashboard.png"), full_page=True)

        # When the operator serves version 1 with its button
        page.click("button[data-version='1']")
        page.wait_for_function(
            "document.getElementById('status').textContent.includes('Now serving version 1')"
        )
        browser.close()

    # Then decide serves version 1 (the twin's model refresh interval is 0 s) to every visitor
    # outside the 20% holdout (whose decisions name no version)
    body = {"decision_point": DP, "actions": [{"id": "a"}, {"id": "b"}]}
    served = [shop.post("/decide", body).body["model_version"] for _ in range(20)]
    assert set(served) - {None} == {"1"}, served
    history = shop.request("GET", f"/decision-points/{DP}").body["history"]
    assert history[0]["changes"] == {"serving_version": {"from": 2, "to": 1}}
    # And nothing went wrong in the browser
    assert problems == []


def test_the_dashboard_is_a_page_not_an_api(shop: RunningTwin) -> None:
    with urllib.request.urlopen(f"{shop.base_url}/dashboard", timeout=10) as answer:
        assert answer.headers["content-type"].startswith("text/html")
        assert b"<title>Decider dashboard</title>" in answer.read()


@pytest.mark.parametrize(
    ("method", "path", "body", "token"),
    [
        ("GET", "/decision-points/dash-hero/report?days=28", "", None),
        ("POST", "/decision-points/dash-hero/models/3/promote", "{}", "a-session-token"),
    ],
)
def test_the_dashboard_signs_its_calls_as_botocore_does(
    shop: RunningTwin, method: str, path: str, body: str, token: str | None
) -> None:
    """On AWS the operator routes need SigV4: the page's signature of a request is the one
    botocore computes for the same request, credentials and instant."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from playwright.sync_api import sync_playwright

    url = f"https://abc123.execute-api.eu-west-1.amazonaws.com{path}"
    creds = {"ak": "AKIDEXAMPLE", "sk": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "st": token,
             "region": "eu-west-1"}  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), headless=True)
        page = browser.new_page()
        page.goto(f"{shop.base_url}/dashboard")
        signed = page.evaluate(
            "([method, url, body, creds]) => "
            "signed(method, url, body, creds, new Date('2026-11-24T10:00:00Z'))",
            [method, url, body, {**creds, "st": token or ""}],
        )
        browser.close()

    request = AWSRequest(method=method, url=url, data=body.encode() or None)
    if body:
        request.headers["content-type"] = "application/json"
    signer = SigV4Auth(Credentials(creds["ak"], creds["sk"], token), "execute-api", "eu-west-1")
    with time_machine.travel(datetime(2026, 11, 24, 10, tzinfo=UTC), tick=False):
        signer.add_auth(request)
    assert signed["authorization"] == request.headers["Authorization"]
    assert signed["x-amz-date"] == "20261124T100000Z"
