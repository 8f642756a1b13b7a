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
import os
import threading
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from infra.template import ACCOUNT, REGION, FunctionSpec, Route, Template

ROOT = Path(__file__).resolve().parent.parent
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
    ) -> None:
        self.root = root
        self.template = Template.load(root / "template.yaml", overrides)
        self.extra_env = extra_env or {}
        self._modules: dict[str, ModuleType] = {}
        # Functions share this process (and os.environ): one invocation at a time.
        self._lock = threading.RLock()

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

    def environment(self, logical_id: str) -> dict[str, str]:
        spec = self.template.functions[logical_id]
        return {
            **spec.environment,
            **_RUNTIME_ENV,
            **self.extra_env,
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        }

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Call the function's handler the way Lambda would (cold start on first use)."""
        with self._lock, _patched_environ(self.environment(logical_id)):
            handler = self._handler(logical_id)
            return handler(event, LambdaContext(logical_id, str(uuid.uuid4())))

    def http(
        self,
        method: str,
        path: str,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        """What API Gateway (HTTP API, payload 2.0) would answer."""
        raw_path, _, query = path.partition("?")
        for route in self.template.routes:
            params = route.match(method, raw_path)
            if params is not None:
                event = http_event(route, method, raw_path, query, params, body, headers or {})
                try:
                    result = self.invoke(route.function, event)
                except Exception:  # API Gateway's answer to a crashed function
                    return HttpResponse(500, {}, json.dumps({"message": "Internal Server Error"}))
                return _http_response(result)
        return HttpResponse(404, {}, json.dumps({"message": "Not Found"}))

    def post(self, path: str, payload: Any) -> HttpResponse:
        return self.http("POST", path, json.dumps(payload), {"content-type": "application/json"})

    def schedules(self) -> dict[str, list[str]]:
        return {
            fn.logical_id: fn.schedules for fn in self.template.functions.values() if fn.schedules
        }

    def fire_schedule(self, logical_id: str) -> Any:
        if logical_id not in self.schedules():
            raise KeyError(f"{logical_id} has no schedule in the template")
        return self.invoke(logical_id, scheduled_event(logical_id))

    def module(self, logical_id: str) -> ModuleType:
        """The function's code, loaded once (its cold start) in its template environment."""
        with self._lock, _patched_environ(self.environment(logical_id)):
            if logical_id not in self._modules:
                spec = self.template.functions[logical_id]
                self._modules[logical_id] = _load_module(self.root, spec)
            return self._modules[logical_id]

    def _handler(self, logical_id: str) -> Any:
        spec = self.template.functions[logical_id]
        return getattr(self.module(logical_id), spec.handler.rsplit(".", 1)[1])


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


@contextlib.contextmanager
def _patched_environ(values: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
