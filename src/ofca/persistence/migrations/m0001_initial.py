"""Initial schema: accounts, API keys, chats, messages, ingest log, instance settings."""

from __future__ import annotations

from typing import Any

from piccolo.columns import JSON, BigInt, Boolean, Integer, Real, Text, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class Account(Table, tablename="ofca_account"):
    account_id = Varchar(length=200, unique=True, index=True)
    name = Varchar(length=200, default="")
    created_at = Timestamptz()
    webhook_secret = Varchar(length=200, null=True, default=None)


class ApiKey(Table, tablename="ofca_api_key"):
    key_hash = Varchar(length=64, unique=True, index=True)
    prefix = Varchar(length=16)
    account_id = Varchar(length=200, null=True, default=None, index=True)
    role = Varchar(length=20)
    name = Varchar(length=200, default="")
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)


class ChatRow(Table, tablename="ofca_chat"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    fan_id = Varchar(length=200, null=True, default=None)
    fan_name = Text(null=True, default=None)
    fan_username = Text(null=True, default=None)
    fan_avatar = Text(null=True, default=None)
    source = Varchar(length=20, default="onlyfans")
    raw = Text(null=True, default=None)  # type: ignore[assignment]  # shadows Table.raw
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MessageRow(Table, tablename="ofca_message"):
    account_id = Varchar(length=200)
    message_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    direction = Varchar(length=8)
    created_at = Timestamptz(null=True, default=None)
    changed_at = Timestamptz(null=True, default=None)
    text = Text(null=True, default=None)
    raw = Text()  # type: ignore[assignment]  # shadows Table.raw
    content_hash = Varchar(length=64)
    from_user_id = Varchar(length=200, null=True, default=None)
    is_tip = Boolean(default=False)
    price = Real(null=True, default=None)
    media_count = Integer(default=0)
    source = Varchar(length=20, default="onlyfans")
    sentiment = Real(null=True, default=None)
    topics = JSON(default="[]")
    enriched = Boolean(default=False)
    command_id = Varchar(length=64, null=True, default=None)
    ingested_at = Timestamptz()
    version = BigInt(default=1)


class IngestLog(Table, tablename="ofca_ingest_log"):
    account_id = Varchar(length=200, index=True)
    source = Varchar(length=20)
    kind = Varchar(length=40)
    received_at = Timestamptz()
    accepted = Integer(default=0)
    duplicates = Integer(default=0)
    updated = Integer(default=0)
    rejected = Integer(default=0)
    frame_bytes = BigInt(default=0)
    duration_ms = Real(default=0)


class InstanceSetting(Table, tablename="ofca_instance_setting"):
    name = Varchar(length=100, unique=True)
    value = Text()


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_chat_account_chat ON ofca_chat (account_id, chat_id)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_message_account_message "
    "ON ofca_message (account_id, message_id)",
    "CREATE INDEX IF NOT EXISTS ofca_message_account_chat_time "
    "ON ofca_message (account_id, chat_id, created_at)",
    "CREATE INDEX IF NOT EXISTS ofca_message_account_time ON ofca_message (account_id, created_at)",
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (Account, ApiKey, ChatRow, MessageRow, IngestLog, InstanceSetting):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
