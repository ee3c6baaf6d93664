"""Money and chatters (docs/metrics.md, "Money" and "Chatters").

- ``ofca_message`` keeps ``isFree`` and ``isOpened`` (``is_free``, ``is_opened``: absent
  is false) and the extension's ``operator`` ``{id, name}`` (``operator_id``,
  ``operator_name``); existing rows are filled from the JSON stored with them (``raw``).
- ``ofca_command.issued_by``: the chatter whose dashboard command produced a message
  (``user:<id>`` or ``key:<id>``); commands issued before are not known (their messages
  fall to the operator, else ``unassigned``).
- ``ofca_reply.reply_message_id``: the outbound message that answered a run (whose chatter
  the reply is), filled for existing rows from the run's ``replied_at``.
- ``ofca_session.revenue`` and ``ofca_session_topic.revenue``: the revenue of the session's
  own messages (topic rows' revenue), filled from the stored messages.
- Partial indexes over the messages that can carry money (tips and priced messages) and
  the session-topic rows with revenue.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

COLUMNS = (
    "ALTER TABLE ofca_message ADD COLUMN is_free BOOLEAN NOT NULL DEFAULT FALSE",
    "ALTER TABLE ofca_message ADD COLUMN is_opened BOOLEAN NOT NULL DEFAULT FALSE",
    "ALTER TABLE ofca_message ADD COLUMN operator_id VARCHAR(200)",
    "ALTER TABLE ofca_message ADD COLUMN operator_name TEXT",
    "ALTER TABLE ofca_command ADD COLUMN issued_by VARCHAR(250)",
    "ALTER TABLE ofca_reply ADD COLUMN reply_message_id VARCHAR(200)",
    "ALTER TABLE ofca_session ADD COLUMN revenue DOUBLE PRECISION NOT NULL DEFAULT 0",
    "ALTER TABLE ofca_session_topic ADD COLUMN revenue DOUBLE PRECISION NOT NULL DEFAULT 0",
)

_MAY_CARRY = "(raw LIKE '%\"isFree\"%' OR raw LIKE '%\"isOpened\"%' OR raw LIKE '%\"operator\"%')"
"""Only these rows can hold a value to fill (the rest keep the defaults)."""

PG_BACKFILL = (
    "UPDATE ofca_message SET "
    "is_free = COALESCE(json_typeof(raw::json->'isFree') = 'boolean' "
    "AND (raw::json->>'isFree') = 'true', FALSE), "
    "is_opened = COALESCE(json_typeof(raw::json->'isOpened') = 'boolean' "
    "AND (raw::json->>'isOpened') = 'true', FALSE), "
    "operator_id = CASE WHEN json_typeof(raw::json->'operator') = 'object' "
    "THEN raw::json->'operator'->>'id' END, "
    "operator_name = CASE WHEN json_typeof(raw::json->'operator') = 'object' "
    "AND json_typeof(raw::json->'operator'->'name') = 'string' "
    "THEN raw::json->'operator'->>'name' END "
    f"WHERE json_typeof(raw::json) = 'object' AND {_MAY_CARRY}"
)
SQLITE_BACKFILL = (
    "UPDATE ofca_message SET "
    "is_free = COALESCE(json_type(raw, '$.isFree') = 'true', 0), "
    "is_opened = COALESCE(json_type(raw, '$.isOpened') = 'true', 0), "
    "operator_id = CASE WHEN json_type(raw, '$.operator') = 'object' "
    "THEN CAST(json_extract(raw, '$.operator.id') AS TEXT) END, "
    "operator_name = CASE WHEN json_type(raw, '$.operator.name') = 'text' "
    "THEN json_extract(raw, '$.operator.name') END "
    f"WHERE json_valid(raw) AND json_type(raw) = 'object' AND {_MAY_CARRY}"
)

REPLY_BACKFILL = (
    "UPDATE ofca_reply SET reply_message_id = (SELECT m.message_id FROM ofca_message m "
    "WHERE m.account_id = ofca_reply.account_id AND m.chat_id = ofca_reply.chat_id "
    "AND m.direction = 'outbound' AND m.created_at = ofca_reply.replied_at "
    "ORDER BY m.message_id LIMIT 1) WHERE replied_at IS NOT NULL"
)

_PAID = (
    "m.price > 0 AND ((m.direction = 'inbound' AND m.is_tip) OR (m.direction = 'outbound' "
    "AND NOT m.is_tip AND NOT m.is_free AND m.is_opened))"
)
SESSION_REVENUE = (
    "UPDATE ofca_session SET revenue = (SELECT sum(m.price) FROM ofca_message m "
    "WHERE m.account_id = ofca_session.account_id AND m.chat_id = ofca_session.chat_id "
    "AND m.created_at >= ofca_session.start_at AND m.created_at <= ofca_session.end_at "
    f"AND (m.is_tip OR m.price > 0) AND {_PAID}) WHERE EXISTS (SELECT 1 FROM ofca_message m "
    "WHERE m.account_id = ofca_session.account_id AND m.chat_id = ofca_session.chat_id "
    "AND m.created_at >= ofca_session.start_at AND m.created_at <= ofca_session.end_at "
    f"AND (m.is_tip OR m.price > 0) AND {_PAID})"
)
"""A session's revenue: its own messages' tips and bought offers (after the backfill)."""
TOPIC_REVENUE = (
    "UPDATE ofca_session_topic SET revenue = (SELECT s.revenue FROM ofca_session s "
    "WHERE s.account_id = ofca_session_topic.account_id AND s.chat_id = "
    "ofca_session_topic.chat_id AND s.start_at = ofca_session_topic.start_at) "
    "WHERE EXISTS (SELECT 1 FROM ofca_session s WHERE s.account_id = "
    "ofca_session_topic.account_id AND s.chat_id = ofca_session_topic.chat_id "
    "AND s.start_at = ofca_session_topic.start_at AND s.revenue > 0)"
)

INDEXES = (
    "CREATE INDEX IF NOT EXISTS ofca_message_money ON ofca_message (account_id, created_at, "
    "chat_id, direction, is_tip, is_free, is_opened, price) WHERE (is_tip OR price > 0)",
    "CREATE INDEX IF NOT EXISTS ofca_message_operator ON ofca_message "
    "(account_id, operator_id) WHERE operator_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS ofca_session_topic_revenue ON ofca_session_topic "
    "(account_id, start_at, topic, chat_id, revenue) WHERE revenue > 0",
)


async def forwards(engine: Engine[Any]) -> None:
    for statement in COLUMNS:
        await engine.run_ddl(statement)
    postgres = isinstance(engine, PostgresEngine)
    await engine.run_ddl(PG_BACKFILL if postgres else SQLITE_BACKFILL)
    await engine.run_ddl(REPLY_BACKFILL)
    await engine.run_ddl(SESSION_REVENUE)
    await engine.run_ddl(TOPIC_REVENUE)
    for statement in INDEXES:
        await engine.run_ddl(statement)
