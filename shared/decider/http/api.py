"""HTTP glue shared by the API functions: strict JSON, body limits, one error shape."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, Protocol

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from decider.errors import DeciderError, LineProblem, PayloadTooLarge
from decider.http import keys, personalizer
from decider.schemas import ErrorResponse

MAX_BODY_BYTES = 64 * 1024
# A history file's route: Lambda takes at most 6 MB of event, and the event's JSON escapes the
# body's quotes and backslashes once more (at worst doubling it), so a body stays under 3 MB.
MAX_HISTORY_BODY_BYTES = 3_000_000


class ServerKeys(Protocol):
    def hashes(self, kind: str, *, fresh: bool = False) -> list[str]: ...


class ErrorShape(Protocol):
    """How one API shapes its errors: (status, code, message, field, lines) -> the response."""

    def __call__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        lines: Sequence[LineProblem] | None = None,
    ) -> Response: ...


def strict_json(body: str, limit: int = MAX_BODY_BYTES) -> Any:
    """json.loads with a size limit, refusing NaN and Infinity, which are not JSON."""
    if len(body.encode()) > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as failure:
        # Integers past Python's digit limit, arrays nested past the recursion limit: still a 400.
        raise json.JSONDecodeError(f"not parseable: {failure}", body, 0) from None


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    lines: Sequence[LineProblem] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    if lines is not None:
        body["lines"] = [_line(problem) for problem in lines]
    return Response(
        status_code=status, content_type="application/json", body=json.dumps({"error": body})
    )


def _line(problem: LineProblem) -> dict[str, Any]:
    return {k: v for k, v in asdict(problem).items() if v is not None}


def personalizer_error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    lines: Sequence[LineProblem] | None = None,
) -> Response:
    """The same error in Azure Personalizer v1.0's shape, for its compatible routes (which
    take no files, so never have ``lines``)."""
    status, body = personalizer.error_body(status, code, message, field)
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


def http_api(
    logger: Logger, shape: ErrorShape = error, body_limits: Mapping[str, int] | None = None
) -> APIGatewayHttpResolver:
    """A resolver with pydantic validation whose every failure answers in ``shape``
    (by default the error shape of DESIGN.md). Bodies are limited to MAX_BODY_BYTES, or for
    a route key of ``body_limits`` (``"POST /path/{param}"``, as in the template) to its own."""
    limits = dict(body_limits or {})

    def _json(body: str) -> Any:
        route_key = app.current_event.raw_event.get("routeKey", "")
        return strict_json(body, limits.get(route_key, MAX_BODY_BYTES))

    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=_json)

    @app.exception_handler(DeciderError)
    def _domain(failure: DeciderError) -> Response:
        return shape(failure.status, failure.code, failure.message, failure.field, failure.lines)

    @app.exception_handler(RequestValidationError)
    def _invalid(failure: RequestValidationError) -> Response:
        content_type = app.current_event.headers.get("content-type") or "application/json"
        if "json" not in content_type.lower():
            return unsupported_media_type(content_type, shape)
        return validation_error(failure.errors(), shape)

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response:
        # Any content type the resolver cannot parse (text/plain, or JSON spelt in capitals).
        return unsupported_media_type(app.current_event.headers.get("content-type") or "", shape)

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(_: UnicodeDecodeError) -> Response:
        # API Gateway base64-encodes a binary body; the resolver's decoding of it fails here.
        return shape(400, "malformed_json", "the body is not UTF-8 encoded JSON", None)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return shape(404, "not_found", "no such route", None)

    @app.exception_handler(Exception)
    def _internal(failure: Exception) -> Response:
        logger.exception("unhandled error")
        return shape(500, "internal_error", "internal error; it has been logged", None)

    @app.exception_handler(ValueError)
    def _unparsed(failure: ValueError) -> Response:
        # Powertools parses a multipart body before validating, with a bare ValueError when the
        # content type has no boundary: that is a body that is not JSON, not an internal error.
        content_type = app.current_event.headers.get("content-type") or ""
        if content_type.lower().startswith("multipart/"):
            return unsupported_media_type(content_type, shape)
        return _internal(failure)

    return app


def key_required(header: str) -> Callable[[Any, NextMiddleware], Response]:
    """A route middleware: the request must present a key the API's authorizer verified (in
    ``header``); else a 401 in the API's error shape. Runs after the request's validation."""

    def middleware(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        keys.require(app.current_event.request_context.authorizer.get_lambda, header)
        return next_middleware(app)

    return middleware


CLIENT_KEY_HEADER = "x-client-key"
CLIENT_KEY_REFUSED = (
    "The stack asks for a publishable key (PublishableKeys) and none of them was sent in "
    "x-client-key"
)


def client_key_required(publishable: Sequence[str]) -> Callable[[Any, NextMiddleware], Response]:
    """A route middleware: with publishable keys set, the request must send one of them in
    x-client-key (a 401 otherwise); with none set, it asks for nothing."""
    allowed = frozenset(publishable)

    def middleware(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        if allowed and app.current_event.headers.get(CLIENT_KEY_HEADER) not in allowed:
            raise keys.Unauthorized(
                f"send one of the shop's publishable keys in the {CLIENT_KEY_HEADER} header"
            )
        return next_middleware(app)

    return middleware


SERVER_OR_CLIENT_KEY = (
    "Neither a server key in x-api-key nor one of the shop's publishable keys (PublishableKeys) "
    "in x-client-key"
)


def server_or_client_key(
    server: ServerKeys, publishable: Sequence[str]
) -> Callable[[Any, NextMiddleware], Response]:
    """A route middleware for routes both servers and the shop's pages call (with no
    authorizer in front): a valid server key in x-api-key (the caller is "server"), or one of
    the publishable keys in x-client-key ("page"); a 401 otherwise. The caller is put in
    ``app.context["caller"]``."""
    allowed = frozenset(publishable)

    def middleware(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        presented = app.current_event.headers.get("x-api-key")
        if presented is not None and (
            keys.verified(presented, server.hashes("server"))
            or keys.verified(presented, server.hashes("server", fresh=True))
        ):
            app.append_context(caller="server")
        elif allowed and app.current_event.headers.get(CLIENT_KEY_HEADER) in allowed:
            app.append_context(caller="page")
        else:
            raise keys.Unauthorized(
                "send a server key in x-api-key, or a publishable key in x-client-key"
            )
        return next_middleware(app)

    return middleware


def unsupported_media_type(content_type: str, shape: ErrorShape = error) -> Response:
    message = f"send JSON with content-type: application/json, not {content_type}"
    return shape(415, "unsupported_media_type", message, None)


def validation_error(errors: Any, shape: ErrorShape = error) -> Response:
    first = errors[0]
    if first.get("type") == "json_invalid":
        return shape(400, "malformed_json", "the body is not valid JSON", None)
    messages = [_describe(e) for e in errors[:5]]
    return shape(400, "invalid_request", "; ".join(messages), _field(first))


def _field(detail: dict[str, Any]) -> str | None:
    loc = [str(part) for part in detail.get("loc", ()) if part not in ("body", "path")]
    return ".".join(loc) or None


def _describe(detail: dict[str, Any]) -> str:
    field = _field(detail) or "body"
    kind = detail.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field {field!r}"
    if kind == "missing":
        return f"{field} is required"
    message = str(detail.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{field}: {message}"


ERROR_MEANINGS = {
    400: "Invalid input: malformed JSON, or a field that fails validation (named in error.field)",
    403: "A publishable key may not report this (purchases come from the shop's servers)",
    401: "A wrong key in the x-api-key header (without the header, API Gateway answers "
    '{"message": "Unauthorized"}' + " itself)",
    404: "Not found: no decision with this event id, or no such decision point",
    409: "The event id is already taken by another decision",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    415: "The body is not sent with content-type: application/json",
}


def responses(
    answer: str,
    *errors: int,
    error_model: type[BaseModel] = ErrorResponse,
    meanings: Mapping[int, str] | None = None,
) -> dict[int, OpenAPIResponse]:
    """A route's documented responses: 200 with its return type, and each error's shape
    (described as ERROR_MEANINGS says, unless ``meanings`` says otherwise for the route)."""
    described = {**ERROR_MEANINGS, **(meanings or {})}
    documented: dict[int, OpenAPIResponse] = {200: {"description": answer}}
    for status in errors:
        documented[status] = {
            "description": described[status],
            "content": {"application/json": {"model": error_model}},
        }
    return documented
