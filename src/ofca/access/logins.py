"""Human logins: signup, login, logout and turning a login token back into a principal.

The token is an HS256 JWT carrying the session id (``sid``); the session itself lives in
the database (hashed), so logout and revocation take effect at once in every process.
The signing key is ``OFCA_SECRET_KEY`` or, when unset, a random key the first process
stores in ``ofca_instance_setting`` (insert-if-absent, so all processes agree).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

import msgspec

from ofca.domain.auth import Principal, Role, session_principal
from ofca.domain.passwords import DUMMY_HASH, hash_password, verify_password
from ofca.domain.tokens import InvalidToken, decode_jwt, encode_jwt, looks_like_jwt
from ofca.persistence.accounts import create_account, get_account
from ofca.persistence.tables import Account
from ofca.persistence.users import (
    EmailTaken,
    UserInfo,
    add_membership,
    create_login_session,
    create_user,
    get_user,
    get_user_with_hash,
    instance_setting,
    list_memberships,
    resolve_login_session,
    revoke_login_session,
)
from ofca.settings import Settings

__all__ = [
    "SESSION_COOKIE",
    "LoginResult",
    "SignupError",
    "login",
    "logout",
    "principal_for_token",
    "signing_key",
    "signup",
]

log = logging.getLogger(__name__)

SESSION_COOKIE = "ofca_session"
SECRET_SETTING = "jwt_signing_key"

# Per process and database: the stored key never changes while processes run.
_signing_keys: dict[str, bytes] = {}


class SignupError(ValueError):
    """Signup refused; ``field`` names the offending input."""

    def __init__(self, field: str, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status_code = status_code


class LoginResult(msgspec.Struct, kw_only=True):
    token: str
    session_id: str
    user: UserInfo
    expires_at: datetime


async def signing_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.encode("utf-8")
    cached = _signing_keys.get(settings.database_url)
    if cached is None:
        value = await instance_setting(SECRET_SETTING, lambda: secrets.token_urlsafe(48))
        cached = _signing_keys[settings.database_url] = value.encode("utf-8")
    return cached


async def _start_session(settings: Settings, user: UserInfo) -> LoginResult:
    expires_at = datetime.now(UTC) + timedelta(days=settings.session_ttl_days)
    _, session_id = await create_login_session(user.user_id, expires_at)
    claims = {
        "sid": session_id,
        "sub": user.user_id,
        "iat": int(time.time()),
        "exp": int(expires_at.timestamp()),
    }
    token = encode_jwt(claims, await signing_key(settings))
    return LoginResult(token=token, session_id=session_id, user=user, expires_at=expires_at)


def _new_account_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "account"
    return f"{slug}-{secrets.token_hex(3)}"


async def signup(
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str,
    account_id: str | None,
    account_name: str | None,
) -> LoginResult:
    """Create a user (and, when asked, a new account they own) and log them in."""
    if account_id is not None and await get_account(account_id) is not None:
        # Joining an existing account takes an invitation from its owner, never a signup.
        raise SignupError("account_id", "An account with this id exists already", 409)
    password_hash = await asyncio.to_thread(hash_password, password)
    engine = Account._meta.db
    async with engine.transaction():
        try:
            user = await create_user(email=email, name=name, password_hash=password_hash)
        except EmailTaken:
            raise SignupError("email", "A user with this e-mail exists already", 409) from None
        if account_id is not None or account_name is not None:
            wanted = account_id or _new_account_id(account_name or name)
            try:
                account = await create_account(wanted, account_name or name)
            except ValueError as exc:
                raise SignupError("account_id", str(exc), 409) from None
            await add_membership(user.user_id, account.account_id, "owner")
    log.info("signup user=%s account=%s", user.user_id, account_id or "-")
    return await _start_session(settings, user)


async def login(settings: Settings, *, email: str, password: str) -> LoginResult | None:
    found = await get_user_with_hash(email)
    # Verify against a dummy hash for unknown addresses: the answer takes as long either way.
    stored = found[1] if found is not None else DUMMY_HASH
    matches = await asyncio.to_thread(verify_password, password, stored)
    if found is None or not matches:
        log.info("login failed")
        return None
    log.info("login user=%s", found[0].user_id)
    return await _start_session(settings, found[0])


async def logout(principal: Principal) -> bool:
    if principal.kind != "session":
        return False
    return await revoke_login_session(int(principal.credential_id.removeprefix("session:")))


async def principal_for_token(token: str, settings: Settings) -> Principal | None:
    """The login principal a JWT stands for, or ``None`` (bad, expired or revoked)."""
    if not looks_like_jwt(token):
        return None
    try:
        claims = decode_jwt(token, await signing_key(settings), now=time.time())
    except InvalidToken:
        return None
    session_id = claims.get("sid")
    if not isinstance(session_id, str):
        return None
    session = await resolve_login_session(session_id)
    if session is None or session.user_id != claims.get("sub"):
        return None
    memberships: list[tuple[str, Role]] = [
        (membership.account_id, membership.role)  # type: ignore[misc]
        for membership in await list_memberships(session.user_id)
    ]
    return session_principal(
        session_row_id=session.id, user_id=session.user_id, memberships=memberships
    )


async def current_user(principal: Principal) -> UserInfo | None:
    return None if principal.user_id is None else await get_user(principal.user_id)
