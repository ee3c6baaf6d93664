"""The numbers of METRICS.md as pure functions over in-memory messages.

Everything here is deterministic and free of I/O: ingest uses it to recompute one chat's
sessions and replies, the insights read models use the aggregation helpers, and the
in-memory ``overview_values`` / ``topic_rows`` / ``reply_stats`` serve as the reference
oracle that the SQL implementations are tested against. Datetimes are timezone-aware;
all arithmetic is done on UTC instants (aware datetimes that share a ``tzinfo`` object
compare and subtract by wall time, which is wrong across DST changes).
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

__all__ = [
    "Direction",
    "Granularity",
    "MessagePoint",
    "OverviewValues",
    "ReplyRun",
    "ReplyStats",
    "SessionAggregate",
    "SessionStats",
    "TopicRow",
    "TrendPoint",
    "Window",
    "bucket_index",
    "bucket_locator",
    "bucket_start",
    "bucket_starts",
    "chat_analysis",
    "order_key",
    "overview_values",
    "reply_runs",
    "reply_stats",
    "resolve_window",
    "runs_in_sessions",
    "runs_in_window",
    "sentiment_trend",
    "session_stats",
    "sessions_in_window",
    "split_sessions",
    "summarize_sessions",
    "topic_rows",
]

Direction = Literal["inbound", "outbound", "unknown"]
Granularity = Literal["hour", "day", "week"]

# Reason codes for null metrics (documented in docs/metrics.md).
NO_SESSIONS = "no_sessions"
NO_DEFINED_SILENCE = "no_defined_silence"
NO_INBOUND_TEXT = "no_inbound_text"
NO_REPLIES = "no_replies"
NO_PREVIOUS_VOLUME = "no_previous_volume"


# --------------------------------------------------------------------------- messages


class MessagePoint(msgspec.Struct, frozen=True):
    """What the metrics need of one message with a usable time.

    ``sentiment`` is the [0, 1] score of its cleaned text, None when it has no text.
    """

    message_id: str
    created_at: datetime
    direction: Direction
    sentiment: float | None
    topics: tuple[str, ...] = ()


def order_key(point: MessagePoint) -> tuple[datetime, str]:
    """Chat order: by time, ties broken by message id as a string."""
    return (point.created_at, point.message_id)


def _utc(value: datetime) -> datetime:
    """The same instant with ``tzinfo=UTC``; a naive value is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- sessions


def split_sessions(points: Iterable[MessagePoint], gap: timedelta) -> list[list[MessagePoint]]:
    """Split one chat into sessions in chat order.

    A new session starts where the time between two consecutive messages is strictly
    greater than ``gap``; a gap of exactly ``gap`` stays inside the session.
    """
    ordered = sorted(points, key=order_key)
    sessions: list[list[MessagePoint]] = []
    current: list[MessagePoint] = []
    for point in ordered:
        if current and point.created_at - current[-1].created_at > gap:
            sessions.append(current)
            current = []
        current.append(point)
    if current:
        sessions.append(current)
    return sessions


class SessionStats(msgspec.Struct, kw_only=True):
    """Per-session numbers of METRICS.md "Sessions".

    ``sentiment_sum``/``sentiment_count`` keep the parts of ``sentiment_score`` so that
    message-weighted means can be rebuilt without the messages.
    """

    chat_id: str
    start_at: datetime
    end_at: datetime
    first_message_id: str
    last_message_id: str
    message_count: int
    inbound_count: int
    outbound_count: int
    duration_seconds: float
    silence_seconds: float
    silence_percentage: float | None
    turns: int
    sentiment_sum: float
    sentiment_count: int
    sentiment_score: float | None
    topics: tuple[str, ...]


def _turns(directions: Iterable[Direction]) -> int:
    """Speaker switches: maximal same-direction runs (unknown skipped) minus one, >= 0."""
    runs = 0
    previous: Direction | None = None
    for direction in directions:
        if direction == "unknown":
            continue
        if direction != previous:
            runs += 1
            previous = direction
    return max(runs - 1, 0)


def session_stats(
    chat_id: str, points: Sequence[MessagePoint], silence_threshold: timedelta
) -> SessionStats:
    """Numbers of one session (its messages, any order; at least one).

    Silence: every gap between consecutive messages that is >= ``silence_threshold``
    counts whole. Sentiment: mean over inbound messages that have a score.
    """
    if not points:
        raise ValueError("a session has at least one message")
    ordered = sorted(points, key=order_key)
    first, last = ordered[0], ordered[-1]
    duration = last.created_at - first.created_at
    silence = timedelta(0)
    for before, after in pairwise(ordered):
        gap = after.created_at - before.created_at
        if gap >= silence_threshold:
            silence += gap
    duration_seconds = duration.total_seconds()
    silence_seconds = silence.total_seconds()
    inbound_scores = [
        p.sentiment for p in ordered if p.direction == "inbound" and p.sentiment is not None
    ]
    sentiment_sum = math.fsum(inbound_scores)
    topics: set[str] = set()
    for point in ordered:
        topics.update(point.topics)
    return SessionStats(
        chat_id=chat_id,
        start_at=first.created_at,
        end_at=last.created_at,
        first_message_id=first.message_id,
        last_message_id=last.message_id,
        message_count=len(ordered),
        inbound_count=sum(1 for p in ordered if p.direction == "inbound"),
        outbound_count=sum(1 for p in ordered if p.direction == "outbound"),
        duration_seconds=duration_seconds,
        silence_seconds=silence_seconds,
        silence_percentage=(
            silence_seconds / duration_seconds * 100.0 if duration_seconds > 0 else None
        ),
        turns=_turns(p.direction for p in ordered),
        sentiment_sum=sentiment_sum,
        sentiment_count=len(inbound_scores),
        sentiment_score=sentiment_sum / len(inbound_scores) if inbound_scores else None,
        topics=tuple(sorted(topics)),
    )


# --------------------------------------------------------------------------- replies


class ReplyRun(msgspec.Struct, kw_only=True):
    """A maximal run of fan messages and the creator's answer to it, if any.

    ``reply_seconds`` runs from the run's first inbound message to the first outbound
    message after the run; None (and ``replied_at`` None) means unanswered.
    """

    chat_id: str
    first_inbound_at: datetime
    first_inbound_message_id: str
    replied_at: datetime | None
    reply_seconds: float | None


def reply_runs(chat_id: str, points: Iterable[MessagePoint]) -> list[ReplyRun]:
    """All reply runs of one whole chat, in chat order, across session boundaries.

    Unknown-direction messages neither start nor end a run; outbound messages before
    any fan message answer nothing.
    """
    runs: list[ReplyRun] = []
    run_start: MessagePoint | None = None
    for point in sorted(points, key=order_key):
        if point.direction == "inbound":
            if run_start is None:
                run_start = point
        elif point.direction == "outbound" and run_start is not None:
            runs.append(
                ReplyRun(
                    chat_id=chat_id,
                    first_inbound_at=run_start.created_at,
                    first_inbound_message_id=run_start.message_id,
                    replied_at=point.created_at,
                    reply_seconds=(point.created_at - run_start.created_at).total_seconds(),
                )
            )
            run_start = None
    if run_start is not None:
        runs.append(
            ReplyRun(
                chat_id=chat_id,
                first_inbound_at=run_start.created_at,
                first_inbound_message_id=run_start.message_id,
                replied_at=None,
                reply_seconds=None,
            )
        )
    return runs


def chat_analysis(
    chat_id: str,
    points: Iterable[MessagePoint],
    gap: timedelta,
    silence_threshold: timedelta,
) -> tuple[list[SessionStats], list[ReplyRun]]:
    """Everything derived from one chat's messages; ingest recomputes it per touched chat."""
    ordered = sorted(points, key=order_key)
    sessions = [
        session_stats(chat_id, session, silence_threshold)
        for session in split_sessions(ordered, gap)
    ]
    return sessions, reply_runs(chat_id, ordered)


# --------------------------------------------------------------------------- windows


class Window(msgspec.Struct, frozen=True):
    """A half-open time window ``[start, end)``, start < end, held as UTC instants.

    Bounds are converted to UTC on construction so that comparisons with UTC instants
    are by instant; naive bounds are read as UTC.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        msgspec.structs.force_setattr(self, "start", _utc(self.start))
        msgspec.structs.force_setattr(self, "end", _utc(self.end))
        if self.start >= self.end:
            raise ValueError(
                f"window start ({self.start.isoformat()}) must be before its end "
                f"({self.end.isoformat()})"
            )

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Window:
        """The equal-length window immediately before: ``[start - length, start)``."""
        return Window(start=self.start - self.length, end=self.start)

    def contains(self, instant: datetime) -> bool:
        """Whether an aware ``instant`` lies in ``[start, end)``."""
        return self.start <= instant < self.end


def resolve_window(
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    default_days: int = 30,
) -> Window:
    """The window a request asks for, in UTC.

    ``end`` defaults to ``now`` and ``start`` to ``default_days`` before ``end``; naive
    values are read as UTC. Raises ValueError when start is not before end.
    """
    resolved_end = _utc(end) if end is not None else _utc(now)
    resolved_start = (
        _utc(start) if start is not None else resolved_end - timedelta(days=default_days)
    )
    if resolved_start >= resolved_end:
        raise ValueError(
            f"start ({resolved_start.isoformat()}) must be before end ({resolved_end.isoformat()})"
        )
    return Window(start=resolved_start, end=resolved_end)


def sessions_in_window(sessions: Iterable[SessionStats], window: Window) -> list[SessionStats]:
    """Sessions whose first message lies in the window."""
    return [s for s in sessions if window.contains(s.start_at)]


def runs_in_window(runs: Iterable[ReplyRun], window: Window) -> list[ReplyRun]:
    """Reply runs whose first inbound message lies in the window."""
    return [r for r in runs if window.contains(r.first_inbound_at)]


def runs_in_sessions(runs: Iterable[ReplyRun], sessions: Iterable[SessionStats]) -> list[ReplyRun]:
    """Reply runs whose first inbound message lies in one of ``sessions`` (topic filter).

    Sessions of one chat never overlap in time, so membership is by chat and time span.
    """
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for session in sessions:
        spans.setdefault(session.chat_id, []).append((session.start_at, session.end_at))
    return [
        run
        for run in runs
        if any(start <= run.first_inbound_at <= end for start, end in spans.get(run.chat_id, ()))
    ]


# --------------------------------------------------------------------------- buckets


def _floor_local_hour(instant: datetime, tz: ZoneInfo) -> datetime:
    """UTC start of the local wall-clock hour containing ``instant``."""
    local = instant.astimezone(tz)
    # replace() keeps ``fold``, so the repeated hour after a fall-back floors correctly.
    return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """UTC instant at which local ``day`` begins.

    fold=0 picks the first of two ambiguous midnights, and for a midnight skipped by a
    DST jump it gives the transition instant, i.e. the first local moment of that day.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def _period_start_date(day: date, granularity: Granularity) -> date:
    return day - timedelta(days=day.weekday()) if granularity == "week" else day


def bucket_start(instant: datetime, tz: ZoneInfo, granularity: Granularity) -> datetime:
    """Local start (aware, in ``tz``) of the bucket that contains ``instant``."""
    moment = _utc(instant)
    if granularity == "hour":
        return _floor_local_hour(moment, tz).astimezone(tz)
    local_day = moment.astimezone(tz).date()
    return _local_midnight(_period_start_date(local_day, granularity), tz).astimezone(tz)


def _step(granularity: Granularity) -> timedelta:
    return timedelta(days=7) if granularity == "week" else timedelta(days=1)


def bucket_starts(window: Window, tz: ZoneInfo, granularity: Granularity) -> list[datetime]:
    """Local starts of every bucket that overlaps ``window``, in order.

    Hours are local wall-clock hours (a 25-hour day has 25 of them); days and weeks
    (Monday 00:00) follow local dates, so they last 23, 24 or 25 hours around DST changes.
    """
    start = _utc(window.start)
    end = _utc(window.end)
    starts: list[datetime] = []
    if granularity == "hour":
        # Local hour boundaries are instants whose local minute is 0; every IANA offset
        # in use is a multiple of 15 minutes, so probing a 15-minute UTC grid finds them
        # all (with whole-hour offsets this is simply every UTC hour).
        current = _floor_local_hour(start, tz)
        probe_step = timedelta(minutes=15)
        while current < end:
            starts.append(current.astimezone(tz))
            probe = current + probe_step
            while _floor_local_hour(probe, tz) <= current:
                probe += probe_step
            current = _floor_local_hour(probe, tz)
        return starts
    step = _step(granularity)
    day = _period_start_date(start.astimezone(tz).date(), granularity)
    previous: datetime | None = None
    while (current := _local_midnight(day, tz)) < end:
        if current != previous:  # a local date skipped whole (Apia, 2011-12-30) has no bucket
            starts.append(current.astimezone(tz))
        previous = current
        day += step
    return starts


def bucket_index(instant: datetime, starts: Sequence[datetime]) -> int | None:
    """Index of the bucket (from ``bucket_starts``) containing ``instant``.

    None before the first bucket. The last bucket is open-ended here; callers keep only
    instants inside their window. For many instants use ``bucket_locator``.
    """
    moment = _utc(instant)
    index = bisect_right([_utc(s) for s in starts], moment) - 1
    return index if index >= 0 else None


def bucket_locator(starts: Sequence[datetime]) -> Callable[[datetime], int | None]:
    """``bucket_index`` as a function with the starts converted once, for many lookups."""
    utc_starts = [_utc(s) for s in starts]

    def locate(instant: datetime) -> int | None:
        index = bisect_right(utc_starts, _utc(instant)) - 1
        return index if index >= 0 else None

    return locate


# --------------------------------------------------------------------------- replies stats


class ReplyStats(msgspec.Struct, kw_only=True):
    """Fan wait time over the reply runs of a window (METRICS.md "Replies")."""

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
    reasons: dict[str, str] = {}
    p90 = (
        values[0] if len(values) == 1 else statistics.quantiles(values, n=10, method="inclusive")[8]
    )
    within = sum(1 for v in values if v <= sla_seconds)
    stats = ReplyStats(
        count=len(values),
        mean_seconds=math.fsum(values) / len(values),
        median_seconds=float(statistics.median(values)),
        p90_seconds=float(p90),
        max_seconds=max(values),
        unanswered=unanswered,
        within_sla_percentage=within / len(values) * 100.0,
        sla_seconds=float(sla_seconds),
    )
    return stats, reasons


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
    """Headline counts of one window (METRICS.md "Overview")."""

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
