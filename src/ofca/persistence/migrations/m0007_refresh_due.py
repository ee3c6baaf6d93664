"""Chats whose insight rows are due for a refresh, written in the same transaction as the
messages that made them due: a process that dies before its refresh runs leaves the mark,
and any process's sweeper re-derives the chat (``ofca.insights.scheduler``)."""

from __future__ import annotations

from typing import Any

from piccolo.columns import BigInt, Boolean, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class RefreshDueRow(Table, tablename="ofca_refresh_due"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    since = Timestamptz(null=True, default=None)
    whole = Boolean(default=False)
    version = BigInt(default=1)
    marked_at = Timestamptz()


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_refresh_due_chat "
    "ON ofca_refresh_due (account_id, chat_id)",
    "CREATE INDEX IF NOT EXISTS ofca_refresh_due_marked ON ofca_refresh_due (marked_at)",
)


async def forwards(engine: Engine[Any]) -> None:
    RefreshDueRow._meta.db = engine
    await RefreshDueRow.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
