"""Extension streams in the database: committed seqs, writers, staged snapshot chunks.

A stream (docs/protocol.md) is one extension installation's numbered frames. Its row in
``ofca_ingest_stream`` says up to which seq every frame is durably handled, which
connection may write it now, and which chunked snapshot it has partly staged (chunks in
``ofca_snapshot_chunk``).

The operations that move a stream forward (:func:`advance`, :func:`stage_chunk`,
:func:`finish_snapshot`) run on the connection of the transaction that stores what the
frames carry, so the committed seq commits with the data or not at all: a crash can
neither lose an acknowledged frame nor acknowledge a lost one. Each of them is also a
fence: it only moves the stream if the caller is still its writer and the stream is where
the caller believes it is, else it raises :class:`StreamFenced` and the caller rolls its
transaction back. A socket that was superseded (by another process, say) therefore
cannot write a single row after the moment its successor claimed the stream.

:func:`claim_stream` (a socket opens) and :func:`expire_snapshots` (the sweeper) run in
transactions of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite
import msgspec

from ofca.persistence.sql import database, numbered, own_connection, to_utc, write_transaction

__all__ = [
    "PendingChunks",
    "SnapshotMismatch",
    "StagedChunk",
    "StreamFenced",
    "StreamState",
    "advance",
    "claim_stream",
    "expire_snapshots",
    "finish_snapshot",
    "read_stream",
    "release_stream",
    "stage_chunk",
    "staged_chunks",
    "staged_parts",
]


class PendingChunks(msgspec.Struct, frozen=True, kw_only=True):
    """A chunked snapshot staged in part."""

    id: str
    chunks: int
    next_chunk: int
    """Chunks staged so far: the index of the next one expected."""
    expires_at: datetime


class StreamState(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    stream: str
    committed_seq: int
    writer: str | None
    pending: PendingChunks | None


class StreamFenced(Exception):
    """The stream is no longer the caller's (another connection claimed it) or is not at
    the seq the caller expected: nothing may be written."""


class SnapshotMismatch(Exception):
    """A chunk that does not continue the stream's pending snapshot (another id, another
    count, not the next index, or the pending snapshot expired)."""

    def __init__(self, message: str, pending: PendingChunks | None) -> None:
        super().__init__(message)
        self.pending = pending


class _Tx:
    """The statements of this module on one transaction's connection, either engine."""

    __slots__ = ("connection", "sqlite")

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.sqlite = isinstance(connection, aiosqlite.Connection)

    def _sql(self, sql: str) -> str:
        return sql.replace("{}", "?") if self.sqlite else numbered(sql)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if not self.sqlite:
            return [dict(row) for row in await self.connection.fetch(self._sql(sql), *args)]
        cursor = await self.connection.execute(self._sql(sql), args)
        rows = await cursor.fetchall()
        names = [column[0] for column in cursor.description or ()]
        return [
            row if isinstance(row, dict) else dict(zip(names, row, strict=True)) for row in rows
        ]

    async def execute(self, sql: str, *args: Any) -> int:
        """Runs ``sql``; the number of rows it changed."""
        if not self.sqlite:
            status = await self.connection.execute(self._sql(sql), *args)
            tail = status.rsplit(" ", 1)[-1]
            return int(tail) if tail.isdigit() else 0
        cursor = await self.connection.execute(self._sql(sql), args)
        return int(cursor.rowcount)


_COLUMNS = (
    "account_id, stream, committed_seq, writer, snapshot_id, snapshot_chunks, "
    "snapshot_next_chunk, snapshot_expires_at"
)
_SELECT = f"SELECT {_COLUMNS} FROM ofca_ingest_stream WHERE account_id = {{}} AND stream = {{}}"


def _state(row: dict[str, Any]) -> StreamState:
    pending = None
    if row["snapshot_id"] is not None:
        pending = PendingChunks(
            id=row["snapshot_id"],
            chunks=int(row["snapshot_chunks"]),
            next_chunk=int(row["snapshot_next_chunk"]),
            expires_at=to_utc(row["snapshot_expires_at"]),
        )
    return StreamState(
        account_id=row["account_id"],
        stream=row["stream"],
        committed_seq=int(row["committed_seq"]),
        writer=row["writer"],
        pending=pending,
    )


async def _select(tx: _Tx, account_id: str, stream: str, *, lock: bool) -> StreamState | None:
    sql = _SELECT + ("" if tx.sqlite or not lock else " FOR UPDATE")
    rows = await tx.fetch(sql, account_id, stream)
    return _state(rows[0]) if rows else None


_DROP_CHUNKS = "DELETE FROM ofca_snapshot_chunk WHERE account_id = {} AND stream = {}"
_CLEAR_PENDING = (
    "UPDATE ofca_ingest_stream SET snapshot_id = NULL, snapshot_chunks = NULL, "
    "snapshot_next_chunk = NULL, snapshot_expires_at = NULL, updated_at = {} "
    "WHERE account_id = {} AND stream = {}"
)


async def claim_stream(
    account_id: str, stream: str, writer: str, *, now: datetime | None = None
) -> StreamState:
    """Make ``writer`` the stream's one writer (creating the stream at seq 0), dropping its
    pending snapshot if that has expired; returns the stream as the new writer finds it.
    Every write of the previous writer fails from now on (:class:`StreamFenced`)."""
    now = now or datetime.now(UTC)
    engine = database()
    async with write_transaction(engine):
        tx = _Tx(own_connection(engine))
        await tx.execute(
            "INSERT INTO ofca_ingest_stream (account_id, stream, committed_seq, updated_at) "
            "VALUES ({}, {}, 0, {}) ON CONFLICT (account_id, stream) DO NOTHING",
            account_id,
            stream,
            now,
        )
        await tx.execute(
            "UPDATE ofca_ingest_stream SET writer = {}, writer_since = {}, updated_at = {} "
            "WHERE account_id = {} AND stream = {}",
            writer,
            now,
            now,
            account_id,
            stream,
        )
        state = await _select(tx, account_id, stream, lock=False)
        assert state is not None
        if state.pending is not None and state.pending.expires_at <= now:
            await tx.execute(_DROP_CHUNKS, account_id, stream)
            await tx.execute(_CLEAR_PENDING, now, account_id, stream)
            state = msgspec.structs.replace(state, pending=None)
    return state


async def read_stream(account_id: str, stream: str) -> StreamState | None:
    engine = database()
    async with write_transaction(engine):
        return await _select(_Tx(own_connection(engine)), account_id, stream, lock=False)


async def release_stream(account_id: str, stream: str, writer: str) -> None:
    """The writer's socket closed: the stream has no writer until the next one claims it
    (a no-op if another writer claimed it meanwhile)."""
    engine = database()
    async with write_transaction(engine):
        await _Tx(own_connection(engine)).execute(
            "UPDATE ofca_ingest_stream SET writer = NULL WHERE account_id = {} AND stream = {} "
            "AND writer = {}",
            account_id,
            stream,
            writer,
        )


async def advance(
    connection: Any,
    account_id: str,
    stream: str,
    writer: str,
    *,
    first_seq: int,
    last_seq: int,
    now: datetime | None = None,
) -> None:
    """In the caller's transaction: frames ``first_seq..last_seq`` are handled, so the
    stream's ``committed_seq`` goes from ``first_seq - 1`` to ``last_seq``. Raises
    :class:`StreamFenced` (roll back!) unless the stream is ``writer``'s and at
    ``first_seq - 1``."""
    if last_seq < first_seq:
        raise ValueError(f"empty range {first_seq}..{last_seq}")
    changed = await _Tx(connection).execute(
        "UPDATE ofca_ingest_stream SET committed_seq = {}, updated_at = {} "
        "WHERE account_id = {} AND stream = {} AND writer = {} AND committed_seq = {}",
        last_seq,
        now or datetime.now(UTC),
        account_id,
        stream,
        writer,
        first_seq - 1,
    )
    if changed != 1:
        raise StreamFenced(f"stream {stream} of {account_id} is not at {first_seq - 1} for us")


async def _owned(tx: _Tx, account_id: str, stream: str, writer: str, seq: int) -> StreamState:
    """The stream, row-locked, if it is ``writer``'s and ``seq`` is its next frame."""
    state = await _select(tx, account_id, stream, lock=True)
    if state is None or state.writer != writer or state.committed_seq != seq - 1:
        raise StreamFenced(f"stream {stream} of {account_id} is not at {seq - 1} for us")
    return state


async def stage_chunk(
    connection: Any,
    account_id: str,
    stream: str,
    writer: str,
    *,
    seq: int,
    snapshot_id: str,
    chunk: int,
    chunks: int,
    data: str,
    ttl: timedelta,
    now: datetime | None = None,
) -> PendingChunks:
    """In the caller's transaction: stage chunk ``chunk`` (not the last) of a snapshot,
    carried by frame ``seq``, and commit that frame. Chunk 0 starts the snapshot (and
    drops whatever another snapshot of the stream had staged); any other chunk must be
    the pending snapshot's next one (:class:`SnapshotMismatch` otherwise). The pending
    snapshot now expires ``ttl`` after this chunk."""
    now = now or datetime.now(UTC)
    if not 0 <= chunk < chunks - 1:
        raise ValueError(f"chunk {chunk} of {chunks} is not one to stage")
    tx = _Tx(connection)
    state = await _owned(tx, account_id, stream, writer, seq)
    pending = state.pending
    if pending is not None and pending.expires_at <= now:
        pending = None  # expired: as if the sweeper had dropped it already
    if chunk == 0:
        await tx.execute(_DROP_CHUNKS, account_id, stream)
    elif pending is None or (pending.id, pending.chunks, pending.next_chunk) != (
        snapshot_id,
        chunks,
        chunk,
    ):
        raise SnapshotMismatch(
            f"snapshot {snapshot_id}: chunk {chunk} of {chunks} does not continue "
            + (
                f"snapshot {pending.id} (chunk {pending.next_chunk} of {pending.chunks} next)"
                if pending is not None
                else "any staged snapshot (start again from chunk 0)"
            ),
            pending,
        )
    await tx.execute(
        "INSERT INTO ofca_snapshot_chunk (account_id, stream, snapshot_id, chunk, seq, data, "
        "received_at) VALUES ({}, {}, {}, {}, {}, {}, {})",
        account_id,
        stream,
        snapshot_id,
        chunk,
        seq,
        data,
        now,
    )
    expires_at = now + ttl
    await tx.execute(
        "UPDATE ofca_ingest_stream SET committed_seq = {}, snapshot_id = {}, "
        "snapshot_chunks = {}, snapshot_next_chunk = {}, snapshot_expires_at = {}, "
        "updated_at = {} WHERE account_id = {} AND stream = {}",
        seq,
        snapshot_id,
        chunks,
        chunk + 1,
        expires_at,
        now,
        account_id,
        stream,
    )
    return PendingChunks(id=snapshot_id, chunks=chunks, next_chunk=chunk + 1, expires_at=expires_at)


async def staged_chunks(
    account_id: str, stream: str, snapshot_id: str, connection: Any = None
) -> list[str]:
    """The staged chunks' payloads, in chunk order (on ``connection``, or on its own)."""
    sql = (
        "SELECT data FROM ofca_snapshot_chunk WHERE account_id = {} AND stream = {} "
        "AND snapshot_id = {} ORDER BY chunk"
    )
    if connection is not None:
        rows = await _Tx(connection).fetch(sql, account_id, stream, snapshot_id)
        return [row["data"] for row in rows]
    engine = database()
    async with write_transaction(engine):
        rows = await _Tx(own_connection(engine)).fetch(sql, account_id, stream, snapshot_id)
    return [row["data"] for row in rows]


class StagedChunk(msgspec.Struct, frozen=True):
    chunk: int
    seq: int
    received_at: datetime
    data: str


async def staged_parts(account_id: str, stream: str, snapshot_id: str) -> list[StagedChunk]:
    """The staged chunks with the seq that carried each and when it was staged, in order."""
    engine = database()
    async with write_transaction(engine):
        rows = await _Tx(own_connection(engine)).fetch(
            "SELECT chunk, seq, received_at, data FROM ofca_snapshot_chunk "
            "WHERE account_id = {} AND stream = {} AND snapshot_id = {} ORDER BY chunk",
            account_id,
            stream,
            snapshot_id,
        )
    return [
        StagedChunk(int(row["chunk"]), int(row["seq"]), to_utc(row["received_at"]), row["data"])
        for row in rows
    ]


async def finish_snapshot(
    connection: Any,
    account_id: str,
    stream: str,
    writer: str,
    *,
    seq: int,
    snapshot_id: str,
    chunks: int,
    now: datetime | None = None,
) -> None:
    """In the caller's transaction, the one that applies the whole snapshot: its last
    chunk (frame ``seq``) is handled, its staged chunks are dropped and the frame is
    committed. Raises :class:`SnapshotMismatch` unless every other chunk is staged."""
    now = now or datetime.now(UTC)
    tx = _Tx(connection)
    state = await _owned(tx, account_id, stream, writer, seq)
    pending = state.pending
    if chunks > 1 and (
        pending is None
        or pending.expires_at <= now
        or (pending.id, pending.chunks, pending.next_chunk) != (snapshot_id, chunks, chunks - 1)
    ):
        raise SnapshotMismatch(
            f"snapshot {snapshot_id}: the last chunk came before chunks 0..{chunks - 2}",
            pending,
        )
    await tx.execute(_DROP_CHUNKS, account_id, stream)
    await tx.execute(
        "UPDATE ofca_ingest_stream SET committed_seq = {}, snapshot_id = NULL, "
        "snapshot_chunks = NULL, snapshot_next_chunk = NULL, snapshot_expires_at = NULL, "
        "updated_at = {} WHERE account_id = {} AND stream = {}",
        seq,
        now,
        account_id,
        stream,
    )


async def expire_snapshots(now: datetime | None = None) -> Sequence[tuple[str, str, str]]:
    """Drop every pending snapshot whose time is up, with its staged chunks; returns
    (account, stream, snapshot id) of each."""
    now = now or datetime.now(UTC)
    engine = database()
    async with write_transaction(engine):
        tx = _Tx(own_connection(engine))
        rows = await tx.fetch(
            "SELECT account_id, stream, snapshot_id FROM ofca_ingest_stream "
            "WHERE snapshot_expires_at IS NOT NULL AND snapshot_expires_at <= {}",
            now,
        )
        for row in rows:
            await tx.execute(_DROP_CHUNKS, row["account_id"], row["stream"])
            await tx.execute(_CLEAR_PENDING, now, row["account_id"], row["stream"])
    return [(row["account_id"], row["stream"], row["snapshot_id"]) for row in rows]
