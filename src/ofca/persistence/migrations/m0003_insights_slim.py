"""Narrower indexes on the per-session tables now that window aggregates read the hourly
and daily rollups: session and session-topic rows are only read at a window's partial
hours, by chat, or to test a topic, so covering indexes there only slowed ingest."""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine

STATEMENTS = (
    "DROP INDEX IF EXISTS ofca_session_account_start",
    "CREATE INDEX IF NOT EXISTS ofca_session_account_time ON ofca_session (account_id, start_at)",
    "DROP INDEX IF EXISTS ofca_session_topic_account_start",
    "DROP INDEX IF EXISTS ofca_session_topic_account_topic",
    "CREATE INDEX IF NOT EXISTS ofca_session_topic_account_time "
    "ON ofca_session_topic (account_id, start_at, topic)",
    "DROP INDEX IF EXISTS ofca_activity_account_hour",
    "CREATE INDEX IF NOT EXISTS ofca_activity_account_hour_chat "
    "ON ofca_activity (account_id, hour_start, chat_id, inbound)",
)


async def forwards(engine: Engine[Any]) -> None:
    for statement in STATEMENTS:
        await engine.run_ddl(statement)
