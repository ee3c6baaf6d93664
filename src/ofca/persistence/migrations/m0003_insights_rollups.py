"""Hourly per-account rollups of the insights read models (sessions by topic, message
activity), kept by delta in the same locked transaction that replaces a chat's rows, so a
30- or 90-day window reads hundreds of rows instead of every session."""

from __future__ import annotations

from typing import Any

from piccolo.columns import DoublePrecision, Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class SessionHourRow(Table, tablename="ofca_session_hour"):
    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    hour_start = Timestamptz()
    sessions = Integer()
    messages = Integer()
    duration = DoublePrecision()
    silence = DoublePrecision()
    silence_count = Integer()
    turns = Integer()
    sentiment = DoublePrecision()
    sentiment_count = Integer()


class ActivityHourRow(Table, tablename="ofca_activity_hour"):
    account_id = Varchar(length=200)
    hour_start = Timestamptz()
    messages = Integer()
    inbound = Integer()
    outbound = Integer()
    sentiment_sum = DoublePrecision()
    sentiment_count = Integer()


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_session_hour_key "
    "ON ofca_session_hour (account_id, topic, hour_start)",
    "CREATE INDEX IF NOT EXISTS ofca_session_hour_time ON ofca_session_hour "
    "(account_id, hour_start, topic, sessions, messages, duration, silence, silence_count, "
    "turns, sentiment, sentiment_count)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_activity_hour_key "
    "ON ofca_activity_hour (account_id, hour_start)",
)


_SUMS = (
    "count(*), sum(message_count), sum(duration_seconds), "
    "coalesce(sum(silence_percentage), 0), count(silence_percentage), sum(turns), "
    "coalesce(sum(sentiment_score), 0), count(sentiment_score)"
)
_SESSION_HOUR = (
    "INSERT INTO ofca_session_hour (account_id, topic, hour_start, sessions, messages, "
    "duration, silence, silence_count, turns, sentiment, sentiment_count) "
)


def _backfill(hour_of_start: str) -> tuple[str, ...]:
    """Rollups of read-model rows that exist already (databases migrated to m0003)."""
    return (
        _SESSION_HOUR + f"SELECT account_id, '', {hour_of_start}, {_SUMS} "
        f"FROM ofca_session GROUP BY account_id, {hour_of_start}",
        _SESSION_HOUR + f"SELECT account_id, topic, {hour_of_start}, {_SUMS} "
        f"FROM ofca_session_topic GROUP BY account_id, topic, {hour_of_start}",
        "INSERT INTO ofca_activity_hour (account_id, hour_start, messages, inbound, outbound, "
        "sentiment_sum, sentiment_count) SELECT account_id, hour_start, sum(messages), "
        "sum(inbound), sum(outbound), sum(sentiment_sum), sum(sentiment_count) "
        "FROM ofca_activity GROUP BY account_id, hour_start",
    )


async def forwards(engine: Engine[Any]) -> None:
    for table in (SessionHourRow, ActivityHourRow):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
    if isinstance(engine, PostgresEngine):
        hour = "date_trunc('hour', start_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:
        # Piccolo stores UTC timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'.
        hour = "substr(start_at, 1, 13) || ':00:00+00:00'"
    for statement in _backfill(hour):
        await engine.run_ddl(statement)
