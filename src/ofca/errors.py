"""HTTP errors as ``{detail, status_code, timestamp}``; never a stack trace or SQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

__all__ = ["error_body", "http_exception_handler", "internal_error_handler"]

log = logging.getLogger("ofca.errors")


def error_body(detail: Any, status_code: int, **extra: Any) -> dict[str, Any]:
    return {
        "detail": detail,
        "status_code": status_code,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **extra,
    }


def http_exception_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        # Litestar lists the bad fields: [{"key": ..., "message": ..., "source": ...}].
        extra["errors"] = exc.extra
    if exc.status_code == 405 and not exc.detail:
        exc.detail = "Method not allowed"
    return Response(
        content=error_body(exc.detail, exc.status_code, **extra),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return Response(
        content=error_body("Internal server error", HTTP_500_INTERNAL_SERVER_ERROR),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
    )
