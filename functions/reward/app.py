"""POST /events/{event_id}/reward and /activate: outcomes of logged decisions."""

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.http.api import (
    CLIENT_KEY_REFUSED,
    client_key_required,
    http_api,
    key_required,
    responses,
)
from decider.loop import events
from decider.records import MAX_EVENT_ID
from decider.schemas import (
    ActivateResponse,
    ConversionsRequest,
    ConversionsResponse,
    RewardRequest,
    RewardResponse,
)
from decider.settings import RewardSettings

# 500 conversions of about 200 bytes, with room: a batch of JSON numbers and order ids.
MAX_CONVERSIONS_BODY_BYTES = 256 * 1024
logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = RewardSettings()  # type: ignore[call-arg]  # from the environment
loop = settings.loop()
log = on_aws.decision_log(settings)
CONVERSIONS_ROUTE = "POST /conversions"
app = http_api(logger, body_limits={CONVERSIONS_ROUTE: MAX_CONVERSIONS_BODY_BYTES})

# As decide answers it: <decision_point>:<id> (records.scoped_event_id).
EventIdPath = Annotated[
    str, Path(min_length=1, max_length=MAX_EVENT_ID, pattern=r"^[A-Za-z0-9._:~-]+$")
]


@app.post(
    "/events/<event_id>/reward",
    operation_id="reward",
    summary="Report the reward (e.g. a conversion) of a decision",
    responses=responses(
        "Recorded, a duplicate, or late (stored, not learned)", 400, 401, 404, 413, 415
    ),
    middlewares=[key_required("x-api-key")],
)
@tracer.capture_method
def reward(event_id: EventIdPath, body: RewardRequest) -> RewardResponse:
    response = events.record_reward(log, event_id, body, loop, datetime.now(UTC))
    metrics.add_metric(name=f"Reward_{response.status}", unit=MetricUnit.Count, value=1)
    return response


@app.post(
    "/events/<event_id>/activate",
    operation_id="activate",
    summary="Activate a decision made with defer_activation: only activated ones are learned",
    responses=responses(
        "Activated now, or already active", 400, 401, 404, meanings={401: CLIENT_KEY_REFUSED}
    ),
    middlewares=[client_key_required(settings.client_keys)],
)
@tracer.capture_method
def activate(event_id: EventIdPath) -> ActivateResponse:
    return events.activate(log, event_id)


@app.post(
    "/conversions",
    operation_id="conversions",
    summary="Report up to 500 conversions at once, answered one by one",
    description="Each item is a reward of its decision, idempotent by its reward_id: accepted, "
    "duplicate (sent before), late (after the reward wait: stored, not learned), unknown (no "
    "such event) or invalid (with why). One bad item never keeps the others from being "
    "recorded; send the same batch again after a failure and nothing counts twice.",
    responses=responses(
        "Each item's status, in the request's order, and how many of each", 400, 401, 413, 415
    ),
    middlewares=[key_required("x-api-key")],
)
@tracer.capture_method
def conversions(body: ConversionsRequest) -> ConversionsResponse:
    answer = events.record_conversions(log, body.conversions, loop, datetime.now(UTC))
    for status, count in answer.counts.items():
        metrics.add_metric(name=f"Conversion_{status}", unit=MetricUnit.Count, value=count)
    return answer


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
