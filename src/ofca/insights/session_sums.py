"""Session sums over a window from the session rollups: the arithmetic behind the session
means of topics, response time and overview (``summarize_sessions`` of
``ofca.domain.metrics``, from sums instead of sessions)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from ofca.domain.metrics import NO_DEFINED_SILENCE, NO_INBOUND_TEXT, NO_SESSIONS, Window
from ofca.insights.windows import levels, query, ranges_sql

__all__ = [
    "SUMS_SQL",
    "SessionSums",
    "means",
    "rolled_session_sums",
    "session_reasons",
    "sums_of",
    "window_session_sums",
]


class SessionSums(msgspec.Struct):
    sessions: int = 0
    messages: int = 0
    duration: float = 0.0
    silence: float = 0.0
    silence_count: int = 0
    turns: int = 0
    sentiment: float = 0.0
    sentiment_count: int = 0
    revenue: float = 0.0


SUMS_SQL = (
    "count(*) AS sessions, sum(message_count) AS messages, "
    "sum(duration_seconds) AS duration, sum(silence_percentage) AS silence, "
    "count(silence_percentage) AS silence_count, sum(turns) AS turns, "
    "sum(sentiment_score) AS sentiment, count(sentiment_score) AS sentiment_count, "
    "sum(revenue) AS revenue"
)


def sums_of(row: dict[str, Any]) -> SessionSums:
    return SessionSums(
        sessions=int(row["sessions"] or 0),
        messages=int(row["messages"] or 0),
        duration=float(row["duration"] or 0.0),
        silence=float(row["silence"] or 0.0),
        silence_count=int(row["silence_count"] or 0),
        turns=int(row["turns"] or 0),
        sentiment=float(row["sentiment"] or 0.0),
        sentiment_count=int(row["sentiment_count"] or 0),
        revenue=float(row["revenue"] or 0.0),
    )


async def rolled_session_sums(
    account_id: str, bounds: Sequence[datetime], topic: str | None, with_topic: str | None = None
) -> dict[tuple[int, str], SessionSums]:
    """Session sums per (window, topic) for one or two adjacent windows ``bounds``
    (window 1 is the last one, 0 the one before), ``topic`` '' for all sessions, a topic
    id, or None for every topic separately; ``with_topic``: only the sessions that also
    hold that topic (with ``topic`` None). Whole UTC days and hours come from the
    rollups, the rest of each window from session rows."""
    days: list[tuple[datetime, datetime]] = []
    hours: list[tuple[datetime, datetime]] = []
    edges: list[tuple[datetime, datetime]] = []
    for start, end in itertools.pairwise(bounds):
        window_days, window_hours, window_edges = levels(start, end)
        days += window_days
        hours += window_hours
        edges += window_edges
    current_start = bounds[-2]
    result: dict[tuple[int, str], SessionSums] = {}

    def merge(rows: Sequence[Any]) -> None:
        for row in rows:
            key = (int(row["cur"]), row["topic"])
            part = sums_of(row)
            total = result.get(key)
            if total is None:
                result[key] = part
                continue
            for field in SessionSums.__struct_fields__:
                setattr(total, field, getattr(total, field) + getattr(part, field))

    day_table, hour_table = "ofca_session_day", "ofca_session_hour"
    if with_topic is not None:
        assert topic is None, "pairs are read for every topic"
        day_table, hour_table = "ofca_topic_pair_day", "ofca_topic_pair_hour"
        topic_sql, topic_params = "with_topic = {}", [with_topic]
    elif topic is None:
        topic_sql, topic_params = "topic <> ''", []
    else:
        topic_sql, topic_params = "topic = {}", [topic]
    if days or hours:
        values = "sessions, messages, duration, silence, silence_count, turns, sentiment, "
        values += "sentiment_count, revenue"
        day_sql, day_params = ranges_sql("day_start", days)
        hour_sql, hour_params = ranges_sql("hour_start", hours)
        merge(
            await query(
                "SELECT r.topic AS topic, CASE WHEN r.t >= {} THEN 1 ELSE 0 END AS cur, "
                "sum(r.sessions) AS sessions, sum(r.messages) AS messages, "
                "sum(r.duration) AS duration, sum(r.silence) AS silence, "
                "sum(r.silence_count) AS silence_count, sum(r.turns) AS turns, "
                "sum(r.sentiment) AS sentiment, sum(r.sentiment_count) AS sentiment_count, "
                "sum(r.revenue) AS revenue "
                f"FROM (SELECT topic, day_start AS t, {values} FROM {day_table} "
                f"WHERE account_id = {{}} AND {topic_sql} AND {day_sql} UNION ALL "
                f"SELECT topic, hour_start AS t, {values} FROM {hour_table} "
                f"WHERE account_id = {{}} AND {topic_sql} AND {hour_sql}) AS r "
                "GROUP BY r.topic, cur",
                current_start,
                account_id,
                *topic_params,
                *day_params,
                account_id,
                *topic_params,
                *hour_params,
            )
        )
    if with_topic is not None:
        topic_sql = (
            "EXISTS (SELECT 1 FROM ofca_session_topic f WHERE f.account_id = r.account_id "
            "AND f.chat_id = r.chat_id AND f.start_at = r.start_at AND f.topic = {})"
        )
    else:
        topic_sql = topic_sql.replace("topic", "r.topic", 1)
    if edges:
        edge_sql, edge_params = ranges_sql("r.start_at", edges)
        if topic == "":
            source, topic_column, group = "ofca_session r WHERE 1 = 1", "''", "cur"
            topic_params = []
        else:
            source = f"ofca_session_topic r WHERE {topic_sql}"
            topic_column, group = "r.topic", "r.topic, cur"
        merge(
            await query(
                f"SELECT {topic_column} AS topic, "
                "CASE WHEN r.start_at >= {} THEN 1 ELSE 0 END AS cur, "
                f"{SUMS_SQL} FROM {source} AND r.account_id = {{}} AND {edge_sql} GROUP BY {group}",
                current_start,
                *topic_params,
                account_id,
                *edge_params,
            )
        )
    return result


async def _raw_window_sums(
    account_id: str, window: Window, chat_id: str | None, topic: str | None
) -> SessionSums:
    """Sums over the sessions whose first message lies in the window, from session rows."""
    params: list[Any] = [account_id]
    if topic is not None:
        sql = f"SELECT {SUMS_SQL} FROM ofca_session_topic WHERE account_id = {{}} AND topic = {{}}"
        params.append(topic)
    else:
        sql = f"SELECT {SUMS_SQL} FROM ofca_session WHERE account_id = {{}}"
    sql += " AND start_at >= {} AND start_at < {}"
    params += [window.start, window.end]
    if chat_id is not None:
        sql += " AND chat_id = {}"
        params.append(chat_id)
    rows = await query(sql, *params)
    return sums_of(rows[0])


async def window_session_sums(
    account_id: str, window: Window, chat_id: str | None, topic: str | None
) -> SessionSums:
    """Sums over the sessions whose first message lies in the window, of chat ``chat_id``
    and with ``topic`` when given (rollups unless a chat is asked for)."""
    if chat_id is not None:
        return await _raw_window_sums(account_id, window, chat_id, topic)
    key = topic or ""
    sums = await rolled_session_sums(account_id, (window.start, window.end), key)
    return sums.get((1, key), SessionSums())


def means(sums: SessionSums) -> tuple[float | None, float | None, float | None, float | None]:
    """(handling minutes, silence %, turns, sentiment): ``summarize_sessions`` from sums."""
    if sums.sessions == 0:
        return None, None, None, None
    return (
        sums.duration / sums.sessions / 60.0,
        sums.silence / sums.silence_count if sums.silence_count else None,
        sums.turns / sums.sessions,
        sums.sentiment / sums.sentiment_count if sums.sentiment_count else None,
    )


def session_reasons(sums: SessionSums, names: Sequence[str]) -> dict[str, str]:
    if sums.sessions == 0:
        return dict.fromkeys(names, NO_SESSIONS)
    reasons: dict[str, str] = {}
    if sums.silence_count == 0 and "silence_percentage" in names:
        reasons["silence_percentage"] = NO_DEFINED_SILENCE
    if sums.sentiment_count == 0 and "sentiment_score" in names:
        reasons["sentiment_score"] = NO_INBOUND_TEXT
    return reasons
