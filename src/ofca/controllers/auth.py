"""Human login for the dashboard: signup, login, logout, me.

Login answers ``{token, user, session_id}`` and sets the token as an HttpOnly, SameSite=Lax
cookie (Secure over https). The token works as ``Authorization: Bearer``, as the cookie,
and as ``?token=`` on the dashboard WebSocket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from msgspec import Meta

from ofca.access.logins import (
    SESSION_COOKIE,
    LoginResult,
    SignupError,
    current_user,
    login,
    logout,
    signup,
)
from ofca.access.ratelimit import LOGIN_ATTEMPTS_PER_MINUTE, RateLimiter
from ofca.access.revocation import announce_revoked
from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.domain.auth import Principal
from ofca.domain.passwords import MIN_PASSWORD_LENGTH
from ofca.errors import UnprocessableEntity
from ofca.persistence.accounts import ACCOUNT_ID_PATTERN, get_account
from ofca.persistence.users import MembershipInfo, UserInfo, list_memberships
from ofca.settings import Settings

__all__ = ["LOGIN_ATTEMPTS_PER_MINUTE", "AuthController"]

Email = Annotated[
    str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
]
# No NUL characters: Postgres cannot store them in text.
PlainText = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00]*$")]


class SignupRequest(msgspec.Struct, kw_only=True):
    email: Email
    password: Annotated[str, Meta(min_length=MIN_PASSWORD_LENGTH, max_length=1024)]
    name: PlainText = ""
    account_id: Annotated[str, Meta(pattern=ACCOUNT_ID_PATTERN)] | None = None
    """Create this account, owned by the new user."""
    account_name: (
        Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[^\x00]+$")] | None
    ) = None
    """Create an account with this name (id derived from it when ``account_id`` is unset)."""


class LoginRequest(msgspec.Struct, kw_only=True):
    email: Annotated[str, Meta(max_length=320)]
    password: Annotated[str, Meta(max_length=1024)]


class AuthResponse(msgspec.Struct, kw_only=True):
    token: str
    """HS256 JWT; send as ``Authorization: Bearer`` (also set as the ``ofca_session`` cookie)."""
    user: UserInfo
    session_id: str
    expires_at: datetime


class MeResponse(msgspec.Struct, kw_only=True):
    user: UserInfo | None
    """``None`` when the caller is an API key rather than a login."""
    accounts: list[MembershipInfo]
    credential: Literal["api_key", "session", "admin"]


class LogoutResponse(msgspec.Struct, kw_only=True):
    status: Literal["logged_out"] = "logged_out"


def _with_cookie(
    request: Request[Any, Any, Any], settings: Settings, result: LoginResult, status_code: int
) -> Response[AuthResponse]:
    body = AuthResponse(
        token=result.token,
        user=result.user,
        session_id=result.session_id,
        expires_at=result.expires_at,
    )
    cookie = Cookie(
        key=SESSION_COOKIE,
        value=result.token,
        path="/",
        max_age=settings.session_ttl_days * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme in ("https", "wss"),
    )
    return Response(body, status_code=status_code, cookies=[cookie])


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/signup", summary="Create a user (and optionally an account they own); logs in")
    async def signup(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: JSONBody[SignupRequest],
    ) -> Response[AuthResponse]:
        try:
            result = await signup(
                settings,
                email=data.email,
                password=data.password,
                name=data.name,
                account_id=data.account_id,
                account_name=data.account_name,
            )
        except SignupError as error:
            if error.status_code == 422:
                raise UnprocessableEntity(
                    detail=str(error),
                    extra=[{"key": error.field, "message": str(error), "source": "body"}],
                ) from None
            raise HTTPException(detail=str(error), status_code=error.status_code) from None
        return _with_cookie(request, settings, result, HTTP_201_CREATED)

    @post("/login", summary="Log in with e-mail and password", status_code=HTTP_200_OK)
    async def login(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        rate_limiter: NamedDependency[RateLimiter],
        data: JSONBody[LoginRequest],
    ) -> Response[AuthResponse]:
        # Per client IP, and per IP and address: not per address alone, or anyone could
        # lock its owner out (issue 16).
        client_ip = request.client.host if request.client else "unknown"
        decision = await rate_limiter.login_attempt(client_ip, data.email)
        if decision is not None:
            raise HTTPException(
                detail=f"Too many login attempts. Try again in {decision.retry_after} seconds.",
                status_code=429,
                headers={"Retry-After": str(decision.retry_after)},
            )
        result = await login(settings, email=data.email, password=data.password)
        if result is None:
            raise NotAuthorizedException("Wrong e-mail or password")
        return _with_cookie(request, settings, result, HTTP_200_OK)

    @post("/logout", summary="End this login session everywhere", status_code=HTTP_200_OK)
    async def logout(
        self, channels: NamedDependency[OfcaChannelsPlugin], principal: NamedDependency[Principal]
    ) -> Response[LogoutResponse]:
        if principal.kind != "session":
            raise HTTPException(
                detail="Only a login session can log out; API keys are revoked instead",
                status_code=400,
            )
        await logout(principal)
        for account_id in principal.account_ids:
            announce_revoked(channels, account_id, principal.credential_id)
        response = Response(LogoutResponse(), status_code=HTTP_200_OK)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @get("/me", summary="The logged-in user and their accounts with roles", cache=False)
    async def me(self, principal: NamedDependency[Principal]) -> MeResponse:
        if principal.kind == "session":
            user = await current_user(principal)
            accounts = [] if user is None else await list_memberships(user.user_id)
            return MeResponse(user=user, accounts=accounts, credential="session")
        accounts = []
        if principal.account_id is not None:
            account = await get_account(principal.account_id)
            if account is not None:
                accounts = [
                    MembershipInfo(
                        account_id=account.account_id, name=account.name, role=principal.role
                    )
                ]
        return MeResponse(user=None, accounts=accounts, credential=principal.kind)
