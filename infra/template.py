"""Read template.yaml the way CloudFormation would, for the local twin and the tests.

Only what the twin needs is understood: parameters (with overrides), Globals.Function,
serverless functions with their HttpApi and Schedule events, the HttpApi's Lambda
authorizers, SQS queues with their event sources, DynamoDB tables, S3 buckets and Secrets
Manager secrets.
Intrinsics resolve to local names: a table's physical name is ``<stack>-<LogicalId>``.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STACK_NAME = "decider-local"
REGION = "us-east-1"
ACCOUNT = "123456789012"


class _CfnLoader(yaml.SafeLoader):
    pass


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    name = "Ref" if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # SafeLoader subclass


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    iam: bool = False  # AWS_IAM authorizer on AWS; the twin has no IAM and serves it open
    authorizer: str | None = None  # the name of the HttpApi's Lambda authorizer, if any

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves the request, else None."""
        if method.upper() != self.method and self.method != "ANY":
            return None
        pattern = re.sub(r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.escape(self.path))
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", pattern)
        found = re.fullmatch(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source: Lambda polls ``queue`` and hands the function batches."""

    queue: str  # the queue's logical id
    batch_size: int
    reports_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream event source: Lambda reads ``table``'s stream and hands the
    function batches of the records its filters match."""

    table: str  # the table's logical id
    batch_size: int
    reports_failures: bool
    filters: list[dict[str, Any]]  # FilterCriteria patterns (any one matches)
    max_retries: int = -1  # MaximumRetryAttempts: a batch failing more often is skipped


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: str
    handler: str
    environment: dict[str, str]
    routes: list[Route] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    queues: list[QueueSource] = field(default_factory=list)
    streams: list[StreamSource] = field(default_factory=list)


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    attributes: dict[str, str]  # as CreateQueue takes them (RedrivePolicy as JSON)


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    definition: dict[str, Any]


@dataclass(frozen=True)
class AuthorizerSpec:
    """A Lambda authorizer of the HttpApi: its function, the headers that identify a caller
    (a request without one is a 401), and how long API Gateway caches its answer."""

    name: str
    function: str
    headers: list[str]
    ttl_seconds: int
    simple_responses: bool


@dataclass(frozen=True)
class CorsSpec:
    """The HttpApi's CorsConfiguration, as API Gateway applies it."""

    allow_origins: list[str]
    allow_methods: list[str]
    allow_headers: list[str]
    max_age: int

    def allows(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin in self.allow_origins


@dataclass(frozen=True)
class Throttle:
    """A route's throttling: a token bucket of ``burst`` tokens refilled at ``rate`` a second."""

    rate: float
    burst: int


@dataclass(frozen=True)
class SecretSpec:
    logical_id: str
    name: str
    secret_string: str


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    versioned: bool


@dataclass(frozen=True)
class StateMachineSpec:
    """A Step Functions state machine: its definition with DefinitionSubstitutions made, and
    which function each substitution that names one stands for."""

    logical_id: str
    definition: dict[str, Any]
    functions: dict[str, str]  # an ARN substituted into the definition -> function logical id
    schedules: list[str] = field(default_factory=list)  # EventBridge schedules starting it


@dataclass
class Template:
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec]
    tables: dict[str, TableSpec]
    buckets: dict[str, BucketSpec]
    authorizers: dict[str, AuthorizerSpec] = field(default_factory=dict)
    secrets: dict[str, SecretSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    state_machines: dict[str, StateMachineSpec] = field(default_factory=dict)
    cors: CorsSpec | None = None
    # Throttling by route key; "$default" for every route without its own
    throttles: dict[str, Throttle] = field(default_factory=dict)

    def throttle(self, route_key: str) -> Throttle | None:
        return self.throttles.get(route_key) or self.throttles.get("$default")

    @property
    def routes(self) -> list[Route]:
        return [route for fn in self.functions.values() for route in fn.routes]

    @classmethod
    def load(cls, path: Path, overrides: dict[str, str] | None = None) -> Template:
        doc = load_yaml(path)
        resources: dict[str, Any] = doc.get("Resources", {})
        parameters = _parameters(doc.get("Parameters", {}), overrides or {})
        resolver = _Resolver(parameters, resources, doc.get("Conditions", {}))
        globals_ = doc.get("Globals", {}).get("Function", {})
        template = cls(parameters=parameters, functions={}, tables={}, buckets={})
        for logical_id, resource in resources.items():
            kind, props = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::Serverless::Function":
                template.functions[logical_id] = _function(logical_id, props, globals_, resolver)
            elif kind == "AWS::DynamoDB::Table":
                name = resolver.physical_name(logical_id)
                template.tables[logical_id] = TableSpec(logical_id, name, resolver.resolve(props))
            elif kind == "AWS::S3::Bucket":
                versioning = props.get("VersioningConfiguration", {}).get("Status") == "Enabled"
                template.buckets[logical_id] = BucketSpec(
                    logical_id, resolver.physical_name(logical_id), versioning
                )
            elif kind == "AWS::Serverless::HttpApi":
                template.authorizers.update(_authorizers(props))
                template.throttles.update(_throttles(resolver.resolve(props)))
                if "CorsConfiguration" in props:
                    template.cors = _cors(resolver.resolve(props["CorsConfiguration"]))
            elif kind == "AWS::SQS::Queue":
                template.queues[logical_id] = _queue(logical_id, resolver.resolve(props), resolver)
            elif kind == "AWS::Serverless::StateMachine":
                template.state_machines[logical_id] = _state_machine(logical_id, props, resolver)
            elif kind == "AWS::SecretsManager::Secret":
                template.secrets[logical_id] = SecretSpec(
                    logical_id,
                    resolver.physical_name(logical_id),
                    _secret_string(resolver.resolve(props)),
                )
        return template


def matches(record: Any, pattern: Any) -> bool:
    """Whether an event record matches an EventBridge-style filter pattern (what Lambda's
    FilterCriteria use): the subset of exact values, lists of them, and ``{"exists": ...}``."""
    if isinstance(pattern, dict):
        if not isinstance(record, dict):
            return False
        return all(_field_matches(record, key, inner) for key, inner in pattern.items())
    return False


def _field_matches(record: dict[str, Any], key: str, pattern: Any) -> bool:
    if isinstance(pattern, dict):
        return key in record and matches(record[key], pattern)
    present = key in record
    for option in pattern:
        if isinstance(option, dict) and "exists" in option:
            if bool(option["exists"]) == present:
                return True
        elif present and record[key] == option:
            return True
    return False


def parse_overrides(text: str) -> dict[str, str]:
    """``Key=Value Key2=Value2``, or sam's ``ParameterKey=Key,ParameterValue=Value``."""
    overrides: dict[str, str] = {}
    for word in text.split():
        if word.startswith("ParameterKey="):
            key_part, value_part = word.split(",", 1)
            overrides[key_part.split("=", 1)[1]] = value_part.split("=", 1)[1]
        elif "=" in word:
            key, value = word.split("=", 1)
            overrides[key] = value
        else:
            raise ValueError(f"parameter override {word!r} is not Key=Value")
    return overrides


def _parameters(declared: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    unknown = set(overrides) - set(declared)
    if unknown:
        raise ValueError(f"unknown template parameters: {', '.join(sorted(unknown))}")
    values: dict[str, str] = {}
    for name, spec in declared.items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in spec:
            values[name] = str(spec["Default"])
        else:
            raise ValueError(f"template parameter {name} has no default: pass it as an override")
        allowed = spec.get("AllowedValues")
        if allowed and values[name] not in [str(v) for v in allowed]:
            raise ValueError(f"{name}={values[name]} is not one of {allowed}")
    return values


def _function(
    logical_id: str, props: dict[str, Any], globals_: dict[str, Any], resolver: _Resolver
) -> FunctionSpec:
    env = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **props.get("Environment", {}).get("Variables", {}),
    }
    routes, schedules, queues, streams = [], [], [], []
    for event in props.get("Events", {}).values():
        event_props = event.get("Properties", {})
        if event["Type"] == "HttpApi":
            method = str(event_props.get("Method", "ANY")).upper()
            named = event_props.get("Auth", {}).get("Authorizer")
            iam = named == "AWS_IAM"
            authorizer = None if iam or named in (None, "NONE") else str(named)
            routes.append(Route(method, event_props["Path"], logical_id, iam, authorizer))
        elif event["Type"] in ("Schedule", "ScheduleV2") and _enabled(event_props, resolver):
            schedules.append(str(resolver.resolve(event_props["Schedule"])))
        elif event["Type"] == "SQS":
            queue = event_props["Queue"]["Fn::GetAtt"][0]
            reports = "ReportBatchItemFailures" in event_props.get("FunctionResponseTypes", [])
            queues.append(QueueSource(queue, int(event_props.get("BatchSize", 10)), reports))
        elif event["Type"] == "DynamoDB":
            table = event_props["Stream"]["Fn::GetAtt"][0]
            reports = "ReportBatchItemFailures" in event_props.get("FunctionResponseTypes", [])
            patterns = [
                json.loads(found["Pattern"])
                for found in event_props.get("FilterCriteria", {}).get("Filters", [])
            ]
            size = int(event_props.get("BatchSize", 100))
            retries = int(event_props.get("MaximumRetryAttempts", -1))
            streams.append(StreamSource(table, size, reports, patterns, retries))
    return FunctionSpec(
        logical_id=logical_id,
        code_uri=str(props.get("CodeUri", globals_.get("CodeUri", "."))),
        handler=str(props.get("Handler", globals_.get("Handler"))),
        environment={k: str(resolver.resolve(v)) for k, v in env.items()},
        routes=routes,
        schedules=schedules,
        queues=queues,
        streams=streams,
    )


def _state_machine(logical_id: str, props: dict[str, Any], resolver: _Resolver) -> StateMachineSpec:
    values, functions = {}, {}
    for name, value in props.get("DefinitionSubstitutions", {}).items():
        values[name] = str(resolver.resolve(value))
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"][0]
            if resolver.resources[target]["Type"] == "AWS::Serverless::Function":
                functions[values[name]] = target
    text = json.dumps(props["Definition"])
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    schedules = [
        str(resolver.resolve(event["Properties"]["Schedule"]))
        for event in props.get("Events", {}).values()
        if event["Type"] in ("Schedule", "ScheduleV2") and _enabled(event["Properties"], resolver)
    ]
    return StateMachineSpec(logical_id, json.loads(text), functions, schedules)


def _enabled(schedule: dict[str, Any], resolver: _Resolver) -> bool:
    """Whether a schedule event fires: neither ``State: DISABLED`` nor ``Enabled: false``."""
    state = str(resolver.resolve(schedule.get("State", "ENABLED"))).upper()
    enabled = str(resolver.resolve(schedule.get("Enabled", True))).lower()
    return state != "DISABLED" and enabled != "false"


def _queue(logical_id: str, props: dict[str, Any], resolver: _Resolver) -> QueueSpec:
    attributes: dict[str, str] = {
        name: str(props[name])
        for name in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
        if name in props
    }
    if "RedrivePolicy" in props:
        policy = props["RedrivePolicy"]
        attributes["RedrivePolicy"] = json.dumps(
            {
                "deadLetterTargetArn": policy["deadLetterTargetArn"],
                "maxReceiveCount": int(policy["maxReceiveCount"]),
            }
        )
    return QueueSpec(logical_id, resolver.physical_name(logical_id), attributes)


def _secret_string(props: dict[str, Any]) -> str:
    """The secret's value, or what GenerateSecretString makes: its template with a random
    string (letters and digits) under the generated key."""
    generate = props.get("GenerateSecretString")
    if generate is None:
        return str(props.get("SecretString", ""))
    value = json.loads(generate.get("SecretStringTemplate", "{}"))
    alphabet = string.ascii_letters + string.digits
    length = int(generate.get("PasswordLength", 32))
    value[generate["GenerateStringKey"]] = "".join(secrets.choice(alphabet) for _ in range(length))
    return json.dumps(value)


def _throttles(props: dict[str, Any]) -> dict[str, Throttle]:
    def throttle(settings: dict[str, Any]) -> Throttle | None:
        if "ThrottlingRateLimit" not in settings:
            return None
        return Throttle(
            float(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"])
        )

    found = {"$default": throttle(props.get("DefaultRouteSettings", {}))}
    found |= {key: throttle(value) for key, value in props.get("RouteSettings", {}).items()}
    return {key: value for key, value in found.items() if value is not None}


def _cors(spec: dict[str, Any]) -> CorsSpec:
    def listed(value: Any) -> list[str]:  # a CommaDelimitedList parameter resolves to text
        items = value.split(",") if isinstance(value, str) else value or []
        return [str(item).strip() for item in items if str(item).strip()]

    return CorsSpec(
        allow_origins=listed(spec.get("AllowOrigins")),
        allow_methods=[m.upper() for m in listed(spec.get("AllowMethods"))],
        allow_headers=[h.lower() for h in listed(spec.get("AllowHeaders"))],
        max_age=int(spec.get("MaxAge", 0)),
    )


def _authorizers(props: dict[str, Any]) -> dict[str, AuthorizerSpec]:
    found = {}
    for name, spec in props.get("Auth", {}).get("Authorizers", {}).items():
        arn = spec.get("FunctionArn", {})
        if not (isinstance(arn, dict) and "Fn::GetAtt" in arn):
            raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn")
        identity = spec.get("Identity", {})
        found[name] = AuthorizerSpec(
            name=name,
            function=arn["Fn::GetAtt"][0],
            headers=[str(h) for h in identity.get("Headers", [])],
            ttl_seconds=int(identity.get("ReauthorizeEvery", 300)),
            simple_responses=bool(spec.get("EnableSimpleResponses", False)),
        )
    return found


_NO_VALUE = object()  # AWS::NoValue: the property is left out


class _Resolver:
    def __init__(
        self,
        parameters: dict[str, str],
        resources: dict[str, Any],
        conditions: dict[str, Any] | None = None,
    ) -> None:
        self.parameters = parameters
        self.resources = resources
        self.conditions = conditions or {}

    def condition(self, name: str) -> bool:
        return self._true(self.conditions[name])

    def _true(self, spec: Any) -> bool:
        if isinstance(spec, dict) and set(spec) == {"Ref"}:  # !Condition Name
            return self.condition(spec["Ref"])
        ((function, argument),) = spec.items()
        if function == "Fn::Equals":
            left, right = (self.resolve(a) for a in argument)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not self._true(argument[0])
        if function == "Fn::And":
            return all(self._true(a) for a in argument)
        if function == "Fn::Or":
            return any(self._true(a) for a in argument)
        if function == "Condition":
            return self.condition(argument)
        raise ValueError(f"condition {function} is not understood by the twin")

    def physical_name(self, logical_id: str) -> str:
        kind = self.resources[logical_id]["Type"]
        if kind == "AWS::S3::Bucket":
            return f"{STACK_NAME}-{logical_id}".lower()
        return f"{STACK_NAME}-{logical_id}"

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(v) for v in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"} and value["Ref"] == "AWS::NoValue":
            return _NO_VALUE
        if set(value) == {"Ref"}:
            return self._ref(value["Ref"])
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self.condition(name) else when_false)
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            return self._attribute(logical_id, attribute)
        if set(value) == {"Fn::Sub"}:
            return self._sub(value["Fn::Sub"])
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK_NAME,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.resources:
            return self.physical_name(name)
        raise ValueError(f"!Ref {name}: no such parameter or resource")

    def _attribute(self, logical_id: str, attribute: str) -> str:
        name = self.physical_name(logical_id)
        kind = self.resources[logical_id]["Type"]
        if attribute == "Arn" and kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{name}"
        if attribute == "Arn" and kind == "AWS::SQS::Queue":
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        if attribute == "Arn" and kind == "AWS::DynamoDB::Table":
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
        return f"{name}.{attribute}"

    def _sub(self, spec: str | list[Any]) -> str:
        text, variables = (spec, {}) if isinstance(spec, str) else (spec[0], spec[1])

        def replace(found: re.Match[str]) -> str:
            token = found.group(1)
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token and not token.startswith("AWS::"):
                logical_id, attribute = token.split(".", 1)
                return self._attribute(logical_id, attribute)
            return self._ref(token)

        return re.sub(r"\$\{([^}!]+)\}", replace, text)
