"""Storage on the run's engine (SQLite or Postgres): migrations, accounts, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ofca.persistence.accounts import create_account, get_account, list_accounts
from ofca.persistence.keys import (
    create_api_key,
    list_api_keys,
    resolve_api_key,
    revoke_api_key,
)
from ofca.persistence.migrate import applied_migrations, available_migrations, migrate
from ofca.persistence.tables import MessageRow


async def test_migrations_are_recorded_and_idempotent(engine: object) -> None:
    names = [name for name, _ in available_migrations()]
    assert names[0] == "m0001_initial"
    assert await applied_migrations(engine) == names  # type: ignore[arg-type]
    assert await migrate(engine) == []  # type: ignore[arg-type]


async def test_account_ids_are_validated_and_unique(engine: object, account_id: str) -> None:
    created = await create_account(account_id, "Creator One")
    assert created.name == "Creator One"
    assert (await get_account(account_id)) == created
    assert account_id in [a.account_id for a in await list_accounts()]
    with pytest.raises(ValueError, match="already exists"):
        await create_account(account_id)
    with pytest.raises(ValueError, match="account id must be"):
        await create_account("bad id:with spaces")


async def test_keys_are_hashed_resolved_revoked_and_expire(engine: object, account_id: str) -> None:
    await create_account(account_id)
    info, key = await create_api_key(account_id=account_id, role="extension", name="laptop")
    assert key.startswith("ofca_") and len(key) > 40
    listed = await list_api_keys(account_id)
    assert [k.id for k in listed] == [info.id]
    assert listed[0].prefix == key[:11]
    assert key not in repr(listed)  # the key itself is never kept

    resolved = await resolve_api_key(key)
    assert resolved is not None and resolved.role == "extension"
    assert resolved.account_id == account_id
    assert await resolve_api_key(key + "x") is None
    assert await resolve_api_key("not-a-key") is None

    assert await revoke_api_key(info.id, account_id="someone-else") is False
    assert await revoke_api_key(info.id, account_id=account_id) is True
    assert await resolve_api_key(key) is None
    assert await revoke_api_key(info.id) is False  # already revoked

    _expired, expired_key = await create_api_key(
        account_id=account_id, role="dashboard", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    assert await resolve_api_key(expired_key) is None
    _fresh, fresh_key = await create_api_key(
        account_id=account_id, role="dashboard", expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    assert (await resolve_api_key(fresh_key)) is not None


async def test_message_rows_round_trip_times_and_json(engine: object, account_id: str) -> None:
    created = datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    row = MessageRow(
        account_id=account_id,
        message_id="m1",
        chat_id="c1",
        direction="inbound",
        created_at=created,
        text="hi",
        raw='{"id":"m1"}',
        content_hash="0" * 64,
        topics=["greeting"],
        ingested_at=datetime.now(UTC),
    )
    await row.save().run()
    stored = (
        await MessageRow.select()
        .where((MessageRow.account_id == account_id) & (MessageRow.message_id == "m1"))
        .output(load_json=True)
        .first()
        .run()
    )
    assert stored is not None
    assert stored["created_at"] == created
    assert stored["topics"] == ["greeting"]
    assert stored["sentiment"] is None
    duplicate = MessageRow(
        account_id=account_id,
        message_id="m1",
        chat_id="c1",
        direction="inbound",
        raw="{}",
        content_hash="1" * 64,
        ingested_at=datetime.now(UTC),
    )
    with pytest.raises(Exception):  # noqa: B017 - the unique index, on either engine
        await duplicate.save().run()
