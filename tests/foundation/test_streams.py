"""Extension stream state on the run's engine: the committed seq moves only with the data
of its transaction, only for the stream's writer, and chunked snapshots stage, resume,
finish and expire as docs/protocol.md says."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import UTC, datetime, timedelta

import pytest

from ofca.persistence import streams
from ofca.persistence.sql import database, own_connection, raw_sql, write_transaction
from ofca.persistence.tables import IngestLog, SnapshotChunkRow

TTL = timedelta(hours=1)


class Boom(Exception):
    pass


async def _log_rows(account_id: str) -> int:
    return await IngestLog.count().where(IngestLog.account_id == account_id)


async def _chunks(account_id: str) -> list[int]:
    rows = (
        await SnapshotChunkRow.select(SnapshotChunkRow.chunk)
        .where(SnapshotChunkRow.account_id == account_id)
        .order_by(SnapshotChunkRow.chunk)
        .run()
    )
    return [row["chunk"] for row in rows]


async def _store_and_advance(account_id: str, writer: str, first: int, last: int) -> None:
    """A stand-in for the data a frame carries, written with the stream in one transaction."""
    engine = database()
    async with write_transaction(engine):
        await raw_sql(
            "INSERT INTO ofca_ingest_log (account_id, source, kind, received_at, accepted, "
            "duplicates, updated, rejected, frame_bytes) VALUES ({}, 'test', 'delta', {}, 1, "
            "0, 0, 0, 1)",
            account_id,
            datetime.now(UTC),
        )
        await streams.advance(
            own_connection(engine), account_id, "s", writer, first_seq=first, last_seq=last
        )


async def test_claim_creates_the_stream_and_fences_the_previous_writer(
    engine: object, account_id: str
) -> None:
    state = await streams.claim_stream(account_id, "s", "w1")
    assert (state.committed_seq, state.writer, state.pending) == (0, "w1", None)
    await _store_and_advance(account_id, "w1", 1, 3)
    assert (await streams.read_stream(account_id, "s")).committed_seq == 3  # type: ignore[union-attr]

    again = await streams.claim_stream(account_id, "s", "w2")
    assert (again.committed_seq, again.writer) == (3, "w2")
    with pytest.raises(streams.StreamFenced):
        await _store_and_advance(account_id, "w1", 4, 4)
    assert await _log_rows(account_id) == 1  # the fenced writer's data went with its seq
    await _store_and_advance(account_id, "w2", 4, 4)
    assert await _log_rows(account_id) == 2

    await streams.release_stream(account_id, "s", "w1")  # not the writer: no effect
    assert (await streams.read_stream(account_id, "s")).writer == "w2"  # type: ignore[union-attr]
    await streams.release_stream(account_id, "s", "w2")
    assert (await streams.read_stream(account_id, "s")).writer is None  # type: ignore[union-attr]
    assert await streams.read_stream(account_id, "other") is None


async def test_committed_seq_commits_with_the_data_or_not_at_all(
    engine: object, account_id: str
) -> None:
    await streams.claim_stream(account_id, "s", "w")
    db = database()
    with pytest.raises(Boom):
        async with write_transaction(db):
            await streams.advance(own_connection(db), account_id, "s", "w", first_seq=1, last_seq=5)
            raise Boom  # the data's write failed after the stream moved
    assert (await streams.read_stream(account_id, "s")).committed_seq == 0  # type: ignore[union-attr]
    with pytest.raises(streams.StreamFenced):
        await _store_and_advance(account_id, "w", 2, 2)  # a gap: not at 1
    with pytest.raises(ValueError):
        await _store_and_advance(account_id, "w", 3, 2)
    await _store_and_advance(account_id, "w", 1, 5)
    assert (await streams.read_stream(account_id, "s")).committed_seq == 5  # type: ignore[union-attr]
    assert await _log_rows(account_id) == 1


async def _stage(
    account_id: str,
    writer: str,
    seq: int,
    snapshot: str,
    chunk: int,
    chunks: int,
    now: datetime | None = None,
) -> streams.PendingChunks:
    db = database()
    async with write_transaction(db):
        return await streams.stage_chunk(
            own_connection(db),
            account_id,
            "s",
            writer,
            seq=seq,
            snapshot_id=snapshot,
            chunk=chunk,
            chunks=chunks,
            data=f'{{"chunk": {chunk}}}',
            ttl=TTL,
            now=now,
        )


async def _finish(
    account_id: str, writer: str, seq: int, snapshot: str, chunks: int, now: datetime | None = None
) -> None:
    db = database()
    async with write_transaction(db):
        await streams.finish_snapshot(
            own_connection(db),
            account_id,
            "s",
            writer,
            seq=seq,
            snapshot_id=snapshot,
            chunks=chunks,
            now=now,
        )


async def test_chunks_stage_in_order_and_finish_atomically(engine: object, account_id: str) -> None:
    await streams.claim_stream(account_id, "s", "w")
    for chunk in range(3):
        pending = await _stage(account_id, "w", chunk + 1, "snap", chunk, 4)
    assert (pending.id, pending.next_chunk, pending.chunks) == ("snap", 3, 4)
    state = await streams.claim_stream(account_id, "s", "w-again")  # a reconnect
    assert state.committed_seq == 3
    assert state.pending is not None and state.pending.next_chunk == 3
    assert await streams.staged_chunks(account_id, "s", "snap") == [
        '{"chunk": 0}',
        '{"chunk": 1}',
        '{"chunk": 2}',
    ]

    with pytest.raises(streams.SnapshotMismatch) as mismatch:
        await _stage(account_id, "w-again", 4, "other", 1, 4)
    assert mismatch.value.pending is not None and mismatch.value.pending.id == "snap"
    with pytest.raises(streams.SnapshotMismatch):
        await _stage(account_id, "w-again", 4, "snap", 2, 4)  # staged already
    with pytest.raises(streams.StreamFenced):
        await _finish(account_id, "w", 4, "snap", 4)  # the old writer
    with pytest.raises(Boom):
        db = database()
        async with write_transaction(db):
            await streams.finish_snapshot(
                own_connection(db),
                account_id,
                "s",
                "w-again",
                seq=4,
                snapshot_id="snap",
                chunks=4,
            )
            raise Boom  # applying the snapshot failed
    assert await _chunks(account_id) == [0, 1, 2]  # nothing lost, nothing committed

    await _finish(account_id, "w-again", 4, "snap", 4)
    state = await streams.claim_stream(account_id, "s", "w-again")
    assert (state.committed_seq, state.pending) == (4, None)
    assert await _chunks(account_id) == []


async def test_a_new_snapshot_replaces_an_abandoned_one(engine: object, account_id: str) -> None:
    await streams.claim_stream(account_id, "s", "w")
    await _stage(account_id, "w", 1, "old", 0, 5)
    await _stage(account_id, "w", 2, "old", 1, 5)
    pending = await _stage(account_id, "w", 3, "new", 0, 2)
    assert (pending.id, pending.next_chunk) == ("new", 1)
    assert await streams.staged_chunks(account_id, "s", "old") == []
    with pytest.raises(streams.SnapshotMismatch):
        await _finish(account_id, "w", 4, "old", 5)
    await _finish(account_id, "w", 4, "new", 2)
    await _finish(account_id, "w", 5, "single", 1)  # one chunk: nothing staged before
    assert (await streams.read_stream(account_id, "s")).committed_seq == 5  # type: ignore[union-attr]


async def test_abandoned_snapshots_expire(engine: object, account_id: str) -> None:
    began = datetime.now(UTC)
    await streams.claim_stream(account_id, "s", "w", now=began)
    await _stage(account_id, "w", 1, "snap", 0, 3, now=began)
    later = began + TTL + timedelta(seconds=1)

    with pytest.raises(streams.SnapshotMismatch):  # too late to continue it
        await _stage(account_id, "w", 2, "snap", 1, 3, now=later)
    with pytest.raises(streams.SnapshotMismatch):
        await _finish(account_id, "w", 2, "snap", 2, now=later)
    assert (account_id, "s", "snap") in await streams.expire_snapshots(later)
    assert await _chunks(account_id) == []
    state = await streams.read_stream(account_id, "s")
    assert state is not None and (state.committed_seq, state.pending) == (1, None)

    await _stage(account_id, "w", 2, "snap2", 0, 3, now=later)
    state = await streams.claim_stream(account_id, "s", "w2", now=later + TTL * 2)
    assert state.pending is None  # the claim drops an expired one too
    assert await _chunks(account_id) == []
    assert (account_id, "s", "snap2") not in await streams.expire_snapshots(later + TTL * 3)


async def test_a_claim_waits_for_the_writers_transaction_in_flight(
    engine: object, account_id: str
) -> None:
    """Superseding never splits a frame: the new writer's claim waits for the old
    writer's open transaction, and sees its seq once that commits."""
    await streams.claim_stream(account_id, "s", "old")
    db = database()
    async with write_transaction(db):
        await streams.advance(own_connection(db), account_id, "s", "old", first_seq=1, last_seq=1)
        # Another connection (a task made here would inherit this transaction).
        claim = asyncio.create_task(
            streams.claim_stream(account_id, "s", "new"), context=contextvars.Context()
        )
        await asyncio.sleep(0.3)
        assert not claim.done()
    state = await asyncio.wait_for(claim, 30)
    assert (state.writer, state.committed_seq) == ("new", 1)
    with pytest.raises(streams.StreamFenced):
        await _store_and_advance(account_id, "old", 2, 2)
