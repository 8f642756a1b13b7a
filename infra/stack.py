"""The template-driven harness: the stack of template.yaml on whatever AWS boto3 reaches.

Tests use it in-process under moto's ``mock_aws``; the local twin uses it against moto's
server. Either way the tables, bucket, routes, environments and schedules come from the
template, so a route or a table missing there fails here too.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import itertools
import json
import logging
import os
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
from botocore.config import Config
from decider.http.keys import key_hash

from infra import states
from infra.container import ProcessContainer
from infra.template import (
    ACCOUNT,
    REGION,
    FunctionSpec,
    QueueSource,
    Route,
    StreamSource,
    Template,
    matches,
)

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)
# What a Lambda runtime would set; tracing has no X-Ray daemon to talk to locally.
_RUNTIME_ENV = {
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
    "POWERTOOLS_TRACE_DISABLED": "true",
}
_serial = itertools.count()


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class LambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


class LocalStack:
    """The template's resources, created with boto3, and its functions, invoked in-process."""

    def __init__(
        self,
        overrides: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        root: Path = ROOT,
        api_keys: Sequence[str] = (),
        headers: dict[str, str] | None = None,
        side_by_side: bool = False,
    ) -> None:
        """``api_keys``: the server keys valid on this stack (their hashes go in its keys
        secret, as an operator's rotation puts them); ``headers``: what every request sends,
        as a configured client would (a key, say)."""
        # A Map's items run at once (up to its MaxConcurrency) only where AWS's side takes
        # concurrent calls: moto's server does (the twin), moto in-process (tests) does not.
        self.side_by_side = side_by_side
        self.root = root
        self.template = Template.load(root / "template.yaml", overrides)
        self.extra_env = extra_env or {}
        self.api_keys = list(api_keys)
        self.headers = dict(headers or {})
        self._loading = threading.Lock()  # a module loads with its function's name set
        self.queue_urls: dict[str, str] = {}
        # API Gateway's throttling: route key -> (tokens, when last counted)
        self._buckets: dict[str, tuple[float, float]] = {}
        # API Gateway's cache of authorizer answers: (authorizer, identity) -> answer, until
        self._authorized: dict[tuple[str, tuple[str, ...]], tuple[dict[str, Any], float]] = {}
        # Each function's containers (module instances, each serving one call at a time, as
        # Lambda's do), started on demand up to MAX_CONTAINERS; calls to any run side by side.
        self._containers: dict[str, list[_Container]] = {}
        self._starting: dict[str, int] = {}
        self._state = threading.Condition()
        self._lock = threading.Lock()  # the throttle's buckets
        self._api_turns = threading.Lock()
        self._api_functions = {route.function for route in self.template.routes} | {
            authorizer.function for authorizer in self.template.authorizers.values()
        }
        # The functions' environments differ only in their name: one environment, set while
        # any call runs (a name is set only while its module loads).
        self._shared_env = self._shared_environment()
        self._environ = _SharedEnviron(self._shared_env)
        self._processes: list[ProcessContainer] = []  # API containers in their own processes
        # Where each stream event source has read to: (function, table) -> shard -> iterator
        self._stream_positions: dict[tuple[str, str], dict[str, str]] = {}
        self._stream_failures: dict[tuple[str, str, str], int] = {}  # how often a batch failed

    def create_resources(self) -> None:
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        for table in self.template.tables.values():
            _create_table(dynamodb, table.name, table.definition)
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in self.template.buckets.values():
            s3.create_bucket(Bucket=bucket.name)
            if bucket.versioned:
                s3.put_bucket_versioning(
                    Bucket=bucket.name, VersioningConfiguration={"Status": "Enabled"}
                )
        sqs = boto3.client("sqs", region_name=REGION)
        # Dead-letter queues first: a queue's redrive policy names one that exists
        for queue in sorted(
            self.template.queues.values(), key=lambda q: "RedrivePolicy" in q.attributes
        ):
            created = sqs.create_queue(QueueName=queue.name, Attributes=queue.attributes)
            self.queue_urls[queue.logical_id] = created["QueueUrl"]
        secrets = boto3.client("secretsmanager", region_name=REGION)
        for secret in self.template.secrets.values():
            secrets.create_secret(Name=secret.name, SecretString=secret.secret_string)
        if self.api_keys:
            self.set_api_keys(self.api_keys)

    def set_api_keys(self, api_keys: Sequence[str]) -> None:
        """Make these the valid server keys, newest first (an operator's rotation)."""
        hashes = [key_hash(key) for key in api_keys]
        boto3.client("secretsmanager", region_name=REGION).put_secret_value(
            SecretId=self.template.secrets["ApiKeysSecret"].name,
            SecretString=json.dumps({"server": hashes}),
        )

    def environment(self, logical_id: str) -> dict[str, str]:
        spec = self.template.functions[logical_id]
        return {
            **spec.environment,
            **_RUNTIME_ENV,
            **self.extra_env,
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        }

    def _shared_environment(self) -> dict[str, str]:
        shared: dict[str, str] = {}
        for logical_id in self.template.functions:
            for name, value in self.environment(logical_id).items():
                if name != "AWS_LAMBDA_FUNCTION_NAME" and shared.setdefault(name, value) != value:
                    raise ValueError(f"functions set {name} to different values")
        return shared

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call the function's handler the way Lambda would: in an idle container of it, or
        a new one (a cold start) while there are fewer than MAX_CONTAINERS, else once one is
        free. Calls to different functions, or to several containers, run at once."""
        spec = self.template.functions[logical_id]
        with self._environ.applied():
            container = self._acquire(logical_id)
            # Powertools' resolver keeps the request it serves on its class (BaseRouter's
            # current_event: one process, one request, as on Lambda): API calls in this
            # process take turns; those in containers of their own need none.
            shared = logical_id in self._api_functions and isinstance(container.module, ModuleType)
            turns = self._api_turns if shared else contextlib.nullcontext()
            try:
                handler = getattr(container.module, spec.handler.rsplit(".", 1)[1])
                with turns:
                    return handler(event, LambdaContext(logical_id, str(uuid.uuid4())))
            finally:
                with self._state:
                    container.busy = False
                    if _ended(container):  # its process died: never handed out again
                        self._containers[logical_id].remove(container)
                    self._state.notify_all()

    def _acquire(self, logical_id: str) -> _Container:
        # A process's cold start takes 1-2 s of CPU: a call waits a moment for a busy
        # container of the function before another process starts, so a short burst is
        # served by the containers there are and only lasting concurrency starts processes.
        patient = self.side_by_side and logical_id in self._api_functions
        asked = time.monotonic()
        with self._state:
            while True:
                pool = self._containers.setdefault(logical_id, [])
                idle = next((c for c in pool if not c.busy), None)
                if idle is not None:
                    idle.busy = True
                    return idle
                starting = self._starting.get(logical_id, 0)
                waited = time.monotonic() - asked
                room = len(pool) + starting < MAX_CONTAINERS
                if room and (not patient or not pool or waited >= PROCESS_AFTER):
                    self._starting[logical_id] = starting + 1
                    break
                self._state.wait(PROCESS_AFTER - waited if room else None)
        try:
            container = _Container(self._load(logical_id), busy=True)  # its init, unlocked
        except BaseException:
            with self._state:
                self._starting[logical_id] -= 1
                self._state.notify_all()  # a call waiting for a container may start one
            raise
        with self._state:
            self._starting[logical_id] -= 1
            self._containers[logical_id].append(container)
        return container

    def _load(self, logical_id: str) -> Any:
        """The function's code loaded anew (a container's init), in its environment: in this
        process; on the twin, an API function's containers after its first in processes of
        their own (infra/container.py), so that a burst's calls run side by side while one
        call after another needs no process (a process's cold start is 1-2 s)."""
        spec = self.template.functions[logical_id]
        with self._state:
            started = len(self._containers.get(logical_id, [])) + self._starting[logical_id]
        if self.side_by_side and logical_id in self._api_functions and started > 1:
            module_name, handler = spec.handler.rsplit(".", 1)
            path = self.root / spec.code_uri / f"{module_name.replace('.', '/')}.py"
            environment = {**os.environ, **self._shared_env,
                           "AWS_LAMBDA_FUNCTION_NAME": logical_id}  # fmt: skip
            process = ProcessContainer(self.root, path, handler, logical_id, environment)
            self._processes.append(process)
            return SimpleNamespace(**{handler: process})
        return self._load_here(logical_id)

    def _load_here(self, logical_id: str) -> ModuleType:
        with self._loading, self._environ.applied():
            os.environ["AWS_LAMBDA_FUNCTION_NAME"] = logical_id
            try:
                return _load_module(self.root, self.template.functions[logical_id])
            finally:
                os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)

    def http(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        """What API Gateway (HTTP API, payload 2.0) would answer, to a client sending this
        stack's ``headers`` and these."""
        headers = {**self.headers, **(headers or {})}
        origin = {k.lower(): v for k, v in headers.items()}.get("origin")
        answer = self._route(method, path, body, headers)
        cors = self.template.cors
        if cors is None or origin is None or not cors.allows(origin):
            return answer
        # API Gateway's CORS: the allowed origin is named on every answer to it
        allowed = "*" if "*" in cors.allow_origins else origin
        return HttpResponse(
            answer.status,
            {**answer.headers, "access-control-allow-origin": allowed, "vary": "origin"},
            answer.body,
        )

    def _route(
        self, method: str, path: str, body: bytes | str | None, headers: dict[str, str]
    ) -> HttpResponse:
        lowered = {k.lower(): v for k, v in headers.items()}
        if (
            method.upper() == "OPTIONS"
            and self.template.cors is not None
            and "access-control-request-method" in lowered
        ):
            return self._preflight(lowered)
        raw_path, _, query = path.partition("?")
        # HTTP APIs hand functions the path decoded (rawPath and pathParameters alike)
        raw_path = urllib.parse.unquote(raw_path)
        for route in self.template.routes:
            params = route.match(method, raw_path)
            if params is not None:
                if not self._admit(route.route_key):
                    return HttpResponse(429, {}, json.dumps({"message": "Too Many Requests"}))
                event = http_event(route, method, raw_path, query, params, body, headers)
                try:
                    if route.authorizer is not None:
                        refused = self._authorize(route.authorizer, event)
                        if refused is not None:
                            return refused
                    result = self.invoke(route.function, event)
                except Exception:  # API Gateway's answer to a crashed function; Lambda logs it
                    log.exception("%s failed", route.function)
                    return HttpResponse(500, {}, json.dumps({"message": "Internal Server Error"}))
                return _http_response(result)
        return HttpResponse(404, {}, json.dumps({"message": "Not Found"}))

    def _admit(self, route_key: str) -> bool:
        """API Gateway's token bucket for the route: False (a 429) when it is empty."""
        throttle = self.template.throttle(route_key)
        if throttle is None:
            return True
        with self._lock:
            now = time.monotonic()
            tokens, counted = self._buckets.get(route_key, (float(throttle.burst), now))
            tokens = min(float(throttle.burst), tokens + (now - counted) * throttle.rate)
            admitted = tokens >= 1.0
            self._buckets[route_key] = (tokens - 1.0 if admitted else tokens, now)
            return admitted

    def _preflight(self, headers: dict[str, str]) -> HttpResponse:
        """API Gateway answers a CORS preflight itself, for any path: a 204, with the CORS
        headers only when the origin, method and headers are allowed."""
        cors = self.template.cors
        assert cors is not None
        method = headers["access-control-request-method"].upper()
        asked = [h.strip().lower() for h in headers.get("access-control-request-headers", "")
                 .split(",") if h.strip()]  # fmt: skip
        origin = headers.get("origin", "")
        if not (
            cors.allows(origin)
            and method in cors.allow_methods
            and all(h in cors.allow_headers or "*" in cors.allow_headers for h in asked)
        ):
            return HttpResponse(204, {}, "")
        return HttpResponse(
            204,
            {
                "access-control-allow-methods": ",".join(cors.allow_methods),
                "access-control-allow-headers": ",".join(cors.allow_headers),
                "access-control-max-age": str(cors.max_age),
            },
            "",
        )

    def _authorize(self, name: str, event: dict[str, Any]) -> HttpResponse | None:
        """What API Gateway does before a route with a Lambda authorizer: a 401 without the
        identity headers, else the authorizer's answer (cached per identity for its TTL): a
        403 if it refuses, or its context handed to the function."""
        spec = self.template.authorizers[name]
        identity = tuple(event["headers"].get(header.lower(), "") for header in spec.headers)
        if not all(identity):
            return HttpResponse(401, {}, json.dumps({"message": "Unauthorized"}))
        cached = self._authorized.get((name, identity))
        if cached is None or cached[1] <= time.time():
            answer = self.invoke(spec.function, authorizer_event(event, list(identity)))
            cached = (answer, time.time() + spec.ttl_seconds)
            self._authorized[(name, identity)] = cached
        answer = cached[0]
        if not answer.get("isAuthorized"):
            return HttpResponse(403, {}, json.dumps({"message": "Forbidden"}))
        event["requestContext"]["authorizer"] = {"lambda": answer.get("context") or {}}
        return None

    def post(self, path: str, payload: Any) -> HttpResponse:
        return self.http("POST", path, json.dumps(payload), {"content-type": "application/json"})

    def schedules(self) -> dict[str, list[str]]:
        """Each function or state machine a schedule starts, with its schedules."""
        found = {fn.logical_id: fn.schedules for fn in self.template.functions.values()}
        found.update({m.logical_id: m.schedules for m in self.template.state_machines.values()})
        return {logical_id: schedules for logical_id, schedules in found.items() if schedules}

    def queue_sources(self) -> list[tuple[str, QueueSource]]:
        """(function, source) for every SQS event source of the template."""
        return [(fn.logical_id, q) for fn in self.template.functions.values() for q in fn.queues]

    def poll(
        self,
        function: str,
        source: QueueSource,
        wait_seconds: int = 0,
        visibility_timeout: int | None = None,
    ) -> dict[str, int]:
        """What Lambda's event source mapping does once: a batch from the queue to the
        function; the messages it processed are deleted, the ones it reports as failures (or
        all, if it fails) are left to SQS to deliver again, and at last to dead-letter."""
        sqs = boto3.client("sqs", region_name=REGION)
        url = self.queue_urls[source.queue]
        receive: dict[str, Any] = dict(
            QueueUrl=url,
            MaxNumberOfMessages=min(source.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        if visibility_timeout is not None:
            receive["VisibilityTimeout"] = visibility_timeout
        messages = sqs.receive_message(**receive).get("Messages", [])
        if not messages:
            return {"received": 0, "failed": 0}
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{self.template.queues[source.queue].name}"
        event = {"Records": [sqs_record(message, arn) for message in messages]}
        try:
            result = self.invoke(function, event)
            failures = (
                (result or {}).get("batchItemFailures", []) if source.reports_failures else []
            )
            failed = {failure["itemIdentifier"] for failure in failures}
        except Exception:  # the whole batch is delivered again
            failed = {message["MessageId"] for message in messages}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return {"received": len(messages), "failed": len(failed)}

    def stream_sources(self) -> list[tuple[str, StreamSource]]:
        """(function, source) for every DynamoDB stream event source of the template."""
        return [(fn.logical_id, s) for fn in self.template.functions.values() for s in fn.streams]

    def poll_stream(self, function: str, source: StreamSource) -> dict[str, int]:
        """What Lambda's event source mapping does once, on every shard of the table's
        stream: the next records (from where the mapping was made) that the filters match,
        handed to the function in batches. A batch that fails is read again; with reported
        failures, from the first one failed."""
        streams, arn = self._stream(source)
        positions = self._stream_positions.setdefault((function, source.table), {})
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        received = failed = 0
        for shard in shards:
            shard_id = shard["ShardId"]
            if shard_id not in positions:
                positions[shard_id] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
            answer = streams.get_records(ShardIterator=positions[shard_id], Limit=1000)
            records = [stream_record(r, arn) for r in answer.get("Records", [])]
            matched = [r for r in records if not source.filters
                       or any(matches(r, p) for p in source.filters)]  # fmt: skip
            next_position = answer.get("NextShardIterator")
            for start in range(0, len(matched), source.batch_size):
                batch = matched[start : start + source.batch_size]
                received += len(batch)
                try:
                    result = self.invoke(function, {"Records": batch})
                    reported = (result or {}).get("batchItemFailures", [])
                    failures = reported if source.reports_failures else []
                except Exception:  # the whole batch is handed again
                    failures = [{"itemIdentifier": batch[0]["dynamodb"]["SequenceNumber"]}]
                if not failures:
                    continue
                failed += len(failures)
                first = min((f["itemIdentifier"] for f in failures), key=int)
                tries = self._stream_failures.get((function, shard_id, first), 0) + 1
                self._stream_failures[(function, shard_id, first)] = tries
                if 0 <= source.max_retries < tries:
                    continue  # as Lambda drops a batch past MaximumRetryAttempts
                next_position = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard_id, ShardIteratorType="AT_SEQUENCE_NUMBER",
                    SequenceNumber=first,
                )["ShardIterator"]  # fmt: skip
                break
            if next_position:
                positions[shard_id] = next_position
        return {"received": received, "failed": failed}

    def skip_streams(self) -> None:
        """Start every stream event source at its stream's end (what is there is not read)."""
        for function, source in self.stream_sources():
            streams, arn = self._stream(source)
            positions = self._stream_positions.setdefault((function, source.table), {})
            for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
                positions[shard["ShardId"]] = streams.get_shard_iterator(
                    StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
                )["ShardIterator"]

    def _stream(self, source: StreamSource) -> tuple[Any, str]:
        """A DynamoDB Streams client and the ARN of the source table's stream."""
        # Not the account's endpoint botocore now prefers for a stream ARN: moto serves the
        # service's own.
        streams = boto3.client(
            "dynamodbstreams",
            region_name=REGION,
            config=Config(account_id_endpoint_mode="disabled"),
        )
        table = self.template.tables[source.table].name
        described = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)
        return streams, described["Table"]["LatestStreamArn"]

    def drain_streams(self) -> int:
        """Poll every stream source once (tests call it where the twin runs pollers)."""
        return sum(self.poll_stream(f, s)["received"] for f, s in self.stream_sources())

    def run_state_machine(self, logical_id: str, execution_input: Any) -> Any:
        """An execution of a state machine of the template: its output."""
        return self.execute(logical_id, execution_input).output

    def execute(self, logical_id: str, execution_input: Any) -> states.Run:
        """An execution of a state machine of the template, run here as Step Functions would
        (moto keeps state machines but runs none); an inline Map's items run side by side on
        the twin, up to a function's containers."""
        return states.execute(
            self.template.state_machines[logical_id],
            execution_input,
            invoke=self.invoke,
            at_once=MAX_CONTAINERS if self.side_by_side else 1,
        )

    def fire_schedule(self, logical_id: str) -> Any:
        """What the schedule does now: invoke its function and return its answer, or start
        its state machine and return the execution's ``output`` with the ``reports`` its
        tasks answered (every Retrain invocation's, in the order they ended: on AWS, in the
        execution's history and the function's logs)."""
        if logical_id not in self.schedules():
            raise KeyError(f"{logical_id} has no schedule in the template")
        if logical_id in self.template.state_machines:
            run = self.execute(logical_id, scheduled_event(logical_id))
            reports = [
                report
                for answer in run.answers
                if isinstance(answer, dict)
                for report in answer.get("reports", [])
            ]
            return {"output": run.output, "reports": reports}
        return self.invoke(logical_id, scheduled_event(logical_id))

    def module(self, logical_id: str) -> ModuleType:
        """The function's first container's code (loaded, its cold start, if there is none):
        what one call after another runs in."""
        with self._state:
            pool = self._containers.get(logical_id)
            if not pool:
                pool = None
        if pool is None:
            with self._environ.applied():
                container = self._acquire(logical_id)
            with self._state:
                container.busy = False
                self._state.notify_all()
        pool = self._containers[logical_id]
        loaded = [c.module for c in pool if isinstance(c.module, ModuleType)]
        return loaded[0] if loaded else self._load_here(logical_id)

    def stop(self) -> None:
        """End the containers that run in processes of their own."""
        for process in self._processes:
            process.stop()


LOCAL_OPERATOR = {
    "accessKey": "AKIALOCALOPERATOR000",
    "accountId": ACCOUNT,
    "callerId": "AIDALOCALOPERATOR000",
    "userArn": f"arn:aws:iam::{ACCOUNT}:user/local-operator",
    "userId": "AIDALOCALOPERATOR000",
}


def http_event(
    route: Route,
    method: str,
    path: str,
    query: str,
    params: dict[str, str],
    body: bytes | str | None,
    headers: dict[str, str],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    text, encoded = _body(body)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if route.iam:
        # What API Gateway adds after checking a SigV4 signature; the twin checks none, and
        # every operator call comes from one local identity.
        event["requestContext"]["authorizer"] = {"iam": LOCAL_OPERATOR}
    if params:
        event["pathParameters"] = params
    if query:
        event["queryStringParameters"] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if text is not None:
        event["body"] = text
    return event


def authorizer_event(request: dict[str, Any], identity: list[str]) -> dict[str, Any]:
    """The payload 2.0 event API Gateway sends a REQUEST authorizer for ``request``."""
    method, path = request["routeKey"].split(" ", 1)
    arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/$default/{method}{path}"
    return {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": arn,
        "identitySource": identity,
        "routeKey": request["routeKey"],
        "rawPath": request["rawPath"],
        "rawQueryString": request["rawQueryString"],
        "headers": request["headers"],
        "requestContext": request["requestContext"],
        **({"pathParameters": request["pathParameters"]} if "pathParameters" in request else {}),
    }


def sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to a function."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def stream_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A DynamoDB stream record as Lambda's event source mapping hands it to a function."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


def scheduled_event(logical_id: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{logical_id}"],
        "detail": {},
    }


def _body(body: bytes | str | None) -> tuple[str | None, bool]:
    if body is None or isinstance(body, str):
        return body, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def _http_response(result: Any) -> HttpResponse:
    if not isinstance(result, dict) or "statusCode" not in result:
        # Payload 2.0 without statusCode: the result itself is a 200 JSON body.
        return HttpResponse(200, {"content-type": "application/json"}, json.dumps(result))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return HttpResponse(int(result["statusCode"]), headers, body)


def _create_table(client: Any, name: str, definition: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": definition["AttributeDefinitions"],
        "KeySchema": definition["KeySchema"],
        "BillingMode": definition.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if "GlobalSecondaryIndexes" in definition:
        request["GlobalSecondaryIndexes"] = definition["GlobalSecondaryIndexes"]
    stream = definition.get("StreamSpecification")
    if stream:
        request["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    client.create_table(**request)
    ttl = definition.get("TimeToLiveSpecification")
    if ttl:
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)


def _load_module(root: Path, spec: FunctionSpec) -> ModuleType:
    module_name, _ = spec.handler.rsplit(".", 1)
    path = root / spec.code_uri / f"{module_name.replace('.', '/')}.py"
    unique = f"_twin_{spec.logical_id}_{next(_serial)}"
    module_spec = importlib.util.spec_from_file_location(unique, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


MAX_CONTAINERS = 8  # a function's containers at most, on one machine
PROCESS_AFTER = 1.0  # seconds a call waits for a busy container before a process starts


@dataclass
class _Container:
    module: Any  # the function's module, or a process's stand-in for it (its handler)
    busy: bool = False


def _ended(container: _Container) -> bool:
    """Whether the container is a process that is no more."""
    if not isinstance(container.module, SimpleNamespace):
        return False
    return any(isinstance(v, ProcessContainer) and v.ended for v in vars(container.module).values())


class _SharedEnviron:
    """``values`` in os.environ while any call runs; what was there before, after the last."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self._lock = threading.Lock()
        self._users = 0
        self._saved: dict[str, str] = {}

    @contextlib.contextmanager
    def applied(self) -> Iterator[None]:
        with self._lock:
            if self._users == 0:
                self._saved = dict(os.environ)
                os.environ.update(self._values)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    os.environ.clear()
                    os.environ.update(self._saved)
