"""The insights of METRICS.md computed in SQL over the read models of
``ofca.insights.projector``.

No request scans messages. A window is cut into whole UTC days (daily rollups), whole
hours outside them (hourly rollups) and the partial hours at its ends (session rows, or
messages, by index): session means and topic rows sum rollup rows, message counts and
fan sentiment come from the hourly activity rollup, active fans from per-chat fan days.
Filters: ``chat_id`` reads that chat's rows; ``topic`` reads the per-topic rows (session
topics, reply runs and hourly fan sentiment copied per topic of their session). Reply
median and p90 need the window's reply values (``percentile_cont`` on Postgres,
``statistics`` on SQLite: the same linear interpolation). The pure functions in
``ofca.domain.metrics`` are the oracle these queries are tested against
(tests/insights/test_oracle.py).

Every float is rounded to 9 decimal places: SQL sums add in storage order, which differs
between engines in the last bits; rounding makes SQLite and Postgres answer identically.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from bisect import bisect_right
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from piccolo.engine.postgres import PostgresEngine

from ofca.domain.insights import (
    AnalyticsSnapshot,
    OverviewResponse,
    OverviewWindowValues,
    ResponseTimeResponse,
    SentimentTrendResponse,
    TopicsResponse,
    WindowView,
)
from ofca.domain.metrics import (
    NO_DEFINED_SILENCE,
    NO_INBOUND_TEXT,
    NO_PREVIOUS_VOLUME,
    NO_SESSIONS,
    Granularity,
    ReplyStats,
    TopicRow,
    TrendPoint,
    Window,
    bucket_starts,
    no_reply_stats,
    resolve_window,
)
from ofca.persistence.sql import database, to_utc
from ofca.persistence.tables import SessionRow
from ofca.persistence.topic_rules import matcher_for
from ofca.settings import Settings

__all__ = [
    "InsightFilters",
    "analytics_snapshot",
    "overview",
    "response_time",
    "sentiment_trend",
    "topics",
]

_DIGITS = 9
_HOUR = timedelta(hours=1)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, _DIGITS)


class InsightFilters(msgspec.Struct, frozen=True, kw_only=True):
    """METRICS.md "Filters": ``chat_id`` keeps one chat, ``topic`` the sessions with it."""

    chat_id: str | None = None
    topic: str | None = None


async def _query(sql: str, *params: Any) -> list[dict[str, Any]]:
    return await SessionRow.raw(sql, *params)


async def _together(*calls: Awaitable[Any]) -> list[Any]:
    """Independent queries at once (each takes its own pool connection); one after the
    other inside a caller's transaction, whose single connection cannot multiplex."""
    if database().current_transaction.get() is not None:
        return [await call for call in calls]
    return list(await asyncio.gather(*calls))


def _is_postgres() -> bool:
    return isinstance(database(), PostgresEngine)


def _window_view(window: Window) -> WindowView:
    return WindowView(start=window.start, end=window.end)


# --------------------------------------------------------------------------- sessions


class _SessionSums(msgspec.Struct):
    sessions: int = 0
    messages: int = 0
    duration: float = 0.0
    silence: float = 0.0
    silence_count: int = 0
    turns: int = 0
    sentiment: float = 0.0
    sentiment_count: int = 0


_SUMS = (
    "count(*) AS sessions, sum(message_count) AS messages, "
    "sum(duration_seconds) AS duration, sum(silence_percentage) AS silence, "
    "count(silence_percentage) AS silence_count, sum(turns) AS turns, "
    "sum(sentiment_score) AS sentiment, count(sentiment_score) AS sentiment_count"
)


def _sums(row: dict[str, Any]) -> _SessionSums:
    return _SessionSums(
        sessions=int(row["sessions"] or 0),
        messages=int(row["messages"] or 0),
        duration=float(row["duration"] or 0.0),
        silence=float(row["silence"] or 0.0),
        silence_count=int(row["silence_count"] or 0),
        turns=int(row["turns"] or 0),
        sentiment=float(row["sentiment"] or 0.0),
        sentiment_count=int(row["sentiment_count"] or 0),
    )


async def _raw_session_sums(
    account_id: str, window: Window, filters: InsightFilters
) -> _SessionSums:
    """Sums over the sessions whose first message lies in the window, from session rows."""
    params: list[Any] = [account_id]
    if filters.topic is not None:
        sql = f"SELECT {_SUMS} FROM ofca_session_topic WHERE account_id = {{}} AND topic = {{}}"
        params.append(filters.topic)
    else:
        sql = f"SELECT {_SUMS} FROM ofca_session WHERE account_id = {{}}"
    sql += " AND start_at >= {} AND start_at < {}"
    params += [window.start, window.end]
    if filters.chat_id is not None:
        sql += " AND chat_id = {}"
        params.append(filters.chat_id)
    rows = await _query(sql, *params)
    return _sums(rows[0])


async def _rolled_session_sums(
    account_id: str, bounds: Sequence[datetime], topic: str | None
) -> dict[tuple[int, str], _SessionSums]:
    """Session sums per (window, topic) for one or two adjacent windows ``bounds``
    (window 1 is the last one, 0 the one before), ``topic`` '' for all sessions, a topic
    id, or None for every topic separately. Whole UTC hours come from the hourly rollup,
    the rest of each window from session rows."""
    days: list[tuple[datetime, datetime]] = []
    hours: list[tuple[datetime, datetime]] = []
    edges: list[tuple[datetime, datetime]] = []
    for start, end in itertools.pairwise(bounds):
        window_days, window_hours, window_edges = _levels(start, end)
        days += window_days
        hours += window_hours
        edges += window_edges
    current_start = bounds[-2]
    result: dict[tuple[int, str], _SessionSums] = {}

    def merge(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key = (int(row["cur"]), row["topic"])
            part = _sums(row)
            total = result.get(key)
            if total is None:
                result[key] = part
                continue
            for field in _SessionSums.__struct_fields__:
                setattr(total, field, getattr(total, field) + getattr(part, field))

    if topic is None:
        topic_sql, topic_params = "topic <> ''", []
    else:
        topic_sql, topic_params = "topic = {}", [topic]
    if days or hours:
        values = "sessions, messages, duration, silence, silence_count, turns, sentiment, "
        values += "sentiment_count"
        day_sql, day_params = _ranges_sql("day_start", days)
        hour_sql, hour_params = _ranges_sql("hour_start", hours)
        merge(
            await _query(
                "SELECT r.topic AS topic, CASE WHEN r.t >= {} THEN 1 ELSE 0 END AS cur, "
                "sum(r.sessions) AS sessions, sum(r.messages) AS messages, "
                "sum(r.duration) AS duration, sum(r.silence) AS silence, "
                "sum(r.silence_count) AS silence_count, sum(r.turns) AS turns, "
                "sum(r.sentiment) AS sentiment, sum(r.sentiment_count) AS sentiment_count "
                f"FROM (SELECT topic, day_start AS t, {values} FROM ofca_session_day "
                f"WHERE account_id = {{}} AND {topic_sql} AND {day_sql} UNION ALL "
                f"SELECT topic, hour_start AS t, {values} FROM ofca_session_hour "
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
    topic_sql = topic_sql.replace("topic", "r.topic", 1)
    if edges:
        edge_sql, edge_params = _ranges_sql("r.start_at", edges)
        if topic == "":
            source, topic_column, group = "ofca_session r WHERE 1 = 1", "''", "cur"
            topic_params = []
        else:
            source = f"ofca_session_topic r WHERE {topic_sql}"
            topic_column, group = "r.topic", "r.topic, cur"
        merge(
            await _query(
                f"SELECT {topic_column} AS topic, "
                "CASE WHEN r.start_at >= {} THEN 1 ELSE 0 END AS cur, "
                f"{_SUMS} FROM {source} AND r.account_id = {{}} AND {edge_sql} GROUP BY {group}",
                current_start,
                *topic_params,
                account_id,
                *edge_params,
            )
        )
    return result


async def _session_sums(account_id: str, window: Window, filters: InsightFilters) -> _SessionSums:
    """Sums over the sessions whose first message lies in the window (after filters)."""
    if filters.chat_id is not None:
        return await _raw_session_sums(account_id, window, filters)
    topic = filters.topic or ""
    sums = await _rolled_session_sums(account_id, (window.start, window.end), topic)
    return sums.get((1, topic), _SessionSums())


def _means(sums: _SessionSums) -> tuple[float | None, float | None, float | None, float | None]:
    """(handling minutes, silence %, turns, sentiment): ``summarize_sessions`` from sums."""
    if sums.sessions == 0:
        return None, None, None, None
    return (
        sums.duration / sums.sessions / 60.0,
        sums.silence / sums.silence_count if sums.silence_count else None,
        sums.turns / sums.sessions,
        sums.sentiment / sums.sentiment_count if sums.sentiment_count else None,
    )


def _session_reasons(sums: _SessionSums, names: Sequence[str]) -> dict[str, str]:
    if sums.sessions == 0:
        return dict.fromkeys(names, NO_SESSIONS)
    reasons: dict[str, str] = {}
    if sums.silence_count == 0 and "silence_percentage" in names:
        reasons["silence_percentage"] = NO_DEFINED_SILENCE
    if sums.sentiment_count == 0 and "sentiment_score" in names:
        reasons["sentiment_score"] = NO_INBOUND_TEXT
    return reasons


# --------------------------------------------------------------------------- topics


def _topic_scope(filters: InsightFilters) -> tuple[str, list[Any]]:
    """Extra conditions on ``ofca_session_topic st`` for the filters."""
    sql = ""
    params: list[Any] = []
    if filters.chat_id is not None:
        sql += " AND st.chat_id = {}"
        params.append(filters.chat_id)
    if filters.topic is not None:
        sql += (
            " AND EXISTS (SELECT 1 FROM ofca_session_topic f WHERE f.account_id = st.account_id"
            " AND f.chat_id = st.chat_id AND f.start_at = st.start_at AND f.topic = {})"
        )
        params.append(filters.topic)
    return sql, params


async def _topic_sums(
    account_id: str, window: Window, filters: InsightFilters
) -> tuple[dict[str, _SessionSums], dict[str, int]]:
    """Per topic: sums over the window's sessions and the previous window's volume."""
    if filters.chat_id is None and filters.topic is None:
        rolled = await _rolled_session_sums(
            account_id, (window.previous().start, window.start, window.end), None
        )
        current_sums = {t: v for (cur, t), v in rolled.items() if cur == 1 and v.sessions}
        previous_volumes = {t: v.sessions for (cur, t), v in rolled.items() if cur == 0}
        return current_sums, previous_volumes
    return await _raw_topic_sums(account_id, window, filters)


async def _raw_topic_sums(
    account_id: str, window: Window, filters: InsightFilters
) -> tuple[dict[str, _SessionSums], dict[str, int]]:
    """``_topic_sums`` from session-topic rows, in one scan of both windows."""
    scope, params = _topic_scope(filters)
    current = "CASE WHEN st.start_at >= {} THEN %s END"
    rows = await _query(
        "SELECT st.topic AS topic, "
        f"count({current % 1}) AS sessions, sum({current % 'st.message_count'}) AS messages, "
        f"sum({current % 'st.duration_seconds'}) AS duration, "
        f"sum({current % 'st.silence_percentage'}) AS silence, "
        f"count({current % 'st.silence_percentage'}) AS silence_count, "
        f"sum({current % 'st.turns'}) AS turns, "
        f"sum({current % 'st.sentiment_score'}) AS sentiment, "
        f"count({current % 'st.sentiment_score'}) AS sentiment_count, "
        "sum(CASE WHEN st.start_at < {} THEN 1 ELSE 0 END) AS previous "
        "FROM ofca_session_topic st "
        "WHERE st.account_id = {} AND st.start_at >= {} AND st.start_at < {}"
        f"{scope} GROUP BY st.topic",
        *([window.start] * 9),
        account_id,
        window.previous().start,
        window.end,
        *params,
    )
    current_sums = {row["topic"]: _sums(row) for row in rows if row["sessions"]}
    previous_volumes = {row["topic"]: int(row["previous"] or 0) for row in rows}
    return current_sums, previous_volumes


async def topics(
    account_id: str, window: Window, filters: InsightFilters = InsightFilters()
) -> TopicsResponse:
    previous = window.previous()
    (current, before), total_sums, matcher = await _together(
        _topic_sums(account_id, window, filters),
        _session_sums(account_id, window, filters),
        matcher_for(account_id),
    )
    total = total_sums.sessions
    labels = matcher.labels
    rows: list[TopicRow] = []
    for topic, sums in current.items():
        handling, silence, turns, sentiment = _means(sums)
        previous_volume = before.get(topic, 0)
        reasons = _session_reasons(sums, ("silence_percentage", "sentiment_score"))
        if previous_volume == 0:
            reasons["trend"] = NO_PREVIOUS_VOLUME
        rows.append(
            TopicRow(
                topic=topic,
                label=labels.get(topic, topic),
                volume=sums.sessions,
                percentage_of_total=_round(sums.sessions / total * 100.0) or 0.0,
                previous_volume=previous_volume,
                trend=(
                    _round((sums.sessions - previous_volume) / previous_volume * 100.0)
                    if previous_volume
                    else None
                ),
                average_handling_time_minutes=_round(handling),
                silence_percentage=_round(silence),
                turns=_round(turns),
                sentiment_score=_round(sentiment),
                unavailable_reasons=reasons,
            )
        )
    rows.sort(key=lambda row: (-row.volume, row.topic))
    return TopicsResponse(
        topics=rows, window=_window_view(window), previous_window=_window_view(previous)
    )


# --------------------------------------------------------------------------- replies


def _reply_scope(filters: InsightFilters) -> tuple[str, str, list[Any]]:
    """(table, extra conditions, params): the topic filter reads the per-topic copies of
    the reply runs (the topics of the session holding the run's first fan message)."""
    sql = ""
    params: list[Any] = []
    table = "ofca_reply"
    if filters.topic is not None:
        table = "ofca_reply_topic"
        sql += " AND r.topic = {}"
        params.append(filters.topic)
    if filters.chat_id is not None:
        sql += " AND r.chat_id = {}"
        params.append(filters.chat_id)
    return table, sql, params


async def _reply_stats(
    account_id: str, window: Window, filters: InsightFilters, sla_seconds: float
) -> tuple[ReplyStats, dict[str, str]]:
    table, scope, params = _reply_scope(filters)
    where = (
        f"FROM {table} r WHERE r.account_id = {{}} AND r.first_inbound_at >= {{}} "
        f"AND r.first_inbound_at < {{}}{scope}"
    )
    percentiles = (
        # One sort for both: the array form of the ordered-set aggregate.
        ", percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY r.reply_seconds) AS percentiles"
        if _is_postgres()
        else ""
    )
    rows = await _query(
        "SELECT count(r.reply_seconds) AS answered, sum(r.reply_seconds) AS total, "
        "max(r.reply_seconds) AS longest, "
        "sum(CASE WHEN r.reply_seconds <= {} THEN 1 ELSE 0 END) AS within, "
        f"sum(CASE WHEN r.reply_seconds IS NULL THEN 1 ELSE 0 END) AS unanswered{percentiles} "
        + where,
        sla_seconds,
        account_id,
        window.start,
        window.end,
        *params,
    )
    row = rows[0]
    count = int(row["answered"] or 0)
    unanswered = int(row["unanswered"] or 0)
    if count == 0:
        return no_reply_stats(unanswered, sla_seconds)
    if _is_postgres():
        median, p90 = (float(value) for value in row["percentiles"])
    else:
        # SQLite has no percentile_cont: fetch the window's reply seconds only.
        values_rows = await _query(
            "SELECT r.reply_seconds AS v " + where + " AND r.reply_seconds IS NOT NULL",
            account_id,
            window.start,
            window.end,
            *params,
        )
        values = [float(r["v"]) for r in values_rows]
        median = float(statistics.median(values))
        p90 = (
            values[0]
            if len(values) == 1
            else float(statistics.quantiles(values, n=10, method="inclusive")[8])
        )
    stats = ReplyStats(
        count=count,
        mean_seconds=_round(float(row["total"]) / count),
        median_seconds=_round(median),
        p90_seconds=_round(p90),
        max_seconds=_round(float(row["longest"])),
        unanswered=unanswered,
        within_sla_percentage=_round(int(row["within"] or 0) / count * 100.0),
        sla_seconds=float(sla_seconds),
    )
    return stats, {}


async def response_time(
    account_id: str,
    window: Window,
    settings: Settings,
    filters: InsightFilters = InsightFilters(),
) -> ResponseTimeResponse:
    sums, (reply, reply_reasons) = await _together(
        _session_sums(account_id, window, filters),
        _reply_stats(account_id, window, filters, settings.reply_sla_seconds),
    )
    handling, silence, turns, _sentiment = _means(sums)
    reasons = _session_reasons(
        sums, ("average_handling_time_minutes", "silence_percentage", "turns")
    )
    reasons.update({f"reply_time.{name}": code for name, code in reply_reasons.items()})
    return ResponseTimeResponse(
        average_handling_time_minutes=_round(handling),
        silence_percentage=_round(silence),
        turns=_round(turns),
        sessions=sums.sessions,
        reply_time=reply,
        unavailable_reasons=reasons,
        window=_window_view(window),
    )


# --------------------------------------------------------------------------- hourly split


def _ceil_hour(instant: datetime) -> datetime:
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + _HOUR


def _split(window: Window, use_hours: bool) -> tuple[tuple[datetime, datetime] | None, list]:
    """(whole UTC hours served by activity rows, [edge ranges read from messages])."""
    if use_hours:
        first, last = (
            _ceil_hour(window.start),
            window.end.replace(minute=0, second=0, microsecond=0),
        )
        if first < last:
            edges = [(a, b) for a, b in ((window.start, first), (last, window.end)) if a < b]
            return (first, last), edges
    return None, [(window.start, window.end)]


def _edge_sql(edges: list[tuple[datetime, datetime]]) -> tuple[str, list[Any]]:
    parts = " OR ".join(["(m.created_at >= {} AND m.created_at < {})"] * len(edges))
    return f"({parts})", [value for edge in edges for value in edge]


# --------------------------------------------------------------------------- sentiment trend


def _sentiment_edges(
    account_id: str,
    edges: list[tuple[datetime, datetime]],
    within_hours: bool,
    filters: InsightFilters,
) -> list[tuple[str, list[Any], datetime | None]]:
    """Queries of the inbound sentiments in the window's edge ranges: (sql, params, the
    edge's start, or None when the rows are single messages to place in buckets).

    When the edges are the partial hours at the window's ends (``within_hours``), each lies
    inside one bucket, so the database sums it: a window ending now has the current hour's
    messages at its end, and reading each of them into Python on every ``analytics_update``
    held the event loop for tens of ms on a busy account.
    """
    queries: list[tuple[str, list[Any], datetime | None]] = []
    ranges: list[list[tuple[datetime, datetime]]] = (
        [[edge] for edge in edges] if within_hours else [edges] if edges else []
    )
    for part in ranges:
        condition, params = _edge_sql(part)
        select = (
            "SELECT sum(m.sentiment) AS total, count(*) AS n"
            if within_hours
            else "SELECT m.created_at AS at, m.sentiment AS total"
        )
        sql = (
            f"{select} FROM ofca_message m WHERE m.account_id = {{}} AND m.direction = "
            f"'inbound' AND m.sentiment IS NOT NULL AND {condition}"
        )
        params = [account_id, *params]
        if filters.chat_id is not None:
            sql += " AND m.chat_id = {}"
            params.append(filters.chat_id)
        if filters.topic is not None:
            sql += (
                " AND EXISTS (SELECT 1 FROM ofca_session_topic f WHERE f.account_id = "
                "m.account_id AND f.chat_id = m.chat_id AND f.topic = {} "
                "AND m.created_at >= f.start_at AND m.created_at <= f.end_at)"
            )
            params.append(filters.topic)
        queries.append((sql, params, part[0][0] if within_hours else None))
    return queries


def _hour_aligned(starts: Sequence[datetime]) -> bool:
    """Whether every bucket boundary is a whole UTC hour (all zones with whole-hour
    offsets); otherwise hourly rows cannot be assigned to buckets and messages are read."""
    return all(
        s.astimezone(UTC).minute == 0 and s.second == 0 and s.microsecond == 0 for s in starts
    )


def _bucket_starts(window: Window, tz: ZoneInfo, granularity: Granularity) -> list[datetime]:
    """``bucket_starts``, with a fast path for hours: when every UTC hour of the window is
    a local hour boundary (zones with whole-hour offsets), the local hours are exactly
    the UTC hours (the general function probes a 15-minute grid: ~30 ms for 90 days)."""
    if granularity == "hour":
        hours: list[datetime] = []
        current = window.start.replace(minute=0, second=0, microsecond=0)
        while current < window.end:
            local = current.astimezone(tz)
            if local.minute or local.second:
                return bucket_starts(window, tz, granularity)
            hours.append(local)
            current += _HOUR
        return hours
    return bucket_starts(window, tz, granularity)


async def sentiment_trend(
    account_id: str,
    window: Window,
    timezone: str,
    granularity: Granularity,
    filters: InsightFilters = InsightFilters(),
) -> SentimentTrendResponse:
    tz = ZoneInfo(timezone)
    starts = _bucket_starts(window, tz, granularity)
    utc_starts = [s.astimezone(UTC) for s in starts]
    sums = [0.0] * len(starts)
    counts = [0] * len(starts)
    hours, edges = _split(window, _hour_aligned(starts))
    samples: list[tuple[datetime, float, int]] = []
    if hours is not None:
        if filters.topic is not None:
            table = "ofca_activity_topic"
        elif filters.chat_id is not None:
            table = "ofca_activity"
        else:
            table = "ofca_activity_hour"
        sql = (
            "SELECT a.hour_start AS at, sum(a.sentiment_sum) AS total, "
            f"sum(a.sentiment_count) AS n FROM {table} a WHERE a.account_id = {{}} "
            "AND a.hour_start >= {} AND a.hour_start < {} AND a.sentiment_count > 0"
        )
        params: list[Any] = [account_id, hours[0], hours[1]]
        if filters.topic is not None:
            sql += " AND a.topic = {}"
            params.append(filters.topic)
        if filters.chat_id is not None:
            sql += " AND a.chat_id = {}"
            params.append(filters.chat_id)
        rows = await _query(sql + " GROUP BY a.hour_start", *params)
        samples += [(to_utc(r["at"]), float(r["total"]), int(r["n"])) for r in rows]
    for edge_sql, params, edge in _sentiment_edges(account_id, edges, hours is not None, filters):
        rows = await _query(edge_sql, *params)
        if edge is None:
            samples += [(to_utc(r["at"]), float(r["total"]), 1) for r in rows]
        else:
            samples += [(edge, float(r["total"]), int(r["n"])) for r in rows if r["n"]]
    for at, total, n in samples:
        index = bisect_right(utc_starts, at) - 1
        if index >= 0:
            sums[index] += total
            counts[index] += n
    trend = [
        TrendPoint(
            date=start,
            sentiment_score=_round(total / n) if n else None,
            message_count=n,
        )
        for start, total, n in zip(starts, sums, counts, strict=True)
    ]
    return SentimentTrendResponse(
        trend=trend, granularity=granularity, timezone=timezone, window=_window_view(window)
    )


# --------------------------------------------------------------------------- overview


_DAY = timedelta(days=1)


def _ceil(instant: datetime, unit: timedelta) -> datetime:
    floor = _floor(instant, unit)
    return floor if floor == instant else floor + unit


def _floor(instant: datetime, unit: timedelta) -> datetime:
    if unit == _DAY:
        return instant.replace(hour=0, minute=0, second=0, microsecond=0)
    return instant.replace(minute=0, second=0, microsecond=0)


def _levels(
    start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]], list]:
    """``[start, end)`` as (whole UTC days, whole hours outside them, the rest)."""
    first_hour, last_hour = _ceil(start, _HOUR), _floor(end, _HOUR)
    if first_hour >= last_hour:
        return [], [], [(start, end)]
    edges = [(a, b) for a, b in ((start, first_hour), (last_hour, end)) if a < b]
    first_day, last_day = _ceil(first_hour, _DAY), _floor(last_hour, _DAY)
    if first_day >= last_day:
        return [], [(first_hour, last_hour)], edges
    hours = [(a, b) for a, b in ((first_hour, first_day), (last_day, last_hour)) if a < b]
    return [(first_day, last_day)], hours, edges


def _pieces(bounds: Sequence[datetime]) -> tuple[list[tuple[datetime, datetime]], list]:
    """Adjacent windows ``[b0, b1), [b1, b2), ...`` as (whole UTC hours, edge ranges): the
    hours inside each window come from activity rows, the rest from messages."""
    hours: list[tuple[datetime, datetime]] = []
    edges: list[tuple[datetime, datetime]] = []
    for start, end in itertools.pairwise(bounds):
        interior, rest = _split(Window(start, end), True)
        if interior is not None:
            hours.append(interior)
        edges += rest
    return hours, edges


def _ranges_sql(column: str, ranges: list[tuple[datetime, datetime]]) -> tuple[str, list]:
    if not ranges:
        return "1 = 0", []
    parts = " OR ".join([f"({column} >= {{}} AND {column} < {{}})"] * len(ranges))
    return f"({parts})", [value for pair in ranges for value in pair]


async def _message_counts(account_id: str, window: Window) -> dict[int, tuple[int, int, int]]:
    """{1: current, 0: previous} -> (messages, inbound, outbound) created in the window,
    from the hourly rollup inside and messages at the edges, in one query."""
    previous = window.previous()
    hours, edges = _pieces((previous.start, window.start, window.end))
    hour_sql, hour_params = _ranges_sql("a.hour_start", hours)
    edge_sql, edge_params = _ranges_sql("m.created_at", edges)
    rows = await _query(
        "SELECT t.cur AS cur, sum(t.messages) AS messages, sum(t.inbound) AS inbound, "
        "sum(t.outbound) AS outbound FROM ("
        "SELECT CASE WHEN a.hour_start >= {} THEN 1 ELSE 0 END AS cur, "
        "a.messages AS messages, a.inbound AS inbound, a.outbound AS outbound "
        f"FROM ofca_activity_hour a WHERE a.account_id = {{}} AND {hour_sql} "
        "UNION ALL "
        "SELECT CASE WHEN m.created_at >= {} THEN 1 ELSE 0 END, 1, "
        "CASE WHEN m.direction = 'inbound' THEN 1 ELSE 0 END, "
        "CASE WHEN m.direction = 'outbound' THEN 1 ELSE 0 END "
        f"FROM ofca_message m WHERE m.account_id = {{}} AND {edge_sql}"
        ") AS t GROUP BY t.cur",
        window.start,
        account_id,
        *hour_params,
        window.start,
        account_id,
        *edge_params,
    )
    counts = {0: (0, 0, 0), 1: (0, 0, 0)}
    for row in rows:
        counts[int(row["cur"])] = (
            int(row["messages"] or 0),
            int(row["inbound"] or 0),
            int(row["outbound"] or 0),
        )
    return counts


async def _active_fans(account_id: str, window: Window) -> int:
    """Chats with a fan message created in the window.

    Whole UTC days: each chat counts at its first fan day inside them (its previous fan
    day lies before), an index-only count. Partial days (hourly activity, then messages)
    add the chats that have no fan day inside the whole days.
    """
    days, hours, edges = _levels(window.start, window.end)
    first_day, last_day = days[0] if days else (window.start, window.start)
    hour_sql, hour_params = _ranges_sql("a.hour_start", hours)
    edge_sql, edge_params = _ranges_sql("m.created_at", edges)
    rows = await _query(
        "SELECT (SELECT count(*) FROM ofca_fan_day f WHERE f.account_id = {} "
        "AND f.day_start >= {} AND f.day_start < {} "
        "AND (f.previous_day IS NULL OR f.previous_day < {})) AS whole, "
        "(SELECT count(DISTINCT e.chat_id) FROM ("
        f"SELECT a.chat_id AS chat_id FROM ofca_activity a WHERE a.account_id = {{}} "
        f"AND a.inbound > 0 AND {hour_sql} UNION ALL "
        "SELECT m.chat_id FROM ofca_message m WHERE m.account_id = {} "
        f"AND m.direction = 'inbound' AND {edge_sql}) AS e "
        "WHERE NOT EXISTS (SELECT 1 FROM ofca_fan_day g WHERE g.account_id = {} "
        "AND g.chat_id = e.chat_id AND g.day_start >= {} AND g.day_start < {})) AS partial",
        account_id,
        first_day,
        last_day,
        first_day,
        account_id,
        *hour_params,
        account_id,
        *edge_params,
        account_id,
        first_day,
        last_day,
    )
    return int(rows[0]["whole"] or 0) + int(rows[0]["partial"] or 0)


async def overview(account_id: str, window: Window) -> OverviewResponse:
    """Both windows: counts, sessions, messages and each window's active fans, queried
    concurrently."""
    previous = window.previous()
    new_fans = (
        "(SELECT count(*) FROM ofca_chat_first WHERE account_id = {} AND first_at >= {} "
        "AND first_at < {})"
    )
    rows, sessions, counts, current_fans, previous_fans = await _together(
        _query(
            "SELECT (SELECT count(*) FROM ofca_message WHERE account_id = {} "
            f"AND created_at IS NULL) AS excluded, {new_fans} AS new_fans_0, "
            f"{new_fans} AS new_fans_1",
            account_id,
            account_id,
            window.start,
            window.end,
            account_id,
            previous.start,
            previous.end,
        ),
        _rolled_session_sums(account_id, (previous.start, window.start, window.end), ""),
        _message_counts(account_id, window),
        _active_fans(account_id, window),
        _active_fans(account_id, previous),
    )
    row = rows[0]
    values: list[OverviewWindowValues] = []
    for index, cur in ((0, 1), (1, 0)):
        window_sessions = sessions.get((cur, ""), _SessionSums())
        count = window_sessions.sessions
        messages, inbound, outbound = counts[cur]
        fans = current_fans if cur else previous_fans
        values.append(
            OverviewWindowValues(
                sessions=count,
                messages=messages,
                inbound_messages=inbound,
                outbound_messages=outbound,
                active_fans=fans,
                new_fans=int(row[f"new_fans_{index}"] or 0),
                average_messages_per_session=(
                    _round(window_sessions.messages / count) if count else None
                ),
                excluded_messages=int(row["excluded"] or 0),
                unavailable_reasons={} if count else {"average_messages_per_session": NO_SESSIONS},
            )
        )
    return OverviewResponse(
        current=values[0],
        previous=values[1],
        window=_window_view(window),
        previous_window=_window_view(previous),
    )


# --------------------------------------------------------------------------- snapshot


async def analytics_snapshot(
    account_id: str, settings: Settings, *, now: datetime | None = None
) -> AnalyticsSnapshot:
    """Every insight for the default window (the ``default_window_days`` ending now, UTC
    day buckets): the payload of ``analytics_update`` and ``full_sync_response``."""
    now = now or datetime.now(UTC)
    window = resolve_window(None, None, now, settings.default_window_days)
    topic_rows, trend, response, headline = await _together(
        topics(account_id, window),
        sentiment_trend(account_id, window, "UTC", "day"),
        response_time(account_id, window, settings),
        overview(account_id, window),
    )
    return AnalyticsSnapshot(
        topics=topic_rows,
        sentiment_trend=trend,
        response_time=response,
        overview=headline,
        computed_at=now,
    )
