"""Azure Personalizer v1.0 compatible rank, reward and activate, on the core behind /decide.

A Personalizer client sends its key as ``Ocp-Apim-Subscription-Key``: the API's authorizer
checks it as it checks the x-api-key of /reward, and a missing or wrong one is a 401.
"""

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.openapi.types import (
    OpenAPIResponse,
    OpenAPIResponseContentModel,
    OpenAPIResponseContentSchema,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.http import personalizer
from decider.http.api import http_api, key_required, personalizer_error
from decider.http.personalizer import (
    PersonalizerErrorResponse,
    PersonalizerRankRequest,
    PersonalizerRankResponse,
    PersonalizerRewardRequest,
)
from decider.settings import PersonalizerSettings

logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = PersonalizerSettings()  # type: ignore[call-arg]  # from the environment
decider = on_aws.decider(settings, own=[settings.personalizer_decision_point])
log, loop = decider.log, decider.loop
app = http_api(logger, shape=personalizer_error)

EventIdPath = Annotated[
    str, Path(alias="eventId", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:~-]+$")
]
_ERROR: dict[str, OpenAPIResponseContentSchema | OpenAPIResponseContentModel] = {
    "application/json": {"model": PersonalizerErrorResponse}
}
_REFUSED: dict[int, OpenAPIResponse] = {
    400: {"description": "BadRequest", "content": _ERROR},
    415: {"description": "BadRequest: the body is not JSON", "content": _ERROR},
}
_UNKNOWN: dict[int, OpenAPIResponse] = {
    404: {"description": "ResourceNotFound: no such event", "content": _ERROR}
}
# Every route takes the resource's key, as Azure's did.
_KEY = "Ocp-Apim-Subscription-Key"
_KEYED: dict[int, OpenAPIResponse] = {
    401: {"description": f"PermissionDenied: no valid key in {_KEY}", "content": _ERROR}
}


@app.post(
    "/personalizer/v1.0/rank",
    responses={
        201: {
            "description": "Ranked",
            "content": {"application/json": {"model": PersonalizerRankResponse}},
        },
        **_REFUSED,
        **_KEYED,
    },
    middlewares=[key_required(_KEY)],
)
@tracer.capture_method
def rank(request: PersonalizerRankRequest) -> Response[str]:
    ranked = personalizer.rank(
        decider,
        request,
        settings.personalizer_decision_point,
        explain=settings.personalizer_explanations,
    )
    metrics.add_dimension(name="decision_point", value=settings.personalizer_decision_point)
    metrics.add_metric(name="Decisions", unit=MetricUnit.Count, value=1)
    # As Personalizer answers: inferenceExplanation only when explanations are on.
    body = ranked.model_dump_json(by_alias=True, exclude_none=True)
    return Response(status_code=201, content_type="application/json", body=body)


@app.post(
    "/personalizer/v1.0/events/<eventId>/reward",
    responses={
        204: {"description": "Rewarded", "content": {}},
        **_REFUSED,
        **_UNKNOWN,
        **_KEYED,
    },
    middlewares=[key_required(_KEY)],
)
@tracer.capture_method
def reward(
    event_id: EventIdPath,
    body: PersonalizerRewardRequest,
    request_id: Annotated[
        str | None,
        Header(
            alias="x-ms-client-request-id",
            max_length=100,
            description="A delivery of the same reward again (the Azure SDKs keep this id "
            "across their retries) counts once.",
        ),
    ] = None,
) -> Response[None]:
    recorded = personalizer.reward(
        log,
        settings.personalizer_decision_point,
        event_id,
        body,
        loop,
        datetime.now(UTC),
        delivery_id=request_id,
    )
    metrics.add_metric(name=f"Reward_{recorded.status}", unit=MetricUnit.Count, value=1)
    return Response(status_code=204)


@app.post(
    "/personalizer/v1.0/events/<eventId>/activate",
    responses={
        204: {"description": "Activated", "content": {}},
        **_REFUSED,
        **_UNKNOWN,
        **_KEYED,
    },
    middlewares=[key_required(_KEY)],
)
@tracer.capture_method
def activate(event_id: EventIdPath) -> Response[None]:
    personalizer.activate(log, settings.personalizer_decision_point, event_id)
    return Response(status_code=204)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
