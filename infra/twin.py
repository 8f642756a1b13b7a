"""The local twin: template.yaml's stack on one machine, with no Docker and no AWS account.

moto's server plays AWS, the HttpApi routes are served over real HTTP by invoking the real
handlers with API Gateway v2 events, and schedules fire on a timer. Only here (never in the
template) ``POST /_local/schedules/{LogicalId}`` fires a function's schedule at once, and
``GET /openapi.json`` and ``GET /docs`` (a Swagger UI) describe the API.

    python -m infra.twin --port 3000 --params "RewardWaitSeconds=5 ModelRefreshSeconds=1"

``POST /_local/state-machines/{LogicalId}`` runs an execution of a state machine to its end
(a campaign: its job as the body), as Step Functions would.

The keyed routes (reward; Personalizer's) check keys as on AWS, against the hashes of the keys
given with --api-keys, --api-keys-file (one a line) or DECIDER_API_KEYS (comma-separated);
with none, the twin makes one and prints it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from decider.http.keys import new_key

from infra import state as twin_state
from infra.container import die_with_parent
from infra.openapi import ApiDocs
from infra.stack import ROOT, LocalStack
from infra.template import REGION, QueueSource, StreamSource, parse_overrides

_SCHEDULE_PATH = re.compile(r"^/_local/schedules/(?P<logical_id>[A-Za-z0-9]+)$")
_EXECUTION_PATH = re.compile(r"^/_local/state-machines/(?P<logical_id>[A-Za-z0-9]+)$")
_USER_PATH = re.compile(r"^(/users/)[^/?]+")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
STATE_EVERY = 60.0  # seconds between saves of the twin's state (and one when it stops)


def rate_seconds(expression: str) -> int | None:
    """Seconds between runs of a ``rate(...)`` schedule; None for cron (fired by hand only)."""
    found = _RATE.match(expression.strip())
    if not found:
        return None
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).rstrip("s")]


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a normal listen backlog: clients arriving together wait


class Twin:
    def __init__(
        self,
        port: int,
        overrides: dict[str, str],
        quiet: bool = False,
        api_keys: list[str] | None = None,
        state: Path | None = None,
    ) -> None:
        """``state``: a directory the twin's state is saved in (every minute and when it
        stops) and restored from when it starts (infra/state.py)."""
        self.port = port
        self.quiet = quiet
        self.state = state
        self._saving = threading.Lock()
        self._aws_port = _free_port()
        self._start_aws()
        self.made_key = None if api_keys else new_key()
        self.stack = LocalStack(
            overrides, api_keys=api_keys or [self.made_key or ""], side_by_side=True
        )
        self.stack.create_resources()
        if state is not None:
            restored = twin_state.restore(self.stack.template, state)
            if restored is not None:
                self.stack.skip_streams()  # restored decisions were shown already
                # the keys of this run (given, or the one printed below) win over the saved
                self.stack.set_api_keys(api_keys or [self.made_key or ""])
            self.log(f"  state in {state}: " + (f"restored {restored}" if restored else "new"))
        self.docs = ApiDocs(self.stack)
        self._stop = threading.Event()

    def _start_aws(self) -> None:
        """moto's server (infra/aws_server.py) in a process of its own, up before we go on."""
        command = [sys.executable, "-m", "infra.aws_server", "--port", str(self._aws_port)]
        # A session of its own: Ctrl-C on the twin must not end it before the last save
        self._aws = subprocess.Popen(
            command, cwd=ROOT, preexec_fn=die_with_parent, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while True:
            if self._aws.poll() is not None:
                raise RuntimeError("moto's server stopped while starting")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self._aws_port), timeout=1),
            ):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("moto's server did not start")
            time.sleep(0.1)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self._aws_port}",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "AWS_DEFAULT_REGION": REGION,
            }
        )
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(name, None)

    def serve_forever(self) -> None:
        server = _Server(("127.0.0.1", self.port), self._handler_class())
        self._start_timers()
        self._start_pollers()
        self._start_saver()
        self.log(f"local twin on http://127.0.0.1:{self.port} (AWS: moto on :{self._aws_port})")
        self.log(f"  API docs: http://127.0.0.1:{self.port}/docs (OpenAPI: /openapi.json)")
        if self.made_key:
            self.log(
                f"  server key for this run (x-api-key, Ocp-Apim-Subscription-Key): {self.made_key}"
            )
        for route in self.stack.template.routes:
            iam = "  (IAM on AWS; open here)" if route.iam else ""
            keyed = f"  (key: {route.authorizer})" if route.authorizer else ""
            self.log(f"  {route.route_key:<50} -> {route.function}{iam}{keyed}")
        for logical_id, expressions in self.stack.schedules().items():
            self.log(
                f"  schedule {', '.join(expressions)} -> {logical_id} "
                f"(POST /_local/schedules/{logical_id} fires it now)"
            )
        for logical_id in self.stack.template.state_machines:
            self.log(f"  state machine {logical_id}: POST /_local/state-machines/{logical_id} "
                     "with its input runs an execution")  # fmt: skip
        for bucket in self.stack.template.buckets.values():
            self.log(f"  bucket {bucket.logical_id}: s3://{bucket.name} "
                     f"(aws --endpoint-url http://127.0.0.1:{self._aws_port} s3 ...)")  # fmt: skip
        try:
            server.serve_forever()
        finally:
            self._stop.set()
            server.server_close()
            if self.state is not None:
                self.save_state()
            self.stack.stop()
            self.stop_aws()

    def save_state(self) -> None:
        with self._saving:  # the minute's save and the last one never write at once
            self._save_state()

    def _save_state(self) -> None:
        try:
            saved = twin_state.save(self.stack.template, self.state)  # type: ignore[arg-type]
            self.log(f"state saved in {self.state}: {saved}")
        except Exception as failure:  # a failed save keeps the last one; the twin goes on
            self.log(f"state not saved: {failure!r}")

    def stop_aws(self) -> None:
        self._aws.terminate()
        try:
            self._aws.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._aws.kill()

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, flush=True)

    def fire(self, logical_id: str) -> Any:
        return self.stack.fire_schedule(logical_id)

    def _start_saver(self) -> None:
        if self.state is not None:
            threading.Thread(target=self._save_every, args=(STATE_EVERY,), daemon=True).start()

    def _save_every(self, period: float) -> None:
        while not self._stop.wait(period):
            self.save_state()

    def _start_timers(self) -> None:
        for logical_id, expressions in self.stack.schedules().items():
            for expression in expressions:
                period = rate_seconds(expression)
                if period is None:
                    self.log(f"  {expression}: cron is not timed locally; fire it by hand")
                    continue
                threading.Thread(target=self._every, args=(period, logical_id), daemon=True).start()

    def _start_pollers(self) -> None:
        for function, source in self.stack.queue_sources():
            url = self.stack.queue_urls[source.queue]
            self.log(f"  queue {url} -> {function} (batches of {source.batch_size})")
            threading.Thread(target=self._drain, args=(function, source), daemon=True).start()

        for function, stream in self.stack.stream_sources():
            self.log(f"  stream of {stream.table} -> {function} (batches of {stream.batch_size})")
            threading.Thread(target=self._read, args=(function, stream), daemon=True).start()

    def _read(self, function: str, source: StreamSource) -> None:
        """Lambda's event source mapping on a DynamoDB stream: poll every second."""
        while not self._stop.wait(1):
            try:
                self.stack.poll_stream(function, source)
            except Exception as failure:  # a failed poll must not stop the poller
                self.log(f"stream {source.table} -> {function} failed: {failure!r}")

    def _drain(self, function: str, source: QueueSource) -> None:
        """Lambda's event source mapping: long-poll the queue, hand the function batches."""
        while not self._stop.is_set():
            try:
                self.stack.poll(function, source, wait_seconds=1)
            except Exception as failure:  # a failed poll must not stop the poller
                self.log(f"queue {source.queue} -> {function} failed: {failure!r}")
                self._stop.wait(1)

    def _every(self, period: int, logical_id: str) -> None:
        while not self._stop.wait(period):
            try:
                result = self.fire(logical_id)
                self.log(f"schedule {logical_id}: {json.dumps(result)[:300]}")
            except Exception as failure:  # a failed run must not stop the timer
                self.log(f"schedule {logical_id} failed: {failure!r}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        twin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 60  # an idle kept-alive connection is closed, as API Gateway does

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def __getattr__(self, name: str) -> Any:
                # API Gateway answers any method (a 404 where no route has it), never a 501.
                if name.startswith("do_"):
                    return lambda: self._handle(name.removeprefix("do_"))
                raise AttributeError(name)

            def _handle(self, method: str) -> None:
                started = time.perf_counter()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path.split("?", 1)[0]
                headers: dict[str, str]
                text: str | bytes
                scheduled = _SCHEDULE_PATH.match(path)
                execution = _EXECUTION_PATH.match(path)
                if path == "/_local/health":
                    status, headers, text = 200, {}, json.dumps({"status": "ok"})
                elif scheduled and method == "POST":
                    status, headers, text = twin._fire_http(scheduled.group("logical_id"))
                elif execution and method == "POST":
                    status, headers, text = twin._execute_http(execution.group("logical_id"), body)
                elif path in twin.docs.paths() and method == "GET":
                    status, headers, text = twin._docs_http(path, self.path)
                else:
                    answer = twin.stack.http(method, self.path, body, dict(self.headers.items()))
                    status, headers, text = answer.status, answer.headers, answer.body
                payload = text.encode() if isinstance(text, str) else text
                self.send_response(status)
                if payload:  # an empty answer (a 204) has no content type
                    headers = {"content-type": "application/json", **headers}
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(payload)
                elapsed = (time.perf_counter() - started) * 1000
                if twin.verbose_requests:
                    shown = _USER_PATH.sub(r"\1<user>", self.path)  # never a user id in a log
                    twin.log(f"{method} {shown} {status} {elapsed:.1f} ms")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # requests are logged above, once, with their latency

        return Handler

    verbose_requests = True

    def _docs_http(self, path: str, target: str) -> tuple[int, dict[str, str], str | bytes]:
        if path == "/docs" and "format=json" in target:  # the link the Swagger UI shows
            path = "/openapi.json"
        try:
            content_type, page = self.docs.page(path)
        except Exception as failure:  # e.g. a template route that no resolver serves
            message = f"the OpenAPI document could not be generated: {failure!r}"
            return 500, {}, json.dumps({"error": {"code": "openapi_error", "message": message}})
        return 200, {"content-type": content_type}, page

    def _fire_http(self, logical_id: str) -> tuple[int, dict[str, str], str]:
        if logical_id not in self.stack.schedules():
            message = f"{logical_id} has no schedule in template.yaml"
            return 404, {}, json.dumps({"error": {"code": "not_found", "message": message}})
        try:
            return 200, {}, json.dumps(self.fire(logical_id))
        except Exception as failure:
            message = f"{logical_id} failed: {failure!r}"
            return 500, {}, json.dumps({"error": {"code": "function_error", "message": message}})

    def _execute_http(self, logical_id: str, body: bytes | None) -> tuple[int, dict[str, str], str]:
        """Step Functions' StartExecution, run to its end here (moto runs no Map)."""
        if logical_id not in self.stack.template.state_machines:
            message = f"{logical_id} is no state machine of template.yaml"
            return 404, {}, json.dumps({"error": {"code": "not_found", "message": message}})
        try:
            execution_input = json.loads(body or b"{}")
        except ValueError:
            message = "the execution's input is JSON"
            return 400, {}, json.dumps({"error": {"code": "malformed_json", "message": message}})
        try:
            return 200, {}, json.dumps(self.stack.run_state_machine(logical_id, execution_input))
        except Exception as failure:  # as an execution fails: its error, not a stack trace
            message = f"{logical_id} failed: {failure!r}"
            return 500, {}, json.dumps({"error": {"code": "execution_failed", "message": message}})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    parser.add_argument("--params", default="", help='template overrides: "Key=Value ..."')
    parser.add_argument("--quiet-requests", action="store_true", help="don't log each request")
    parser.add_argument(
        "--api-keys",
        default=os.environ.get("DECIDER_API_KEYS", ""),
        help="server keys, comma-separated (default: $DECIDER_API_KEYS)",
    )
    parser.add_argument("--api-keys-file", help="a file of server keys, one a line")
    parser.add_argument("--state", type=Path, help="keep the twin's state in this directory")
    args = parser.parse_args(argv)
    keys = [k.strip() for k in args.api_keys.split(",") if k.strip()]
    if args.api_keys_file:
        with open(args.api_keys_file) as lines:
            keys += [line.strip() for line in lines if line.strip()]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: one line per call
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # A terminated twin stops as an interrupted one does: its moto server with it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    twin = Twin(args.port, parse_overrides(args.params), api_keys=keys, state=args.state)
    twin.verbose_requests = not args.quiet_requests
    try:
        twin.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
