"""The decisions table's stream: each action shown to a visitor with a profile (decided
activated, or activated later) is counted in their profile, which decide reads as fatigue
(how often and how lately they saw it) and frequency caps count. One write per visitor a
batch. When a visitor's write fails, the batch is reported failed from that visitor's first
record, and Lambda hands the records from there again: a decision counted before is not
counted twice (the profile keeps the ids it counted). A visitor with no profile gets none
(an erased person is not brought back)."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.settings import StackSettings
from decider.store.dynamo_log import record_of

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = StackSettings()  # type: ignore[call-arg]  # from the environment
profiles = on_aws.profiles(settings)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    decisions = [
        (change["dynamodb"]["SequenceNumber"], record_of(change["dynamodb"]["NewImage"]))
        for change in event["Records"]
    ]
    visitors, failed = profiles.record_shown(decisions, datetime.now(UTC))
    metrics.add_metric(name="ShownRecorded", unit=MetricUnit.Count, value=visitors)
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
