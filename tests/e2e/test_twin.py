"""The local twin over real HTTP: started as `python -m infra.twin`, driven with urllib."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import pytest

from infra.stack import ROOT
from tests.conftest import KEY_HEADERS, TEST_KEY

pytestmark = pytest.mark.e2e

PARAMS = "RewardWaitSeconds=1 ModelRefreshSeconds=0 AutoCreateDecisionPoints=1000"
STARTUP_TIMEOUT = 60.0
ACTIONS = [
    {"id": "winter-coat", "features": {"category": "outerwear", "price": 129.0}},
    {"id": "sunglasses", "features": {"category": "accessories", "price": 39.0}},
    {"id": "rain-jacket", "features": {"category": "outerwear", "price": 89.0}},
]
DECIDE = {
    "decision_point": "e2e-hero",
    "context": {"geo": {"lat": 42.36, "timezone": "America/New_York"}, "channel": "web"},
    "actions": ACTIONS,
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


@dataclass
class RunningTwin:
    base_url: str
    process: subprocess.Popen[bytes]
    output: IO[bytes]

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> Answer:
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        for name, value in KEY_HEADERS.items():  # a server's client, configured with its key
            request.add_header(name, value)
        if content_type:
            request.add_header("content-type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Answer(response.status, json.loads(response.read()))
        except urllib.error.HTTPError as refused:
            return Answer(refused.code, json.loads(refused.read()))

    def post(self, path: str, payload: Any) -> Answer:
        return self.request("POST", path, json.dumps(payload).encode(), "application/json")

    def log_tail(self, whole: bool = False) -> str:
        self.output.seek(0)
        text = self.output.read().decode(errors="replace")
        return text if whole else text[-4000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_healthy(twin: RunningTwin) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if twin.process.poll() is not None:
            pytest.fail(f"the twin exited with {twin.process.returncode}:\n{twin.log_tail()}")
        try:
            with urllib.request.urlopen(twin.base_url + "/_local/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    pytest.fail(f"the twin was not healthy within {STARTUP_TIMEOUT:.0f} s:\n{twin.log_tail()}")


@contextlib.contextmanager
def start_twin(params: str = PARAMS, extra: Sequence[str] = ()) -> Iterator[RunningTwin]:
    """``python -m infra.twin`` on a free port, healthy, stopped on exit (``extra``: more of
    its arguments)."""
    port = _free_port()
    # The twin plays AWS itself (moto's server); nothing of a real account may leak in.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment["DECIDER_API_KEYS"] = TEST_KEY
    command = [
        sys.executable,
        "-m",
        "infra.twin",
        "--port",
        str(port),
        "--params",
        params,
        "--quiet-requests",
        *extra,
    ]
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        running = RunningTwin(f"http://127.0.0.1:{port}", process, output)
        try:
            _wait_until_healthy(running)
            yield running
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def twin() -> Iterator[RunningTwin]:
    with start_twin() as running:
        yield running


def test_the_twin_decides_learns_and_serves_the_new_model(twin: RunningTwin) -> None:
    # Given no model yet: a decision is uniform over the actions
    first = twin.post("/decide", DECIDE)
    assert first.status == 200, first.body
    assert first.body["model_version"] is None
    assert [ranked["probability"] for ranked in first.body["ranking"]] == pytest.approx([1 / 3] * 3)
    assert {ranked["id"] for ranked in first.body["ranking"]} == {a["id"] for a in ACTIONS}

    # When the visitor converts, and the reward wait (1 s, plus retrain's 1 s margin) passes
    rewarded = twin.post(f"/events/{first.body['event_id']}/reward", {"value": 1.0})
    assert rewarded.status == 200, rewarded.body
    assert rewarded.body == {"event_id": first.body["event_id"], "status": "recorded"}
    time.sleep(4.5)  # the twin runs on real time: the 1 s wait and the 3 s settle margin

    # And retrain's schedule is fired by hand
    fired = twin.request("POST", "/_local/schedules/RetrainStateMachine")
    assert fired.status == 200, fired.body
    report = next(r for r in fired.body["reports"] if r["decision_point"] == "e2e-hero")

    # Then it trained version 1 on that decision, and decide serves version 1 at once
    assert (report["status"], report["model_version"]) == ("trained", "1"), report
    assert report["decisions_learned"] == 1
    after = twin.post("/decide", DECIDE)
    assert after.status == 200, after.body
    assert after.body["model_version"] == "1"
    assert sum(ranked["probability"] for ranked in after.body["ranking"]) == pytest.approx(1.0)


def test_firing_a_schedule_the_template_lacks_is_a_404(twin: RunningTwin) -> None:
    answer = twin.request("POST", "/_local/schedules/Nope")
    assert answer.status == 404
    assert answer.body["error"]["code"] == "not_found"
    assert "Nope" in answer.body["error"]["message"]


def test_an_unknown_route_is_a_404(twin: RunningTwin) -> None:
    answer = twin.post("/recommend", DECIDE)
    assert answer.status == 404
    assert answer.body == {"message": "Not Found"}


def test_malformed_json_is_a_400_in_the_error_shape(twin: RunningTwin) -> None:
    answer = twin.request("POST", "/decide", b'{"decision_point": ', "application/json")
    assert answer.status == 400
    assert set(answer.body) == {"error"}
    assert answer.body["error"]["code"] == "malformed_json"
    assert answer.body["error"]["message"]


def test_a_body_that_is_not_utf8_is_a_400_not_a_crash(twin: RunningTwin) -> None:
    answer = twin.request("POST", "/events/e1/reward", b'{"value": "\xff"}', "application/json")
    assert answer.status == 400
    assert answer.body["error"]["code"] == "malformed_json"


def test_a_non_json_content_type_is_a_415(twin: RunningTwin) -> None:
    answer = twin.request("POST", "/decide", json.dumps(DECIDE).encode(), "text/plain")
    assert answer.status == 415
    assert answer.body["error"]["code"] == "unsupported_media_type"


def test_a_conversion_sent_to_the_queue_is_recorded_by_the_consumer(twin: RunningTwin) -> None:
    import re

    import boto3

    # Given the queue the twin's log names, on its moto server
    found = re.search(
        r"queue (http://127\.0\.0\.1:\d+)(/\S+) -> ConversionsFunction",
        twin.log_tail(whole=True),
    )
    assert found, twin.log_tail()
    endpoint, url = found.group(1), found.group(1) + found.group(2)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
    decision = twin.post("/decide", {"decision_point": "queued", "actions": ACTIONS}).body
    # When an order system sends the conversion there
    body = {"event_id": decision["event_id"], "value": 1.0, "reward_id": "order-77"}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    # Then the consumer takes it off the queue
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        waiting = int(attributes["ApproximateNumberOfMessages"])
        if waiting + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 0:
            break
        time.sleep(0.5)
    # And recorded it: the same order sent to /reward afterwards is a duplicate
    again = twin.post(
        f"/events/{decision['event_id']}/reward", {"value": 1.0, "reward_id": "order-77"}
    )
    assert again.body["status"] == "duplicate", again.body


def test_no_user_id_is_kept_in_clear_anywhere(twin: RunningTwin) -> None:
    import re

    import boto3

    # Given visitors who name themselves, their rewards, a retrain and an export
    shoppers = [f"clear-shopper-{n}@example.com" for n in range(5)]
    for shopper in shoppers:
        for consent in (True, "anonymous", False):
            body = {"decision_point": "private", "actions": ACTIONS, "user_id": shopper,
                    "consent": consent, "profile": {"segment": "vip"}}  # fmt: skip
            decision = twin.post("/decide", body).body
            twin.post(f"/events/{decision['event_id']}/reward", {"value": 1.0})
    for schedule in ("RetrainStateMachine", "ExportFunction"):
        assert twin.request("POST", f"/_local/schedules/{schedule}").status == 200
    assert len(twin.request("GET", f"/users/{shoppers[0]}/export").body["decisions"]) == 1

    # Then no DynamoDB item, S3 object or log line holds any of their ids in clear
    found = re.search(r"AWS: moto on :(\d+)", twin.log_tail(whole=True))
    assert found
    aws = {"endpoint_url": f"http://127.0.0.1:{found.group(1)}", "region_name": "us-east-1",
           "aws_access_key_id": "local", "aws_secret_access_key": "local"}  # fmt: skip
    dynamodb, s3 = boto3.client("dynamodb", **aws), boto3.client("s3", **aws)
    stored = [
        json.dumps(dynamodb.scan(TableName=name)["Items"])
        for name in dynamodb.list_tables()["TableNames"]
    ]
    for bucket in s3.list_buckets()["Buckets"]:
        for listed in s3.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            body = s3.get_object(Bucket=bucket["Name"], Key=listed["Key"])["Body"].read()
            stored.append(body.decode(errors="replace"))  # models are binary; ids would be text
    everything = "\n".join([*stored, twin.log_tail(whole=True)])
    assert "clear-shopper" not in everything
    assert '"user_hash"' in everything  # the personal decisions were kept, hashed


def test_thirty_two_clients_at_once_get_answers_and_nothing_is_lost(twin: RunningTwin) -> None:
    import re
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    # Given 32 clients, each on its own connections, deciding 8 times and rewarding half
    def client(n: int) -> list[int]:
        statuses = []
        for k in range(8):
            body = {**DECIDE, "decision_point": "crowd", "event_id": f"crowd-{n}-{k}"}
            decided = twin.post("/decide", body)
            statuses.append(decided.status)
            # each answer is its own request's (API containers are processes of their own)
            assert decided.body["event_id"] == f"crowd:crowd-{n}-{k}", decided.body
            if k % 2 == 0:
                reward = twin.post(f"/events/{decided.body['event_id']}/reward", {"value": 1.0})
                statuses.append(reward.status)
        return statuses

    # When they all send at once (a reset or a refused connection raises here)
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = [status for statuses in pool.map(client, range(32)) for status in statuses]

    # Then every answer is a 200: no 5xx, no throttling
    assert answers == [200] * (32 * 12)
    # And every decision is logged once, with its reward
    found = re.search(r"AWS: moto on :(\d+)", twin.log_tail(whole=True))
    assert found
    dynamodb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{found.group(1)}",
                            region_name="us-east-1", aws_access_key_id="local",
                            aws_secret_access_key="local")  # fmt: skip
    table = next(t for t in dynamodb.list_tables()["TableNames"] if "Decisions" in t)
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table,
        FilterExpression="decision_point = :dp",
        ExpressionAttributeValues={":dp": {"S": "crowd"}},
    )
    items = [item for page in pages for item in page["Items"]]
    assert sorted(item["event_id"]["S"] for item in items) == sorted(
        f"crowd:crowd-{n}-{k}" for n in range(32) for k in range(8)
    )
    # (on time, or late when a container's cold start held it past the 1 s reward wait: kept)
    rewarded = {item["event_id"]["S"] for item in items if {"reward", "late_reward"} & set(item)}
    assert rewarded == {f"crowd:crowd-{n}-{k}" for n in range(32) for k in range(0, 8, 2)}


def test_a_restarted_twin_keeps_its_decisions_models_and_keys(tmp_path: Any) -> None:
    state = tmp_path / "state"
    # Given a twin keeping its state on disk: decisions, a reward, a trained model, a person's
    with start_twin(PARAMS, ["--state", str(state)]) as first:
        body = {**DECIDE, "decision_point": "kept"}
        decided = [first.post("/decide", body).body for _ in range(30)]
        rewarded = first.post(f"/events/{decided[0]['event_id']}/reward", {"value": 1.0})
        assert rewarded.body["status"] == "recorded"
        first.post("/decide", {**body, "user_id": "kept-shopper@example.com"})
        time.sleep(4.5)  # the reward wait and retrain's settle margin
        fired = first.request("POST", "/_local/schedules/RetrainStateMachine").body
        report = next(r for r in fired["reports"] if r["decision_point"] == "kept")
        assert report["status"] == "trained"
    # When it is stopped and started again on the same directory
    assert (state / "snapshot").is_dir()
    with start_twin(PARAMS, ["--state", str(state)]) as second:
        # Then it serves the model it trained, knows the reward it took, and finds the person's
        # decision by the same hash key
        again = second.post("/decide", body).body
        assert again["model_version"] == report["model_version"]
        duplicate = second.post(f"/events/{decided[0]['event_id']}/reward", {"value": 1.0})
        assert duplicate.body["status"] == "duplicate"
        export = second.request("GET", "/users/kept-shopper@example.com/export").body
        assert len(export["decisions"]) == 1
        assert "restored" in second.log_tail(whole=True)
