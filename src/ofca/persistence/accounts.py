"""Accounts: one per creator account."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from ofca.persistence.tables import Account

ACCOUNT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"
_ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN)

__all__ = [
    "ACCOUNT_ID_PATTERN",
    "AccountInfo",
    "create_account",
    "ensure_account",
    "get_account",
    "list_accounts",
]


class AccountInfo(msgspec.Struct, kw_only=True):
    account_id: str
    name: str
    created_at: datetime


def _info(row: dict[str, Any]) -> AccountInfo:
    return AccountInfo(account_id=row["account_id"], name=row["name"], created_at=row["created_at"])


async def get_account(account_id: str) -> AccountInfo | None:
    row = await Account.select().where(Account.account_id == account_id).first().run()
    return None if row is None else _info(row)


async def list_accounts() -> list[AccountInfo]:
    return [_info(row) for row in await Account.select().order_by(Account.account_id).run()]


async def create_account(account_id: str, name: str = "") -> AccountInfo:
    """Create the account; raises ``ValueError`` when the id is invalid or exists already."""
    if not _ACCOUNT_ID.match(account_id):
        raise ValueError("account id must be 1-100 characters of A-Z, a-z, 0-9, '_', '.', '-'")
    if await get_account(account_id) is not None:
        raise ValueError(f"account {account_id!r} already exists")
    row = Account(account_id=account_id, name=name or account_id, created_at=datetime.now(UTC))
    await row.save().run()
    return _info(row.to_dict())


async def ensure_account(account_id: str, name: str = "") -> AccountInfo:
    existing = await get_account(account_id)
    return existing if existing is not None else await create_account(account_id, name)
