"""Sources and commands: Chatwoot tokens, commands sent to the extension, extension
presence (when Redis is not configured)."""

from __future__ import annotations

from typing import Any

from piccolo.columns import Text, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class ChatwootToken(Table, tablename="ofca_chatwoot_token"):
    account_id = Varchar(length=200, unique=True)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=16)
    created_at = Timestamptz()
    signing_secret = Varchar(length=200, null=True, default=None)


class CommandRow(Table, tablename="ofca_command"):
    command_id = Varchar(length=64, unique=True)
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    text_hash = Varchar(length=64)
    media_url = Text(null=True, default=None)
    created_at = Timestamptz()
    linked_message_id = Varchar(length=200, null=True, default=None)
    linked_at = Timestamptz(null=True, default=None)


class ExtensionPresence(Table, tablename="ofca_extension_presence"):
    account_id = Varchar(length=200)
    connection_id = Varchar(length=100)
    expires_at = Timestamptz()


INDEXES = (
    "CREATE INDEX IF NOT EXISTS ofca_command_account_chat_text "
    "ON ofca_command (account_id, chat_id, text_hash, created_at)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_extension_presence_connection "
    "ON ofca_extension_presence (account_id, connection_id)",
    # The conversation list filters and sorts by these.
    "CREATE INDEX IF NOT EXISTS ofca_chat_account_updated ON ofca_chat (account_id, updated_at)",
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (ChatwootToken, CommandRow, ExtensionPresence):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
