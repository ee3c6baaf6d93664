"""HTTP errors as ``{detail, status_code, timestamp}``; never a stack trace or SQL.

Validation errors list the bad fields under ``errors`` (``[{key, message, source}]``):
malformed input (bad JSON, bad query or path parameters) is a 400; a well-formed JSON body
whose fields break the rules is a 422, as in the seed API. An unreachable database is a
503 with a clear, retryable detail instead of a 500; so is an unreachable Redis, with a
detail that names it.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from ofca.channels.faults import is_redis_unavailable
from ofca.persistence.faults import VALUE_REFUSED, is_database_unavailable

__all__ = [
    "ErrorBody",
    "UnprocessableEntity",
    "error_body",
    "http_exception_handler",
    "internal_error_handler",
]

log = logging.getLogger("ofca.errors")

DATABASE_UNAVAILABLE_DETAIL = "The database is unavailable; retry later"
REDIS_UNAVAILABLE_DETAIL = "Live delivery (Redis) is unavailable; retry later"


class UnprocessableEntity(ValidationException):
    """422: the request is well-formed but a field breaks a rule; ``extra`` lists fields."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY


def field_error(key: str, message: str, source: str = "body") -> UnprocessableEntity:
    return UnprocessableEntity(
        detail=message, extra=[{"key": key, "message": message, "source": source}]
    )


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every HTTP error's body (:func:`error_body`), for the OpenAPI document."""

    detail: str
    status_code: int
    timestamp: datetime


def error_body(detail: Any, status_code: int, **extra: Any) -> dict[str, Any]:
    return {
        "detail": detail,
        "status_code": status_code,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **extra,
    }


def _is_field_validation(exc: ValidationException) -> bool:
    """Litestar raises 400 for both bad JSON and JSON with bad fields; only the latter,
    when every error is in the body, is a 422."""
    errors = exc.extra if isinstance(exc.extra, list) else []
    return bool(errors) and all(
        isinstance(error, dict)
        and error.get("source") == "body"
        and "malformed" not in str(error.get("message", "")).lower()
        and "JSON is" not in str(error.get("message", ""))
        for error in errors
    )


_LENGTH_AT_LEAST = re.compile(r"^Expected `str` of length >= (\d+)$")
_LENGTH_AT_MOST = re.compile(r"^Expected `str` of length <= (\d+)$")


def _readable(message: str) -> str:
    """msgspec's messages in words a form can show ("at least 10 characters")."""
    if match := _LENGTH_AT_LEAST.match(message):
        return f"must be at least {match.group(1)} characters"
    if match := _LENGTH_AT_MOST.match(message):
        return f"must be at most {match.group(1)} characters"
    return message.replace("`", "")


def _field_detail(errors: Any) -> str | None:
    """ "Invalid password: must be at least 10 characters" instead of "Validation failed for
    POST /auth/signup": a 422 names the field, and says what is wrong with it."""
    if not isinstance(errors, list):
        return None
    parts = [
        f"Invalid {error['key']}: {_readable(str(error.get('message', '')))}"
        for error in errors
        if isinstance(error, dict) and error.get("key")
    ]
    return "; ".join(parts) or None


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    extra: dict[str, Any] = {}
    status_code = exc.status_code
    if isinstance(exc, ValidationException):
        if exc.extra:
            # Litestar lists the bad fields: [{"key": ..., "message": ..., "source": ...}].
            extra["errors"] = exc.extra
        if status_code == 400 and _is_field_validation(exc):
            status_code = HTTP_422_UNPROCESSABLE_ENTITY
            exc.detail = _field_detail(exc.extra) or exc.detail
    if status_code == 405 and not exc.detail:
        exc.detail = "Method not allowed"
    return Response(
        content=error_body(exc.detail, status_code, **extra),
        status_code=status_code,
        headers=exc.headers,
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, VALUE_REFUSED):
        # Postgres refused a value the input carried (a NUL character, a number out of
        # range): the client's data, not a server fault. SQLite stores such values.
        log.info("value refused by the database on %s: %s", request.url.path, type(exc).__name__)
        return Response(
            content=error_body(
                "A value cannot be stored (NUL character or number out of range)",
                HTTP_422_UNPROCESSABLE_ENTITY,
            ),
            status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        )
    # Redis first: its connection errors wrap OSErrors the database test also accepts.
    for unavailable, what, detail in (
        (is_redis_unavailable, "redis", REDIS_UNAVAILABLE_DETAIL),
        (is_database_unavailable, "database", DATABASE_UNAVAILABLE_DETAIL),
    ):
        if unavailable(exc):
            # No traceback: an outage is not a bug, and one line per request is enough.
            log.warning(
                "%s unavailable on %s %s: %s",
                what,
                request.method,
                request.url.path,
                type(exc).__name__,
            )
            return Response(
                content=error_body(detail, HTTP_503_SERVICE_UNAVAILABLE),
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        content=error_body("Internal server error", HTTP_500_INTERNAL_SERVER_ERROR),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )
