"""HTTP glue shared by the API functions: strict JSON, body limits, one error shape."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from decider.errors import DeciderError, PayloadTooLarge

MAX_BODY_BYTES = 64 * 1024


def strict_json(body: str) -> Any:
    """json.loads with a size limit, refusing NaN and Infinity, which are not JSON."""
    if len(body.encode()) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as failure:
        # Integers past Python's digit limit, arrays nested past the recursion limit: still a 400.
        raise json.JSONDecodeError(f"not parseable: {failure}", body, 0) from None


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def error(status: int, code: str, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    return Response(
        status_code=status, content_type="application/json", body=json.dumps({"error": body})
    )


def http_api(logger: Logger) -> APIGatewayHttpResolver:
    """A resolver with pydantic validation whose every failure answers in our error shape."""
    app = APIGatewayHttpResolver(enable_validation=True, json_body_deserializer=strict_json)

    @app.exception_handler(DeciderError)
    def _domain(failure: DeciderError) -> Response:
        return error(failure.status, failure.code, failure.message, failure.field)

    @app.exception_handler(RequestValidationError)
    def _invalid(failure: RequestValidationError) -> Response:
        content_type = app.current_event.headers.get("content-type") or "application/json"
        if "json" not in content_type.lower():
            return unsupported_media_type(content_type)
        return validation_error(failure.errors())

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response:
        # Any content type the resolver cannot parse (text/plain, or JSON spelt in capitals).
        return unsupported_media_type(app.current_event.headers.get("content-type") or "")

    @app.exception_handler(UnicodeDecodeError)
    def _not_utf8(_: UnicodeDecodeError) -> Response:
        # API Gateway base64-encodes a binary body; the resolver's decoding of it fails here.
        return error(400, "malformed_json", "the body is not UTF-8 encoded JSON")

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return error(404, "not_found", "no such route")

    @app.exception_handler(Exception)
    def _internal(failure: Exception) -> Response:
        logger.exception("unhandled error")
        return error(500, "internal_error", "internal error; it has been logged")

    return app


def unsupported_media_type(content_type: str) -> Response:
    message = f"send JSON with content-type: application/json, not {content_type}"
    return error(415, "unsupported_media_type", message)


def validation_error(errors: Any) -> Response:
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error(400, "malformed_json", "the body is not valid JSON")
    messages = [_describe(e) for e in errors[:5]]
    return error(400, "invalid_request", "; ".join(messages), _field(first))


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
