"""Operators' routes under /decision-points/{decision_point}/, IAM-protected: settings and
the model history."""

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import admin
from decider.api import http_api, responses
from decider.schemas import DecisionPointSettings, ModelHistory
from decider.settings import AdminSettings
from decider.store.dynamo_registry import DynamoRegistry

logger = Logger()
metrics = Metrics()
tracer = Tracer()
settings = AdminSettings()  # type: ignore[call-arg]  # from the environment
registry = DynamoRegistry(settings.models_table)
app = http_api(logger)

DecisionPointPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]


@app.get(
    "/decision-points/<decision_point>/settings",
    operation_id="getDecisionPointSettings",
    summary="A decision point's settings",
    responses=responses("The decision point's settings", 400, 404),
)
@tracer.capture_method
def get_settings(decision_point: DecisionPointPath) -> DecisionPointSettings:
    return admin.read_settings(registry, decision_point)


@app.put(
    "/decision-points/<decision_point>/settings",
    operation_id="putDecisionPointSettings",
    summary="Set a decision point's settings",
    responses=responses("The settings now in force", 400, 413, 415),
)
@tracer.capture_method
def put_settings(
    decision_point: DecisionPointPath, body: DecisionPointSettings
) -> DecisionPointSettings:
    logger.info("settings changed", extra={"decision_point": decision_point, **body.model_dump()})
    return admin.write_settings(registry, decision_point, body, datetime.now(UTC))


@app.get(
    "/decision-points/<decision_point>/models",
    operation_id="getModelHistory",
    summary="A decision point's model versions: expected and realized reward",
    responses=responses("Every version, newest first", 400, 404),
)
@tracer.capture_method
def get_models(decision_point: DecisionPointPath) -> ModelHistory:
    return admin.model_history(registry, decision_point)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
