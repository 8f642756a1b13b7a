"""POST /decide: rank the candidate actions, sample one, log the decision."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.http.api import CLIENT_KEY_REFUSED, client_key_required, http_api, responses
from decider.schemas import DecideRequest, DecideResponse
from decider.settings import DecideSettings

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = DecideSettings()  # type: ignore[call-arg]  # from the environment
decider = on_aws.decider(settings)
app = http_api(logger)


@app.post(
    "/decide",
    operation_id="decide",
    summary="Choose an action for a visit and log the decision",
    responses=responses(
        "The chosen action, the ranking and the event id",
        400,
        401,
        404,
        409,
        413,
        415,
        meanings={401: CLIENT_KEY_REFUSED},
    ),
    middlewares=[client_key_required(settings.client_keys)],
)
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
