"""Chunked snapshots (docs/protocol.md, "Chunked snapshots"): staged, then applied at once.

A ``cache_update`` whose payload has ``snapshot: {id, chunk, chunks}`` is one chunk of a
snapshot. Every chunk but the last is validated (decoded as the snapshot would be) and
staged durably in ``ofca_snapshot_chunk``, in the transaction that commits its seq
(``persistence.streams.stage_chunk``): nothing of it is visible yet. The last chunk
applies the whole snapshot, staged chunks and its own, through the one snapshot write path
(``ingest.snapshot.store_snapshot``), and the transaction that writes it also drops the
staged chunks and commits its seq (``persistence.streams.finish_snapshot``): either all of
it is stored or nothing.

A message that a delta of the stream stored after the chunk carrying it had been staged
(a later seq) is newer than the snapshot's copy: it is left out of the apply.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import msgspec

from ofca.channels.publish import publish_to_dashboards, status_frame
from ofca.domain.frames import RawSnapshotPayload
from ofca.domain.onlyfans import PlatformId
from ofca.domain.wss import IngestAckPayload, SnapshotChunk, SnapshotProgress
from ofca.ingest.context import FrameRejected, IngestContext
from ofca.ingest.decode import decode_snapshot
from ofca.ingest.snapshot import Progress, store_snapshot
from ofca.ingest.streams import Stream
from ofca.loop import gc_paused
from ofca.persistence import streams as stored_streams
from ofca.persistence.faults import as_storage_error
from ofca.persistence.sql import database, own_connection, to_utc, write_transaction
from ofca.persistence.tables import MessageRow

__all__ = ["apply_chunks", "stage_chunk"]

LOOKUP_CHUNK = 500
"""Message ids looked up per query (SQLite's bound-parameter limit is far above)."""


class _Part(msgspec.Struct):
    chats: list[msgspec.Raw] = []
    messages: list[msgspec.Raw] = []


class _MessageId(msgspec.Struct):
    id: PlatformId


_part_decoder = msgspec.json.Decoder(_Part)
_id_decoder = msgspec.json.Decoder(_MessageId)


def _mismatch(detail: str) -> FrameRejected:
    return FrameRejected(
        "validation_error",
        "This chunk does not continue the pending snapshot; start again from chunk 0",
        detail,
    )


def _progress(marker: SnapshotChunk, received: int) -> SnapshotProgress:
    return SnapshotProgress(id=marker.id, received=received, chunks=marker.chunks)


def _show_progress(ctx: IngestContext, progress: SnapshotProgress) -> None:
    """Dashboards see how much of the snapshot has arrived (``system_status``)."""
    publish_to_dashboards(
        ctx.channels,
        ctx.account_id,
        status_frame(
            "PROCESSING_SNAPSHOT",
            "receiving snapshot",
            progress.received / progress.chunks,
            snapshot_progress=progress,
        ),
    )


async def stage_chunk(
    ctx: IngestContext, stream: Stream, payload: RawSnapshotPayload, seq: int
) -> IngestAckPayload:
    """Validate and stage chunk ``payload.snapshot`` (not the last), carried by ``seq``."""
    marker = payload.snapshot
    assert marker is not None and marker.chunk < marker.chunks - 1
    with gc_paused():  # thousands of objects made and dropped: no full collection meanwhile
        await decode_snapshot(payload)  # refuses it now (FrameRejected), not at the last one
    data = msgspec.json.encode(_Part(payload.chats, payload.messages)).decode()
    engine = database()
    try:
        async with write_transaction(engine):
            pending = await stored_streams.stage_chunk(
                own_connection(engine),
                stream.account_id,
                stream.name,
                stream.writer,
                seq=seq,
                snapshot_id=marker.id,
                chunk=marker.chunk,
                chunks=marker.chunks,
                data=data,
                ttl=timedelta(seconds=ctx.settings.snapshot_ttl_seconds),
            )
    except stored_streams.SnapshotMismatch as exc:
        raise _mismatch(str(exc)) from None
    except (stored_streams.StreamFenced, FrameRejected):
        raise
    except Exception as exc:
        raise as_storage_error(exc) from exc
    stream.committed_seq = seq
    stream.pending = pending
    progress = _progress(marker, pending.next_chunk)
    _show_progress(ctx, progress)
    return IngestAckPayload(
        frame="cache_update",
        accepted=0,
        duplicates=0,
        updated=0,
        rejected=0,
        first_seq=seq,
        last_seq=seq,
        committed_seq=seq,
        snapshot_progress=progress,
    )


async def _newer_than_chunks(
    ctx: IngestContext, parts: list[stored_streams.StagedChunk], staged: list[_Part], seq: int
) -> set[str]:
    """Ids of staged messages that a later frame of the stream (a delta between the chunk
    that carried them and the last chunk) stored since: those versions win."""
    if not parts or seq - parts[0].seq == len(parts):
        return set()  # the chunks came back to back: no other frame of the stream between
    staged_at: dict[str, datetime] = {}
    for part, chunk in zip(parts, staged, strict=True):
        for raw in chunk.messages:
            try:
                staged_at[str(_id_decoder.decode(raw).id)] = part.received_at
            except msgspec.DecodeError:
                continue  # refused when the snapshot is decoded
        await asyncio.sleep(0)  # a chunk's ids at a time (~1 ms per MiB)
    newer: set[str] = set()
    ids = list(staged_at)
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows: list[dict[str, Any]] = (
            await MessageRow.select(MessageRow.message_id, MessageRow.ingested_at)
            .where(
                (MessageRow.account_id == ctx.account_id)
                & MessageRow.message_id.is_in(ids[start : start + LOOKUP_CHUNK])
            )
            .run()
        )
        for row in rows:
            if to_utc(row["ingested_at"]) > staged_at[row["message_id"]]:
                newer.add(row["message_id"])
    return newer


def _without(messages: list[msgspec.Raw], newer: set[str]) -> list[msgspec.Raw]:
    kept = []
    for raw in messages:
        try:
            message_id = str(_id_decoder.decode(raw).id)
        except msgspec.DecodeError:
            message_id = ""
        if message_id not in newer:
            kept.append(raw)
    return kept


async def apply_chunks(
    ctx: IngestContext,
    stream: Stream,
    payload: RawSnapshotPayload,
    size: int,
    seq: int,
    progress: Progress,
) -> IngestAckPayload:
    """The last chunk (``seq``): store the staged chunks and this one as one snapshot."""
    marker = payload.snapshot
    assert marker is not None and marker.chunk == marker.chunks - 1
    pending = stream.pending
    if marker.chunks > 1 and (
        pending is None
        or (pending.id, pending.chunks, pending.next_chunk)
        != (marker.id, marker.chunks, marker.chunk)
    ):
        raise _mismatch(
            f"snapshot {marker.id}: the last chunk ({marker.chunk}) came, but "
            + (
                "no snapshot is staged"
                if pending is None
                else f"snapshot {pending.id} expects chunk {pending.next_chunk} of {pending.chunks}"
            )
        )
    try:
        parts = (
            await stored_streams.staged_parts(stream.account_id, stream.name, marker.id)
            if marker.chunks > 1
            else []
        )
    except Exception as exc:
        raise as_storage_error(exc) from exc
    staged: list[_Part] = []
    for part in parts:
        staged.append(_part_decoder.decode(part.data))
        await asyncio.sleep(0)
    newer = await _newer_than_chunks(ctx, parts, staged, seq)
    whole = RawSnapshotPayload(
        chats=[raw for part in staged for raw in part.chats] + payload.chats,
        messages=[
            raw
            for part in staged
            for raw in (_without(part.messages, newer) if newer else part.messages)
        ]
        + payload.messages,
    )
    del staged

    async def finish(connection: Any) -> None:
        await stored_streams.finish_snapshot(
            connection,
            stream.account_id,
            stream.name,
            stream.writer,
            seq=seq,
            snapshot_id=marker.id,
            chunks=marker.chunks,
        )

    frame_bytes = size + sum(len(part.data) for part in parts)
    try:
        ack = await store_snapshot(ctx, whole, frame_bytes, progress, finish)
    except stored_streams.SnapshotMismatch as exc:
        raise _mismatch(str(exc)) from None
    stream.committed_seq = seq
    stream.pending = None
    ack.duplicates += len(newer)
    ack.first_seq = ack.last_seq = ack.committed_seq = seq
    ack.snapshot_progress = _progress(marker, marker.chunks)
    if marker.chunks > 1:
        _show_progress(ctx, ack.snapshot_progress)
    return ack
