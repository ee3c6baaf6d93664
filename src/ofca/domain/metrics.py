"""The numbers of docs/metrics.md for one chat, as pure functions over in-memory messages:
sessions, reply runs, windows and time buckets.

Everything here is deterministic and free of I/O: the insights projector uses it to derive
one chat's read-model rows, the conversations API to show a chat's sessions, and
:mod:`ofca.domain.aggregates` builds the account-level reference oracle on it. Datetimes
are timezone-aware; all arithmetic is done on UTC instants (aware datetimes that share a
``tzinfo`` object compare and subtract by wall time, which is wrong across DST changes).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal
from zoneinfo import ZoneInfo

import msgspec

__all__ = [
    "Direction",
    "Granularity",
    "MessagePoint",
    "ReplyRun",
    "SessionStats",
    "Window",
    "bucket_index",
    "bucket_locator",
    "bucket_start",
    "bucket_starts",
    "chat_analysis",
    "order_key",
    "reply_runs",
    "resolve_window",
    "runs_in_sessions",
    "runs_in_window",
    "session_stats",
    "sessions_in_window",
    "split_sessions",
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
    revenue: float = 0.0
    """What it brings: a tip's amount or a bought PPV offer's price (docs/metrics.md,
    "Money")."""
    chatter: str | None = None
    """An outbound message's chatter (docs/metrics.md, "Chatters"), when known."""


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
    """Per-session numbers of docs/metrics.md "Sessions".

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
    revenue: float = 0.0
    """The revenue of its own messages (docs/metrics.md, "Money")."""


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
        revenue=math.fsum(p.revenue for p in ordered),
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
    reply_message_id: str | None = None
    """The outbound message that answered the run (whose chatter replied)."""


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
                    reply_message_id=point.message_id,
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
