"""Accounts and their API keys.

The admin key (``OFCA_ADMIN_KEY`` or a CLI-created admin key) manages every account; an
account's ``owner`` (key or login) manages that account's keys and nothing else.
"""

from __future__ import annotations

import builtins
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.params import FromPath, JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Meta

from ofca.access.principals import scope_account
from ofca.access.revocation import announce_revoked
from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.conversations.erasure import AccountDeleted, delete_account_data
from ofca.domain.auth import Principal
from ofca.errors import field_error
from ofca.persistence.accounts import (
    ACCOUNT_ID_PATTERN,
    AccountInfo,
    create_account,
    get_account,
    list_accounts,
)
from ofca.persistence.keys import ApiKeyInfo, create_api_key, list_api_keys, revoke_api_key
from ofca.persistence.users import (
    MemberInfo,
    find_user_by_email,
    list_members,
    live_session_ids,
    remove_membership,
    set_membership,
)

__all__ = ["AccountsController", "MembersController"]

log = logging.getLogger(__name__)

AccountId = Annotated[str, Meta(pattern=ACCOUNT_ID_PATTERN)]


PlainText = Annotated[str, Meta(max_length=200, pattern=r"^[^\x00]*$")]


class AccountCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    account_id: AccountId
    name: PlainText = ""


class KeyCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    role: Literal["owner", "extension", "dashboard", "integration"]
    name: PlainText = ""
    expires_at: datetime | None = None
    expires_in_days: Annotated[int, Meta(ge=1, le=3650)] | None = None


class MemberSet(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^\x00]+$")]
    """An existing user (they sign up first)."""
    role: Literal["owner", "dashboard"]


class KeyCreated(msgspec.Struct, kw_only=True):
    """The new key; ``key`` is shown this once and never stored."""

    key: str
    info: ApiKeyInfo


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedException("Only the admin key may do this")


def _require_manage(principal: Principal, account_id: str) -> None:
    if not principal.is_admin:
        scope_account(principal, account_id, "manage")


async def _existing(account_id: str) -> AccountInfo:
    account = await get_account(account_id)
    if account is None:
        raise NotFoundException("No such account")
    return account


class AccountsController(Controller):
    path = "/api/v1/accounts"
    tags = ["accounts"]

    @post("/", summary="Create an account (admin)", status_code=HTTP_201_CREATED)
    async def create(
        self, principal: NamedDependency[Principal], data: JSONBody[AccountCreate]
    ) -> AccountInfo:
        _require_admin(principal)
        if await get_account(data.account_id) is not None:
            raise field_error("account_id", "An account with this id exists already")
        account = await create_account(data.account_id, data.name)
        log.info("account created account=%s", account.account_id)
        return account

    @get("/", summary="List accounts (admin: all; others: their own)")
    async def list(self, principal: NamedDependency[Principal]) -> list[AccountInfo]:
        accounts = await list_accounts()
        if principal.is_admin:
            return accounts
        return [account for account in accounts if principal.role_in(account.account_id)]

    @get("/{account_id:str}", summary="One account")
    async def show(
        self, principal: NamedDependency[Principal], account_id: FromPath[str]
    ) -> AccountInfo:
        if not principal.is_admin and principal.role_in(account_id) is None:
            raise PermissionDeniedException("This credential has no access to that account")
        return await _existing(account_id)

    @post(
        "/{account_id:str}/keys",
        summary="Create an API key (admin or the account's owner); the key is shown once",
        status_code=HTTP_201_CREATED,
    )
    async def create_key(
        self,
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
        data: JSONBody[KeyCreate],
    ) -> KeyCreated:
        _require_manage(principal, account_id)
        await _existing(account_id)
        if data.expires_at is not None and data.expires_in_days is not None:
            raise field_error("expires_at", "Give expires_at or expires_in_days, not both")
        expires_at = data.expires_at
        if expires_at is not None:
            if expires_at.tzinfo is None:
                expires_at = expires_at.replace(tzinfo=UTC)
            if expires_at <= datetime.now(UTC):
                raise field_error("expires_at", "expires_at must be in the future")
        elif data.expires_in_days is not None:
            expires_at = datetime.now(UTC) + timedelta(days=data.expires_in_days)
        info, key = await create_api_key(
            account_id=account_id, role=data.role, name=data.name, expires_at=expires_at
        )
        log.info("key created account=%s key=%s role=%s", account_id, info.id, info.role)
        return KeyCreated(key=key, info=info)

    @get("/{account_id:str}/keys", summary="List an account's API keys (never the keys)")
    async def list_keys(
        self, principal: NamedDependency[Principal], account_id: FromPath[str]
    ) -> builtins.list[ApiKeyInfo]:
        _require_manage(principal, account_id)
        await _existing(account_id)
        return await list_api_keys(account_id)

    @delete(
        "/{account_id:str}/keys/{key_id:int}",
        summary="Revoke an API key: REST at once, open sockets are closed with 1008",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def revoke_key(
        self,
        request: Request[Any, Any, Any],
        channels: NamedDependency[OfcaChannelsPlugin],
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
        key_id: Annotated[int, PathParameter(ge=1)],
    ) -> None:
        _require_manage(principal, account_id)
        if not await revoke_api_key(key_id, account_id):
            raise NotFoundException("No active key with this id in this account")
        log.info("key revoked account=%s key=%s", account_id, key_id)
        announce_revoked(channels, account_id, f"key:{key_id}")

    @delete(
        "/{account_id:str}",
        summary="Delete the account and all its data (admin or the account's owner)",
        status_code=HTTP_200_OK,
    )
    async def delete_account(
        self,
        channels: NamedDependency[OfcaChannelsPlugin],
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
    ) -> AccountDeleted:
        """Removes the account's rows from every table (chats, messages, insights, topics,
        commands, keys, memberships, the account itself). Irreversible. Sockets of the
        account's keys are closed (1008)."""
        if not principal.is_admin:
            scope_account(principal, account_id, "delete")
        await _existing(account_id)
        keys = [key for key in await list_api_keys(account_id) if key.revoked_at is None]
        deleted = await delete_account_data(account_id)
        log.info("account deleted account=%s rows=%d", account_id, sum(deleted.values()))
        for key in keys:
            announce_revoked(channels, account_id, f"key:{key.id}")
        return AccountDeleted(status="deleted", account_id=account_id, deleted_rows=deleted)


async def _refuse_last_owner(account_id: str, user_id: str) -> None:
    members = await list_members(account_id)
    owners = [member.user_id for member in members if member.role == "owner"]
    if owners == [user_id]:
        raise HTTPException(
            detail="This is the account's only owner; make someone else owner first",
            status_code=409,
        )


class MembersController(Controller):
    """Who may log in to an account's dashboard, and with which role (owner or admin)."""

    path = "/api/v1/accounts/{account_id:str}/members"
    tags = ["accounts"]

    @get("/", summary="The account's users and their roles")
    async def members(
        self, principal: NamedDependency[Principal], account_id: FromPath[str]
    ) -> list[MemberInfo]:
        _require_manage(principal, account_id)
        await _existing(account_id)
        return await list_members(account_id)

    @put("/", summary="Give an existing user a role in the account (owner or dashboard)")
    async def set_member(
        self,
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
        data: JSONBody[MemberSet],
    ) -> MemberInfo:
        _require_manage(principal, account_id)
        await _existing(account_id)
        user = await find_user_by_email(data.email)
        if user is None:
            raise field_error("email", "No user with this e-mail; they sign up first")
        if data.role != "owner":
            await _refuse_last_owner(account_id, user.user_id)
        await set_membership(user.user_id, account_id, data.role)
        log.info("member set account=%s user=%s role=%s", account_id, user.user_id, data.role)
        return MemberInfo(user_id=user.user_id, email=user.email, name=user.name, role=data.role)

    @delete(
        "/{user_id:str}",
        summary="Remove a user from the account; their open dashboards are closed (1008)",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def remove_member(
        self,
        channels: NamedDependency[OfcaChannelsPlugin],
        principal: NamedDependency[Principal],
        account_id: FromPath[str],
        user_id: FromPath[str],
    ) -> None:
        _require_manage(principal, account_id)
        await _refuse_last_owner(account_id, user_id)
        if not await remove_membership(user_id, account_id):
            raise NotFoundException("This user is not a member of this account")
        log.info("member removed account=%s user=%s", account_id, user_id)
        for session_id in await live_session_ids(user_id):
            announce_revoked(channels, account_id, f"session:{session_id}")
