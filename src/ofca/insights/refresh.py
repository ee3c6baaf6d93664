"""Re-deriving chats' insight rows: read their messages, replace their rows, adjust the
rollups, clear their refresh marks, all in one transaction.

Every refresh of an account runs under one per-account lock (Postgres advisory lock,
SQLite's write lock) inside one transaction: two processes refreshing the same chat can
never interleave their delete/insert and leave duplicates. New messages re-derive only a
chat's tail (``projector.TailCut``); edits, topic changes and erasures the whole chat.

A refresh shares the event loop with live deltas and dashboards, so it never holds it for
long: its statements go straight to the transaction's own connection, with one array
parameter per column on Postgres and ``executemany`` in SQLite's worker thread; bulk
writes are COPYs (``persistence.sql.insert_rows``); and the Python work between
statements yields to the loop every ``loop.SLICE_SECONDS``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from ofca.domain.metrics import MessagePoint
from ofca.domain.money import UNASSIGNED, message_revenue
from ofca.insights.credits import refresh_tip_credits
from ofca.insights.projector import (
    QUARTER_COLUMNS,
    READ_MODELS,
    DerivedRows,
    TailCut,
    TopicTuples,
    chat_rows,
    day_floor,
    hour_floor,
)
from ofca.insights.spend import refresh_chat_spend
from ofca.loop import GcPause, Slices
from ofca.persistence.chat_tally import fold_chat_tallies
from ofca.persistence.refresh_marks import clear_marks, read_marks
from ofca.persistence.sql import (
    MAX_PARAMS,
    chunks,
    database,
    fetch_bounded,
    fetch_for_chats,
    insert_rows,
    lock_derived_rows,
    own_connection,
    to_utc,
    write_transaction,
)
from ofca.persistence.tables import SessionRow
from ofca.settings import Settings, load_settings

__all__ = ["Rollups", "refresh_chats"]

log = logging.getLogger(__name__)

# Chats whose messages are read by one query.
READ_BATCH_CHATS = 500


_POINTS = (
    "SELECT chat_id, message_id, created_at, direction, sentiment, topics, "
    "is_tip, price, is_free, is_opened, chatter FROM ofca_message "
    "WHERE account_id = {} AND created_at IS NOT NULL AND chat_id CHATS"
)


_TAIL_POINTS = (
    "SELECT m.chat_id, m.message_id, m.created_at, m.direction, m.sentiment, m.topics, "
    "m.is_tip, m.price, m.is_free, m.is_opened, m.chatter "
    "FROM BOUNDS JOIN ofca_message m ON m.chat_id = b.chat_id "
    "WHERE m.account_id = {} AND m.created_at >= b.read_from"
)


async def _read_points(
    account_id: str,
    chat_ids: Sequence[str],
    slices: Slices | None = None,
    read_from: Mapping[str, tuple[datetime, ...]] | None = None,
) -> dict[str, list[MessagePoint]]:
    """The timed messages of these chats: all of them, or of the chats in ``read_from``
    those from their instant on."""
    whole = [chat_id for chat_id in chat_ids if not read_from or chat_id not in read_from]
    rows = await fetch_for_chats(_POINTS, account_id, whole) if whole else []
    if read_from:
        rows += await fetch_bounded(_TAIL_POINTS, account_id, read_from, ("read_from",))
    slices = slices or Slices()
    topics_of = TopicTuples()
    points: dict[str, list[MessagePoint]] = {chat_id: [] for chat_id in chat_ids}
    for index, row in enumerate(rows):
        chat_id, message_id, created_at, direction, sentiment, topics, tip, price = row[:8]
        if index % 512 == 511:
            await slices.tick()
        points[chat_id].append(
            MessagePoint(
                message_id,
                to_utc(created_at),
                direction if direction in ("inbound", "outbound") else "unknown",
                sentiment,
                topics_of(topics),
                message_revenue(direction, bool(tip), price, bool(row[8]), bool(row[9]))
                if price
                else 0.0,
                row[10],
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


_PREVIOUS_CHATTER_DAYS = (
    "SELECT b.chat_id, d.chatter, max(d.day_start) FROM BOUNDS JOIN ofca_chatter_day d "
    "ON d.chat_id = b.chat_id AND d.day_start < b.read_from WHERE d.account_id = {} "
    "GROUP BY b.chat_id, d.chatter"
)


async def _tail_cuts(
    account_id: str, since: dict[str, datetime], topics_of: TopicTuples
) -> dict[str, TailCut]:
    """The cut of each chat whose changes all lie at or after ``since[chat]``: the start of
    its stored session holding that instant. A chat with no stored session that early is
    refreshed whole (it is not in the result)."""
    found = await fetch_bounded(
        _CUTS, account_id, {chat_id: (at,) for chat_id, at in since.items()}, ("since",)
    )
    cuts = {chat_id: to_utc(cut) for chat_id, cut in found if cut is not None}
    if not cuts:
        return {}
    bounds = {chat_id: (cut, day_floor(cut)) for chat_id, cut in cuts.items()}
    earlier: dict[str, set[tuple[datetime, tuple[str, ...]]]] = {c: set() for c in cuts}
    cut_topics: dict[str, tuple[str, ...]] = {}
    for chat_id, start, topics in await fetch_bounded(
        _EARLIER_SESSIONS, account_id, bounds, ("cut", "read_from")
    ):
        start = to_utc(start)
        if start == cuts[chat_id]:
            cut_topics[chat_id] = topics_of(topics)
        else:
            earlier[chat_id].add((start, topics_of(topics)))
    open_runs: dict[str, MessagePoint] = {}
    for chat_id, first_at, first_id, start, topics in await fetch_bounded(
        _OPEN_RUNS, account_id, bounds, ("cut", "read_from")
    ):
        open_runs[chat_id] = MessagePoint(first_id, to_utc(first_at), "inbound", None)
        if start is not None:
            earlier[chat_id].add((to_utc(start), topics_of(topics)))
    open_at_change: dict[str, MessagePoint] = {}
    changes = {chat_id: (since[chat_id], since[chat_id]) for chat_id in cuts}
    for chat_id, first_at, first_id, _, _ in await fetch_bounded(
        _OPEN_RUNS, account_id, changes, ("cut", "read_from")
    ):
        open_at_change[chat_id] = MessagePoint(first_id, to_utc(first_at), "inbound", None)
    days = {chat_id: (day,) for chat_id, (_, day) in bounds.items()}
    previous = dict(await fetch_bounded(_PREVIOUS_FAN_DAYS, account_id, days, ("read_from",)))
    chatter_days: dict[str, dict[str, datetime]] = {chat_id: {} for chat_id in cuts}
    for chat_id, chatter, day in await fetch_bounded(
        _PREVIOUS_CHATTER_DAYS, account_id, days, ("read_from",)
    ):
        chatter_days[chat_id][chatter] = to_utc(day)
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
            previous_chatter_days=chatter_days[chat_id],
        )
        for chat_id, cut in cuts.items()
    }


_RETURNING = {
    "ofca_session": " RETURNING start_at, message_count, duration_seconds, silence_percentage, "
    "turns, sentiment_score, topics, revenue",
    "ofca_activity": " RETURNING hour_start, messages, inbound, outbound, sentiment_sum, "
    "sentiment_count, " + ", ".join(QUARTER_COLUMNS),
    "ofca_chatter_day": " RETURNING chatter, day_start, previous_day, messages",
    "ofca_reply": " RETURNING chatter, first_inbound_at, reply_seconds, reply_bucket",
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
    "revenue",
)


ACTIVITY_HOUR_VALUES = (
    "messages",
    "inbound",
    "outbound",
    "sentiment_sum",
    "sentiment_count",
    *QUARTER_COLUMNS,
)
CHATTER_DAY_VALUES = ("chats", "messages", "followed")
REPLY_BUCKET_VALUES = ("answered", "micros")


def _add_sums(rollup: dict[Any, list[Any]], key: Any, sign: int, values: Sequence[Any]) -> None:
    """Add (or with ``sign`` -1 take away) one session's sums under ``key``."""
    messages, duration, silence, turns, sentiment, revenue = values
    acc = rollup.get(key)
    if acc is None:
        acc = rollup[key] = [0, 0, 0.0, 0.0, 0, 0, 0.0, 0, 0.0]
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
    acc[8] += sign * revenue


class Rollups:
    """Deltas of the hourly rollups caused by replacing some chats' rows: old rows are
    subtracted, new rows added, and the net change is added to the stored rollups."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[str, datetime], list[Any]] = {}
        self.session_days: dict[tuple[str, datetime], list[Any]] = {}
        self.pairs: dict[tuple[str, str, datetime], list[Any]] = {}
        self.pair_days: dict[tuple[str, str, datetime], list[Any]] = {}
        self.activity: dict[datetime, list[Any]] = {}
        self.chatter_days: dict[tuple[str, datetime], list[int]] = {}
        self.reply_buckets: dict[tuple[str, datetime, int], list[int]] = {}

    def add_session(
        self, sign: int, parts: Sequence[Any], topics_of: TopicTuples | None = None
    ) -> None:
        """``parts``: (start_at, message_count, duration, silence %, turns, sentiment,
        topics as a list or JSON text, revenue)."""
        start_at, messages, duration, silence, turns, sentiment, topics, revenue = parts
        if isinstance(topics, str):
            topics = (topics_of or TopicTuples())(topics)
        start = to_utc(start_at)
        values = (messages, duration, silence, turns, sentiment, revenue or 0.0)
        hour, day = hour_floor(start), day_floor(start)
        for topic in ("", *topics):
            _add_sums(self.sessions, (topic, hour), sign, values)
            _add_sums(self.session_days, (topic, day), sign, values)
            if topic:
                for with_topic in topics:
                    _add_sums(self.pairs, (with_topic, topic, hour), sign, values)
                    _add_sums(self.pair_days, (with_topic, topic, day), sign, values)

    def add_activity(self, sign: int, parts: Sequence[Any]) -> None:
        """``parts``: (hour_start, messages, inbound, outbound, sentiment sum and count, the
        counts before each quarter)."""
        hour = to_utc(parts[0])
        acc = self.activity.get(hour)
        if acc is None:
            acc = self.activity[hour] = [0, 0, 0, 0.0, *[0] * (1 + len(QUARTER_COLUMNS))]
        for index, value in enumerate(parts[1:]):
            acc[index] += sign * value

    def add_chatter_day(self, sign: int, parts: Sequence[Any]) -> None:
        """``parts``: (chatter, day_start, previous_day, messages) of a chatter day."""
        chatter, day, previous_day, messages = parts
        acc = self.chatter_days.setdefault((chatter, to_utc(day)), [0, 0, 0])
        acc[0] += sign
        acc[1] += sign * messages
        if previous_day is not None:
            self.chatter_days.setdefault((chatter, to_utc(previous_day)), [0, 0, 0])[2] += sign

    def add_reply(self, sign: int, parts: Sequence[Any]) -> None:
        """``parts``: (chatter, first_inbound_at, reply_seconds, reply_bucket) of a run."""
        chatter, first_inbound_at, seconds, bucket = parts
        if seconds is None:
            return  # unanswered: not in the reply-time buckets
        key = (chatter or UNASSIGNED, day_floor(to_utc(first_inbound_at)), bucket)
        acc = self.reply_buckets.setdefault(key, [0, 0])
        acc[0] += sign
        acc[1] += sign * round(seconds * 1_000_000)  # whole microseconds: exact sums

    async def apply(self, account_id: str, slices: Slices | None = None) -> None:
        slices = slices or Slices()

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

        rollups: tuple[tuple[str, tuple[str, ...], Sequence[str], dict[Any, Any]], ...] = (
            ("ofca_session_hour", ("topic", "hour_start"), SESSION_HOUR_VALUES, self.sessions),
            ("ofca_activity_hour", ("hour_start",), ACTIVITY_HOUR_VALUES, self.activity),
            ("ofca_session_day", ("topic", "day_start"), SESSION_HOUR_VALUES, self.session_days),
            (
                "ofca_topic_pair_hour",
                ("with_topic", "topic", "hour_start"),
                SESSION_HOUR_VALUES,
                self.pairs,
            ),
            (
                "ofca_topic_pair_day",
                ("with_topic", "topic", "day_start"),
                SESSION_HOUR_VALUES,
                self.pair_days,
            ),
            (
                "ofca_chatter_day_total",
                ("chatter", "day_start"),
                CHATTER_DAY_VALUES,
                self.chatter_days,
            ),
            (
                "ofca_reply_bucket_day",
                ("chatter", "day_start", "bucket"),
                REPLY_BUCKET_VALUES,
                self.reply_buckets,
            ),
        )
        for table, keys, values, rollup in rollups:
            await _upsert_add(table, ("account_id", *keys), values, await rows(rollup))


_PG_TYPES = {
    "account_id": "varchar",
    "topic": "varchar",
    "with_topic": "varchar",
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
    "revenue": "double precision",
    "chatter": "varchar",
    "chats": "integer",
    "followed": "integer",
    **dict.fromkeys(QUARTER_COLUMNS, "integer"),
    "bucket": "smallint",
    "answered": "integer",
    "micros": "bigint",
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
    connection = own_connection(engine)
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

    Messages without a usable ``created_at`` are excluded (docs/metrics.md "Messages"). One
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


_TAIL_DELETE_FROM = {
    "ofca_session": ("start_at", "session_from"),
    "ofca_session_topic": ("start_at", "session_from"),
    "ofca_reply": ("first_inbound_at", "reply_from"),
    "ofca_activity": ("session_start_at", "session_from"),
    "ofca_fan_day": ("day_start", "read_from"),
    "ofca_reply_topic": ("first_inbound_at", "reply_from"),
    "ofca_activity_topic": ("hour_start", "topic_hours_from"),
    "ofca_session_chatter": ("start_at", "session_from"),
    "ofca_chatter_day": ("day_start", "read_from"),
}
"""The rows a tail refresh replaces: (column, :class:`TailCut` bound) per table; the rest
(``ofca_chat_first``) stays."""


def _tail_bound(cut: TailCut, name: str) -> datetime:
    if name == "topic_hours_from":
        return hour_floor(cut.session_from)
    bound: datetime | None = getattr(cut, name)
    assert bound is not None, name  # reply_from: set by chat_rows before the deletes
    return bound


async def _refresh(
    account_id: str, ids: list[str], settings: Settings, since: dict[str, datetime]
) -> DerivedRows:
    engine = database()
    derived = DerivedRows()
    slices = Slices()
    topics_of = TopicTuples()
    async with write_transaction(engine):
        await lock_derived_rows(engine, account_id)
        marks = await read_marks(account_id, ids, since)
        tails = await _tail_cuts(account_id, {c: since[c] for c in ids if c in since}, topics_of)
        whole = [chat_id for chat_id in ids if chat_id not in tails]
        await _derive(account_id, ids, tails, settings, derived, slices)
        rollups = Rollups()
        for table, _columns, _json in READ_MODELS:
            name = table._meta.tablename
            old = await _delete_replaced(name, account_id, whole, tails)
            await _subtract_old(rollups, name, old, topics_of, slices)
        await _add_derived(rollups, derived, slices)
        for (table, columns, json_columns), rows in zip(
            READ_MODELS, derived.by_read_model(), strict=True
        ):
            await insert_rows(table._meta.tablename, columns, rows, json_columns)
        await rollups.apply(account_id, slices)
        await refresh_chat_spend(account_id, ids)
        await refresh_tip_credits(account_id, ids)
        await fold_chat_tallies(account_id, ids)
        await clear_marks(account_id, marks)
    return derived


async def _derive(
    account_id: str,
    ids: list[str],
    tails: dict[str, TailCut],
    settings: Settings,
    derived: DerivedRows,
    slices: Slices,
) -> None:
    """Read the chats' messages (a tail's from its cut) and project their rows."""
    gap = timedelta(minutes=settings.session_gap_minutes)
    silence = timedelta(seconds=settings.silence_threshold_seconds)
    for batch in chunks(ids, READ_BATCH_CHATS):
        read_from = {c: (tails[c].read_from,) for c in batch if c in tails}
        points = await _read_points(account_id, batch, slices, read_from)
        for chat_id in batch:
            tail = tails.get(chat_id)
            chat_rows(account_id, chat_id, points[chat_id], gap, silence, derived, tail)
            await slices.tick()


async def _delete_replaced(
    name: str, account_id: str, whole: list[str], tails: dict[str, TailCut]
) -> list[Any]:
    """Delete the rows of table ``name`` that the refresh replaces (all of a whole chat's,
    a tail's from its cut); returns what the rollups need of them."""
    returning = _RETURNING.get(name, "")
    old: list[Any] = []
    if whole:
        old += await fetch_for_chats(
            f"DELETE FROM {name} WHERE account_id = {{}} AND chat_id CHATS" + returning,
            account_id,
            whole,
        )
    if tails and name in _TAIL_DELETE_FROM:
        column, bound = _TAIL_DELETE_FROM[name]
        old += await fetch_bounded(
            f"DELETE FROM {name} t USING BOUNDS WHERE t.chat_id = b.chat_id "
            f"AND t.{column} >= b.bound AND t.account_id = {{}}" + returning,
            account_id,
            {chat_id: (_tail_bound(cut, bound),) for chat_id, cut in tails.items()},
            ("bound",),
            per_chat=f"DELETE FROM {name} WHERE chat_id = {{}} AND {column} >= {{}} "
            f"AND account_id = {{}}" + returning,
        )
    return old


async def _subtract_old(
    rollups: Rollups,
    name: str,
    old: list[Any],
    topics_of: TopicTuples,
    slices: Slices,
) -> None:
    """Take deleted session, activity, chatter day and reply rows out of the rollups."""
    if name == "ofca_reply":
        for index, row in enumerate(old):
            rollups.add_reply(-1, row)
            if index % 256 == 255:
                await slices.tick()
    elif name == "ofca_chatter_day":
        for index, row in enumerate(old):
            rollups.add_chatter_day(-1, row)
            if index % 256 == 255:
                await slices.tick()
    elif name == "ofca_session":
        for index, row in enumerate(old):
            rollups.add_session(-1, row, topics_of)
            if index % 256 == 255:
                await slices.tick()
    elif name == "ofca_activity":
        for index, row in enumerate(old):
            rollups.add_activity(-1, row)
            if index % 256 == 255:
                await slices.tick()


async def _add_derived(rollups: Rollups, derived: DerivedRows, slices: Slices) -> None:
    """Put the new session, activity, chatter day and reply rows into the rollups."""
    for index, row in enumerate(derived.sessions):
        rollups.add_session(1, row[2:3] + row[6:7] + row[9:10] + row[11:13] + row[15:18])
        if index % 256 == 255:
            await slices.tick()
    for row in derived.activity:
        rollups.add_activity(1, row[3:])
    await slices.tick()
    for index, row in enumerate(derived.chatter_days):
        rollups.add_chatter_day(1, (row[1], row[3], row[4], row[5]))
        if index % 256 == 255:
            await slices.tick()
    for index, row in enumerate(derived.replies):
        rollups.add_reply(1, (row[8], row[2], row[5], row[9]))
        if index % 256 == 255:
            await slices.tick()
