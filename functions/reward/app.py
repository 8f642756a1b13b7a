"""POST /events/{event_id}/reward and /activate: outcomes of logged decisions."""

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import events
from decider.api import http_api
from decider.schemas import ActivateResponse, RewardRequest, RewardResponse
from decider.settings import RewardSettings
from decider.store.dynamo_log import DynamoDecisionLog

logger = Logger()
metrics = Metrics()
tracer = Tracer()
settings = RewardSettings()  # type: ignore[call-arg]  # from the environment
loop = settings.loop()
log = DynamoDecisionLog(settings.decisions_table, settings.decisions_by_time_index)
app = http_api(logger)

EventIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:~-]+$")]


@app.post("/events/<event_id>/reward")
@tracer.capture_method
def reward(event_id: EventIdPath, body: RewardRequest) -> RewardResponse:
    response = events.record_reward(log, event_id, body, loop, datetime.now(UTC))
    metrics.add_metric(name=f"Reward_{response.status}", unit=MetricUnit.Count, value=1)
    return response


@app.post("/events/<event_id>/activate")
@tracer.capture_method
def activate(event_id: EventIdPath) -> ActivateResponse:
    return events.activate(log, event_id)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
