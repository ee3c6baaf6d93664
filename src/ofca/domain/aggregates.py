"""The insights of docs/metrics.md over a window, as pure functions over in-memory sessions,
reply runs and messages: the reference oracle the SQL of ``ofca.insights`` is tested
against (tests/insights/test_oracle.py), and the Structs the endpoints answer with.

Built on the per-chat metrics of :mod:`ofca.domain.metrics` (sessions, reply runs,
windows, buckets).
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from ofca.domain.metrics import (
    NO_DEFINED_SILENCE,
    NO_INBOUND_TEXT,
    NO_PREVIOUS_VOLUME,
    NO_REPLIES,
    NO_SESSIONS,
    Granularity,
    MessagePoint,
    ReplyRun,
    SessionStats,
    Window,
    bucket_locator,
    bucket_starts,
    order_key,
    split_sessions,
)

__all__ = [
    "REPLY_BUCKET_BOUNDS",
    "OverviewValues",
    "ReplyStats",
    "SessionAggregate",
    "TopicRow",
    "TrendPoint",
    "interpolate",
    "median_p90",
    "no_reply_stats",
    "overview_values",
    "percentile_ranks",
    "reply_bucket",
    "reply_stats",
    "sentiment_trend",
    "summarize_sessions",
    "topic_rows",
]


# --------------------------------------------------------------------------- replies stats


class ReplyStats(msgspec.Struct, kw_only=True):
    """Fan wait time over the reply runs of a window (docs/metrics.md "Replies")."""

    count: int
    mean_seconds: float | None
    median_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    unanswered: int
    within_sla_percentage: float | None
    sla_seconds: float


def no_reply_stats(unanswered: int, sla_seconds: float) -> tuple[ReplyStats, dict[str, str]]:
    """Reply statistics of a window without any answered run: nulls, each with its reason."""
    stats = ReplyStats(
        count=0,
        mean_seconds=None,
        median_seconds=None,
        p90_seconds=None,
        max_seconds=None,
        unanswered=unanswered,
        within_sla_percentage=None,
        sla_seconds=float(sla_seconds),
    )
    reasons = dict.fromkeys(
        ("mean_seconds", "median_seconds", "p90_seconds", "max_seconds", "within_sla_percentage"),
        NO_REPLIES,
    )
    return stats, reasons


def reply_stats(runs: Iterable[ReplyRun], sla_seconds: float) -> tuple[ReplyStats, dict[str, str]]:
    """Statistics of the given runs (already restricted to the window) and null reasons.

    ``count`` and the statistics are over answered runs; ``unanswered`` counts the rest.
    A reply of exactly ``sla_seconds`` is within the SLA.
    """
    values: list[float] = []
    unanswered = 0
    for run in runs:
        if run.reply_seconds is None:
            unanswered += 1
        else:
            values.append(run.reply_seconds)
    if not values:
        return no_reply_stats(unanswered, sla_seconds)
    median, p90 = median_p90(values)
    within = sum(1 for v in values if v <= sla_seconds)
    stats = ReplyStats(
        count=len(values),
        mean_seconds=math.fsum(values) / len(values),
        median_seconds=median,
        p90_seconds=p90,
        max_seconds=max(values),
        unanswered=unanswered,
        within_sla_percentage=within / len(values) * 100.0,
        sla_seconds=float(sla_seconds),
    )
    return stats, {}


def median_p90(values: Sequence[float]) -> tuple[float, float]:
    """The median and p90 of docs/metrics.md "Replies" (``statistics.median`` and
    ``statistics.quantiles(n=10, method="inclusive")[8]``; the single value when there is
    one). ``values`` need not be sorted."""
    if len(values) == 1:
        return float(values[0]), float(values[0])
    return (
        float(statistics.median(values)),
        float(statistics.quantiles(values, n=10, method="inclusive")[8]),
    )


REPLY_BUCKET_BOUNDS: tuple[float, ...] = (0.0, *(2.0 ** (k / 4) for k in range(100)))
"""Lower bounds (seconds) of the reply-time buckets the read models count replies in:
[0, 1), then quarter octaves from 1 s (each ~19 % wide) to 2**24.75 s, the last open;
bucket 0 would hold negative times. Fine enough that the bucket holding a percentile holds
few of a window's replies, coarse enough that a chatter's day fills a few dozen."""


def reply_bucket(seconds: float) -> int:
    """The bucket of a reply time: how many of :data:`REPLY_BUCKET_BOUNDS` are <= it (as
    Postgres' ``width_bucket(seconds, bounds)``)."""
    return bisect.bisect_right(REPLY_BUCKET_BOUNDS, seconds)


def percentile_ranks(count: int, fraction: float) -> tuple[int, int, float]:
    """(first rank, second rank, proportion) of ``percentile_cont(fraction)`` over
    ``count`` sorted values (0-based), as Postgres computes them."""
    position = fraction * (count - 1)
    first = math.floor(position)
    return first, math.ceil(position), position - first


def interpolate(first: float, second: float, proportion: float) -> float:
    """``percentile_cont``'s value between the two ranked values (Postgres' float8 lerp)."""
    return first + (second - first) * proportion


# --------------------------------------------------------------------------- session means


class SessionAggregate(msgspec.Struct, kw_only=True):
    """Plain means over a set of sessions; a null mean has its reason in the dict."""

    sessions: int
    average_handling_time_minutes: float | None
    silence_percentage: float | None
    turns: float | None
    sentiment_score: float | None
    unavailable_reasons: dict[str, str]


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def summarize_sessions(sessions: Sequence[SessionStats]) -> SessionAggregate:
    """Session means of the response-time and topic insights.

    - handling time: mean ``duration_seconds`` / 60 over all sessions;
    - silence: mean of the defined ``silence_percentage`` values (zero-length sessions
      have none);
    - turns: mean turns over all sessions;
    - sentiment: mean of the sessions' ``sentiment_score`` where defined (each session
      counts once, however many fan messages it has).
    """
    reasons: dict[str, str] = {}
    if not sessions:
        for name in (
            "average_handling_time_minutes",
            "silence_percentage",
            "turns",
            "sentiment_score",
        ):
            reasons[name] = NO_SESSIONS
        return SessionAggregate(
            sessions=0,
            average_handling_time_minutes=None,
            silence_percentage=None,
            turns=None,
            sentiment_score=None,
            unavailable_reasons=reasons,
        )
    duration = _mean([s.duration_seconds for s in sessions])
    silence = _mean([s.silence_percentage for s in sessions if s.silence_percentage is not None])
    sentiment = _mean([s.sentiment_score for s in sessions if s.sentiment_score is not None])
    if silence is None:
        reasons["silence_percentage"] = NO_DEFINED_SILENCE
    if sentiment is None:
        reasons["sentiment_score"] = NO_INBOUND_TEXT
    return SessionAggregate(
        sessions=len(sessions),
        average_handling_time_minutes=duration / 60.0 if duration is not None else None,
        silence_percentage=silence,
        turns=_mean([float(s.turns) for s in sessions]),
        sentiment_score=sentiment,
        unavailable_reasons=reasons,
    )


# --------------------------------------------------------------------------- topics


class TopicRow(msgspec.Struct, kw_only=True):
    """One row of the topics insight (field names are the public contract)."""

    topic: str
    label: str
    volume: int
    percentage_of_total: float
    previous_volume: int
    trend: float | None
    average_handling_time_minutes: float | None
    silence_percentage: float | None
    turns: float | None
    sentiment_score: float | None
    unavailable_reasons: dict[str, str]
    revenue: float = 0.0
    """Revenue of the topic's sessions in the window (docs/metrics.md, "Topics revenue")."""
    revenue_per_session: float = 0.0
    """``revenue / volume``."""


def topic_rows(
    current_sessions: Sequence[SessionStats],
    previous_sessions: Sequence[SessionStats],
    labels: Mapping[str, str],
) -> list[TopicRow]:
    """Topic rows for the sessions of a window, with trend against the previous window.

    One row per topic with volume > 0, by volume descending then id. A topic missing
    from ``labels`` (e.g. a custom topic deleted since ingest) is labelled by its id.
    """
    by_topic: dict[str, list[SessionStats]] = {}
    for session in current_sessions:
        for topic in session.topics:
            by_topic.setdefault(topic, []).append(session)
    previous_volume: dict[str, int] = {}
    for session in previous_sessions:
        for topic in session.topics:
            previous_volume[topic] = previous_volume.get(topic, 0) + 1
    total = len(current_sessions)
    rows: list[TopicRow] = []
    for topic, sessions in by_topic.items():
        volume = len(sessions)
        previous = previous_volume.get(topic, 0)
        aggregate = summarize_sessions(sessions)
        reasons = dict(aggregate.unavailable_reasons)
        if previous == 0:
            reasons["trend"] = NO_PREVIOUS_VOLUME
        rows.append(
            TopicRow(
                topic=topic,
                label=labels.get(topic, topic),
                volume=volume,
                percentage_of_total=volume / total * 100.0,
                previous_volume=previous,
                trend=(volume - previous) / previous * 100.0 if previous else None,
                average_handling_time_minutes=aggregate.average_handling_time_minutes,
                silence_percentage=aggregate.silence_percentage,
                turns=aggregate.turns,
                sentiment_score=aggregate.sentiment_score,
                unavailable_reasons=reasons,
            )
        )
    rows.sort(key=lambda row: (-row.volume, row.topic))
    return rows


# --------------------------------------------------------------------------- sentiment trend


class TrendPoint(msgspec.Struct, kw_only=True):
    """One bucket of the sentiment trend; ``date`` is the bucket's local start."""

    date: datetime
    sentiment_score: float | None
    message_count: int


def sentiment_trend(
    samples: Iterable[tuple[datetime, float]],
    window: Window,
    tz: ZoneInfo,
    granularity: Granularity,
) -> list[TrendPoint]:
    """Mean fan sentiment per bucket, every overlapping bucket included.

    ``samples`` are (created_at, score) of inbound messages with text; samples outside
    the window are ignored, so the first and last buckets only count their in-window part.
    """
    starts = bucket_starts(window, tz, granularity)
    locate = bucket_locator(starts)
    scores: list[list[float]] = [[] for _ in starts]
    for created_at, score in samples:
        if not window.contains(created_at):
            continue
        index = locate(created_at)
        if index is not None:
            scores[index].append(score)
    return [
        TrendPoint(date=start, sentiment_score=_mean(values), message_count=len(values))
        for start, values in zip(starts, scores, strict=True)
    ]


# --------------------------------------------------------------------------- overview


class OverviewValues(msgspec.Struct, kw_only=True):
    """Headline counts of one window (docs/metrics.md "Insights": Overview)."""

    sessions: int
    messages: int
    inbound_messages: int
    outbound_messages: int
    active_fans: int
    new_fans: int
    average_messages_per_session: float | None
    unavailable_reasons: dict[str, str]


def overview_values(
    chats: Iterable[tuple[str, Sequence[MessagePoint]]],
    window: Window,
    gap: timedelta,
) -> OverviewValues:
    """Reference computation of the overview for one window from whole chats.

    Sessions are split over each whole chat (a session's later messages may fall after
    the window; they still count toward its size) and belong to the window by their
    first message. Message counts are by creation time inside the window.
    """
    sessions = 0
    session_messages = 0
    messages = inbound = outbound = 0
    active_fans = new_fans = 0
    for _chat_id, points in chats:
        if not points:
            continue
        ordered = sorted(points, key=order_key)
        if window.contains(ordered[0].created_at):
            new_fans += 1
        has_inbound = False
        for point in ordered:
            if not window.contains(point.created_at):
                continue
            messages += 1
            if point.direction == "inbound":
                inbound += 1
                has_inbound = True
            elif point.direction == "outbound":
                outbound += 1
        if has_inbound:
            active_fans += 1
        for session in split_sessions(ordered, gap):
            if window.contains(session[0].created_at):
                sessions += 1
                session_messages += len(session)
    reasons: dict[str, str] = {}
    if sessions == 0:
        reasons["average_messages_per_session"] = NO_SESSIONS
    return OverviewValues(
        sessions=sessions,
        messages=messages,
        inbound_messages=inbound,
        outbound_messages=outbound,
        active_fans=active_fans,
        new_fans=new_fans,
        average_messages_per_session=session_messages / sessions if sessions else None,
        unavailable_reasons=reasons,
    )
