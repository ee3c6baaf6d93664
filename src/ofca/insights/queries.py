"""The insights of docs/metrics.md computed in SQL over the read models of
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

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from ofca.domain.aggregates import (
    ReplyStats,
    TopicRow,
    TrendPoint,
    median_p90,
    no_reply_stats,
)
from ofca.domain.insights import (
    AnalyticsSnapshot,
    OverviewResponse,
    OverviewWindowValues,
    ResponseTimeResponse,
    SentimentTrendResponse,
    TopicsResponse,
)
from ofca.domain.metrics import (
    NO_PREVIOUS_VOLUME,
    NO_SESSIONS,
    Granularity,
    Window,
    bucket_starts,
    resolve_window,
)
from ofca.insights.revenue import revenue_summary
from ofca.insights.session_sums import (
    SessionSums,
    means,
    rolled_session_sums,
    session_reasons,
    sums_of,
    window_session_sums,
)
from ofca.insights.windows import (
    HOUR,
    edge_sql,
    is_postgres,
    levels,
    pieces,
    query,
    ranges_sql,
    round_value,
    split_hours,
    together,
    window_view,
)
from ofca.persistence.sql import to_utc
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


class InsightFilters(msgspec.Struct, frozen=True, kw_only=True):
    """Filters (docs/metrics.md "Insights"): ``chat_id`` keeps one chat, ``topic`` the
    sessions having it."""

    chat_id: str | None = None
    topic: str | None = None


# --------------------------------------------------------------------------- sessions


async def _session_sums(account_id: str, window: Window, filters: InsightFilters) -> SessionSums:
    """Sums over the sessions whose first message lies in the window (after filters)."""
    return await window_session_sums(account_id, window, filters.chat_id, filters.topic)


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
) -> tuple[dict[str, SessionSums], dict[str, int]]:
    """Per topic: sums over the window's sessions and the previous window's volume (with
    a topic filter, over the sessions holding both topics)."""
    if filters.chat_id is None:
        rolled = await rolled_session_sums(
            account_id, (window.previous().start, window.start, window.end), None, filters.topic
        )
        current_sums = {t: v for (cur, t), v in rolled.items() if cur == 1 and v.sessions}
        previous_volumes = {t: v.sessions for (cur, t), v in rolled.items() if cur == 0}
        return current_sums, previous_volumes
    return await _raw_topic_sums(account_id, window, filters)


async def _raw_topic_sums(
    account_id: str, window: Window, filters: InsightFilters
) -> tuple[dict[str, SessionSums], dict[str, int]]:
    """``_topic_sums`` from session-topic rows, in one scan of both windows."""
    scope, params = _topic_scope(filters)
    current = "CASE WHEN st.start_at >= {} THEN %s END"
    rows = await query(
        "SELECT st.topic AS topic, "
        f"count({current % 1}) AS sessions, sum({current % 'st.message_count'}) AS messages, "
        f"sum({current % 'st.duration_seconds'}) AS duration, "
        f"sum({current % 'st.silence_percentage'}) AS silence, "
        f"count({current % 'st.silence_percentage'}) AS silence_count, "
        f"sum({current % 'st.turns'}) AS turns, "
        f"sum({current % 'st.sentiment_score'}) AS sentiment, "
        f"count({current % 'st.sentiment_score'}) AS sentiment_count, "
        f"sum({current % 'st.revenue'}) AS revenue, "
        "sum(CASE WHEN st.start_at < {} THEN 1 ELSE 0 END) AS previous "
        "FROM ofca_session_topic st "
        "WHERE st.account_id = {} AND st.start_at >= {} AND st.start_at < {}"
        f"{scope} GROUP BY st.topic",
        *([window.start] * 10),
        account_id,
        window.previous().start,
        window.end,
        *params,
    )
    current_sums = {row["topic"]: sums_of(row) for row in rows if row["sessions"]}
    previous_volumes = {row["topic"]: int(row["previous"] or 0) for row in rows}
    return current_sums, previous_volumes


async def topics(
    account_id: str, window: Window, filters: InsightFilters = InsightFilters()
) -> TopicsResponse:
    previous = window.previous()
    (current, before), total_sums, matcher = await together(
        _topic_sums(account_id, window, filters),
        _session_sums(account_id, window, filters),
        matcher_for(account_id),
    )
    total = total_sums.sessions
    labels = matcher.labels
    rows: list[TopicRow] = []
    for topic, sums in current.items():
        handling, silence, turns, sentiment = means(sums)
        # + 0.0: sums kept by delta may leave -1e-15 where nothing was earned.
        revenue = round(sums.revenue, 9) + 0.0
        previous_volume = before.get(topic, 0)
        reasons = session_reasons(sums, ("silence_percentage", "sentiment_score"))
        if previous_volume == 0:
            reasons["trend"] = NO_PREVIOUS_VOLUME
        rows.append(
            TopicRow(
                topic=topic,
                label=labels.get(topic, topic),
                volume=sums.sessions,
                percentage_of_total=round_value(sums.sessions / total * 100.0) or 0.0,
                previous_volume=previous_volume,
                trend=(
                    round_value((sums.sessions - previous_volume) / previous_volume * 100.0)
                    if previous_volume
                    else None
                ),
                average_handling_time_minutes=round_value(handling),
                silence_percentage=round_value(silence),
                turns=round_value(turns),
                sentiment_score=round_value(sentiment),
                unavailable_reasons=reasons,
                revenue=revenue,
                revenue_per_session=round(revenue / sums.sessions, 9),
            )
        )
    rows.sort(key=lambda row: (-row.volume, row.topic))
    return TopicsResponse(
        topics=rows, window=window_view(window), previous_window=window_view(previous)
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
        if is_postgres()
        else ""
    )
    rows = await query(
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
    if is_postgres():
        median, p90 = (float(value) for value in row["percentiles"])
    else:
        # SQLite has no percentile_cont: fetch the window's reply seconds only.
        values_rows = await query(
            "SELECT r.reply_seconds AS v " + where + " AND r.reply_seconds IS NOT NULL",
            account_id,
            window.start,
            window.end,
            *params,
        )
        median, p90 = median_p90([float(r["v"]) for r in values_rows])
    stats = ReplyStats(
        count=count,
        mean_seconds=round_value(float(row["total"]) / count),
        median_seconds=round_value(median),
        p90_seconds=round_value(p90),
        max_seconds=round_value(float(row["longest"])),
        unanswered=unanswered,
        within_sla_percentage=round_value(int(row["within"] or 0) / count * 100.0),
        sla_seconds=float(sla_seconds),
    )
    return stats, {}


async def response_time(
    account_id: str,
    window: Window,
    settings: Settings,
    filters: InsightFilters = InsightFilters(),
) -> ResponseTimeResponse:
    sums, (reply, reply_reasons) = await together(
        _session_sums(account_id, window, filters),
        _reply_stats(account_id, window, filters, settings.reply_sla_seconds),
    )
    handling, silence, turns, _sentiment = means(sums)
    reasons = session_reasons(
        sums, ("average_handling_time_minutes", "silence_percentage", "turns")
    )
    reasons.update({f"reply_time.{name}": code for name, code in reply_reasons.items()})
    return ResponseTimeResponse(
        average_handling_time_minutes=round_value(handling),
        silence_percentage=round_value(silence),
        turns=round_value(turns),
        sessions=sums.sessions,
        reply_time=reply,
        unavailable_reasons=reasons,
        window=window_view(window),
    )


# --------------------------------------------------------------------------- hourly split


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
        condition, params = edge_sql(part)
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
            current += HOUR
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
    hours, edges = split_hours(window, _hour_aligned(starts))
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
        rows = await query(sql + " GROUP BY a.hour_start", *params)
        samples += [(to_utc(r["at"]), float(r["total"]), int(r["n"])) for r in rows]
    for sql, params, edge in _sentiment_edges(account_id, edges, hours is not None, filters):
        rows = await query(sql, *params)
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
            sentiment_score=round_value(total / n) if n else None,
            message_count=n,
        )
        for start, total, n in zip(starts, sums, counts, strict=True)
    ]
    return SentimentTrendResponse(
        trend=trend, granularity=granularity, timezone=timezone, window=window_view(window)
    )


# --------------------------------------------------------------------------- overview


async def _message_counts(account_id: str, window: Window) -> dict[int, tuple[int, int, int]]:
    """{1: current, 0: previous} -> (messages, inbound, outbound) created in the window,
    from the hourly rollup inside and messages at the edges, in one query."""
    previous = window.previous()
    hours, edges = pieces((previous.start, window.start, window.end))
    hour_sql, hour_params = ranges_sql("a.hour_start", hours)
    edge_sql, edge_params = ranges_sql("m.created_at", edges)
    rows = await query(
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
    days, hours, edges = levels(window.start, window.end)
    first_day, last_day = days[0] if days else (window.start, window.start)
    hour_sql, hour_params = ranges_sql("a.hour_start", hours)
    edge_sql, edge_params = ranges_sql("m.created_at", edges)
    rows = await query(
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
    rows, sessions, counts, current_fans, previous_fans = await together(
        query(
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
        rolled_session_sums(account_id, (previous.start, window.start, window.end), ""),
        _message_counts(account_id, window),
        _active_fans(account_id, window),
        _active_fans(account_id, previous),
    )
    row = rows[0]
    values: list[OverviewWindowValues] = []
    for index, cur in ((0, 1), (1, 0)):
        window_sessions = sessions.get((cur, ""), SessionSums())
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
                    round_value(window_sessions.messages / count) if count else None
                ),
                excluded_messages=int(row["excluded"] or 0),
                unavailable_reasons={} if count else {"average_messages_per_session": NO_SESSIONS},
            )
        )
    return OverviewResponse(
        current=values[0],
        previous=values[1],
        window=window_view(window),
        previous_window=window_view(previous),
    )


# --------------------------------------------------------------------------- snapshot


async def analytics_snapshot(
    account_id: str, settings: Settings, *, now: datetime | None = None
) -> AnalyticsSnapshot:
    """Every insight for the default window (the ``default_window_days`` ending now, UTC
    day buckets): the payload of ``analytics_update`` and ``full_sync_response``."""
    now = now or datetime.now(UTC)
    window = resolve_window(None, None, now, settings.default_window_days)
    topic_rows, trend, response, headline, money = await together(
        topics(account_id, window),
        sentiment_trend(account_id, window, "UTC", "day"),
        response_time(account_id, window, settings),
        overview(account_id, window),
        revenue_summary(account_id, window, settings),
    )
    return AnalyticsSnapshot(
        topics=topic_rows,
        sentiment_trend=trend,
        response_time=response,
        overview=headline,
        computed_at=now,
        revenue=money,
    )
