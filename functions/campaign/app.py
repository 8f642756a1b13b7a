"""A campaign's batch: the Distributed Map of CampaignStateMachine hands each batch of rows of
a list (with the job) here; every row is decided as POST /decide would, and the batch's
decisions are written to the campaigns bucket as JSON Lines."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.loop import campaigns
from decider.schemas import CampaignJob
from decider.settings import CampaignSettings
from decider.store.s3_exports import S3ExportStore

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = CampaignSettings()  # type: ignore[call-arg]  # from the environment
decider = on_aws.decider(settings)
output = S3ExportStore(settings.campaigns_bucket)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    job = CampaignJob.model_validate(event["BatchInput"]["job"])
    execution = event["BatchInput"].get("execution")
    decided = campaigns.decide_batch(decider, decider.log, job, event["Items"], execution)
    result = campaigns.write_batch(output, job, decided)
    for status, count in result.counts.items():
        metrics.add_metric(name=f"Campaign_{status}", unit=MetricUnit.Count, value=count)
    return result.model_dump()
