"""Retrain: one decision point per invocation, as the template's RetrainStateMachine fans
them out (a plan of the decision points in turn, then each in its own invocation, again while
it has a backlog); an invocation without a decision point retrains them all in turn."""

from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.learning.trainer import MOVED_ON, Schedule, in_turn, retrain_all, retrain_backlog
from decider.schemas import RetrainReport
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
def lambda_handler(event: dict, context: LambdaContext) -> dict[str, Any]:
    """``{"plan": true}``: the decision points, least recently retrained first.
    ``{"decision_point": name}``: that one's reports, and ``more`` when its time ran out with
    a backlog left (the state machine invokes it again). Anything else: all of them in turn."""
    if event.get("plan"):
        return {"decision_points": in_turn(registry)}
    schedule = Schedule(
        log=log,
        store=store,
        registry=registry,
        loop=settings.loop(),
        now=datetime.now(UTC),
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    decision_point = event.get("decision_point")
    if isinstance(decision_point, str):
        reports = retrain_backlog(decision_point, schedule)
        counted(reports)
        more = reports[-1].status in MOVED_ON and reports[-1].backlog
        return {"decision_point": decision_point, "more": more, "reports": dumped(reports)}
    reports = retrain_all(schedule)
    counted(reports)
    return {"reports": dumped(reports)}


def counted(reports: list[RetrainReport]) -> None:
    for report in reports:
        logger.info("retrained", extra=report.model_dump(mode="json"))
        if report.status == "trained":
            metrics.add_metric(name="ModelsPromoted", unit=MetricUnit.Count, value=1)
        elif report.status == "rejected":
            metrics.add_metric(name="ModelsRejected", unit=MetricUnit.Count, value=1)


def dumped(reports: list[RetrainReport]) -> list[dict[str, Any]]:
    return [report.model_dump(mode="json") for report in reports]
