"""Indexes that keep a chat's node summary (``conversations.nodes``) cheap in long chats.

Every live ``append_message`` reads its chat's summary: message count, last activity, fan
sentiment, the last message, the open reply wait. With only ``(account_id, chat_id,
created_at)``, the last message (ordered by ``created_at`` then ``message_id``) sorted all
of the chat's messages, and the counts read every one of them from the table: in a chat
of a few thousand messages that was milliseconds per node, and right after a snapshot
(statistics not yet gathered) Postgres planned it over the whole account (0.25-1.5 s per
publication of 50 chats). The new index replaces that one (same prefix, so every query
that used it still can): it hands over the last message directly and the counts from the
index alone. Open replies get a partial index: a chat has many answered replies and at
most a few open ones.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ofca_message_chat_recent ON ofca_message "
    "(account_id, chat_id, created_at, message_id, direction, sentiment)",
    "DROP INDEX IF EXISTS ofca_message_account_chat_time",
    "CREATE INDEX IF NOT EXISTS ofca_reply_chat_open ON ofca_reply "
    "(account_id, chat_id, first_inbound_at) WHERE replied_at IS NULL",
)


async def forwards(engine: Engine[Any]) -> None:
    for statement in INDEXES:
        await engine.run_ddl(statement)
