"""The decisions table's stream: each action shown to a visitor with a profile (decided
activated, or activated later) is counted in their profile, which decide reads as fatigue
(how often and how lately they saw it) and frequency caps count. One write per visitor a
batch. When a visitor's write fails, the batch is reported failed from that visitor's first
record, and Lambda hands the records from there again: a decision counted before is not
counted twice (the profile keeps the ids it counted). A visitor with no profile gets none
(an erased person is not brought back)."""

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws
from decider.context.profiles import Shown
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
    by_visitor: dict[str, list[tuple[str, tuple[str, Shown]]]] = defaultdict(list)
    for change in event["Records"]:
        record = record_of(change["dynamodb"]["NewImage"])
        if record.user_hash is None or not record.activated:
            continue  # the stream's filter lets none of these through; the check is cheap
        channel = record.features.context.get("channel")
        shown = Shown(
            record.decision_point,
            record.chosen_action,
            record.decided_at.timestamp(),
            channel if isinstance(channel, str) else None,
            record.event_id,
        )
        sequence = change["dynamodb"]["SequenceNumber"]
        by_visitor[record.user_hash].append((sequence, (record.user_hash, shown)))
    failed: list[str] = []
    for entries in by_visitor.values():
        try:
            profiles.shown([entry for _, entry in entries], datetime.now(UTC))
        except Exception:
            logger.exception("a visitor's shown actions were not recorded")
            failed.extend(sequence for sequence, _ in entries)
    metrics.add_metric(name="ShownRecorded", unit=MetricUnit.Count, value=len(by_visitor))
    return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in failed]}
