"""The decisions table's stream: each action shown to a visitor with a profile (decided
activated, or activated later) is counted in their profile, which decide reads as fatigue
(how often and how lately they saw it). One write per visitor a batch; a visitor whose write
fails is reported, and the stream hands their records again."""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws
from decider.settings import StackSettings
from decider.store.dynamo_log import record_of

logger = Logger()
metrics = Metrics()
tracer = Tracer()
settings = StackSettings()  # type: ignore[call-arg]  # from the environment
profiles = on_aws.profiles(settings)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    by_visitor: dict[str, list[tuple[str, tuple[str, str, str, datetime, str | None]]]] = (
        defaultdict(list)
    )
    for change in event["Records"]:
        record = record_of(change["dynamodb"]["NewImage"])
        if record.user_hash is None or not record.activated:
            continue  # the stream's filter lets none of these through; the check is cheap
        channel = record.features.context.get("channel")
        shown = (
            record.user_hash,
            record.decision_point,
            record.chosen_action,
            record.decided_at,
            channel if isinstance(channel, str) else None,
        )
        by_visitor[record.user_hash].append((change["dynamodb"]["SequenceNumber"], shown))
    failed: list[str] = []
    for entries in by_visitor.values():
        try:
            profiles.shown([entry for _, entry in entries], datetime.now(UTC))
        except Exception:
            logger.exception("a visitor's shown actions were not recorded")
            failed.extend(sequence for sequence, _ in entries)
    metrics.add_metric(name="ShownRecorded", unit=MetricUnit.Count, value=len(by_visitor))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
