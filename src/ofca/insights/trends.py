"""The charts over time (docs/metrics.md "Reply-time trend", "Volume trend", "Activity
heatmap") in SQL over the read models; ``ofca.domain.trends`` is their oracle.

- Volume and heatmap count messages from the hourly rollups (``ofca_activity_hour``; per
  chat ``ofca_activity``, which also carries each row's session for the topic filter) and
  read messages only for the pieces of a :class:`~ofca.insights.buckets.BucketPlan`.
- Reply trends need each bucket's exact median and p90, so they read the reply rows of
  the window (the covering index ``(account_id, first_inbound_at, reply_seconds)``):
  Postgres buckets them with ``width_bucket`` over the bucket starts and takes
  ``percentile_cont`` per bucket; SQLite returns the rows and Python computes the same
  statistics (``statistics``, linear interpolation as ``percentile_cont``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from ofca.domain.insights import WindowView
from ofca.domain.metrics import Granularity, Window
from ofca.domain.trends import (
    ActivityHeatmapResponse,
    ReplyTimeTrendResponse,
    ReplyTrendPoint,
    VolumePoint,
    VolumeTrendResponse,
    heatmap_cells,
    reply_trend_point,
)
from ofca.insights.buckets import (
    BucketPlan,
    fetch_pieces,
    is_postgres,
    local_bucket_starts,
    round_float,
)
from ofca.insights.projector import QUARTER_COLUMNS
from ofca.insights.queries import InsightFilters
from ofca.persistence.sql import fetch_rows, to_utc

__all__ = ["activity_heatmap", "reply_time_trend", "volume_trend"]


def _view(window: Window) -> WindowView:
    return WindowView(start=window.start, end=window.end)


# --------------------------------------------------------------------------- message counts

_IN_TOPIC_SESSION = (
    # The session holding the message is its chat's latest starting at or before it (a
    # one-row index probe), if it lasts until the message; it must have the topic.
    "EXISTS (SELECT 1 FROM ofca_session_topic st WHERE st.account_id = {} "
    "AND st.chat_id = r.chat_id AND st.topic = {} AND st.end_at >= r.created_at "
    "AND st.start_at = (SELECT max(s.start_at) FROM ofca_session s WHERE s.account_id = {} "
    "AND s.chat_id = r.chat_id AND s.start_at <= r.created_at))"
)


async def _rollup_counts(
    account_id: str, plan: BucketPlan, filters: InsightFilters
) -> Sequence[Any]:
    """Rows of ``hour``, ``messages``, ``inbound``, ``outbound`` (and when the plan splits
    hours at quarters, ``QUARTER_COLUMNS``: the counts before minute 15, 30 and 45) per
    whole UTC hour of the plan: the account's hourly rollup, a chat's activity rows, or
    the per-topic copies of the activity rows of sessions having the topic (no quarter
    counts: no quarter splits). Read as they come: a tuple per row made the server
    collect garbage in the middle of 90-day hourly charts (p95 15 -> 60 ms)."""
    if plan.hours is None:
        return []
    params: list[Any] = [account_id, *plan.hours]
    columns: tuple[str, ...] = ("messages", "inbound", "outbound")
    if plan.quarter_hours:
        columns += QUARTER_COLUMNS
    if filters.chat_id is None and filters.topic is None:
        sql = (
            f"SELECT hour_start AS hour, {', '.join(columns)} FROM ofca_activity_hour "
            "WHERE account_id = {} AND hour_start >= {} AND hour_start < {}"
        )
    else:
        table = "ofca_activity" if filters.topic is None else "ofca_activity_topic"
        sums = ", ".join(f"sum(a.{c}) AS {c}" for c in columns)
        sql = (
            f"SELECT a.hour_start AS hour, {sums} FROM {table} a WHERE a.account_id = {{}} "
            "AND a.hour_start >= {} AND a.hour_start < {}"
        )
        if filters.topic is not None:
            sql += " AND a.topic = {}"
            params.append(filters.topic)
        if filters.chat_id is not None:
            sql += " AND a.chat_id = {}"
            params.append(filters.chat_id)
        sql += " GROUP BY a.hour_start"
    return await fetch_rows(sql, *params)


async def _piece_counts(
    account_id: str, plan: BucketPlan, filters: InsightFilters
) -> list[tuple[int, int, int, int]]:
    """(bucket, messages, inbound, outbound) of the messages in the plan's pieces."""
    sql = (
        "SELECT r.i AS i, count(*) AS messages, "
        "sum(CASE WHEN r.direction = 'inbound' THEN 1 ELSE 0 END) AS inbound, "
        "sum(CASE WHEN r.direction = 'outbound' THEN 1 ELSE 0 END) AS outbound FROM r "
        "WHERE 1 = 1"
    )
    params: list[Any] = []
    if filters.chat_id is not None:
        sql += " AND r.chat_id = {}"
        params.append(filters.chat_id)
    if filters.topic is not None:
        sql += " AND " + _IN_TOPIC_SESSION
        params += [account_id, filters.topic, account_id]
    rows = await fetch_pieces(
        plan,
        account_id,
        "ofca_message m",
        "m.created_at AS created_at, m.chat_id AS chat_id, m.direction AS direction",
        sql + " GROUP BY r.i",
        *params,
    )
    return [
        (int(r["i"]), int(r["messages"] or 0), int(r["inbound"] or 0), int(r["outbound"] or 0))
        for r in rows
    ]


async def _bucket_counts(
    account_id: str, plan: BucketPlan, filters: InsightFilters
) -> list[list[int]]:
    """[messages, inbound, outbound] per bucket of the plan."""
    counts = [[0, 0, 0] for _ in plan.starts]
    for row in await _rollup_counts(account_id, plan, filters):
        hour = to_utc(row["hour"])
        index = plan.hour_index(hour)
        if index is not None:
            bucket = counts[index]
            bucket[0] += int(row["messages"] or 0)
            bucket[1] += int(row["inbound"] or 0)
            bucket[2] += int(row["outbound"] or 0)
            continue
        split = plan.quarter_split(hour)
        if split is not None:
            quarter, before, after = split
            for k, kind in enumerate(("messages", "inbound", "outbound")):
                total = int(row[kind] or 0)
                early = int(row[QUARTER_COLUMNS[3 * quarter + k]] or 0)
                counts[before][k] += early
                counts[after][k] += total - early
    for index, messages, inbound, outbound in await _piece_counts(account_id, plan, filters):
        bucket = counts[index]
        bucket[0] += messages
        bucket[1] += inbound
        bucket[2] += outbound
    return counts


async def volume_trend(
    account_id: str,
    window: Window,
    timezone: str,
    granularity: Granularity,
    filters: InsightFilters = InsightFilters(),
) -> VolumeTrendResponse:
    starts = local_bucket_starts(window, ZoneInfo(timezone), granularity)
    plan = BucketPlan(window, starts, quarters=filters.topic is None)
    counts = await _bucket_counts(account_id, plan, filters)
    return VolumeTrendResponse(
        trend=[
            VolumePoint(
                date=start, messages=total, inbound_messages=inbound, outbound_messages=outbound
            )
            for start, (total, inbound, outbound) in zip(plan.starts, counts, strict=True)
        ],
        granularity=granularity,
        timezone=timezone,
        window=_view(window),
    )


async def activity_heatmap(
    account_id: str,
    window: Window,
    timezone: str,
    filters: InsightFilters = InsightFilters(),
) -> ActivityHeatmapResponse:
    """Fan messages per local hour bucket, folded onto (weekday, hour) of the bucket's
    local start: both halves of a repeated hour land on that hour, a skipped hour has no
    bucket."""
    starts = local_bucket_starts(window, ZoneInfo(timezone), "hour")
    plan = BucketPlan(window, starts, quarters=filters.topic is None)
    counts = await _bucket_counts(account_id, plan, filters)
    cells: dict[tuple[int, int], int] = {}
    for start, (_total, inbound, _outbound) in zip(plan.starts, counts, strict=True):
        if inbound:
            key = (start.weekday(), start.hour)
            cells[key] = cells.get(key, 0) + inbound
    return ActivityHeatmapResponse(
        cells=heatmap_cells(cells), timezone=timezone, window=_view(window)
    )


# --------------------------------------------------------------------------- reply trend


def _reply_source(filters: InsightFilters) -> tuple[str, list[Any]]:
    """(FROM ... WHERE conditions after the account and window, params): the topic filter
    reads the per-topic copies of the runs (the topics of the session holding the run's
    first fan message)."""
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
    return (
        f"FROM {table} r WHERE r.account_id = {{}} AND r.first_inbound_at >= {{}} "
        f"AND r.first_inbound_at < {{}}{sql}",
        params,
    )


def _rounded(point: ReplyTrendPoint) -> ReplyTrendPoint:
    point.median_seconds = round_float(point.median_seconds)
    point.p90_seconds = round_float(point.p90_seconds)
    point.within_sla_percentage = round_float(point.within_sla_percentage)
    return point


async def _postgres_reply_points(
    account_id: str, window: Window, plan: BucketPlan, filters: InsightFilters, sla: float
) -> list[ReplyTrendPoint]:
    source, params = _reply_source(filters)
    rows = await fetch_rows(
        "SELECT width_bucket(r.first_inbound_at, {}::timestamptz[]) AS b, "
        "count(r.reply_seconds) AS answered, "
        "sum(CASE WHEN r.reply_seconds IS NULL THEN 1 ELSE 0 END) AS unanswered, "
        "sum(CASE WHEN r.reply_seconds <= {} THEN 1 ELSE 0 END) AS within, "
        "percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY r.reply_seconds) "
        f"AS percentiles {source} GROUP BY b",
        plan.utc_starts,
        sla,
        account_id,
        window.start,
        window.end,
        *params,
    )
    by_bucket = {int(row["b"]) - 1: row for row in rows}
    points: list[ReplyTrendPoint] = []
    for index, start in enumerate(plan.starts):
        row = by_bucket.get(index)
        count = int(row["answered"] or 0) if row is not None else 0
        unanswered = int(row["unanswered"] or 0) if row is not None else 0
        if row is None or count == 0:
            points.append(reply_trend_point(start, [], unanswered, sla))
            continue
        median, p90 = (float(value) for value in row["percentiles"])
        points.append(
            _rounded(
                ReplyTrendPoint(
                    date=start,
                    count=count,
                    median_seconds=median,
                    p90_seconds=p90,
                    within_sla_percentage=int(row["within"] or 0) / count * 100.0,
                    unanswered=unanswered,
                    unavailable_reasons={},
                )
            )
        )
    return points


async def _sqlite_reply_points(
    account_id: str, window: Window, plan: BucketPlan, filters: InsightFilters, sla: float
) -> list[ReplyTrendPoint]:
    source, params = _reply_source(filters)
    rows = await fetch_rows(
        f"SELECT r.first_inbound_at AS at, r.reply_seconds AS v {source}",
        account_id,
        window.start,
        window.end,
        *params,
    )
    values: list[list[float]] = [[] for _ in plan.starts]
    unanswered = [0] * len(plan.starts)
    for row in rows:
        index = plan.index(to_utc(row["at"]))
        if row["v"] is None:
            unanswered[index] += 1
        else:
            values[index].append(float(row["v"]))
    return [
        _rounded(reply_trend_point(start, bucket, waiting, sla))
        for start, bucket, waiting in zip(plan.starts, values, unanswered, strict=True)
    ]


async def reply_time_trend(
    account_id: str,
    window: Window,
    timezone: str,
    granularity: Granularity,
    sla_seconds: float,
    filters: InsightFilters = InsightFilters(),
) -> ReplyTimeTrendResponse:
    plan = BucketPlan(window, local_bucket_starts(window, ZoneInfo(timezone), granularity))
    compute = _postgres_reply_points if is_postgres() else _sqlite_reply_points
    points = await compute(account_id, window, plan, filters, float(sla_seconds))
    return ReplyTimeTrendResponse(
        trend=points,
        granularity=granularity,
        timezone=timezone,
        sla_seconds=float(sla_seconds),
        window=_view(window),
    )
