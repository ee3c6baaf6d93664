"""The 401 and 403 answers of authenticated operations, declared once for the OpenAPI
document instead of on each of ~35 handlers.

Every handler that takes the ``principal`` dependency (``access.principals``) can answer
401 (no, a bad, expired or revoked credential) and 403 (a role or account the credential
may not use, or a cookie request from another site); handlers that check a token of their
own declare their 401 themselves. ``tests/security/test_openapi_auth.py`` holds every
such operation of the served document to it.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec
from litestar.routes import HTTPRoute

from ofca.errors import ErrorBody

__all__ = ["AUTH_RESPONSES", "UNAUTHORIZED", "document_auth_answers"]

UNAUTHORIZED = ResponseSpec(
    data_container=ErrorBody,
    description="Missing, invalid, expired or revoked credentials",
    generate_examples=False,
)
FORBIDDEN = ResponseSpec(
    data_container=ErrorBody,
    description="The credential's role or account does not allow this, or a request "
    "authenticated by the login cookie came from another site",
    generate_examples=False,
)
AUTH_RESPONSES = {401: UNAUTHORIZED, 403: FORBIDDEN}


def document_auth_answers(app: Litestar) -> None:
    """Add 401 and 403 to every HTTP handler of ``app`` that authenticates its caller (the
    document is built lazily, on its first request)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if "principal" in handler.parsed_fn_signature.parameters:
                handler.responses = {**AUTH_RESPONSES, **(handler.responses or {})}
