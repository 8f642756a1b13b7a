"""template.yaml is the schema: what the contract, the code and the layer build rely on is there."""

from __future__ import annotations

import ast
import tomllib
from datetime import timedelta
from typing import Any, TypeVar

import boto3
import pytest
from decider.settings import (
    AdminSettings,
    CampaignSettings,
    DecideSettings,
    ExportSettings,
    InteractionsSettings,
    PersonalizerSettings,
    RetrainSettings,
    RewardSettings,
    StackSettings,
)

from infra.stack import ROOT, LocalStack
from infra.template import load_yaml, parse_overrides

Settings = TypeVar("Settings", bound=StackSettings)
TEMPLATE = load_yaml(ROOT / "template.yaml")
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
CONTRACT_ROUTES = {
    "POST /decide": "DecideFunction",
    "POST /events/{event_id}/reward": "RewardFunction",
    "POST /events/{event_id}/activate": "RewardFunction",
    "POST /conversions": "RewardFunction",
    "POST /personalizer/v1.0/rank": "PersonalizerFunction",
    "POST /personalizer/v1.0/events/{eventId}/reward": "PersonalizerFunction",
    "POST /personalizer/v1.0/events/{eventId}/activate": "PersonalizerFunction",
}
# The settings class each function builds at cold start; a new function is added here.
SETTINGS: dict[str, type[StackSettings]] = {
    "DecideFunction": DecideSettings,
    "RewardFunction": RewardSettings,
    "ConversionsFunction": RewardSettings,
    "RetrainFunction": RetrainSettings,
    "PersonalizerFunction": PersonalizerSettings,
    "AdminFunction": AdminSettings,
    "ExportFunction": ExportSettings,
    "InteractionsFunction": InteractionsSettings,
    "ShownFunction": StackSettings,
    "CampaignFunction": CampaignSettings,
}


def properties(logical_id: str) -> dict[str, Any]:
    return dict(RESOURCES[logical_id]["Properties"])


def settings_from(
    environment: dict[str, str], cls: type[Settings], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """The settings a function would build at cold start in this environment."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return cls()  # type: ignore[call-arg]  # from the environment


# --- Functions and routes -------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", sorted(LocalStack().template.functions))
def test_every_function_s_handler_exists_where_the_template_says(logical_id: str) -> None:
    spec = LocalStack().template.functions[logical_id]
    module, function = spec.handler.rsplit(".", 1)
    source = ROOT / spec.code_uri / f"{module.replace('.', '/')}.py"

    assert source.is_file(), f"{logical_id}: {source} does not exist"
    tree = ast.parse(source.read_text())
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert function in defined, f"{logical_id}: {source} defines no {function}()"


def test_every_function_loads_the_layer_holding_the_core_package() -> None:
    layer = ROOT / properties("DeciderLayer")["ContentUri"]
    assert (layer / "requirements.txt").is_file()
    assert (layer / "decider" / "__init__.py").is_file()
    assert {"Ref": "DeciderLayer"} in TEMPLATE["Globals"]["Function"]["Layers"]
    # A function's own Layers would replace the global ones and lose the core package
    for logical_id in LocalStack().template.functions:
        assert "Layers" not in properties(logical_id), logical_id


def test_every_route_of_the_contract_is_in_the_template() -> None:
    routes = {route.route_key: route.function for route in LocalStack().template.routes}
    assert routes.items() >= CONTRACT_ROUTES.items(), routes


def test_every_http_route_belongs_to_the_decision_api() -> None:
    for logical_id in SETTINGS:
        for name, event in properties(logical_id).get("Events", {}).items():
            if event["Type"] == "HttpApi":
                assert event["Properties"]["ApiId"] == {"Ref": "DecisionApi"}, name
    assert RESOURCES["DecisionApi"]["Type"] == "AWS::Serverless::HttpApi"


def test_retrain_runs_on_the_schedule_the_retrain_schedule_parameter_sets() -> None:
    # The schedule starts the state machine that fans retrain out; the function has none
    events = properties("RetrainStateMachine")["Events"].values()
    schedules = [event for event in events if event["Type"] in ("Schedule", "ScheduleV2")]
    assert [event["Properties"]["Schedule"] for event in schedules] == [{"Ref": "RetrainSchedule"}]
    assert "Events" not in properties("RetrainFunction")

    default = str(TEMPLATE["Parameters"]["RetrainSchedule"]["Default"])
    assert LocalStack().schedules()["RetrainStateMachine"] == [default]
    hourly = LocalStack({"RetrainSchedule": "rate(1 hour)"})
    assert hourly.schedules()["RetrainStateMachine"] == ["rate(1 hour)"]


def test_retrain_is_fanned_out_one_invocation_per_decision_point_looping_on_a_backlog() -> None:
    definition = properties("RetrainStateMachine")["Definition"]
    plan = definition["States"][definition["StartAt"]]
    assert plan["Parameters"]["Payload"] == {"plan": True}
    each = definition["States"][plan["Next"]]
    assert (each["Type"], each["ItemsPath"], each["MaxConcurrency"]) == (
        "Map",
        "$.decision_points",
        10,
    )
    assert each["ItemSelector"] == {"decision_point.$": "$$.Map.Item.Value"}
    inner = each["ItemProcessor"]["States"]
    retrain = inner[each["ItemProcessor"]["StartAt"]]
    assert retrain["Parameters"]["FunctionName"] == "${RetrainFunctionArn}"
    more = inner[retrain["Next"]]
    assert more["Choices"] == [{"Variable": "$.more", "BooleanEquals": True, "Next": "Retrain"}]


def test_the_export_runs_on_its_own_schedule_into_its_own_bucket() -> None:
    events = properties("ExportFunction")["Events"].values()
    assert [e["Properties"]["Schedule"] for e in events] == [{"Ref": "ExportSchedule"}]
    assert LocalStack({"ExportSchedule": "rate(2 hours)"}).schedules()["ExportFunction"] == [
        "rate(2 hours)"
    ]
    bucket = RESOURCES["ExportsBucket"]["Properties"]
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == {
        "Ref": "ExportRetentionDays"
    }


# --- Storage --------------------------------------------------------------------------------


def test_the_decisions_table_expires_items_recovers_and_is_indexed_by_decision_time() -> None:
    # (as resolved with the default parameters: the old time index is an upgrade's only)
    table = LocalStack().template.tables["DecisionsTable"].definition

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["KeySchema"] == [{"AttributeName": "event_id", "KeyType": "HASH"}]
    index = next(i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "by-shard-time")
    assert index["KeySchema"] == [
        {"AttributeName": "dp_shard", "KeyType": "HASH"},
        {"AttributeName": "decided_at", "KeyType": "RANGE"},
    ]
    # Retrain reads whole decisions from the index
    assert index["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    assert types == {"event_id": "S", "dp_shard": "S", "decided_at": "S", "user_hash": "S"}
    # And a person's decisions are found by their keyed hash, for erasure and access
    by_user = next(i for i in table["GlobalSecondaryIndexes"] if i["IndexName"] == "by-user")
    assert [k["AttributeName"] for k in by_user["KeySchema"]] == ["user_hash", "decided_at"]


def test_functions_are_told_the_index_the_template_defines() -> None:
    for logical_id in SETTINGS:
        environment = LocalStack().environment(logical_id)
        assert environment["DECISIONS_BY_TIME_INDEX"] == "by-shard-time", logical_id


def test_the_harness_creates_the_decisions_table_the_template_defines(stack: LocalStack) -> None:
    # Given the stack built from template.yaml on moto
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    name = stack.template.tables["DecisionsTable"].name

    # Then the table really has the index and the TTL that retrain and retention rely on
    described = dynamodb.describe_table(TableName=name)["Table"]
    indexes = {i["IndexName"]: i for i in described["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"by-shard-time", "by-user"}
    index = indexes["by-shard-time"]
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["dp_shard", "decided_at"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    versioning = boto3.client("s3", region_name="us-east-1").get_bucket_versioning(
        Bucket=stack.template.buckets["ModelsBucket"].name
    )
    assert versioning["Status"] == "Enabled"


def test_the_models_bucket_is_versioned_encrypted_and_not_public() -> None:
    bucket = properties("ModelsBucket")

    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }


# --- Environments and parameters ------------------------------------------------------------


def test_every_function_has_a_settings_class() -> None:
    assert set(LocalStack().template.functions) == set(SETTINGS) | {"AuthorizerFunction"}


# How each route is reached on AWS: by browsers (no key; CORS), with a server key checked by
# the authorizer, or with IAM. A new route fails here until it is placed.
ROUTE_AUTH = {
    "POST /decide": None,
    "POST /events/{event_id}/activate": None,
    "GET /dashboard": None,  # the page alone: it signs its calls to the IAM routes
    "POST /events/{event_id}/reward": "ServerKey",
    "POST /conversions": "ServerKey",
    "POST /personalizer/v1.0/rank": "PersonalizerKey",
    "POST /personalizer/v1.0/events/{eventId}/reward": "PersonalizerKey",
    "POST /personalizer/v1.0/events/{eventId}/activate": "PersonalizerKey",
    "GET /decision-points/{decision_point}": "AWS_IAM",
    "PUT /decision-points/{decision_point}": "AWS_IAM",
    "POST /decision-points/{decision_point}/history": "AWS_IAM",
    "GET /decision-points/{decision_point}/models": "AWS_IAM",
    "POST /decision-points/{decision_point}/models/{version}/promote": "AWS_IAM",
    "GET /decision-points/{decision_point}/report": "AWS_IAM",
    "GET /users/{user_id}/export": "AWS_IAM",
    "DELETE /users/{user_id}": "AWS_IAM",
    # Servers with a server key, or pages with a publishable key: the function checks either
    "POST /interactions": None,
    "POST /visitors/link": "ServerKey",
}


def test_every_route_has_the_authentication_its_callers_need() -> None:
    template = LocalStack().template
    found = {r.route_key: "AWS_IAM" if r.iam else r.authorizer for r in template.routes}
    assert found == ROUTE_AUTH
    # The key authorizers are the one function, on the header each kind of client sends
    assert {name: (a.function, a.headers, a.simple_responses)
            for name, a in template.authorizers.items()} == {
        "ServerKey": ("AuthorizerFunction", ["x-api-key"], True),
        "PersonalizerKey": ("AuthorizerFunction", ["Ocp-Apim-Subscription-Key"], True),
    }  # fmt: skip
    authorizer = properties("AuthorizerFunction")
    assert authorizer["Environment"]["Variables"] == {"KEYS_SECRET": {"Ref": "ApiKeysSecret"}}
    (statement,) = authorizer["Policies"][0]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "secretsmanager:GetSecretValue",
        {"Ref": "ApiKeysSecret"},
    )


@pytest.mark.parametrize("logical_id", sorted(SETTINGS))
def test_each_function_s_environment_satisfies_its_settings(
    logical_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = LocalStack()
    environment = stack.environment(logical_id)
    cls = SETTINGS[logical_id]

    # Every setting comes from the template, none silently from a default in the code
    unset = {name.upper() for name in cls.model_fields} - set(environment)
    assert not unset, f"{logical_id}: template.yaml does not set {sorted(unset)}"

    # And the values are the template's resources and parameters' defaults
    settings = settings_from(environment, cls, monkeypatch)
    assert settings.decisions_table == stack.template.tables["DecisionsTable"].name
    assert settings.models_table == stack.template.tables["ModelRegistryTable"].name
    assert settings.models_bucket == stack.template.buckets["ModelsBucket"].name
    loop = settings.loop()
    assert loop.reward_wait == timedelta(seconds=600)
    assert (loop.aggregation, loop.default_reward) == ("earliest", 0.0)
    assert loop.retention == timedelta(days=30)


@pytest.mark.parametrize("logical_id", sorted(SETTINGS))
def test_the_app_builds_the_settings_class_checked_here(logical_id: str) -> None:
    spec = LocalStack().template.functions[logical_id]
    source = (ROOT / spec.code_uri / "app.py").read_text()
    assert f"{SETTINGS[logical_id].__name__}()" in source


def test_parameter_overrides_reach_every_function(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = LocalStack({"RewardWaitSeconds": "5", "RewardAggregation": "sum"})

    for logical_id, cls in SETTINGS.items():
        environment = stack.environment(logical_id)
        assert environment["REWARD_WAIT_SECONDS"] == "5"
        loop = settings_from(environment, cls, monkeypatch).loop()
        assert (loop.reward_wait, loop.aggregation) == (timedelta(seconds=5), "sum")
    decide = LocalStack({"ModelRefreshSeconds": "0"}).environment("DecideFunction")
    assert settings_from(decide, DecideSettings, monkeypatch).model_refresh_seconds == 0


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(ValueError, match="RewardWait"):
        LocalStack({"RewardWait": "5"})


def test_an_override_outside_the_allowed_values_is_refused() -> None:
    with pytest.raises(ValueError, match="RewardAggregation"):
        LocalStack({"RewardAggregation": "median"})


def test_overrides_are_read_in_both_the_twin_s_and_sam_s_spelling() -> None:
    text = "RewardWaitSeconds=5 ParameterKey=LogLevel,ParameterValue=DEBUG"
    assert parse_overrides(text) == {"RewardWaitSeconds": "5", "LogLevel": "DEBUG"}


# --- The layer's pins -----------------------------------------------------------------------


def _pins(lines: list[str]) -> set[str]:
    return {line.replace(" ", "").lower() for line in lines if line and not line.startswith("#")}


def test_the_layer_pins_equal_the_project_s_runtime_pins() -> None:
    layer = _pins(
        [line.strip() for line in (ROOT / "shared" / "requirements.txt").read_text().splitlines()]
    )
    project = _pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])

    assert layer == project
    assert all("==" in pin for pin in layer), layer
    assert any(pin.startswith("boto3==") for pin in layer)


def test_the_decisions_table_takes_a_customer_managed_key_when_given_one() -> None:
    default = LocalStack().template.tables["DecisionsTable"].definition["SSESpecification"]
    assert default == {"SSEEnabled": True}
    arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    chosen = LocalStack({"DecisionsKmsKeyArn": arn}).template.tables["DecisionsTable"]
    assert chosen.definition["SSESpecification"] == {
        "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn
    }  # fmt: skip
    assert chosen.definition["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }


def test_every_checkov_finding_left_is_skipped_with_its_reason() -> None:
    # infra/sam-check.sh runs checkov on the template; a skip must say why, in a sentence
    skips = [
        (logical_id, skip)
        for logical_id, resource in RESOURCES.items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for logical_id, skip in skips:
        assert skip["id"].startswith("CKV_"), logical_id
        assert len(skip.get("comment", "")) > 40, (logical_id, skip)


def test_the_decide_function_is_published_through_an_alias_ready_for_snapstart() -> None:
    # SnapStart snapshots a published version's init (imports, calendars, clients): decide is
    # published on every deploy and served through its alias; DecideSnapStart turns it on
    decide = properties("DecideFunction")
    assert decide["AutoPublishAlias"] == "live"
    assert decide["SnapStart"] == {
        "ApplyOn": {"Fn::If": ["DecideSnapStarts", "PublishedVersions", "None"]}
    }
    conditions = load_yaml(ROOT / "template.yaml")["Conditions"]
    assert conditions["DecideSnapStarts"] == {"Fn::Equals": [{"Ref": "DecideSnapStart"}, "true"]}
