"""IAM-protected operator routes under /decision-points/{decision_point}/: settings, the
model history, its report, and warm starts from logged history; a person's data under
/users/{user_id}; and the dashboard page."""

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.control import admin, dashboard, report, users
from decider.http import history
from decider.http.api import MAX_HISTORY_BODY_BYTES, http_api, responses
from decider.schemas import (
    DecisionPoint,
    DecisionPointReport,
    DecisionPointSettings,
    HistoryImport,
    ImportReport,
    ModelHistory,
    UserErased,
    UserExport,
)
from decider.settings import AdminSettings
from decider.store.dynamo_registry import DynamoRegistry

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = AdminSettings()  # type: ignore[call-arg]  # from the environment
registry = DynamoRegistry(settings.models_table)
log = on_aws.decision_log(settings)
profiles = on_aws.profiles(settings, max_age=0)  # every hash key kept, as of this call
loop = settings.loop()
HISTORY_ROUTE = "POST /decision-points/{decision_point}/history"
# A name with characters no route takes (HTTP APIs decode the path before it is matched).
_NO_ROUTE = "No such route: a decision point name with characters no route takes"
app = http_api(logger, body_limits={HISTORY_ROUTE: MAX_HISTORY_BODY_BYTES})

DecisionPointPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
]


def _principal() -> str:
    """The caller's IAM identity, as API Gateway's AWS_IAM authorizer put it in the event."""
    return app.current_event.request_context.authorizer.iam.user_arn or "unknown"


@app.get(
    "/decision-points/<decision_point>",
    operation_id="getDecisionPoint",
    summary="A decision point's settings: its own, those in force, and their history",
    responses=responses("The decision point", 400, 404),
)
@tracer.capture_method
def get_decision_point(decision_point: DecisionPointPath) -> DecisionPoint:
    return admin.decision_point(registry, decision_point, loop)


@app.put(
    "/decision-points/<decision_point>",
    operation_id="putDecisionPoint",
    summary="Set a decision point's settings (one left out takes the stack's default)",
    responses=responses(
        "The settings now in force, and whether a new model lineage starts",
        400,
        404,
        413,
        415,
        meanings={404: _NO_ROUTE},
    ),
)
@tracer.capture_method
def put_decision_point(
    decision_point: DecisionPointPath, body: DecisionPointSettings
) -> DecisionPoint:
    principal = _principal()
    shown = admin.write_settings(
        registry, decision_point, body, loop=loop, principal=principal, now=datetime.now(UTC)
    )
    logger.info(
        "settings changed",
        extra={
            "decision_point": decision_point,
            "principal": principal,
            "settings": body.model_dump(mode="json", exclude_none=True),
            "new_lineage": shown.new_lineage,
        },
    )
    return shown


@app.post(
    "/decision-points/<decision_point>/models/<version>/promote",
    operation_id="promoteModelVersion",
    summary="Serve a recorded model version: roll back, or forward to a rejected one",
    responses=responses("The decision point, now serving that version", 400, 404),
)
@tracer.capture_method
def promote_version(
    decision_point: DecisionPointPath, version: Annotated[int, Path(ge=1, le=10**9)]
) -> DecisionPoint:
    principal = _principal()
    shown = admin.serve_version(
        registry, decision_point, version, loop=loop, principal=principal, now=datetime.now(UTC)
    )
    logger.info(
        "version served by an operator",
        extra={"decision_point": decision_point, "principal": principal, "version": version},
    )
    return shown


@app.get(
    "/decision-points/<decision_point>/models",
    operation_id="getModelHistory",
    summary="A decision point's model versions: expected and realized reward",
    responses=responses("Every version, newest first", 400, 404),
)
@tracer.capture_method
def get_models(
    decision_point: DecisionPointPath,
    limit: Annotated[int, Query(ge=1, le=200, description="Newest versions to list")] = 50,
) -> ModelHistory:
    return admin.model_history(registry, decision_point, limit)


@app.get(
    "/decision-points/<decision_point>/report",
    operation_id="getDecisionPointReport",
    summary="How a decision point's learning went: per day and per week, with its versions "
    "and settings changes",
    responses=responses("The report", 400, 404),
)
@tracer.capture_method
def get_report(
    decision_point: DecisionPointPath,
    days: Annotated[int, Query(ge=1, le=90, description="Days covered, today (UTC) included")] = 28,
) -> DecisionPointReport:
    return report.report(log, registry, decision_point, loop=loop, now=datetime.now(UTC), days=days)


@app.get(
    "/dashboard",
    operation_id="getDashboard",
    summary="The dashboard page (HTML): it reads the routes above, signing its calls on AWS",
    responses={
        200: {
            "description": "The page",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
def get_dashboard() -> Response[str]:
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=dashboard.PAGE,
        headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
    )


@app.post(
    "/decision-points/<decision_point>/history",
    operation_id="importDecisionHistory",
    summary="Seed a new decision point with logged decisions (DSJSON or CSV)",
    description="Every line is validated as a live decision is, and a file with any invalid "
    "line imports nothing (error.lines lists them). The next retrain learns the decisions. "
    "Importing the same file again changes nothing.",
    responses=responses(
        "What was imported",
        400,
        404,
        409,
        413,
        415,
        meanings={
            404: _NO_ROUTE,
            400: "Invalid input, or lines of the file that are not valid decisions (listed "
            "in error.lines); nothing was imported",
            409: "The decision point has been retrained already (already_trained)",
            413: f"The body is larger than {MAX_HISTORY_BODY_BYTES} bytes: split the file",
        },
    ),
)
@tracer.capture_method
def import_history(decision_point: DecisionPointPath, body: HistoryImport) -> ImportReport:
    report = history.import_file(
        decision_point,
        body,
        log=log,
        registry=registry,
        retention=loop.retention,
        now=datetime.now(UTC),
    )
    logger.info("history imported", extra=report.model_dump(mode="json"))
    metrics.add_dimension(name="decision_point", value=decision_point)
    metrics.add_metric(
        name="HistoryDecisionsImported", unit=MetricUnit.Count, value=report.imported
    )
    return report


# A user id travels in the path; never logged, as the rest of the API never logs it.
_NO_USER_ROUTE = "No such route: a user id with characters no route takes"
UserIdPath = Annotated[str, Path(alias="user_id", min_length=1, max_length=256)]


@app.get(
    "/users/<user_id>/export",
    operation_id="exportUser",
    summary="Every decision and the profile stored for a person (the right of access)",
    responses=responses(
        "The person's decisions, oldest first, and their profile",
        400,
        404,
        meanings={404: _NO_USER_ROUTE},
    ),
)
@tracer.capture_method(capture_response=False)  # a person's data stays out of traces
def export_user(user_id: UserIdPath) -> UserExport:
    return users.export(log, profiles, user_id, datetime.now(UTC))


@app.delete(
    "/users/<user_id>",
    operation_id="eraseUser",
    summary="Delete every decision, reward, profile and linked id of a person (erasure)",
    responses=responses(
        "How many decisions and profiles were deleted", 400, 404, meanings={404: _NO_USER_ROUTE}
    ),
)
@tracer.capture_method(capture_response=False)
def erase_user(user_id: UserIdPath) -> UserErased:
    erased = users.erase(log, profiles, user_id)
    logger.info("a person's decisions erased", extra=erased.model_dump())
    metrics.add_metric(
        name="UserDecisionsErased", unit=MetricUnit.Count, value=erased.decisions_deleted
    )
    return erased


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
