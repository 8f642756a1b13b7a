"""Scheduled retrain of every decision point's model."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.learning.trainer import retrain_all
from decider.settings import RetrainSettings
from decider.store.dynamo_registry import DynamoRegistry
from decider.store.s3_models import S3ModelStore

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = RetrainSettings()  # type: ignore[call-arg]  # from the environment
log = on_aws.decision_log(settings)
registry = DynamoRegistry(settings.models_table)
store = S3ModelStore(settings.models_bucket)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    reports = retrain_all(
        log=log,
        store=store,
        registry=registry,
        loop=settings.loop(),
        now=datetime.now(UTC),
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    for report in reports:
        logger.info("retrained", extra=report.model_dump(mode="json"))
        if report.status == "trained":
            metrics.add_metric(name="ModelsPromoted", unit=MetricUnit.Count, value=1)
        elif report.status == "rejected":
            metrics.add_metric(name="ModelsRejected", unit=MetricUnit.Count, value=1)
    return {"reports": [report.model_dump(mode="json") for report in reports]}
