"""Scheduled logs out: each decision point's settled days, exported to S3."""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.control.export import export_all
from decider.settings import ExportSettings
from decider.store.dynamo_registry import DynamoRegistry
from decider.store.s3_exports import S3ExportStore

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = ExportSettings()  # type: ignore[call-arg]  # from the environment
log = on_aws.decision_log(settings)
registry = DynamoRegistry(settings.models_table)
store = S3ExportStore(settings.exports_bucket)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    exported = export_all(log=log, registry=registry, store=store, loop=settings.loop())
    for done in exported:
        if done.days:
            logger.info("exported", extra=done.as_dict())
            metrics.add_metric(
                name="DecisionsExported", unit=MetricUnit.Count, value=done.decisions
            )
    return {"exported": [done.as_dict() for done in exported]}
