"""Message counts in ``ofca_activity_topic`` (every hour of a topic's sessions, not only
hours with scored fan messages), so the ``topic`` filter of the volume trend and the
activity heatmap is an index range like the sentiment trend's, not a join per row.

The rows are rebuilt from ``ofca_activity`` and ``ofca_session_topic`` (what the refresh
derives them from), and the covering index gains the counts."""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine

REBUILD = (
    "INSERT INTO ofca_activity_topic (account_id, topic, chat_id, hour_start, sentiment_sum, "
    "sentiment_count, messages, inbound, outbound) SELECT a.account_id, st.topic, a.chat_id, "
    "a.hour_start, a.sentiment_sum, a.sentiment_count, a.messages, a.inbound, a.outbound "
    "FROM ofca_activity a JOIN ofca_session_topic st ON st.account_id = a.account_id "
    "AND st.chat_id = a.chat_id AND st.start_at = a.session_start_at"
)
"""The rows a refresh derives, from the rows it derived before (tested against it)."""

STATEMENTS = (
    "ALTER TABLE ofca_activity_topic ADD COLUMN messages INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE ofca_activity_topic ADD COLUMN inbound INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE ofca_activity_topic ADD COLUMN outbound INTEGER NOT NULL DEFAULT 0",
    "DELETE FROM ofca_activity_topic",
    REBUILD,
    "DROP INDEX IF EXISTS ofca_activity_topic_time",
    "CREATE INDEX IF NOT EXISTS ofca_activity_topic_time ON ofca_activity_topic "
    "(account_id, topic, hour_start, sentiment_sum, sentiment_count, messages, inbound, "
    "outbound)",
)


async def forwards(engine: Engine[Any]) -> None:
    for statement in STATEMENTS:
        await engine.run_ddl(statement)
