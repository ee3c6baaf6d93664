"""Authentication of requests and sockets, and scoping every call to one account.

REST accepts ``Authorization: Bearer <key or login token>`` and ``X-API-Key``; ``?api_key=``
only on routes that opt in (where a header is impossible), and sockets take ``?token=``
because browsers cannot set headers on a WebSocket. A dashboard login also travels in the
HttpOnly ``ofca_session`` cookie (requests and sockets alike).

The cookie is the one credential a browser sends by itself, so it is the one another page
could borrow: SameSite=Lax keeps it off requests from other *sites*, not from a sibling
subdomain or another port of the same host. :func:`cross_site_refusal` therefore holds
every cookie-authenticated write (POST, PUT, PATCH, DELETE) and socket to ofca's own
origin or an allowed one (``OFCA_CORS_ORIGINS``, the extension's): the ``Origin`` header,
or ``Sec-Fetch-Site: same-origin``; a write must also be ``application/json``, which a
page elsewhere cannot send without a CORS preflight. Credentials in a header or the query
are not affected: no other page can make the browser send them.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
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
    "cross_site_refusal",
    "presented_credential",
    "principal_from_connection",
    "provide_principal",
    "require",
    "scope_account",
]


CredentialSource = Literal["header", "query", "cookie"]

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_DEFAULT_PORTS = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def presented_credential(
    connection: ASGIConnection[Any, Any, Any, Any],
) -> tuple[str, CredentialSource] | None:
    """The presented credential and where it came from: bearer header, X-API-Key,
    (sockets, and routes that set ``ofca_query_auth`` in their scope) a ``token``/
    ``api_key`` query parameter, or the login cookie, in that order."""
    authorization = connection.headers.get("authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "header"
    header_key = connection.headers.get("x-api-key")
    if header_key:
        return header_key.strip(), "header"
    if connection.scope["type"] == ScopeType.WEBSOCKET or connection.scope.get("ofca_query_auth"):
        for name in ("token", "api_key"):
            in_query: str | None = connection.query_params.get(name)
            if in_query:
                return in_query, "query"
    cookie = connection.cookies.get(SESSION_COOKIE)
    return (cookie, "cookie") if cookie else None


def credential_from_connection(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The presented credential (:func:`presented_credential`), wherever it came from."""
    presented = presented_credential(connection)
    return None if presented is None else presented[0]


def _origin(url: str) -> str:
    """``scheme://host[:port]`` lower-cased, without the scheme's default port."""
    scheme, _, rest = url.strip().lower().partition("://")
    host = rest.split("/", 1)[0]
    name, colon, port = host.rpartition(":")
    if colon and "]" not in port and port == _DEFAULT_PORTS.get(scheme):
        host = name
    return f"{scheme}://{host}"


def _own_origin(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    host = connection.headers.get("host")
    if not host:
        return None
    scheme = connection.scope["scheme"]
    return _origin(f"{ {'ws': 'http', 'wss': 'https'}.get(scheme, scheme) }://{host}")


def cross_site_refusal(
    connection: ASGIConnection[Any, Any, Any, Any], settings: Settings
) -> str | None:
    """Why this request or socket must be refused as possibly cross-site, or None: only
    when the login cookie is its credential, and (requests) only for writes."""
    presented = presented_credential(connection)
    if presented is None or presented[1] != "cookie":
        return None
    if connection.scope["type"] == ScopeType.HTTP:
        if connection.scope["method"] not in UNSAFE_METHODS:
            return None  # reads change nothing
        media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return (
                "Cookie-authenticated writes must be sent as application/json "
                "(or authenticate with Authorization: Bearer)"
            )
    if connection.headers.get("sec-fetch-site", "").lower() == "same-origin":
        return None
    origin = connection.headers.get("origin")
    if origin and origin.lower() != "null":
        allowed = {_origin(o) for o in settings.allowed_origins if o != "*"}
        own = _own_origin(connection)
        if own is not None:
            allowed.add(own)
        if _origin(origin) in allowed:
            return None
    return "Cross-site request refused: a login cookie only works from this site's own pages"


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
    cached: Principal | None = state.get(PRINCIPAL_SCOPE_KEY)
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
    settings: Settings = request.app.state.settings
    principal = await principal_from_connection(request, settings)
    if principal is None:
        raise NotAuthorizedException("Invalid, expired or revoked credentials")
    refusal = cross_site_refusal(request, settings)
    if refusal is not None:
        raise PermissionDeniedException(refusal)
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
