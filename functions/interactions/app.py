"""POST /interactions and POST /visitors/link: what visitors do, on any channel, builds their
profiles; a link joins an anonymous id to a known one."""

from datetime import UTC, datetime

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from decider import on_aws, tracing
from decider.http.api import (
    SERVER_OR_CLIENT_KEY,
    http_api,
    key_required,
    responses,
    server_or_client_key,
)
from decider.http.keys import Forbidden
from decider.schemas import (
    InteractionsRequest,
    InteractionsResponse,
    LinkRequest,
    LinkResponse,
)
from decider.settings import InteractionsSettings
from decider.store.secret_keys import SecretKeyStore

# 500 interactions of about 300 bytes, with room.
MAX_INTERACTIONS_BODY_BYTES = 256 * 1024
# What only the shop's servers report: a page could claim anyone's purchases.
SERVER_ONLY = frozenset({"purchase"})
logger = Logger()
metrics = Metrics()
tracer = tracing.tracer()
settings = InteractionsSettings()  # type: ignore[call-arg]  # from the environment
profiles = on_aws.profiles(settings)
server_keys = SecretKeyStore(settings.keys_secret)
INTERACTIONS_ROUTE = "POST /interactions"
app = http_api(logger, body_limits={INTERACTIONS_ROUTE: MAX_INTERACTIONS_BODY_BYTES})


@app.post(
    "/interactions",
    operation_id="interactions",
    summary="Report up to 500 things visitors did (views, cart adds, purchases, store visits)",
    description="Each interaction adds to its visitor's profile, which decide reads when a "
    "request names the visitor (user_id) with personal consent. A server sends its key in "
    "x-api-key; a shop's page may send a publishable key in x-client-key, for every type but "
    "purchase. Idempotent by interaction_id.",
    responses=responses(
        "How many were recorded, duplicates, or skipped (no consent)",
        400,
        401,
        403,
        413,
        415,
        meanings={401: SERVER_OR_CLIENT_KEY},
    ),
    middlewares=[server_or_client_key(server_keys, settings.client_keys)],
)
@tracer.capture_method
def interactions(body: InteractionsRequest) -> InteractionsResponse:
    if app.context.get("caller") != "server":
        refused = sorted({i.type for i in body.interactions} & SERVER_ONLY)
        if refused:
            raise Forbidden(f"{', '.join(refused)} is reported by the shop's servers (x-api-key)")
    answer = profiles.record(body.interactions, datetime.now(UTC))
    metrics.add_metric(name="Interactions", unit=MetricUnit.Count, value=answer.recorded)
    return answer


@app.post(
    "/visitors/link",
    operation_id="linkVisitors",
    summary="Join an anonymous id (cookie, app install) to the id a visitor signed in with",
    description="The anonymous id's history is merged into the known visitor's profile, and "
    "from then on the anonymous id reads and adds to it, on every channel.",
    responses=responses("linked, already_linked or relinked", 400, 401, 413, 415),
    middlewares=[key_required("x-api-key")],
)
@tracer.capture_method
def link(body: LinkRequest) -> LinkResponse:
    return profiles.link(body.anonymous, body.known, datetime.now(UTC))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    return app.resolve(event, context)
