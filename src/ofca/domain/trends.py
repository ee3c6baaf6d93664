"""Charts over time and session analytics (docs/metrics.md "Reply-time trend", "Volume
trend", "Activity heatmap", "Sessions"): the response shapes and the pure reference
computations the SQL in ``ofca.insights.trends`` / ``ofca.insights.sessions_summary`` is
tested against.

Every function takes rows already restricted by the filters (``chat_id``, ``topic``) and
keeps only what lies in the window itself; buckets come from ``bucket_starts``, so the
first and last buckets count only their part inside the window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from ofca.domain.aggregates import reply_stats
from ofca.domain.insights import WindowView
from ofca.domain.metrics import (
    NO_SESSIONS,
    Direction,
    Granularity,
    ReplyRun,
    SessionStats,
    Window,
    bucket_locator,
    bucket_starts,
)

__all__ = [
    "REPLY_TREND_STATS",
    "ActivityHeatmapResponse",
    "HeatmapCell",
    "ReplyTimeTrendResponse",
    "ReplyTrendPoint",
    "SessionsByDate",
    "SessionsSummaryResponse",
    "VolumePoint",
    "VolumeTrendResponse",
    "activity_heatmap",
    "heatmap_cells",
    "reply_time_trend",
    "reply_trend_point",
    "sessions_summary",
    "summary_from_buckets",
    "volume_trend",
]

REPLY_TREND_STATS = ("median_seconds", "p90_seconds", "within_sla_percentage")
"""The statistics of a reply-trend bucket: null, with their reason, when it has no reply."""


class ReplyTrendPoint(msgspec.Struct, kw_only=True):
    """One bucket of the reply-time trend; ``date`` is the bucket's local start."""

    date: datetime
    count: int
    """Answered runs whose first fan message lies in the bucket."""
    median_seconds: float | None
    p90_seconds: float | None
    within_sla_percentage: float | None
    unanswered: int
    """Runs starting in the bucket that have no answer (yet)."""
    unavailable_reasons: dict[str, str]


class ReplyTimeTrendResponse(msgspec.Struct, kw_only=True):
    trend: list[ReplyTrendPoint]
    granularity: Granularity
    timezone: str
    sla_seconds: float
    window: WindowView


class VolumePoint(msgspec.Struct, kw_only=True):
    """Messages created in one bucket (unknown direction counts only in ``messages``)."""

    date: datetime
    messages: int
    inbound_messages: int
    outbound_messages: int


class VolumeTrendResponse(msgspec.Struct, kw_only=True):
    trend: list[VolumePoint]
    granularity: Granularity
    timezone: str
    window: WindowView


class HeatmapCell(msgspec.Struct, kw_only=True):
    """Fan messages whose local time falls on this weekday (0 = Monday) and hour (0-23)."""

    weekday: int
    hour: int
    inbound_messages: int


class ActivityHeatmapResponse(msgspec.Struct, kw_only=True):
    cells: list[HeatmapCell]
    """All 168 cells, Monday 0:00 first, then by hour and weekday."""
    timezone: str
    window: WindowView


class SessionsByDate(msgspec.Struct, kw_only=True):
    """Sessions starting in one bucket and their messages (all of them, even later ones)."""

    date: datetime
    sessions: int
    messages: int


class SessionsSummaryResponse(msgspec.Struct, kw_only=True):
    """Seed 002's session analytics: field names are its contract."""

    total_sessions: int
    avg_messages_per_session: float | None
    avg_duration_minutes: float | None
    by_date: list[SessionsByDate]
    unavailable_reasons: dict[str, str]
    granularity: Granularity
    timezone: str
    window: WindowView


# --------------------------------------------------------------------------- reply trend


def reply_trend_point(
    date: datetime, values: list[float], unanswered: int, sla_seconds: float
) -> ReplyTrendPoint:
    """A bucket from its answered waits (any order) and its unanswered count: the
    statistics of docs/metrics.md "Replies" (``reply_stats``)."""
    runs = [
        ReplyRun(
            chat_id="",
            first_inbound_at=date,
            first_inbound_message_id="",
            replied_at=date,
            reply_seconds=value,
        )
        for value in values
    ]
    stats, reasons = reply_stats(runs, sla_seconds)
    return ReplyTrendPoint(
        date=date,
        count=stats.count,
        median_seconds=stats.median_seconds,
        p90_seconds=stats.p90_seconds,
        within_sla_percentage=stats.within_sla_percentage,
        unanswered=unanswered,
        unavailable_reasons={k: v for k, v in reasons.items() if k in REPLY_TREND_STATS},
    )


def reply_time_trend(
    runs: Iterable[ReplyRun],
    window: Window,
    tz: ZoneInfo,
    granularity: Granularity,
    sla_seconds: float,
) -> list[ReplyTrendPoint]:
    """Reply statistics per bucket of the run's first fan message, every bucket present."""
    starts = bucket_starts(window, tz, granularity)
    locate = bucket_locator(starts)
    values: list[list[float]] = [[] for _ in starts]
    unanswered = [0] * len(starts)
    for run in runs:
        if not window.contains(run.first_inbound_at):
            continue
        index = locate(run.first_inbound_at)
        if index is None:
            continue
        if run.reply_seconds is None:
            unanswered[index] += 1
        else:
            values[index].append(run.reply_seconds)
    return [
        reply_trend_point(start, bucket, waiting, sla_seconds)
        for start, bucket, waiting in zip(starts, values, unanswered, strict=True)
    ]


# --------------------------------------------------------------------------- volume


def volume_trend(
    messages: Iterable[tuple[datetime, Direction]],
    window: Window,
    tz: ZoneInfo,
    granularity: Granularity,
) -> list[VolumePoint]:
    """Messages ``(created_at, direction)`` per bucket of their creation time."""
    starts = bucket_starts(window, tz, granularity)
    locate = bucket_locator(starts)
    counts = [[0, 0, 0] for _ in starts]
    for created_at, direction in messages:
        if not window.contains(created_at):
            continue
        index = locate(created_at)
        if index is None:
            continue
        counts[index][0] += 1
        if direction == "inbound":
            counts[index][1] += 1
        elif direction == "outbound":
            counts[index][2] += 1
    return [
        VolumePoint(date=start, messages=total, inbound_messages=inbound, outbound_messages=out)
        for start, (total, inbound, out) in zip(starts, counts, strict=True)
    ]


# --------------------------------------------------------------------------- heatmap


def heatmap_cells(counts: dict[tuple[int, int], int]) -> list[HeatmapCell]:
    """The 168 cells in order (weekday, then hour) from ``{(weekday, hour): count}``."""
    return [
        HeatmapCell(weekday=weekday, hour=hour, inbound_messages=counts.get((weekday, hour), 0))
        for weekday in range(7)
        for hour in range(24)
    ]


def activity_heatmap(
    inbound_times: Iterable[datetime], window: Window, tz: ZoneInfo
) -> list[HeatmapCell]:
    """Fan messages in the window by the weekday and hour of their local time in ``tz``
    (a repeated hour after a DST fall-back counts in that hour twice over; a skipped one
    stays empty)."""
    counts: dict[tuple[int, int], int] = {}
    for created_at in inbound_times:
        if not window.contains(created_at):
            continue
        local = created_at.astimezone(tz)
        key = (local.weekday(), local.hour)
        counts[key] = counts.get(key, 0) + 1
    return heatmap_cells(counts)


# --------------------------------------------------------------------------- sessions


def summary_from_buckets(
    starts: list[datetime],
    sessions: list[int],
    messages: list[int],
    durations: list[float],
) -> tuple[int, float | None, float | None, list[SessionsByDate], dict[str, str]]:
    """(total, mean messages, mean duration in minutes, rows, reasons) from per-bucket sums
    of the sessions starting in each bucket."""
    total = sum(sessions)
    rows = [
        SessionsByDate(date=start, sessions=count, messages=size)
        for start, count, size in zip(starts, sessions, messages, strict=True)
    ]
    if total == 0:
        reasons = dict.fromkeys(("avg_messages_per_session", "avg_duration_minutes"), NO_SESSIONS)
        return 0, None, None, rows, reasons
    return total, sum(messages) / total, math.fsum(durations) / total / 60.0, rows, {}


def sessions_summary(
    sessions: Iterable[SessionStats], window: Window, tz: ZoneInfo, granularity: Granularity
) -> tuple[int, float | None, float | None, list[SessionsByDate], dict[str, str]]:
    """Sessions whose first message lies in the window, per bucket of that first message;
    each row's ``messages`` counts all messages of its sessions."""
    starts = bucket_starts(window, tz, granularity)
    locate = bucket_locator(starts)
    counts = [0] * len(starts)
    sizes = [0] * len(starts)
    durations: list[list[float]] = [[] for _ in starts]
    for session in sessions:
        if not window.contains(session.start_at):
            continue
        index = locate(session.start_at)
        if index is None:
            continue
        counts[index] += 1
        sizes[index] += session.message_count
        durations[index].append(session.duration_seconds)
    return summary_from_buckets(starts, counts, sizes, [math.fsum(bucket) for bucket in durations])
