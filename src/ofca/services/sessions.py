"""Per-chat read models of the insights: sessions, session topics, reply runs, hourly
activity and each chat's first message time.

They are derived from the stored messages of one chat only, so ingest recomputes exactly
the chats a batch touched (an edit or a late, out-of-order message changes only its chat),
and for new messages only the chat's tail from the session they fall in (:class:`TailCut`).
Every refresh of an account runs under one per-account lock (Postgres advisory lock,
SQLite's write lock) inside one transaction: two processes refreshing the same chat can
never interleave their delete/insert and leave duplicates.

A refresh shares the event loop with live deltas and dashboards, so it never holds it for
long: its statements go straight to the transaction's own connection (Piccolo compiled a
statement of thousands of ``{}`` parameters for 100+ ms, and made a dict of every row),
with one array parameter per column on Postgres and ``executemany`` in SQLite's worker
thread; bulk writes are COPYs of at most :data:`COPY_ROWS` rows; and the Python work
between statements yields to the loop every :data:`SLICE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from ofca.domain.metrics import (
    MessagePoint,
    ReplyRun,
    SessionStats,
    order_key,
    reply_runs,
    session_stats,
    split_sessions,
)
from ofca.persistence.sql import numbered
from ofca.persistence.tables import (
    ActivityRow,
    ActivityTopicRow,
    ChatFirstRow,
    FanDayRow,
    ReplyRow,
    ReplyTopicRow,
    SessionRow,
    SessionTopicRow,
)
from ofca.services.ingest import GcPause
from ofca.settings import Settings, load_settings

__all__ = [
    "DerivedRows",
    "account_lock",
    "chat_rows",
    "chunks",
    "database",
    "insert_rows",
    "refresh_chats",
    "to_utc",
    "write_transaction",
]

log = logging.getLogger(__name__)

# asyncpg allows 32767 bind parameters per statement; stay well below on both engines.
MAX_PARAMS = 16000
# Chats whose messages are read by one query.
READ_BATCH_CHATS = 500
COPY_ROWS = 5_000
"""Rows per COPY call: asyncpg encodes a call's rows without yielding to the loop (~10 ms
for 5000; smaller calls cost a round trip each, which slowed large refreshes down)."""
SLICE_SECONDS = 0.005
"""Python work of a refresh between two yields to the event loop: a request or live event
waits one slice per turn of the loop it needs."""
_LOCK_NAMESPACE = 0x0FCA

_TOPICS = msgspec.json.Decoder(list[str])
_ENCODE = msgspec.json.encode


def database() -> Engine:
    """The engine the ofca tables are bound to."""
    return SessionRow._meta.db


def write_transaction(engine: Engine) -> Any:
    """A transaction that takes SQLite's write lock up front (no upgrade deadlocks)."""
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def account_lock(engine: Engine, account_id: str) -> None:
    """Serialize derived-row writers of one account until the transaction ends."""
    if isinstance(engine, PostgresEngine):
        await SessionRow.raw(
            "SELECT pg_advisory_xact_lock({}, hashtext({}))", _LOCK_NAMESPACE, account_id
        )


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def to_utc(value: datetime | str) -> datetime:
    """A UTC datetime from a DB value (SQLite returns text for computed columns)."""
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value  # asyncpg's timestamptz values
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _Slices:
    """Yields to the event loop once :data:`SLICE_SECONDS` of work have passed."""

    def __init__(self) -> None:
        self.began = time.perf_counter()

    async def tick(self) -> None:
        if time.perf_counter() - self.began > SLICE_SECONDS:
            await asyncio.sleep(0)
            self.began = time.perf_counter()


def _own_connection(engine: Engine) -> Any:
    """The current transaction's connection (asyncpg or aiosqlite), or None."""
    transaction = engine.current_transaction.get()
    return None if transaction is None else transaction.connection


async def _fetch(sql: str, account_id: str, chat_ids: Sequence[str]) -> list[Any]:
    """Rows of ``sql``, whose ``{}`` are the account and ``CHATS`` the chat ids, as tuples of
    the selected columns. Postgres: asyncpg records (one array parameter, no dict per row).
    """
    engine = database()
    if isinstance(engine, PostgresEngine):
        query = numbered(sql.replace("CHATS", "= ANY({}::varchar[])"))
        connection = _own_connection(engine)
        if connection is not None:
            return list(await connection.fetch(query, account_id, list(chat_ids)))
        sql = sql.replace("CHATS", "= ANY({}::varchar[])")
        rows = await SessionRow.raw(sql, account_id, list(chat_ids))
    else:
        sql = sql.replace("CHATS", "IN (SELECT value FROM json_each({}))")
        rows = await SessionRow.raw(sql, account_id, _ENCODE(list(chat_ids)).decode())
    return [tuple(row.values()) for row in rows]


async def _fetch_bounded(
    sql: str,
    account_id: str,
    bounds: dict[str, tuple[datetime, ...]],
    names: Sequence[str],
    *,
    per_chat: str | None = None,
) -> list[Any]:
    """Rows of ``sql`` for chats that each have their own instants: ``BOUNDS`` in it is a
    table ``b(chat_id, *names)`` of one row per chat, and its one ``{}`` (after ``BOUNDS``)
    is the account. Postgres: one statement over arrays; SQLite: one per chat, of
    ``per_chat`` when given (its ``{}`` are the chat, its instants, the account)."""
    if not bounds:
        return []
    engine = database()
    if isinstance(engine, PostgresEngine):
        arrays = ", ".join(["{}::varchar[]"] + ["{}::timestamptz[]"] * len(names))
        source = f"unnest({arrays}) AS b(chat_id, {', '.join(names)})"
        args = [list(bounds), *map(list, zip(*bounds.values(), strict=True)), account_id]
        connection = _own_connection(engine)
        if connection is not None:
            return list(await connection.fetch(numbered(sql.replace("BOUNDS", source)), *args))
        rows = await SessionRow.raw(sql.replace("BOUNDS", source), *args)
        return [tuple(row.values()) for row in rows]
    columns = ", ".join(["{} AS chat_id"] + [f"{{}} AS {name}" for name in names])
    query = per_chat or sql.replace("BOUNDS", f"(SELECT {columns}) AS b")
    found: list[Any] = []
    for chat_id, instants in bounds.items():
        rows = await SessionRow.raw(query, chat_id, *instants, account_id)
        found.extend(tuple(row.values()) for row in rows)
    return found


async def insert_rows(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], json_columns: set[str]
) -> None:
    """Bulk insert: COPY inside a Postgres transaction, ``executemany`` inside a SQLite one
    (in its worker thread), else multi-row INSERTs chunked under the bind-parameter limit."""
    if not rows:
        return
    engine = database()
    is_postgres = isinstance(engine, PostgresEngine)
    connection = _own_connection(engine)
    if connection is not None and is_postgres:
        # COPY on the transaction's connection: ~10x a multi-row INSERT (STACK_NOTES.md).
        for chunk in chunks(rows, COPY_ROWS):
            await connection.copy_records_to_table(table, records=chunk, columns=list(columns))
        return
    if connection is not None:
        await connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            rows,
        )
        return
    cell = ["{}::json" if is_postgres and c in json_columns else "{}" for c in columns]
    row_template = "(" + ", ".join(cell) + ")"
    per_statement = max(1, MAX_PARAMS // len(columns))
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    for chunk in chunks(rows, per_statement):
        sql = head + ", ".join([row_template] * len(chunk))
        await SessionRow.raw(sql, *[value for row in chunk for value in row])


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
)
REPLY_COLUMNS = (
    "account_id",
    "chat_id",
    "first_inbound_at",
    "first_inbound_message_id",
    "replied_at",
    "reply_seconds",
    "session_start_at",
)
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
)
CHAT_FIRST_COLUMNS = ("account_id", "chat_id", "first_at")
FAN_DAY_COLUMNS = ("account_id", "chat_id", "day_start", "previous_day")
REPLY_TOPIC_COLUMNS = ("account_id", "topic", "chat_id", "first_inbound_at", "reply_seconds")
ACTIVITY_TOPIC_COLUMNS = (
    "account_id",
    "topic",
    "chat_id",
    "hour_start",
    "sentiment_sum",
    "sentiment_count",
)

_READ_MODELS = (
    (SessionRow, SESSION_COLUMNS, {"topics"}),
    (SessionTopicRow, SESSION_TOPIC_COLUMNS, set()),
    (ReplyRow, REPLY_COLUMNS, set()),
    (ActivityRow, ACTIVITY_COLUMNS, set()),
    (ChatFirstRow, CHAT_FIRST_COLUMNS, set()),
    (FanDayRow, FAN_DAY_COLUMNS, set()),
    (ReplyTopicRow, REPLY_TOPIC_COLUMNS, set()),
    (ActivityTopicRow, ACTIVITY_TOPIC_COLUMNS, set()),
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
    else:
        own = [p for p in ordered if p.created_at >= tail.session_from]
        earlier = tail.earlier_sessions
        previous_day = tail.previous_fan_day
    sessions = [
        session_stats(chat_id, part, silence_threshold) for part in split_sessions(own, gap)
    ]
    if tail is None:
        runs = reply_runs(chat_id, own)
    else:
        runs = _tail_runs(chat_id, tail, ordered, own, sessions)
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
                )
            )
    known = sorted({*earlier, *((s.start_at, s.topics) for s in sessions)})
    if not known:
        return
    starts = [start for start, _ in known]
    topics_of = dict(known)
    for run in runs:
        session_start = _session_start(starts, run.first_inbound_at)
        into.replies.append(
            (
                account_id,
                chat_id,
                run.first_inbound_at,
                run.first_inbound_message_id,
                run.replied_at,
                run.reply_seconds,
                session_start,
            )
        )
        for topic in topics_of[session_start]:
            into.reply_topics.append(
                (account_id, topic, chat_id, run.first_inbound_at, run.reply_seconds)
            )
    # Hourly activity per session: sessions partition the chat's messages in time order.
    # (A tail keeps the activity of earlier sessions, and their topic activity before the
    # cut's hour, whose rows were not deleted.)
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
            bucket = buckets[key] = [0, 0, 0, [], 0]
        bucket[0] += 1
        if point.direction == "inbound":
            bucket[1] += 1
            if point.sentiment is not None:
                bucket[3].append(point.sentiment)
                bucket[4] += 1
        elif point.direction == "outbound":
            bucket[2] += 1
    for (session_start, hour), (messages, inbound, outbound, scores, scored) in buckets.items():
        if scored and (topic_hours_from is None or hour >= topic_hours_from):
            for topic in topics_of[session_start]:
                into.activity_topics.append(
                    (account_id, topic, chat_id, hour, math.fsum(scores), scored)
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
            )
        )
    if tail is None:
        into.chat_first.append((account_id, chat_id, ordered[0].created_at))
    for point in ordered:
        if point.direction != "inbound":
            continue
        day = day_floor(point.created_at)
        if day != previous_day:
            into.fan_days.append((account_id, chat_id, day, previous_day))
            previous_day = day


_POINTS = (
    "SELECT chat_id, message_id, created_at, direction, sentiment, topics "
    "FROM ofca_message WHERE account_id = {} AND created_at IS NOT NULL AND chat_id CHATS"
)


class _TopicTuples:
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


_TAIL_POINTS = (
    "SELECT m.chat_id, m.message_id, m.created_at, m.direction, m.sentiment, m.topics "
    "FROM BOUNDS JOIN ofca_message m ON m.chat_id = b.chat_id "
    "WHERE m.account_id = {} AND m.created_at >= b.read_from"
)


async def _read_points(
    account_id: str,
    chat_ids: Sequence[str],
    slices: _Slices | None = None,
    read_from: dict[str, tuple[datetime, ...]] | None = None,
) -> dict[str, list[MessagePoint]]:
    """The timed messages of these chats: all of them, or of the chats in ``read_from``
    those from their instant on."""
    whole = [chat_id for chat_id in chat_ids if not read_from or chat_id not in read_from]
    rows = await _fetch(_POINTS, account_id, whole) if whole else []
    if read_from:
        rows += await _fetch_bounded(_TAIL_POINTS, account_id, read_from, ("read_from",))
    slices = slices or _Slices()
    topics_of = _TopicTuples()
    points: dict[str, list[MessagePoint]] = {chat_id: [] for chat_id in chat_ids}
    for index, (chat_id, message_id, created_at, direction, sentiment, topics) in enumerate(rows):
        if index % 512 == 511:
            await slices.tick()
        points[chat_id].append(
            MessagePoint(
                message_id,
                to_utc(created_at),
                direction if direction in ("inbound", "outbound") else "unknown",
                sentiment,
                topics_of(topics),
            )
        )
    return points


_CUTS = (
    "SELECT b.chat_id, max(s.start_at) FROM BOUNDS JOIN ofca_session s "
    "ON s.chat_id = b.chat_id AND s.start_at <= b.since WHERE s.account_id = {} "
    "GROUP BY b.chat_id"
)
_EARLIER_SESSIONS = (
    "SELECT s.chat_id, s.start_at, s.topics FROM BOUNDS JOIN ofca_session s "
    "ON s.chat_id = b.chat_id WHERE s.account_id = {} AND s.start_at <= b.cut "
    "AND s.end_at >= b.read_from"
)
_OPEN_RUNS = (
    "SELECT r.chat_id, r.first_inbound_at, r.first_inbound_message_id, s.start_at, s.topics "
    "FROM BOUNDS JOIN ofca_reply r ON r.chat_id = b.chat_id "
    "LEFT JOIN ofca_session s ON s.account_id = r.account_id AND s.chat_id = r.chat_id "
    "AND s.start_at = r.session_start_at "
    "WHERE r.account_id = {} AND r.first_inbound_at < b.cut "
    "AND (r.replied_at IS NULL OR r.replied_at >= b.cut)"
)
_PREVIOUS_FAN_DAYS = (
    "SELECT b.chat_id, max(f.day_start) FROM BOUNDS JOIN ofca_fan_day f "
    "ON f.chat_id = b.chat_id AND f.day_start < b.read_from WHERE f.account_id = {} "
    "GROUP BY b.chat_id"
)


async def _tail_cuts(
    account_id: str, since: dict[str, datetime], topics_of: _TopicTuples
) -> dict[str, TailCut]:
    """The cut of each chat whose changes all lie at or after ``since[chat]``: the start of
    its stored session holding that instant. A chat with no stored session that early is
    refreshed whole (it is not in the result)."""
    found = await _fetch_bounded(
        _CUTS, account_id, {chat_id: (at,) for chat_id, at in since.items()}, ("since",)
    )
    cuts = {chat_id: to_utc(cut) for chat_id, cut in found if cut is not None}
    if not cuts:
        return {}
    bounds = {chat_id: (cut, day_floor(cut)) for chat_id, cut in cuts.items()}
    earlier: dict[str, set[tuple[datetime, tuple[str, ...]]]] = {c: set() for c in cuts}
    cut_topics: dict[str, tuple[str, ...]] = {}
    for chat_id, start, topics in await _fetch_bounded(
        _EARLIER_SESSIONS, account_id, bounds, ("cut", "read_from")
    ):
        start = to_utc(start)
        if start == cuts[chat_id]:
            cut_topics[chat_id] = topics_of(topics)
        else:
            earlier[chat_id].add((start, topics_of(topics)))
    open_runs: dict[str, MessagePoint] = {}
    for chat_id, first_at, first_id, start, topics in await _fetch_bounded(
        _OPEN_RUNS, account_id, bounds, ("cut", "read_from")
    ):
        open_runs[chat_id] = MessagePoint(first_id, to_utc(first_at), "inbound", None)
        if start is not None:
            earlier[chat_id].add((to_utc(start), topics_of(topics)))
    open_at_change: dict[str, MessagePoint] = {}
    changes = {chat_id: (since[chat_id], since[chat_id]) for chat_id in cuts}
    for chat_id, first_at, first_id, _, _ in await _fetch_bounded(
        _OPEN_RUNS, account_id, changes, ("cut", "read_from")
    ):
        open_at_change[chat_id] = MessagePoint(first_id, to_utc(first_at), "inbound", None)
    days = {chat_id: (day,) for chat_id, (_, day) in bounds.items()}
    previous = dict(await _fetch_bounded(_PREVIOUS_FAN_DAYS, account_id, days, ("read_from",)))
    return {
        chat_id: TailCut(
            session_from=cut,
            changed_from=to_utc(since[chat_id]),
            read_from=day_floor(cut),
            earlier_sessions=sorted(earlier[chat_id]),
            cut_topics=cut_topics.get(chat_id),
            open_run=open_runs.get(chat_id),
            open_run_at_change=open_at_change.get(chat_id),
            previous_fan_day=to_utc(previous[chat_id]) if previous.get(chat_id) else None,
        )
        for chat_id, cut in cuts.items()
    }


_RETURNING = {
    "ofca_session": " RETURNING start_at, message_count, duration_seconds, silence_percentage, "
    "turns, sentiment_score, topics",
    "ofca_activity": " RETURNING hour_start, messages, inbound, outbound, sentiment_sum, "
    "sentiment_count",
}
SESSION_HOUR_VALUES = (
    "sessions",
    "messages",
    "duration",
    "silence",
    "silence_count",
    "turns",
    "sentiment",
    "sentiment_count",
)
ACTIVITY_HOUR_VALUES = ("messages", "inbound", "outbound", "sentiment_sum", "sentiment_count")


class Rollups:
    """Deltas of the hourly rollups caused by replacing some chats' rows: old rows are
    subtracted, new rows added, and the net change is added to the stored rollups."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, datetime], list[Any]] = {}
        self.session_days: dict[tuple[str, datetime], list[Any]] = {}
        self.activity: dict[datetime, list[Any]] = {}

    def add_session(
        self, sign: int, parts: Sequence[Any], topics_of: _TopicTuples | None = None
    ) -> None:
        """``parts``: (start_at, message_count, duration, silence %, turns, sentiment,
        topics as a list or JSON text)."""
        start_at, messages, duration, silence, turns, sentiment, topics = parts
        if isinstance(topics, str):
            topics = (topics_of or _TopicTuples())(topics)
        start = to_utc(start_at)
        for rollup, key in (
            (self.sessions, hour_floor(start)),
            (self.session_days, day_floor(start)),
        ):
            for topic in ("", *topics):
                acc = rollup.get((topic, key))
                if acc is None:
                    acc = rollup[(topic, key)] = [0, 0, 0.0, 0.0, 0, 0, 0.0, 0]
                acc[0] += sign
                acc[1] += sign * messages
                acc[2] += sign * duration
                if silence is not None:
                    acc[3] += sign * silence
                    acc[4] += sign
                acc[5] += sign * turns
                if sentiment is not None:
                    acc[6] += sign * sentiment
                    acc[7] += sign

    def add_activity(self, sign: int, parts: Sequence[Any]) -> None:
        """``parts``: (hour_start, messages, inbound, outbound, sentiment sum and count)."""
        hour, messages, inbound, outbound, sentiment_sum, sentiment_count = parts
        hour = to_utc(hour)
        acc = self.activity.get(hour)
        if acc is None:
            acc = self.activity[hour] = [0, 0, 0, 0.0, 0]
        acc[0] += sign * messages
        acc[1] += sign * inbound
        acc[2] += sign * outbound
        acc[3] += sign * sentiment_sum
        acc[4] += sign * sentiment_count

    async def apply(self, account_id: str, slices: _Slices | None = None) -> None:
        slices = slices or _Slices()

        async def rows(rollup: dict[Any, list[Any]]) -> list[tuple[Any, ...]]:
            # In insertion order: each key is upserted once, under the account lock, so
            # the order changes nothing (sorting 20k keys held the loop for 40 ms).
            out: list[tuple[Any, ...]] = []
            for index, (key, values) in enumerate(rollup.items()):
                if any(values):
                    out.append((account_id, *(key if isinstance(key, tuple) else (key,)), *values))
                if index % 512 == 511:
                    await slices.tick()
            return out

        await _upsert_add(
            "ofca_session_hour",
            ("account_id", "topic", "hour_start"),
            SESSION_HOUR_VALUES,
            await rows(self.sessions),
        )
        await _upsert_add(
            "ofca_activity_hour",
            ("account_id", "hour_start"),
            ACTIVITY_HOUR_VALUES,
            await rows(self.activity),
        )
        await _upsert_add(
            "ofca_session_day",
            ("account_id", "topic", "day_start"),
            SESSION_HOUR_VALUES,
            await rows(self.session_days),
        )


_PG_TYPES = {
    "account_id": "varchar",
    "topic": "varchar",
    "hour_start": "timestamptz",
    "day_start": "timestamptz",
    "sessions": "integer",
    "messages": "integer",
    "duration": "double precision",
    "silence": "double precision",
    "silence_count": "integer",
    "turns": "integer",
    "sentiment": "double precision",
    "sentiment_count": "integer",
    "inbound": "integer",
    "outbound": "integer",
    "sentiment_sum": "double precision",
}
"""Postgres types of the rollup columns, for ``unnest`` of one array per column."""


async def _upsert_add(
    table: str, keys: Sequence[str], values: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT the rows, or add their values to the existing row with the same key."""
    if not rows:
        return
    columns = (*keys, *values)
    updates = ", ".join(f"{v} = {table}.{v} + excluded.{v}" for v in values)
    head = f"INSERT INTO {table} ({', '.join(columns)}) "
    tail = f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    engine = database()
    connection = _own_connection(engine)
    if connection is not None and isinstance(engine, PostgresEngine):
        arrays = ", ".join(f"${i + 1}::{_PG_TYPES[c]}[]" for i, c in enumerate(columns))
        await connection.execute(
            f"{head}SELECT * FROM unnest({arrays}){tail}",
            *[[row[i] for row in rows] for i in range(len(columns))],
        )
        return
    if connection is not None:
        marks = ", ".join("?" for _ in columns)
        await connection.executemany(f"{head}VALUES ({marks}){tail}", rows)
        return
    row_template = "(" + ", ".join(["{}"] * len(columns)) + ")"
    for chunk in chunks(rows, max(1, MAX_PARAMS // len(columns))):
        await SessionRow.raw(
            head + "VALUES " + ", ".join([row_template] * len(chunk)) + tail,
            *[value for row in chunk for value in row],
        )


@cache
def _environment_settings() -> Settings:
    return load_settings()


async def refresh_chats(
    account_id: str,
    chat_ids: Iterable[str],
    *,
    settings: Settings | None = None,
    since: Mapping[str, datetime] | None = None,
) -> None:
    """Recompute the read-model rows of exactly these chats from their stored messages.

    Messages without a usable ``created_at`` are excluded (METRICS.md "Time"). One
    transaction replaces the old rows of all the chats; reads happen inside it, after the
    account lock, so the rows always match committed messages. ``settings`` gives the
    session gap and silence threshold (default: from the environment).

    ``since[chat]`` says every change of that chat since its last refresh lies at or after
    that instant (new messages, the live case): only its rows from the stored session
    holding that instant on are re-derived (:class:`TailCut`), so a refresh costs the
    chat's last session, not its whole history. Other chats are re-derived whole.
    """
    ids = sorted(set(chat_ids))
    if not ids:
        return
    settings = settings or _environment_settings()
    began = time.perf_counter()
    # A refresh makes ~100k short-lived objects (message points, derived rows), all freed
    # by reference counting; with cyclic collection on, they set off full collections of
    # the whole heap (50-70 ms each, holding the loop) in the middle of the refresh.
    gc_pause = GcPause().hold()
    try:
        derived = await _refresh(account_id, ids, settings, dict(since or {}))
    finally:
        gc_pause.release()
    log.info(
        "refreshed %d chats of %s: %d sessions, %d replies in %.1f ms",
        len(ids),
        account_id,
        len(derived.sessions),
        len(derived.replies),
        (time.perf_counter() - began) * 1000,
    )


_MARKS = (
    "SELECT chat_id, since, whole, version FROM ofca_refresh_due "
    "WHERE account_id = {} AND chat_id CHATS"
)


async def _due_marks(account_id: str, ids: list[str], since: dict[str, datetime]) -> list[Any]:
    """The stored marks of these chats (``ofca_refresh_due``), merged into ``since``: a
    chat refreshed from an instant also covers an earlier marked one, and a whole mark
    (an edit) makes it whole. Returns (chat, version) of each mark read."""
    found = []
    for chat_id, marked_since, whole, version in await _fetch(_MARKS, account_id, ids):
        found.append((chat_id, version))
        if chat_id not in since:
            continue  # asked for whole
        if whole or marked_since is None:
            del since[chat_id]
        else:
            since[chat_id] = min(to_utc(since[chat_id]), to_utc(marked_since))
    return found


async def _clear_marks(account_id: str, marks: list[Any]) -> None:
    """Remove exactly the marks this refresh read: one written since (a newer version,
    committed after our reads) stays for the refresh that follows it."""
    if not marks:
        return
    engine = database()
    connection = _own_connection(engine)
    if isinstance(engine, PostgresEngine) and connection is not None:
        chats, versions = map(list, zip(*marks, strict=True))
        await connection.execute(
            "DELETE FROM ofca_refresh_due d USING unnest($2::varchar[], $3::bigint[]) "
            "AS t(chat_id, version) WHERE d.account_id = $1 AND d.chat_id = t.chat_id "
            "AND d.version = t.version",
            account_id,
            chats,
            versions,
        )
        return
    for chat_id, version in marks:
        await SessionRow.raw(
            "DELETE FROM ofca_refresh_due WHERE account_id = {} AND chat_id = {} AND version = {}",
            account_id,
            chat_id,
            version,
        )


_TAIL_DELETE_FROM = {
    "ofca_session": ("start_at", "session_from"),
    "ofca_session_topic": ("start_at", "session_from"),
    "ofca_reply": ("first_inbound_at", "reply_from"),
    "ofca_activity": ("session_start_at", "session_from"),
    "ofca_fan_day": ("day_start", "read_from"),
    "ofca_reply_topic": ("first_inbound_at", "reply_from"),
    "ofca_activity_topic": ("hour_start", "topic_hours_from"),
}
"""The rows a tail refresh replaces: (column, :class:`TailCut` bound) per table; the rest
(``ofca_chat_first``) stays."""


def _tail_bound(cut: TailCut, name: str) -> datetime:
    if name == "topic_hours_from":
        return hour_floor(cut.session_from)
    bound = getattr(cut, name)
    assert bound is not None, name  # reply_from: set by chat_rows before the deletes
    return bound


async def _refresh(
    account_id: str, ids: list[str], settings: Settings, since: dict[str, datetime]
) -> DerivedRows:
    gap = timedelta(minutes=settings.session_gap_minutes)
    silence = timedelta(seconds=settings.silence_threshold_seconds)
    engine = database()
    derived = DerivedRows()
    slices = _Slices()
    topics_of = _TopicTuples()
    async with write_transaction(engine):
        await account_lock(engine, account_id)
        marks = await _due_marks(account_id, ids, since)
        tails = await _tail_cuts(account_id, {c: since[c] for c in ids if c in since}, topics_of)
        whole = [chat_id for chat_id in ids if chat_id not in tails]
        for batch in chunks(ids, READ_BATCH_CHATS):
            read_from = {c: (tails[c].read_from,) for c in batch if c in tails}
            points = await _read_points(account_id, batch, slices, read_from)
            for chat_id in batch:
                tail = tails.get(chat_id)
                chat_rows(account_id, chat_id, points[chat_id], gap, silence, derived, tail)
                await slices.tick()
        rollups = Rollups()
        for table, _columns, _json in _READ_MODELS:
            name = table._meta.tablename
            returning = _RETURNING.get(name, "")
            old = []
            if whole:
                old += await _fetch(
                    f"DELETE FROM {name} WHERE account_id = {{}} AND chat_id CHATS" + returning,
                    account_id,
                    whole,
                )
            if tails and name in _TAIL_DELETE_FROM:
                column, bound = _TAIL_DELETE_FROM[name]
                old += await _fetch_bounded(
                    f"DELETE FROM {name} t USING BOUNDS WHERE t.chat_id = b.chat_id "
                    f"AND t.{column} >= b.bound AND t.account_id = {{}}" + returning,
                    account_id,
                    {chat_id: (_tail_bound(cut, bound),) for chat_id, cut in tails.items()},
                    ("bound",),
                    per_chat=f"DELETE FROM {name} WHERE chat_id = {{}} AND {column} >= {{}} "
                    f"AND account_id = {{}}" + returning,
                )
            if name == "ofca_session":
                for index, row in enumerate(old):
                    rollups.add_session(-1, row, topics_of)
                    if index % 256 == 255:
                        await slices.tick()
            elif name == "ofca_activity":
                for index, row in enumerate(old):
                    rollups.add_activity(-1, row)
                    if index % 256 == 255:
                        await slices.tick()
        for index, row in enumerate(derived.sessions):
            rollups.add_session(1, row[2:3] + row[6:7] + row[9:10] + row[11:13] + row[15:17])
            if index % 256 == 255:
                await slices.tick()
        for row in derived.activity:
            rollups.add_activity(1, row[3:9])
        await slices.tick()
        for (table, columns, json_columns), rows in zip(
            _READ_MODELS,
            (
                derived.sessions,
                derived.session_topics,
                derived.replies,
                derived.activity,
                derived.chat_first,
                derived.fan_days,
                derived.reply_topics,
                derived.activity_topics,
            ),
            strict=True,
        ):
            await insert_rows(table._meta.tablename, columns, rows, json_columns)
        await rollups.apply(account_id, slices)
        await _clear_marks(account_id, marks)
    return derived
