"""Daily rollup of sessions (by topic) and each chat's days with fan messages, so long
windows read one row per day: whole UTC days come from here, the partial days at the
window ends from the hourly rollups and messages."""

from __future__ import annotations

from typing import Any

from piccolo.columns import DoublePrecision, Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class SessionDayRow(Table, tablename="ofca_session_day"):
    account_id = Varchar(length=200)
    topic = Varchar(length=64)
    day_start = Timestamptz()
    sessions = Integer()
    messages = Integer()
    duration = DoublePrecision()
    silence = DoublePrecision()
    silence_count = Integer()
    turns = Integer()
    sentiment = DoublePrecision()
    sentiment_count = Integer()


class FanDayRow(Table, tablename="ofca_fan_day"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    day_start = Timestamptz()
    previous_day = Timestamptz(null=True, default=None)


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_session_day_key "
    "ON ofca_session_day (account_id, topic, day_start)",
    "CREATE INDEX IF NOT EXISTS ofca_session_day_time ON ofca_session_day "
    "(account_id, day_start, topic, sessions, messages, duration, silence, silence_count, "
    "turns, sentiment, sentiment_count)",
    "CREATE INDEX IF NOT EXISTS ofca_fan_day_time ON ofca_fan_day "
    "(account_id, day_start, previous_day)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_fan_day_chat ON ofca_fan_day "
    "(account_id, chat_id, day_start)",
)

_SUMS = (
    "count(*), sum(message_count), sum(duration_seconds), "
    "coalesce(sum(silence_percentage), 0), count(silence_percentage), sum(turns), "
    "coalesce(sum(sentiment_score), 0), count(sentiment_score)"
)
_SESSION_DAY = (
    "INSERT INTO ofca_session_day (account_id, topic, day_start, sessions, messages, "
    "duration, silence, silence_count, turns, sentiment, sentiment_count) "
)


async def forwards(engine: Engine[Any]) -> None:
    for table in (SessionDayRow, FanDayRow):
        table._meta.db = engine
        await table.create_table(if_not_exists=True).run()
    for statement in INDEXES:
        await engine.run_ddl(statement)
    if isinstance(engine, PostgresEngine):
        day = "date_trunc('day', {} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:
        # Piccolo stores UTC timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'.
        day = "substr({}, 1, 10) || ' 00:00:00+00:00'"
    start_day = day.format("start_at")
    hour_day = day.format("hour_start")
    # Backfill from the read models of databases already at m0003.
    for statement in (
        _SESSION_DAY + f"SELECT account_id, '', {start_day}, {_SUMS} "
        f"FROM ofca_session GROUP BY account_id, {start_day}",
        _SESSION_DAY + f"SELECT account_id, topic, {start_day}, {_SUMS} "
        f"FROM ofca_session_topic GROUP BY account_id, topic, {start_day}",
        "INSERT INTO ofca_fan_day (account_id, chat_id, day_start, previous_day) "
        "SELECT account_id, chat_id, d, lag(d) OVER (PARTITION BY account_id, chat_id ORDER BY d) "
        f"FROM (SELECT DISTINCT account_id, chat_id, {hour_day} AS d FROM ofca_activity "
        "WHERE inbound > 0) AS days",
    ):
        await engine.run_ddl(statement)
