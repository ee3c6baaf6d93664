"""Message counts before each quarter of an hour (docs/metrics.md "Volume trend" and
"Activity heatmap" in zones whose hours start at :30 or :45 past UTC hours).

In Asia/Kolkata (UTC+5:30) every local hour cuts two UTC hours, so the hourly rollups
served none of them and the charts counted every message of the window one by one
(volume trend by hour at 90 days of a 1M-message account: ~700 ms). The activity rows
and their hourly rollup now also count the messages (all, inbound, outbound) before
minute 15, 30 and 45 of their hour; an hour cut at a quarter is split from them.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

QUARTERS = (15, 30, 45)
COLUMNS = tuple(
    f"{kind}_{minute}" for minute in QUARTERS for kind in ("messages", "inbound", "outbound")
)


class _Statements(Table, tablename="ofca_activity"):
    """Only runs this migration's raw statements."""


def _counts(minute: str) -> str:
    parts = []
    for cut in QUARTERS:
        early = f"{minute} < {cut}"
        parts += [
            f"sum(CASE WHEN {early} THEN 1 ELSE 0 END) AS messages_{cut}",
            f"sum(CASE WHEN {early} AND m.direction = 'inbound' THEN 1 ELSE 0 END) "
            f"AS inbound_{cut}",
            f"sum(CASE WHEN {early} AND m.direction = 'outbound' THEN 1 ELSE 0 END) "
            f"AS outbound_{cut}",
        ]
    return ", ".join(parts)


async def fill(engine: Engine[Any], account_id: str | None = None) -> None:
    """Count the quarters of the stored activity rows from their messages, then sum them
    into the hourly rollup (every account, or one)."""
    if isinstance(engine, PostgresEngine):
        hour = "date_trunc('hour', m.created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
        minute = "extract(minute FROM m.created_at AT TIME ZONE 'UTC')"
    else:
        # Piccolo stores UTC timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'.
        hour = "substr(m.created_at, 1, 13) || ':00:00+00:00'"
        minute = "CAST(substr(m.created_at, 15, 2) AS INTEGER)"
    only = "" if account_id is None else " AND s.account_id = {}"
    sets = ", ".join(f"{c} = q.{c}" for c in COLUMNS)
    _Statements._meta.db = engine
    await _Statements.raw(
        f"UPDATE ofca_activity SET {sets} FROM (SELECT s.account_id, s.chat_id, "
        f"s.start_at, {hour} AS hour, {_counts(minute)} FROM ofca_session s "
        "JOIN ofca_message m ON m.account_id = s.account_id AND m.chat_id = s.chat_id "
        f"AND m.created_at >= s.start_at AND m.created_at <= s.end_at WHERE 1 = 1{only} "
        f"GROUP BY s.account_id, s.chat_id, s.start_at, {hour}) q "
        "WHERE ofca_activity.account_id = q.account_id AND ofca_activity.chat_id = q.chat_id "
        "AND ofca_activity.session_start_at = q.start_at AND ofca_activity.hour_start = q.hour",
        *([] if account_id is None else [account_id]),
    ).run()
    sums = ", ".join(f"sum({c}) AS {c}" for c in COLUMNS)
    await _Statements.raw(
        f"UPDATE ofca_activity_hour SET {sets} FROM (SELECT account_id, hour_start, {sums} "
        f"FROM ofca_activity WHERE 1 = 1{only.replace('s.', '')} "
        "GROUP BY account_id, hour_start) q WHERE ofca_activity_hour.account_id = "
        "q.account_id AND ofca_activity_hour.hour_start = q.hour_start",
        *([] if account_id is None else [account_id]),
    ).run()


async def forwards(engine: Engine[Any]) -> None:
    for table in ("ofca_activity", "ofca_activity_hour"):
        for column in COLUMNS:
            await engine.run_ddl(
                f"ALTER TABLE {table} ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
            )
    await fill(engine)
