"""API keys: random, shown once, stored as SHA-256 (keys are 256-bit, so no KDF is needed)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ofca.persistence.tables import ApiKey

__all__ = [
    "ApiKeyInfo",
    "create_api_key",
    "generate_key",
    "hash_key",
    "list_api_keys",
    "resolve_api_key",
    "revoke_api_key",
    "touch_api_key",
]

KEY_PREFIX = "ofca_"


class ApiKeyInfo(msgspec.Struct, kw_only=True):
    """A key as listings show it: never the key itself."""

    id: int
    prefix: str
    account_id: str | None
    role: str
    name: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def is_active(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: dict[str, Any]) -> ApiKeyInfo:
    return msgspec.convert(row, ApiKeyInfo, from_attributes=False, strict=False)


async def create_api_key(
    *,
    account_id: str | None,
    role: str,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiKeyInfo, str]:
    """Create a key; returns its info and the plaintext key (shown once, never stored)."""
    key = generate_key()
    now = datetime.now(UTC)
    row = ApiKey(
        key_hash=hash_key(key),
        prefix=key[: len(KEY_PREFIX) + 6],
        account_id=account_id,
        role=role,
        name=name,
        created_at=now,
        expires_at=expires_at,
    )
    await row.save().run()
    return _info(row.to_dict()), key


async def resolve_api_key(key: str, now: datetime | None = None) -> ApiKeyInfo | None:
    """The active key matching ``key``, or ``None`` (unknown, revoked or expired)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    row = await ApiKey.select().where(ApiKey.key_hash == hash_key(key)).first().run()
    if row is None:
        return None
    info = _info(row)
    return info if info.is_active(now or datetime.now(UTC)) else None


async def list_api_keys(account_id: str | None = None) -> list[ApiKeyInfo]:
    query = ApiKey.select().order_by(ApiKey.id)
    if account_id is not None:
        query = query.where(ApiKey.account_id == account_id)
    return [_info(row) for row in await query.run()]


async def revoke_api_key(key_id: int, account_id: str | None = None) -> bool:
    """Revoke key ``key_id`` (of ``account_id`` when given); ``False`` if there is none."""
    query = ApiKey.update({ApiKey.revoked_at: datetime.now(UTC)}).where(
        (ApiKey.id == key_id) & ApiKey.revoked_at.is_null()
    )
    if account_id is not None:
        query = query.where(ApiKey.account_id == account_id)
    updated = await query.returning(ApiKey.id).run()
    return bool(updated)


LAST_USED_PRECISION = timedelta(minutes=5)
"""``last_used_at`` is refreshed at most this often per key: a write per request is waste."""


async def touch_api_key(info: ApiKeyInfo, now: datetime | None = None) -> None:
    """Record that the key was used, when the stored time is older than the precision."""
    now = now or datetime.now(UTC)
    if info.last_used_at is not None and now - info.last_used_at < LAST_USED_PRECISION:
        return
    await ApiKey.update({ApiKey.last_used_at: now}).where(ApiKey.id == info.id).run()
