"""The chatter stored with each outbound message and each answered reply run
(docs/metrics.md "Chatters").

The chatters leaderboard derived an outbound message's chatter at read time (the linked
command's user or key, else the extension's operator) and joined every reply run of the
window to the message that answered it: at 1M messages that was a scan of the whole
message table per request (~0.5 s) on top of the window's outbound messages (~0.2 s).
Now ingest stores it (``ofca_message.chatter``; linking a command overwrites it), the
refresh copies it onto the run it answers (``ofca_reply.chatter``), and partial indexes
hand the leaderboard the window's sent messages and answered runs from the index alone.
``ofca_session_chatter`` (a read model the refresh keeps, like the session topics) names
the chatters who sent in each session, for a chatter filter's ``revenue_per_session``.
Existing rows are filled from the same rules; the session chatters of existing sessions
from their messages.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class SessionChatterRow(Table, tablename="ofca_session_chatter"):
    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    start_at = Timestamptz()
    chat_id = Varchar(length=200)


SESSION_CHATTERS = (
    "INSERT INTO ofca_session_chatter (account_id, chatter, start_at, chat_id) "
    "SELECT DISTINCT s.account_id, m.chatter, s.start_at, s.chat_id FROM ofca_session s "
    "JOIN ofca_message m ON m.account_id = s.account_id AND m.chat_id = s.chat_id "
    "AND m.created_at >= s.start_at AND m.created_at <= s.end_at "
    "WHERE m.direction = 'outbound' AND m.chatter IS NOT NULL"
)

COLUMNS = (
    "ALTER TABLE ofca_message ADD COLUMN chatter VARCHAR(250)",
    "ALTER TABLE ofca_reply ADD COLUMN chatter VARCHAR(250)",
)

BACKFILL = (
    "UPDATE ofca_message SET chatter = COALESCE((SELECT c.issued_by FROM ofca_command c "
    "WHERE c.command_id = ofca_message.command_id), 'ext:' || NULLIF(operator_id, ''), "
    "'unassigned') "
    "WHERE direction = 'outbound'",
    "UPDATE ofca_reply SET chatter = (SELECT m.chatter FROM ofca_message m "
    "WHERE m.account_id = ofca_reply.account_id AND m.message_id = ofca_reply.reply_message_id) "
    "WHERE reply_message_id IS NOT NULL",
)

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ofca_message_sent ON ofca_message "
    "(account_id, created_at, chatter, chat_id) WHERE direction = 'outbound'",
    "CREATE INDEX IF NOT EXISTS ofca_reply_answered ON ofca_reply "
    "(account_id, first_inbound_at, chatter, reply_seconds, chat_id, session_start_at) "
    "WHERE reply_seconds IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS ofca_message_operator_name ON ofca_message "
    "(account_id, operator_id, created_at, ingested_at) WHERE operator_name IS NOT NULL",
    "DROP INDEX IF EXISTS ofca_message_operator",
    "CREATE INDEX IF NOT EXISTS ofca_reply_answered_at ON ofca_reply "
    "(account_id, replied_at, first_inbound_at, chat_id) WHERE replied_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS ofca_session_chatter_start ON ofca_session_chatter "
    "(account_id, chatter, start_at, chat_id)",
    "CREATE INDEX IF NOT EXISTS ofca_session_chatter_chat ON ofca_session_chatter "
    "(account_id, chat_id, start_at)",
)


def sent_per_chat(postgres: bool) -> str:
    """Each chat's sent messages in chat order (ids compare by code point, as every query
    that orders them does): a tip's credited chatter is one step back from the tip."""
    order = ' COLLATE "C"' if postgres else ""
    return (
        "CREATE INDEX IF NOT EXISTS ofca_message_chat_sent ON ofca_message "
        f"(account_id, chat_id, created_at, message_id{order}, chatter) "
        "WHERE direction = 'outbound'"
    )


async def forwards(engine: Engine[Any]) -> None:
    for statement in (*COLUMNS, *BACKFILL):
        await engine.run_ddl(statement)
    SessionChatterRow._meta.db = engine
    await SessionChatterRow.create_table(if_not_exists=True).run()
    await engine.run_ddl(SESSION_CHATTERS)
    for statement in INDEXES:
        await engine.run_ddl(statement)
    await engine.run_ddl(sent_per_chat(isinstance(engine, PostgresEngine)))
