"""Per-chat read models of the insights: sessions, session topics, reply runs, hourly
activity, fan days, chatter days and each chat's first message time, derived from one
chat's messages.

Pure derivation (no I/O): :func:`chat_rows` turns a chat's timed messages into the rows
of every read model, whole or, for new messages, from the stored session they fall in on
(:class:`TailCut`). ``insights.refresh`` reads the messages and writes the rows.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec
from piccolo.table import Table

from ofca.domain.aggregates import reply_bucket
from ofca.domain.metrics import (
    MessagePoint,
    ReplyRun,
    SessionStats,
    order_key,
    reply_runs,
    session_stats,
    split_sessions,
)
from ofca.domain.money import UNASSIGNED
from ofca.persistence.tables import (
    ActivityRow,
    ActivityTopicRow,
    ChatFirstRow,
    ChatterDayRow,
    FanDayRow,
    ReplyRow,
    ReplyTopicRow,
    SessionChatterRow,
    SessionRow,
    SessionTopicRow,
)

__all__ = [
    "READ_MODELS",
    "DerivedRows",
    "TailCut",
    "TopicTuples",
    "chat_rows",
    "day_floor",
    "hour_floor",
]

_TOPICS = msgspec.json.Decoder(list[str])
_ENCODE = msgspec.json.encode


class DerivedRows(msgspec.Struct):
    """Rows of the read models for a set of chats, in insert order of their columns."""

    sessions: list[tuple[Any, ...]] = []
    session_topics: list[tuple[Any, ...]] = []
    replies: list[tuple[Any, ...]] = []
    activity: list[tuple[Any, ...]] = []
    chat_first: list[tuple[Any, ...]] = []
    fan_days: list[tuple[Any, ...]] = []
    reply_topics: list[tuple[Any, ...]] = []
    activity_topics: list[tuple[Any, ...]] = []
    session_chatters: list[tuple[Any, ...]] = []
    chatter_days: list[tuple[Any, ...]] = []

    def by_read_model(self) -> tuple[list[tuple[Any, ...]], ...]:
        """The row lists in the order of :data:`READ_MODELS`."""
        return (
            self.sessions,
            self.session_topics,
            self.replies,
            self.activity,
            self.chat_first,
            self.fan_days,
            self.reply_topics,
            self.activity_topics,
            self.session_chatters,
            self.chatter_days,
        )


SESSION_COLUMNS = (
    "account_id",
    "chat_id",
    "start_at",
    "end_at",
    "first_message_id",
    "last_message_id",
    "message_count",
    "inbound_count",
    "outbound_count",
    "duration_seconds",
    "silence_seconds",
    "silence_percentage",
    "turns",
    "sentiment_sum",
    "sentiment_count",
    "sentiment_score",
    "topics",
    "revenue",
)
SESSION_TOPIC_COLUMNS = (
    "account_id",
    "topic",
    "start_at",
    "end_at",
    "chat_id",
    "message_count",
    "duration_seconds",
    "silence_percentage",
    "turns",
    "sentiment_score",
    "revenue",
)
REPLY_COLUMNS = (
    "account_id",
    "chat_id",
    "first_inbound_at",
    "first_inbound_message_id",
    "replied_at",
    "reply_seconds",
    "session_start_at",
    "reply_message_id",
    "chatter",
    "reply_bucket",
)
QUARTERS = (15, 30, 45)
QUARTER_COLUMNS = tuple(
    f"{kind}_{minute}" for minute in QUARTERS for kind in ("messages", "inbound", "outbound")
)
"""An activity row's counts (all, inbound, outbound) before minute 15, 30 and 45 of its
hour (m0025): zones whose hours start at a quarter past split the hour from them."""

ACTIVITY_COLUMNS = (
    "account_id",
    "chat_id",
    "session_start_at",
    "hour_start",
    "messages",
    "inbound",
    "outbound",
    "sentiment_sum",
    "sentiment_count",
    *QUARTER_COLUMNS,
)
CHAT_FIRST_COLUMNS = ("account_id", "chat_id", "first_at")
FAN_DAY_COLUMNS = ("account_id", "chat_id", "day_start", "previous_day")
REPLY_TOPIC_COLUMNS = (
    "account_id",
    "topic",
    "chat_id",
    "first_inbound_at",
    "reply_seconds",
    "chatter",
)
ACTIVITY_TOPIC_COLUMNS = (
    "account_id",
    "topic",
    "chat_id",
    "hour_start",
    "sentiment_sum",
    "sentiment_count",
    "messages",
    "inbound",
    "outbound",
)

SESSION_CHATTER_COLUMNS = ("account_id", "chatter", "start_at", "chat_id")
CHATTER_DAY_COLUMNS = ("account_id", "chatter", "chat_id", "day_start", "previous_day", "messages")

READ_MODELS: tuple[tuple[type[Table], tuple[str, ...], set[str]], ...] = (
    (SessionRow, SESSION_COLUMNS, {"topics"}),
    (SessionTopicRow, SESSION_TOPIC_COLUMNS, set()),
    (ReplyRow, REPLY_COLUMNS, set()),
    (ActivityRow, ACTIVITY_COLUMNS, set()),
    (ChatFirstRow, CHAT_FIRST_COLUMNS, set()),
    (FanDayRow, FAN_DAY_COLUMNS, set()),
    (ReplyTopicRow, REPLY_TOPIC_COLUMNS, set()),
    (ActivityTopicRow, ACTIVITY_TOPIC_COLUMNS, set()),
    (SessionChatterRow, SESSION_CHATTER_COLUMNS, set()),
    (ChatterDayRow, CHATTER_DAY_COLUMNS, set()),
)


def hour_floor(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def day_floor(instant: datetime) -> datetime:
    return instant.replace(hour=0, minute=0, second=0, microsecond=0)


class TailCut(msgspec.Struct):
    """Where a chat's refresh starts when only its tail changed (see :func:`refresh_chats`).

    ``session_from`` is a stored session's start: the previous message is more than the
    session gap earlier, so nothing before it can change, and no reply, session or tie in
    chat order crosses it except the one reply run still open there (``open_run``, kept as
    its first inbound message). Rows are re-derived from there: sessions and their
    activity from ``session_from``, replies from the open run, topic activity from its hour
    and fan days from its UTC day (``read_from``, the first message read).

    Replies are cut finer when they can be: runs that ended before ``changed_from`` (the
    earliest new message) keep their rows as long as the session at the cut keeps its
    topics (each reply row carries a copy of them), so a delta rewrites the reply rows of
    its own run, not of its whole session (:func:`chat_rows` decides, ``reply_from`` says).
    """

    session_from: datetime
    changed_from: datetime
    read_from: datetime
    earlier_sessions: list[tuple[datetime, tuple[str, ...]]]
    """(start, topics) of the stored sessions before ``session_from`` that the rows read
    from ``read_from`` or the open run fall in."""
    cut_topics: tuple[str, ...] | None
    """The stored topics of the session at the cut."""
    open_run: MessagePoint | None
    """The first inbound message of the reply run open at ``session_from``."""
    open_run_at_change: MessagePoint | None
    """The first inbound message of the reply run open at ``changed_from``."""
    previous_fan_day: datetime | None
    previous_chatter_days: Mapping[str, datetime] = {}
    """Per chatter: the last day before ``read_from`` they sent to this chat."""
    reply_from: datetime | None = None
    """Set by :func:`chat_rows`: reply rows from this instant on were re-derived."""


def _tail_runs(
    chat_id: str,
    tail: TailCut,
    ordered: Sequence[MessagePoint],
    own: Sequence[MessagePoint],
    sessions: Sequence[SessionStats],
) -> list[ReplyRun]:
    """The reply runs a tail refresh re-derives; sets ``tail.reply_from``."""
    run = tail.open_run_at_change
    fine = run.created_at if run is not None else tail.changed_from
    keeps_topics = bool(sessions) and sessions[0].start_at == tail.session_from
    keeps_topics = keeps_topics and sessions[0].topics == tail.cut_topics
    if keeps_topics and fine >= tail.session_from:
        # No run is open entering ``fine`` (a run's first inbound, or the change itself
        # with no run open there): the runs from there on are those of its messages.
        tail.reply_from = fine
        return reply_runs(chat_id, [p for p in ordered if p.created_at >= fine])
    # The run still open at the cut began before it: its first inbound message leads.
    opened = [tail.open_run] if tail.open_run is not None else []
    tail.reply_from = tail.open_run.created_at if tail.open_run else tail.session_from
    return reply_runs(chat_id, [*opened, *own])


def _session_start(starts: Sequence[datetime], instant: datetime) -> datetime:
    """The start of the session holding ``instant`` (``starts`` ascending)."""
    index = bisect.bisect_right(starts, instant) - 1
    return starts[max(index, 0)]


def chat_rows(
    account_id: str,
    chat_id: str,
    points: Sequence[MessagePoint],
    gap: timedelta,
    silence_threshold: timedelta,
    into: DerivedRows,
    tail: TailCut | None = None,
) -> None:
    """Append the read-model rows of one chat to ``into``: of all its timed messages, or
    (``tail``) the rows from its cut on, from the messages read from ``tail.read_from``."""
    ordered = sorted(points, key=order_key)
    if tail is None:
        if not ordered:
            return
        own = ordered
        earlier: list[tuple[datetime, tuple[str, ...]]] = []
        previous_day: datetime | None = None
        chatter_days: Mapping[str, datetime] = {}
    else:
        own = [p for p in ordered if p.created_at >= tail.session_from]
        earlier = tail.earlier_sessions
        previous_day = tail.previous_fan_day
        chatter_days = tail.previous_chatter_days
    parts = split_sessions(own, gap)
    sessions = [session_stats(chat_id, part, silence_threshold) for part in parts]
    for part in parts:
        for chatter in sorted({p.chatter for p in part if p.chatter and p.direction == "outbound"}):
            into.session_chatters.append((account_id, chatter, part[0].created_at, chat_id))
    if tail is None:
        runs = reply_runs(chat_id, own)
    else:
        runs = _tail_runs(chat_id, tail, ordered, own, sessions)
    _session_rows(account_id, chat_id, sessions, into)
    known = sorted({*earlier, *((s.start_at, s.topics) for s in sessions)})
    if not known:
        return
    starts = [start for start, _ in known]
    topics_of = dict(known)
    chatter_of = {p.message_id: p.chatter for p in ordered if p.chatter is not None}
    _reply_rows(account_id, chat_id, runs, starts, topics_of, chatter_of, into)
    _activity_rows(account_id, chat_id, ordered, starts, topics_of, tail, into)
    if tail is None:
        into.chat_first.append((account_id, chat_id, ordered[0].created_at))
    _fan_day_rows(account_id, chat_id, ordered, previous_day, into)
    _chatter_day_rows(account_id, chat_id, ordered, chatter_days, into)


def _session_rows(
    account_id: str, chat_id: str, sessions: Sequence[SessionStats], into: DerivedRows
) -> None:
    for s in sessions:
        into.sessions.append(
            (
                account_id,
                chat_id,
                s.start_at,
                s.end_at,
                s.first_message_id,
                s.last_message_id,
                s.message_count,
                s.inbound_count,
                s.outbound_count,
                s.duration_seconds,
                s.silence_seconds,
                s.silence_percentage,
                s.turns,
                s.sentiment_sum,
                s.sentiment_count,
                s.sentiment_score,
                _ENCODE(list(s.topics)).decode(),
                s.revenue,
            )
        )
        for topic in s.topics:
            into.session_topics.append(
                (
                    account_id,
                    topic,
                    s.start_at,
                    s.end_at,
                    chat_id,
                    s.message_count,
                    s.duration_seconds,
                    s.silence_percentage,
                    s.turns,
                    s.sentiment_score,
                    s.revenue,
                )
            )


def _reply_rows(
    account_id: str,
    chat_id: str,
    runs: Sequence[ReplyRun],
    starts: Sequence[datetime],
    topics_of: Mapping[datetime, tuple[str, ...]],
    chatter_of: Mapping[str, str],
    into: DerivedRows,
) -> None:
    """Each reply run, filed under the session its first inbound message belongs to, with
    the chatter of the message that answered it."""
    for run in runs:
        session_start = _session_start(starts, run.first_inbound_at)
        chatter = None if run.reply_message_id is None else chatter_of.get(run.reply_message_id)
        into.replies.append(
            (
                account_id,
                chat_id,
                run.first_inbound_at,
                run.first_inbound_message_id,
                run.replied_at,
                run.reply_seconds,
                session_start,
                run.reply_message_id,
                chatter,
                None if run.reply_seconds is None else reply_bucket(run.reply_seconds),
            )
        )
        for topic in topics_of[session_start]:
            into.reply_topics.append(
                (account_id, topic, chat_id, run.first_inbound_at, run.reply_seconds, chatter)
            )


def _activity_rows(
    account_id: str,
    chat_id: str,
    ordered: Sequence[MessagePoint],
    starts: Sequence[datetime],
    topics_of: Mapping[datetime, tuple[str, ...]],
    tail: TailCut | None,
    into: DerivedRows,
) -> None:
    """Hourly activity per session: sessions partition the chat's messages in time order.
    (A tail keeps the activity of earlier sessions, and their topic activity before the
    cut's hour, whose rows were not deleted.)"""
    activity_from = tail.session_from if tail is not None else None
    topic_hours_from = hour_floor(tail.session_from) if tail is not None else None
    index = 0
    buckets: dict[tuple[datetime, datetime], list[Any]] = {}
    for point in ordered:
        while index + 1 < len(starts) and starts[index + 1] <= point.created_at:
            index += 1
        key = (starts[index], hour_floor(point.created_at))
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = [0, 0, 0, [], 0, [0] * len(QUARTER_COLUMNS)]
        bucket[0] += 1
        kind = 0
        if point.direction == "inbound":
            bucket[1] += 1
            kind = 1
            if point.sentiment is not None:
                bucket[3].append(point.sentiment)
                bucket[4] += 1
        elif point.direction == "outbound":
            bucket[2] += 1
            kind = 2
        minute = point.created_at.minute
        for quarter, cut in enumerate(QUARTERS):
            if minute < cut:
                early = bucket[5]
                early[3 * quarter] += 1
                if kind:
                    early[3 * quarter + kind] += 1
    for (session_start, hour), (
        messages,
        inbound,
        outbound,
        scores,
        scored,
        early,
    ) in buckets.items():
        if topic_hours_from is None or hour >= topic_hours_from:
            # Every hour of the session, scored or not: the topic filter of the volume
            # trend and the heatmap counts its messages.
            for topic in topics_of[session_start]:
                into.activity_topics.append(
                    (
                        account_id,
                        topic,
                        chat_id,
                        hour,
                        math.fsum(scores),
                        scored,
                        messages,
                        inbound,
                        outbound,
                    )
                )
        if activity_from is not None and session_start < activity_from:
            continue
        into.activity.append(
            (
                account_id,
                chat_id,
                session_start,
                hour,
                messages,
                inbound,
                outbound,
                math.fsum(scores),
                scored,
                *early,
            )
        )


def _fan_day_rows(
    account_id: str,
    chat_id: str,
    ordered: Sequence[MessagePoint],
    previous_day: datetime | None,
    into: DerivedRows,
) -> None:
    """Each day the fan wrote, with the day they wrote before it."""
    for point in ordered:
        if point.direction != "inbound":
            continue
        day = day_floor(point.created_at)
        if day != previous_day:
            into.fan_days.append((account_id, chat_id, day, previous_day))
            previous_day = day


def _chatter_day_rows(
    account_id: str,
    chat_id: str,
    ordered: Sequence[MessagePoint],
    previous_days: Mapping[str, datetime],
    into: DerivedRows,
) -> None:
    """Per chatter, each day they sent to the fan: how many messages, and the day they
    sent before it (a chatter's fans in whole days are their rows whose previous day lies
    before the first)."""
    counts: dict[tuple[str, datetime], int] = {}
    for point in ordered:
        if point.direction == "outbound":
            key = (point.chatter or UNASSIGNED, day_floor(point.created_at))
            counts[key] = counts.get(key, 0) + 1
    previous = dict(previous_days)
    for (chatter, day), messages in sorted(counts.items()):
        into.chatter_days.append(
            (account_id, chatter, chat_id, day, previous.get(chatter), messages)
        )
        previous[chatter] = day


class TopicTuples:
    """Stored topic lists (JSON text) decoded once per distinct value."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[str, ...]] = {"[]": ()}

    def __call__(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, str):
            return tuple(value or ())
        known = self._known.get(value)
        if known is None:
            known = self._known[value] = tuple(_TOPICS.decode(value) if value else ())
        return known
