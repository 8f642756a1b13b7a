"""The conversions queue's consumer: each message one conversion, recorded as POST /conversions
records an item. A message that cannot be recorded (no such event, malformed) is reported as a
batch item failure, so SQS retries it and then moves it to the dead-letter queue; accepted,
duplicate and late ones are done. A failure of the store is retried the same way."""

import json
from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.loop import events
from decider.settings import RewardSettings

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = RewardSettings()  # type: ignore[call-arg]  # from the environment
loop = settings.loop()
log = on_aws.decision_log(settings)
processor = BatchProcessor(event_type=EventType.SQS)


class NotRecordable(Exception):
    """A conversion no retry can record: it goes to the dead-letter queue."""


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    try:
        item = json.loads(record.body)
    except ValueError:
        item = None
    result = events.record_conversion(log, 0, item, loop, datetime.now(UTC))
    metrics.add_metric(name=f"Conversion_{result.status}", unit=MetricUnit.Count, value=1)
    if result.status in ("unknown", "invalid"):
        raise NotRecordable(f"{result.status}: {result.message}")
    return result.status


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
