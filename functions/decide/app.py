"""POST /decide: rank the candidate actions, sample one, log the decision."""

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider.api import http_api
from decider.decide import Decider
from decider.model_cache import ModelCache
from decider.schemas import DecideRequest, DecideResponse
from decider.settings import DecideSettings
from decider.store.dynamo_log import DynamoDecisionLog
from decider.store.dynamo_registry import DynamoRegistry
from decider.store.s3_models import S3ModelStore

logger = Logger()
metrics = Metrics()
tracer = Tracer()
settings = DecideSettings()  # type: ignore[call-arg]  # from the environment
loop = settings.loop()
decider = Decider(
    models=ModelCache(
        DynamoRegistry(settings.models_table),
        S3ModelStore(settings.models_bucket),
        loop.exploration,
        settings.model_refresh_seconds,
    ),
    log=DynamoDecisionLog(settings.decisions_table, settings.decisions_by_time_index),
    loop=loop,
)
app = http_api(logger)


@app.post("/decide")
@tracer.capture_method
def decide(request: DecideRequest) -> DecideResponse:
    response = decider.decide(request)
    metrics.add_dimension(name="decision_point", value=request.decision_point)
    metrics.add_metric(name="Decisions", unit=MetricUnit.Count, value=1)
    return response


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
