"""``GET /api/v1/insights/sessions`` (seed 002's session analytics, docs/metrics.md
"Sessions summary") in SQL; ``ofca.domain.trends.sessions_summary`` is its oracle.

Sessions belong to a bucket by their first message. Whole UTC hours come from
``ofca_session_hour`` (topic '' = every session, else that topic's sessions), the pieces
of the :class:`~ofca.insights.buckets.BucketPlan` from session rows; a ``chat_id`` filter
reads that chat's session rows only.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from ofca.domain.insights import WindowView
from ofca.domain.metrics import Granularity, Window
from ofca.domain.trends import SessionsSummaryResponse, summary_from_buckets
from ofca.insights.buckets import BucketPlan, fetch_pieces, local_bucket_starts, round_float
from ofca.insights.queries import InsightFilters
from ofca.persistence.sql import fetch_rows, to_utc

__all__ = ["sessions_summary"]


class _Sums:
    def __init__(self, buckets: int) -> None:
        self.sessions = [0] * buckets
        self.messages = [0] * buckets
        self.durations = [0.0] * buckets

    def add(self, index: int, sessions: Any, messages: Any, duration: Any) -> None:
        self.sessions[index] += int(sessions or 0)
        self.messages[index] += int(messages or 0)
        self.durations[index] += float(duration or 0.0)


def _session_table(filters: InsightFilters) -> tuple[str, str, list[Any]]:
    """(table, extra conditions, params) of the session rows the filters keep."""
    if filters.topic is None:
        table, sql, params = "ofca_session", "", []
    else:
        table, sql, params = "ofca_session_topic", " AND s.topic = {}", [filters.topic]
    if filters.chat_id is not None:
        sql += " AND s.chat_id = {}"
        params.append(filters.chat_id)
    return table, sql, params


async def _one_chat(
    account_id: str, plan: BucketPlan, filters: InsightFilters, sums: _Sums
) -> None:
    table, scope, params = _session_table(filters)
    rows = await fetch_rows(
        "SELECT s.start_at AS at, s.message_count AS messages, s.duration_seconds AS duration "
        f"FROM {table} s WHERE s.account_id = {{}} AND s.start_at >= {{}} AND s.start_at < {{}}"
        f"{scope}",
        account_id,
        plan.window.start,
        plan.window.end,
        *params,
    )
    for row in rows:
        sums.add(plan.index(to_utc(row["at"])), 1, row["messages"], row["duration"])


async def _rolled(account_id: str, plan: BucketPlan, filters: InsightFilters, sums: _Sums) -> None:
    if plan.hours is not None:
        rows = await fetch_rows(
            "SELECT hour_start AS hour, sessions, messages, duration FROM ofca_session_hour "
            "WHERE account_id = {} AND topic = {} AND hour_start >= {} AND hour_start < {}",
            account_id,
            filters.topic or "",
            *plan.hours,
        )
        for row in rows:
            index = plan.hour_index(to_utc(row["hour"]))
            if index is not None:
                sums.add(index, row["sessions"], row["messages"], row["duration"])
    # (No chat filter here: one chat's sessions are read whole by ``_one_chat``.)
    table, _scope, params = _session_table(filters)
    topic_column, topic_sql = "", ""
    if filters.topic is not None:
        topic_column, topic_sql = ", s.topic AS topic", " AND r.topic = {}"
    rows = await fetch_pieces(
        plan,
        account_id,
        f"{table} s",
        "s.start_at AS start_at, s.message_count AS message_count, "
        f"s.duration_seconds AS duration_seconds{topic_column}",
        "SELECT r.i AS i, count(*) AS sessions, sum(r.message_count) AS messages, "
        f"sum(r.duration_seconds) AS duration FROM r WHERE 1 = 1{topic_sql} GROUP BY r.i",
        *params,
    )
    for row in rows:
        sums.add(int(row["i"]), row["sessions"], row["messages"], row["duration"])


async def sessions_summary(
    account_id: str,
    window: Window,
    timezone: str,
    granularity: Granularity,
    filters: InsightFilters = InsightFilters(),
) -> SessionsSummaryResponse:
    plan = BucketPlan(window, local_bucket_starts(window, ZoneInfo(timezone), granularity))
    sums = _Sums(len(plan.starts))
    if filters.chat_id is not None:
        await _one_chat(account_id, plan, filters, sums)
    else:
        await _rolled(account_id, plan, filters, sums)
    total, messages, duration, rows, reasons = summary_from_buckets(
        plan.starts, sums.sessions, sums.messages, sums.durations
    )
    return SessionsSummaryResponse(
        total_sessions=total,
        avg_messages_per_session=round_float(messages),
        avg_duration_minutes=round_float(duration),
        by_date=rows,
        unavailable_reasons=reasons,
        granularity=granularity,
        timezone=timezone,
        window=WindowView(start=window.start, end=window.end),
    )
