"""Users, their memberships in accounts, login sessions, and instance-wide settings."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from ofca.persistence.tables import Account, InstanceSetting, LoginSession, Membership, User

__all__ = [
    "EmailTaken",
    "LoginSessionRecord",
    "MembershipInfo",
    "UserInfo",
    "add_membership",
    "create_login_session",
    "create_user",
    "get_user",
    "get_user_with_hash",
    "instance_setting",
    "list_memberships",
    "resolve_login_session",
    "revoke_login_session",
]

SESSION_PREFIX = "ses_"


class EmailTaken(ValueError):
    """Another user already has this e-mail address."""


class UserInfo(msgspec.Struct, kw_only=True):
    user_id: str
    email: str
    name: str
    created_at: datetime


class MembershipInfo(msgspec.Struct, kw_only=True):
    account_id: str
    name: str
    role: str


class LoginSessionRecord(msgspec.Struct, kw_only=True):
    id: int
    user_id: str
    expires_at: datetime


def _user(row: dict[str, Any]) -> UserInfo:
    return UserInfo(
        user_id=row["user_id"], email=row["email"], name=row["name"], created_at=row["created_at"]
    )


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def get_user(user_id: str) -> UserInfo | None:
    row = await User.select().where(User.user_id == user_id).first().run()
    return None if row is None else _user(row)


async def get_user_with_hash(email: str) -> tuple[UserInfo, str] | None:
    """The active user with this e-mail and their password hash."""
    row = (
        await User.select()
        .where((User.email == normalize_email(email)) & User.disabled_at.is_null())
        .first()
        .run()
    )
    return None if row is None else (_user(row), row["password_hash"])


async def create_user(*, email: str, name: str, password_hash: str) -> UserInfo:
    """Create a user; raises :class:`EmailTaken` when the address is in use."""
    email = normalize_email(email)
    if await User.exists().where(User.email == email).run():
        raise EmailTaken(email)
    row = User(
        user_id=f"usr_{secrets.token_hex(8)}",
        email=email,
        name=name,
        password_hash=password_hash,
        created_at=datetime.now(UTC),
    )
    try:
        await row.save().run()
    except Exception as exc:
        # Lost a race against a concurrent signup with the same address (unique index).
        if await User.exists().where(User.email == email).run():
            raise EmailTaken(email) from exc
        raise
    return _user(row.to_dict())


async def add_membership(user_id: str, account_id: str, role: str) -> None:
    await (
        Membership(user_id=user_id, account_id=account_id, role=role, created_at=datetime.now(UTC))
        .save()
        .run()
    )


async def list_memberships(user_id: str) -> list[MembershipInfo]:
    rows = (
        await Membership.select(Membership.account_id, Membership.role)
        .where(Membership.user_id == user_id)
        .order_by(Membership.account_id)
        .run()
    )
    if not rows:
        return []
    names = {
        row["account_id"]: row["name"]
        for row in await Account.select(Account.account_id, Account.name)
        .where(Account.account_id.is_in([row["account_id"] for row in rows]))
        .run()
    }
    return [
        MembershipInfo(
            account_id=row["account_id"], name=names.get(row["account_id"], ""), role=row["role"]
        )
        for row in rows
        if row["account_id"] in names
    ]


async def create_login_session(user_id: str, expires_at: datetime) -> tuple[int, str]:
    """A new session: its row id and the random session id (only its hash is stored)."""
    session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
    row = LoginSession(
        session_hash=_hash(session_id),
        user_id=user_id,
        created_at=datetime.now(UTC),
        expires_at=expires_at,
    )
    await row.save().run()
    return int(row.id), session_id


async def resolve_login_session(
    session_id: str, now: datetime | None = None
) -> LoginSessionRecord | None:
    """The live (not revoked, not expired) session with this id, or ``None``."""
    if not session_id.startswith(SESSION_PREFIX) or len(session_id) > 100:
        return None
    row = (
        await LoginSession.select()
        .where((LoginSession.session_hash == _hash(session_id)) & LoginSession.revoked_at.is_null())
        .first()
        .run()
    )
    if row is None or row["expires_at"] <= (now or datetime.now(UTC)):
        return None
    return LoginSessionRecord(id=row["id"], user_id=row["user_id"], expires_at=row["expires_at"])


async def revoke_login_session(session_row_id: int) -> bool:
    updated = (
        await LoginSession.update({LoginSession.revoked_at: datetime.now(UTC)})
        .where((LoginSession.id == session_row_id) & LoginSession.revoked_at.is_null())
        .returning(LoginSession.id)
        .run()
    )
    return bool(updated)


async def instance_setting(name: str, default: Callable[[], str]) -> str:
    """The instance-wide value ``name``; the first process to ask stores ``default()``.

    Insert-if-absent on the unique name, then read back: concurrent processes agree on
    whichever value was inserted first.
    """
    row = await InstanceSetting.select().where(InstanceSetting.name == name).first().run()
    if row is not None:
        return str(row["value"])
    await (
        InstanceSetting.insert(InstanceSetting(name=name, value=default()))
        .on_conflict(target=InstanceSetting.name, action="DO NOTHING")
        .run()
    )
    row = await InstanceSetting.select().where(InstanceSetting.name == name).first().run()
    assert row is not None
    return str(row["value"])


class MemberInfo(msgspec.Struct, kw_only=True):
    """A user as an account's member list shows them."""

    user_id: str
    email: str
    name: str
    role: str


async def find_user_by_email(email: str) -> UserInfo | None:
    found = await get_user_with_hash(email)
    return None if found is None else found[0]


async def set_membership(user_id: str, account_id: str, role: str) -> None:
    """Add the user to the account with ``role``, or change their role there."""
    updated = (
        await Membership.update({Membership.role: role})
        .where((Membership.user_id == user_id) & (Membership.account_id == account_id))
        .returning(Membership.id)
        .run()
    )
    if not updated:
        await add_membership(user_id, account_id, role)


async def remove_membership(user_id: str, account_id: str) -> bool:
    removed = (
        await Membership.delete()
        .where((Membership.user_id == user_id) & (Membership.account_id == account_id))
        .returning(Membership.id)
        .run()
    )
    return bool(removed)


async def list_members(account_id: str) -> list[MemberInfo]:
    memberships = (
        await Membership.select(Membership.user_id, Membership.role)
        .where(Membership.account_id == account_id)
        .run()
    )
    if not memberships:
        return []
    roles = {row["user_id"]: row["role"] for row in memberships}
    users = (
        await User.select(User.user_id, User.email, User.name)
        .where(User.user_id.is_in(list(roles)))
        .order_by(User.email)
        .run()
    )
    return [
        MemberInfo(
            user_id=row["user_id"], email=row["email"], name=row["name"], role=roles[row["user_id"]]
        )
        for row in users
    ]


async def live_session_ids(user_id: str) -> list[int]:
    """Row ids of the user's sessions that are neither revoked nor expired."""
    rows = (
        await LoginSession.select(LoginSession.id)
        .where(
            (LoginSession.user_id == user_id)
            & LoginSession.revoked_at.is_null()
            & (LoginSession.expires_at > datetime.now(UTC))
        )
        .run()
    )
    return [int(row["id"]) for row in rows]
