"""Authentication of requests and sockets, and scoping every call to one account.

REST accepts ``Authorization: Bearer <key or login token>`` and ``X-API-Key``; ``?api_key=``
only on routes that opt in (where a header is impossible), and sockets take ``?token=``
because browsers cannot set headers on a WebSocket. A dashboard login also travels in the
HttpOnly ``ofca_session`` cookie (requests and sockets alike).
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException

from ofca.access.logins import SESSION_COOKIE, principal_for_token
from ofca.domain.auth import Permission, Principal
from ofca.domain.tokens import looks_like_jwt
from ofca.persistence.keys import resolve_api_key, touch_api_key
from ofca.settings import Settings

PRINCIPAL_SCOPE_KEY = "ofca_principal"

__all__ = [
    "authenticate_token",
    "credential_from_connection",
    "principal_from_connection",
    "provide_principal",
    "require",
    "scope_account",
]


def credential_from_connection(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The presented credential: bearer header, X-API-Key, (sockets, and routes that set
    ``ofca_query_auth`` in their scope) a ``token``/``api_key`` query parameter, or the
    login cookie."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    header_key = connection.headers.get("x-api-key")
    if header_key:
        return header_key.strip()
    if connection.scope["type"] == "websocket" or connection.scope.get("ofca_query_auth"):
        for name in ("token", "api_key"):
            value = connection.query_params.get(name)
            if value:
                return value
    cookie = connection.cookies.get(SESSION_COOKIE)
    return cookie or None


async def authenticate_token(token: str, settings: Settings) -> Principal | None:
    """The principal a raw credential stands for, or ``None``."""
    if settings.admin_key is not None and secrets.compare_digest(
        token.encode("utf-8"), settings.admin_key.encode("utf-8")
    ):
        return Principal(kind="admin", role="admin", account_id=None, credential_id="admin")
    if looks_like_jwt(token):
        return await principal_for_token(token, settings)
    info = await resolve_api_key(token)
    if info is None:
        return None
    await touch_api_key(info)
    return Principal(
        kind="api_key",
        role=info.role,  # type: ignore[arg-type]
        account_id=info.account_id,
        credential_id=f"key:{info.id}",
    )


async def principal_from_connection(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> Principal | None:
    """The caller of a request or socket (header, query token or login cookie), or ``None``.

    Cached in the connection's scope, so middleware and handlers authenticate once.
    """
    state = connection.scope.setdefault("state", {})
    cached = state.get(PRINCIPAL_SCOPE_KEY)
    if cached is not None:
        return cached
    token = credential_from_connection(connection)
    if token is None:
        return None
    principal = await authenticate_token(token, settings)
    if principal is not None:
        state[PRINCIPAL_SCOPE_KEY] = principal
    return principal


async def provide_principal(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Litestar dependency: the authenticated caller, or 401."""
    if credential_from_connection(request) is None:
        raise NotAuthorizedException("Missing credentials: send Authorization: Bearer <key>")
    principal = await principal_from_connection(request, request.app.state.settings)
    if principal is None:
        raise NotAuthorizedException("Invalid, expired or revoked credentials")
    return principal


def require(principal: Principal, permission: Permission) -> None:
    if not principal.allows(permission):
        raise PermissionDeniedException(f"This credential's role may not {permission}")


def scope_account(principal: Principal, requested: str | None, permission: Permission) -> str:
    """The one account this call works on; 403 for any other account.

    A key bound to an account may omit ``account_id``; a login with several accounts must
    name one of them.
    """
    allowed = (
        principal.account_ids
        if principal.account_ids
        else (() if principal.account_id is None else (principal.account_id,))
    )
    if requested is None:
        if len(allowed) != 1:
            require(principal, permission)
            raise PermissionDeniedException("account_id is required for this credential")
        requested = allowed[0]
    if requested not in allowed:
        require(principal, permission)
        raise PermissionDeniedException("This credential has no access to that account")
    if not principal.allows_in(requested, permission):
        raise PermissionDeniedException(f"This credential's role may not {permission}")
    return requested
