"""The storage side of ingestion: bulk upserts of chats and messages, per engine.

Postgres: COPY (asyncpg ``copy_records_to_table`` on a raw pool connection) into a
temporary staging table, then one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE
content_hash <> excluded.content_hash RETURNING (xmax = 0)`` which tells inserted rows from
updated ones; unchanged rows (duplicates) are not written at all. One transaction per
frame, holding a per-account advisory lock so several processes ingesting one account
serialize. Frames of up to :data:`UNNEST_ROWS` messages (deltas) skip the staging: one
``INSERT ... SELECT FROM unnest(...)`` statement does the same in one round trip.
SQLite: one ``BEGIN IMMEDIATE`` transaction on its own connection, existing
hashes looked up in chunks, then ``executemany`` inserts and updates.

Messages and chats come as the records of ``ofca.domain.records`` (one per row); they are
handed to the drivers as tuples in column order. The transaction that stores messages also
marks their chats' insight rows due (``persistence.refresh_marks``); the outcome says which
(:attr:`UpsertOutcome.due`), for the writer to hand to the ``RefreshScheduler``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from ofca.domain.records import CHAT_COLUMNS, MESSAGE_COLUMNS, StoredChat, StoredMessage
from ofca.ingest.context import ValueRefused
from ofca.persistence.faults import StorageUnavailable, as_storage_error, is_value_refused
from ofca.persistence.refresh_marks import SQLITE_MARK_DUE, pg_mark_due, widen_since
from ofca.persistence.tables import ChatRow

__all__ = [
    "InTransaction",
    "StorageUnavailable",
    "TopicsChanged",
    "UpsertOutcome",
    "known_chats",
    "upsert_frame",
    "write_enrichment",
]

_astuple = msgspec.structs.astuple

_MESSAGE_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "varchar",
    "varchar",
    "boolean",
    "double precision",
    "integer",
    "varchar",
    "double precision",
    "json",
    "boolean",
    "timestamptz",
    "bigint",
    "boolean",
    "boolean",
    "varchar",
    "text",
    "varchar",
)
"""Postgres types of :data:`MESSAGE_COLUMNS`, for ``unnest`` of one array per column."""
_CHAT_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "text",
    "text",
    "text",
    "varchar",
    "text",
    "timestamptz",
    "timestamptz",
)
_UPDATED_ON_EDIT = [c for c in MESSAGE_COLUMNS if c not in ("account_id", "message_id", "version")]
# An edit keeps a command-linked message's chatter (the command's user or key): the
# incoming record only knows the extension's operator.
_PG_EDIT_SET = ", ".join(
    "chatter = CASE WHEN ofca_message.command_id IS NULL THEN excluded.chatter "
    "ELSE ofca_message.chatter END"
    if c == "chatter"
    else f"{c} = excluded.{c}"
    for c in _UPDATED_ON_EDIT
)

# ----------------------------------------------------------------- version order
# A version of a message replaces the stored one only when it is newer: its changedAt is
# later, or the stored version has none (then arrival order decides, as for sources that
# send no changedAt). A late resend of an older version, one without changedAt once the
# stored one has it, or another version with the same changedAt changes nothing and is
# answered as a duplicate. Stated once in SQL (Postgres' ON CONFLICT) and once in Python
# (the lookups that tell edits from duplicates before writing), kept together here.
_NEWER_SQL = "(ofca_message.changed_at IS NULL OR excluded.changed_at > ofca_message.changed_at)"


def _replaces(stored: datetime | None, incoming: datetime | None) -> bool:
    """Whether a version changed at ``incoming`` replaces one stored as changed at
    ``stored`` (their contents differ): the rule of :data:`_NEWER_SQL`."""
    return stored is None or (incoming is not None and incoming > stored)


_CHAT_UPDATE = ("fan_id", "fan_name", "fan_username", "fan_avatar", "raw", "updated_at")

InTransaction = Callable[[Any], Awaitable[None]]
"""Run on the write's own connection (asyncpg or aiosqlite) just before it commits: what
must commit with the data or not at all (an extension stream's ``committed_seq``)."""

EnrichmentRow = tuple[str, str, str | None, float | None, str]
"""``(message_id, content_hash, cleaned text, sentiment, topics JSON)``."""

SQLITE_CHUNK = 500
"""Ids per ``IN (...)`` lookup: far below SQLite's bound-parameter limit."""
COPY_CHUNK = 2_000
"""Rows per COPY call: asyncpg encodes a call's records in one go, which holds the loop."""
UNNEST_ROWS = 1_000
"""Frames with at most this many messages are merged with one statement, not staged."""
LOOKUP_CHUNK = 5_000
"""Message ids whose stored hashes a large frame looks up per query (~3 ms of Python)."""


class TopicsChanged(Exception):
    """The account's topic set is not the version the rows were tagged with; nothing was
    written. Tag them again with the rules of ``version`` and retry."""

    def __init__(self, version: int) -> None:
        super().__init__(f"topic set is now version {version}")
        self.version = version


class UpsertOutcome:
    __slots__ = ("command_ids", "due", "inserted", "updated")

    def __init__(self) -> None:
        self.inserted: list[str] = []
        self.updated: list[str] = []
        self.command_ids: dict[str, str] = {}
        """Commands already linked to updated (edited) messages: an edit keeps its link."""
        self.due: dict[str, datetime | None] = {}
        """The chats this write marked due, each from the instant its changes start at, or
        None (whole): what the writer hands to the ``RefreshScheduler``."""

    def add(self, message_id: str, inserted: bool, command_id: str | None) -> None:
        (self.inserted if inserted else self.updated).append(message_id)
        if command_id is not None:
            self.command_ids[message_id] = command_id


# --------------------------------------------------------------------------- postgres

_PG_STAGE_MESSAGES = (
    "CREATE TEMP TABLE IF NOT EXISTS ofca_stage_message ON COMMIT DELETE ROWS AS "
    f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM ofca_message WITH NO DATA"
)
_PG_STAGE_CHATS = (
    "CREATE TEMP TABLE IF NOT EXISTS ofca_stage_chat ON COMMIT DELETE ROWS AS "
    f"SELECT {', '.join(CHAT_COLUMNS)} FROM ofca_chat WITH NO DATA"
)
_PG_MERGE_MESSAGES = (
    f"INSERT INTO ofca_message ({', '.join(MESSAGE_COLUMNS)}) "
    f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM ofca_stage_message "
    "ON CONFLICT (account_id, message_id) DO UPDATE SET "
    + _PG_EDIT_SET
    + ", version = ofca_message.version + 1 "
    "WHERE ofca_message.content_hash <> excluded.content_hash AND " + _NEWER_SQL + " "
    "RETURNING message_id, (xmax = 0) AS inserted, command_id"
)
_PG_MERGE_UNNEST = (
    f"INSERT INTO ofca_message ({', '.join(MESSAGE_COLUMNS)}) "
    "SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_MESSAGE_TYPES))
    + ") ON CONFLICT (account_id, message_id) DO UPDATE SET "
    + _PG_EDIT_SET
    + ", version = ofca_message.version + 1 "
    "WHERE ofca_message.content_hash <> excluded.content_hash AND " + _NEWER_SQL + " "
    "RETURNING message_id, (xmax = 0) AS inserted, command_id"
)
_PG_MERGE_CHATS = (
    f"INSERT INTO ofca_chat ({', '.join(CHAT_COLUMNS)}) "
    f"SELECT {', '.join(CHAT_COLUMNS)} FROM ofca_stage_chat "
    "ON CONFLICT (account_id, chat_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHAT_UPDATE)
)
_PG_CHATS_IF_MISSING = (
    f"INSERT INTO ofca_chat ({', '.join(CHAT_COLUMNS)}) "
    "SELECT * FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_CHAT_TYPES))
    + ") ON CONFLICT (account_id, chat_id) DO NOTHING"
)
_PG_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext($1)) AS locked, "
    "(SELECT version FROM ofca_topic_set WHERE account_id = $1) AS topic_version"
)
_PG_STORED_HASHES = (
    "SELECT message_id, content_hash, command_id, changed_at FROM ofca_message "
    "WHERE account_id = $1 AND message_id = ANY($2::varchar[])"
)
_PG_STAGE_ENRICHMENT = (
    "CREATE TEMP TABLE IF NOT EXISTS ofca_stage_enrichment "
    "(message_id VARCHAR(200), content_hash VARCHAR(64), text TEXT, sentiment DOUBLE PRECISION, "
    "topics JSON) "
    "ON COMMIT DELETE ROWS"
)
_PG_APPLY_ENRICHMENT = (
    "UPDATE ofca_message m SET text = s.text, sentiment = s.sentiment, topics = s.topics, "
    "enriched = TRUE "
    "FROM ofca_stage_enrichment s WHERE m.account_id = $1 AND m.message_id = s.message_id "
    "AND m.content_hash = s.content_hash"
)


def _columns(
    records: Sequence[StoredMessage] | Sequence[StoredChat], width: int
) -> list[list[Any]]:
    """One list per column (``unnest`` takes an array per column)."""
    if not records:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*map(_astuple, records), strict=True)]


@asynccontextmanager
async def _committing(connection: Any, in_transaction: InTransaction | None) -> AsyncIterator[None]:
    """A transaction on ``connection`` that runs ``in_transaction`` last, before it commits
    (also when the body returns early)."""
    async with connection.transaction():
        yield
        if in_transaction is not None:
            await in_transaction(connection)


def _check_topics(found: Any, expected: int | None) -> None:
    if expected is not None and int(found or 0) != expected:
        raise TopicsChanged(int(found or 0))


async def _pg_upsert(
    engine: PostgresEngine,
    account_id: str,
    chats: Sequence[StoredChat],
    new_chats: Sequence[StoredChat],
    messages: Sequence[StoredMessage],
    topic_version: int | None,
    in_transaction: InTransaction | None = None,
) -> UpsertOutcome:
    assert engine.pool is not None, "the Postgres engine needs its connection pool"
    outcome = UpsertOutcome()
    async with engine.pool.acquire() as connection, _committing(connection, in_transaction):
        lock = await connection.fetchrow(_PG_LOCK, account_id)
        _check_topics(lock["topic_version"], topic_version)
        if chats:
            await connection.execute(_PG_STAGE_CHATS)
            await connection.copy_records_to_table(
                "ofca_stage_chat", records=map(_astuple, chats), columns=CHAT_COLUMNS
            )
            await connection.execute(_PG_MERGE_CHATS)
        if new_chats:
            await connection.execute(_PG_CHATS_IF_MISSING, *_columns(new_chats, len(CHAT_COLUMNS)))
        if not messages:
            return outcome
        if len(messages) <= UNNEST_ROWS:
            merged = await connection.fetch(
                _PG_MERGE_UNNEST, *_columns(messages, len(MESSAGE_COLUMNS))
            )
            for row in merged:
                outcome.add(row["message_id"], row["inserted"], row["command_id"])
            await pg_mark_due(connection, account_id, _mark_due(messages, outcome))
            return outcome
        # Under the account lock nobody else writes this account's messages, so what is
        # stored now tells new rows (COPY straight into the table) from edits (staged and
        # merged) from duplicates (skipped without a write).
        # In chunks, yielding between them: encoding 100k ids, and reading as many
        # hashes back, held the loop for ~60 ms in one go.
        stored: dict[str, tuple[str, datetime | None]] = {}
        fresh: list[StoredMessage] = []
        changed: list[StoredMessage] = []
        for start in range(0, len(messages), LOOKUP_CHUNK):
            chunk = messages[start : start + LOOKUP_CHUNK]
            for row in await connection.fetch(
                _PG_STORED_HASHES, account_id, [record.message_id for record in chunk]
            ):
                stored[row["message_id"]] = (row["content_hash"], row["changed_at"])
            for record in chunk:
                previous = stored.get(record.message_id)
                if previous is None:
                    fresh.append(record)
                elif previous[0] != record.content_hash and _replaces(
                    previous[1], record.changed_at
                ):
                    changed.append(record)
        for start in range(0, len(fresh), COPY_CHUNK):
            await connection.copy_records_to_table(
                "ofca_message",
                records=map(_astuple, fresh[start : start + COPY_CHUNK]),
                columns=MESSAGE_COLUMNS,
            )
        outcome.inserted = [record.message_id for record in fresh]
        if changed:
            await connection.execute(_PG_STAGE_MESSAGES)
            for start in range(0, len(changed), COPY_CHUNK):
                await connection.copy_records_to_table(
                    "ofca_stage_message",
                    records=map(_astuple, changed[start : start + COPY_CHUNK]),
                    columns=MESSAGE_COLUMNS,
                )
            for row in await connection.fetch(_PG_MERGE_MESSAGES):
                outcome.add(row["message_id"], row["inserted"], row["command_id"])
        await pg_mark_due(connection, account_id, _mark_due(messages, outcome))
    return outcome


async def _pg_enrichment(
    engine: PostgresEngine, account_id: str, rows: Sequence[EnrichmentRow]
) -> None:
    assert engine.pool is not None
    async with engine.pool.acquire() as connection, connection.transaction():
        await connection.execute(_PG_STAGE_ENRICHMENT)
        await connection.copy_records_to_table(
            "ofca_stage_enrichment",
            records=rows,
            columns=("message_id", "content_hash", "text", "sentiment", "topics"),
        )
        await connection.execute(_PG_APPLY_ENRICHMENT, account_id)


# --------------------------------------------------------------------------- refresh marks


def _mark_due(
    messages: Sequence[StoredMessage], outcome: UpsertOutcome
) -> list[tuple[str, datetime | None, bool]]:
    """(chat, since, whole) of the chats whose insight rows the written messages make due
    (also kept in ``outcome.due``): new messages from their earliest time on; an edit (its
    old time is not known here) the whole chat. Messages without a time count in no metric.

    A snapshot's background enrichment does not mark again (marking its ~2000 chats per
    5000-row batch cost 1.4 s of a 100k snapshot's 8 s budget): the snapshot's own refresh
    follows the enrichment. A crash that stops both leaves these marks for the refresh
    sweeper and the rows unenriched for the enrichment queue (``ingest.unenriched``), which
    marks their chats again once it has enriched them."""
    inserted, updated = set(outcome.inserted), set(outcome.updated)
    since = outcome.due
    for record in messages:
        message_id = record.message_id
        if message_id in updated:
            widen_since(since, record.chat_id, None)
        elif message_id in inserted and record.created_at is not None:
            widen_since(since, record.chat_id, record.created_at)
    return [(chat_id, at, at is None) for chat_id, at in since.items()]


# --------------------------------------------------------------------------- sqlite

_SQLITE_INSERT = (
    f"INSERT INTO ofca_message ({', '.join(MESSAGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in MESSAGE_COLUMNS)})"
)
_SQLITE_UPDATE = (
    "UPDATE ofca_message SET "
    + ", ".join(
        "chatter = CASE WHEN command_id IS NULL THEN ? ELSE chatter END"
        if c == "chatter"
        else f"{c} = ?"
        for c in _UPDATED_ON_EDIT
    )
    + ", version = version + 1 WHERE account_id = ? AND message_id = ?"
)
_SQLITE_CHAT_UPSERT = (
    f"INSERT INTO ofca_chat ({', '.join(CHAT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in CHAT_COLUMNS)}) "
    "ON CONFLICT (account_id, chat_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _CHAT_UPDATE)
)
_SQLITE_CHAT_IF_MISSING = (
    f"INSERT INTO ofca_chat ({', '.join(CHAT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in CHAT_COLUMNS)}) "
    "ON CONFLICT (account_id, chat_id) DO NOTHING"
)
_SQLITE_APPLY_ENRICHMENT = (
    "UPDATE ofca_message SET text = ?, sentiment = ?, topics = ?, enriched = 1 "
    "WHERE account_id = ? AND message_id = ? AND content_hash = ?"
)
_UPDATE_INDEXES = [MESSAGE_COLUMNS.index(c) for c in _UPDATED_ON_EDIT]


async def _sqlite_upsert(
    engine: Engine[Any],
    account_id: str,
    chats: Sequence[StoredChat],
    new_chats: Sequence[StoredChat],
    messages: Sequence[StoredMessage],
    topic_version: int | None,
    in_transaction: InTransaction | None = None,
) -> UpsertOutcome:
    outcome = UpsertOutcome()
    connection = await engine.get_connection()  # type: ignore[attr-defined]
    try:
        await connection.execute("BEGIN IMMEDIATE")
        try:
            if topic_version is not None:
                cursor = await connection.execute(
                    "SELECT version FROM ofca_topic_set WHERE account_id = ?", [account_id]
                )
                found = await cursor.fetchone()
                _check_topics(found["version"] if found else None, topic_version)
            if chats:
                await connection.executemany(_SQLITE_CHAT_UPSERT, map(_astuple, chats))
            if new_chats:
                await connection.executemany(_SQLITE_CHAT_IF_MISSING, map(_astuple, new_chats))
            stored: dict[str, str] = {}
            linked: dict[str, str | None] = {}
            changed_at: dict[str, datetime | None] = {}
            ids = [record.message_id for record in messages]
            for start in range(0, len(ids), SQLITE_CHUNK):
                chunk = ids[start : start + SQLITE_CHUNK]
                cursor = await connection.execute(
                    "SELECT message_id, content_hash, command_id, changed_at FROM ofca_message "
                    f"WHERE account_id = ? AND message_id IN ({', '.join('?' for _ in chunk)})",
                    [account_id, *chunk],
                )
                for row in await cursor.fetchall():
                    stored[row["message_id"]] = row["content_hash"]
                    linked[row["message_id"]] = row["command_id"]
                    changed_at[row["message_id"]] = row["changed_at"]
            inserts: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            for record in messages:
                message_id = record.message_id
                previous = stored.get(message_id)
                if previous is None:
                    inserts.append(_astuple(record))
                    outcome.add(message_id, True, None)
                elif previous != record.content_hash and _replaces(
                    changed_at[message_id], record.changed_at
                ):
                    row = _astuple(record)
                    updates.append((*(row[i] for i in _UPDATE_INDEXES), account_id, message_id))
                    outcome.add(message_id, False, linked.get(message_id))
            if inserts:
                await connection.executemany(_SQLITE_INSERT, inserts)
            if updates:
                await connection.executemany(_SQLITE_UPDATE, updates)
            now = datetime.now(UTC)
            await connection.executemany(
                SQLITE_MARK_DUE,
                [
                    (account_id, chat_id, at, whole, now)
                    for chat_id, at, whole in _mark_due(messages, outcome)
                ],
            )
            if in_transaction is not None:
                await in_transaction(connection)
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
    finally:
        await connection.close()
    return outcome


async def _sqlite_enrichment(
    engine: Engine[Any], account_id: str, rows: Sequence[EnrichmentRow]
) -> None:
    connection = await engine.get_connection()  # type: ignore[attr-defined]
    try:
        await connection.execute("BEGIN IMMEDIATE")
        try:
            await connection.executemany(
                _SQLITE_APPLY_ENRICHMENT,
                [
                    (text, score, topics, account_id, mid, digest)
                    for mid, digest, text, score, topics in rows
                ],
            )
            await connection.commit()
        except BaseException:
            await connection.rollback()
            raise
    finally:
        await connection.close()


# --------------------------------------------------------------------------- public


async def upsert_frame(
    engine: Engine[Any],
    account_id: str,
    *,
    chats: Sequence[StoredChat] = (),
    new_chats: Sequence[StoredChat] = (),
    messages: Sequence[StoredMessage] = (),
    topic_version: int | None = None,
    in_transaction: InTransaction | None = None,
) -> UpsertOutcome:
    """Atomically upsert ``chats`` (full rows), ``new_chats`` (created only when missing)
    and ``messages`` (unique ids), marking the changed chats due for an insight refresh.
    Returns the ids inserted and updated (the rest were identical duplicates and were not
    written) and the marks.

    With ``topic_version`` (the topic set the rows were tagged with), the account's current
    version is read under the account's lock first and :class:`TopicsChanged` is raised,
    with nothing written, when it differs. A value the database refuses raises
    :class:`~ofca.ingest.context.ValueRefused`, with nothing written. ``in_transaction``
    runs last, in the same transaction; what it raises rolls everything back (and is
    raised as it is, unless it means the database is unavailable)."""
    args = (account_id, chats, new_chats, messages, topic_version, in_transaction)
    try:
        if isinstance(engine, PostgresEngine):
            return await _pg_upsert(engine, *args)
        return await _sqlite_upsert(engine, *args)
    except (StorageUnavailable, TopicsChanged):
        raise
    except Exception as exc:
        if is_value_refused(exc):
            raise ValueRefused(type(exc).__name__) from exc
        raise as_storage_error(exc) from exc


async def write_enrichment(
    engine: Engine[Any], account_id: str, rows: Sequence[EnrichmentRow]
) -> None:
    """Store ``(message_id, content_hash, text, sentiment, topics_json)``; a row whose message
    changed since (another hash) is left alone: its own ingest enriches it."""
    if not rows:
        return
    try:
        if isinstance(engine, PostgresEngine):
            await _pg_enrichment(engine, account_id, rows)
        else:
            await _sqlite_enrichment(engine, account_id, rows)
    except Exception as exc:
        raise as_storage_error(exc) from exc


async def known_chats(
    engine: Engine[Any], account_id: str, chat_ids: Sequence[str]
) -> dict[str, str | None]:
    """Stored chats among ``chat_ids``: chat id -> fan id (None when unknown)."""
    found: dict[str, str | None] = {}
    unique = list(dict.fromkeys(chat_ids))
    try:
        for start in range(0, len(unique), SQLITE_CHUNK):
            chunk = unique[start : start + SQLITE_CHUNK]
            rows = (
                await ChatRow.select(ChatRow.chat_id, ChatRow.fan_id)
                .where((ChatRow.account_id == account_id) & ChatRow.chat_id.is_in(chunk))
                .run()
            )
            for row in rows:
                found[row["chat_id"]] = row["fan_id"]
    except Exception as exc:
        raise as_storage_error(exc) from exc
    return found
