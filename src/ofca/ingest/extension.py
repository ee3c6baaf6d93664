"""One extension socket's session: its frames handled strictly in arrival order.

The socket (``ofca.controllers.ws``) hands every frame it reads to :meth:`ExtensionSession.
receive`; the session decodes each one once (``ofca.domain.frames.decode_frame``),
dispatches it with one ``match`` and answers through a :class:`FrameSink`, in the order the
frames came (a delta sent during a snapshot is applied, and answered, after it):

- ``new_raw_message``: the deltas that queued up while earlier frames were handled are
  stored together (``ingest.deltas``: one commit for the run) and each gets its
  ``ingest_ack`` after the commit; the run is published in the background, in order.
- ``cache_update``: ``system_status`` progress while it is stored, then its ``ingest_ack``.
- ``keepalive``: the connection is still there (nothing is answered).
- ``online_users_update``: relayed to the account's dashboards.
- a refused frame: its ``system_error``; the socket stays open.

Every frame first takes a token of its credential's frame budget, shared by the key's
sockets in every process (``rate_limited`` with ``retry_after_ms`` without one).
A failure is classified by its type: the frame's own fault (``FrameRejected``), storage
unavailable (retryable: nothing of the frame was stored), or ``internal_error`` (a bug,
logged).

Sequenced frames (protocol v2, docs/protocol.md): a frame with a ``seq`` belongs to the
socket's stream (``ingest.streams``; claimed when the socket opens with ``?stream=``, or at
its first sequenced frame). Before it takes a token it is checked against the stream: a seq
already committed is answered ``duplicate_frame`` with no work, a seq beyond the next one
is refused with ``sequence_gap``. The next one is handled, and ``committed_seq`` moves in
the transaction that stores it (the write path's ``in_transaction``). Every answer about
it names its ``seq``; an error that is not retryable consumes the frame (its seq is
committed without data), a retryable one does not. Frames without ``seq`` are handled as
in v1 and do not move the stream.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import msgspec

from ofca.channels.publish import publish_to_dashboards, status_frame
from ofca.domain.frames import (
    INTERNAL_ERROR,
    FrameError,
    Inbound,
    RawSnapshotPayload,
    SnapshotFrame,
    decode_frame,
    rate_limited,
    storage_unavailable,
)
from ofca.domain.onlyfans import Message
from ofca.domain.wss import (
    MAX_SEQ,
    STREAM_PATTERN,
    IngestAck,
    IngestAckPayload,
    Keepalive,
    NewRawMessage,
    OnlineUsersPayload,
    OnlineUsersUpdate,
    OnlineUsersUpdateOut,
    PendingSnapshot,
    Seq,
    SystemError,
    SystemErrorPayload,
    outgoing_encoder,
)
from ofca.ingest import streams
from ofca.ingest.chunks import apply_chunks, stage_chunk
from ofca.ingest.context import FrameRejected, IngestContext
from ofca.ingest.deltas import RunPublisher, StoredRun, store_deltas
from ofca.ingest.snapshot import store_snapshot
from ofca.persistence.faults import StorageUnavailable, is_database_unavailable
from ofca.persistence.streams import StreamFenced

__all__ = [
    "DELTA_BATCH_FRAMES",
    "QUEUED_FRAMES",
    "SUPERSEDED",
    "ExtensionSession",
    "FrameBudget",
    "FrameSink",
    "StreamView",
    "valid_stream",
]

log = logging.getLogger(__name__)

DELTA_BATCH_FRAMES = 500
"""Queued frames handled together; consecutive deltas among them share one commit."""
QUEUED_FRAMES = 1000
"""Frames waiting at most; then the socket stops reading and TCP pushes back."""
PROGRESS_STEP = 0.2
"""A snapshot's ``system_status`` progress is sent in steps of this fraction."""
SUPERSEDED = 4409
"""Close code of a socket whose stream another socket took over."""

_STREAM = re.compile(STREAM_PATTERN)


def valid_stream(name: str) -> bool:
    return _STREAM.match(name) is not None


class FrameSink(Protocol):
    """Where a session's answers go (the socket)."""

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class StreamView(msgspec.Struct, frozen=True):
    """What ``connection_ack`` tells about the socket's stream."""

    stream: str
    committed_seq: int
    pending_snapshot: PendingSnapshot | None


class _Peek(msgspec.Struct):
    """A frame's ``type`` and ``seq``, read before it is decoded (or refused)."""

    type: str = ""
    seq: Seq | None = None


_peek_decoder = msgspec.json.Decoder(_Peek)
_UNSEQUENCED = frozenset({"keepalive", "online_users_update"})
"""Frames whose ``seq`` is ignored: nothing is stored, nothing to resend."""


_HEAD = re.compile(
    rb'\A\s*\{\s*"type"\s*:\s*"([a-z_]{1,40})"\s*,\s*"seq"\s*:\s*([1-9][0-9]{0,15})\s*[,}]'
)
"""The usual head of a sequenced frame (the reference client's): read without decoding the
rest, which for a snapshot is megabytes (~0.1 s on a busy core)."""


def _peek(data: bytes) -> tuple[str, int] | None:
    """``(type, seq)`` of a sequenced frame; ``None`` for a frame without a (valid) seq."""
    head = _HEAD.match(data, 0, 200)
    if head is not None and int(head[2]) <= MAX_SEQ:
        frame_type = head[1].decode()
        return None if frame_type in _UNSEQUENCED else (frame_type, int(head[2]))
    if b'"seq"' not in data:
        return None
    try:
        peeked = _peek_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    if peeked.seq is None or peeked.type in _UNSEQUENCED:
        return None
    return peeked.type, peeked.seq


def _error_frame(error: FrameError, seq: int | None, **extra: Any) -> bytes:
    """``error`` as a ``system_error`` naming the frame's ``seq``."""
    payload = SystemErrorPayload(
        errorMessage=error.message, code=error.code, detail=error.detail, retryable=error.retryable
    )
    if seq is not None:
        payload.seq = seq
    if error.retry_after_ms is not None:
        payload.retry_after_ms = error.retry_after_ms
    for name, value in extra.items():
        setattr(payload, name, value)
    return outgoing_encoder.encode(SystemError(payload=payload))


class _Delta(msgspec.Struct):
    message: Message
    inbound: Inbound
    seq: int | None


class FrameBudget(Protocol):
    """The frames a credential may send (``access.ratelimit.FrameBudget``, shared by its
    sockets)."""

    per_minute: int

    async def take(self) -> bool:
        """A frame's token; False when the budget is spent."""

    def retry_after_ms(self) -> int:
        """After a refusal: how long until the next frame would get a token."""


def _failure(exc: Exception, what: str, account_id: str) -> FrameError:
    """The answer to a frame (or run of frames) whose handling raised ``exc``."""
    match exc:
        case FrameRejected(error=error):
            return error
        case StorageUnavailable():
            return storage_unavailable(str(exc))
        case _ if is_database_unavailable(exc):  # a read before the write failed the same way
            return storage_unavailable(type(exc).__name__)
    log.error("%s of %s failed", what, account_id, exc_info=exc)
    return INTERNAL_ERROR


class ExtensionSession:
    """The frames of one extension socket, from :meth:`receive` to their answers.

    Each frame is one :class:`~ofca.domain.frames.Inbound` (or the ``FrameError`` it was
    refused with) from decoding to its answer; deltas wait in :attr:`_run` until the run's
    commit. Every answer leaves through :meth:`_acknowledge` or :meth:`_refuse`, in frame
    order: the place for what an answer must carry of its frame."""

    def __init__(
        self,
        ctx: IngestContext,
        sink: FrameSink,
        *,
        budget: FrameBudget,
        on_keepalive: Callable[[], Awaitable[None]],
        connection_id: str = "",
        stream: str | None = None,
    ) -> None:
        self.ctx = ctx
        self._sink = sink
        self._on_keepalive = on_keepalive
        self._budget = budget
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUED_FRAMES)
        self._ended = False
        self._run: list[_Delta] = []
        """Deltas waiting for their commit, in arrival order."""
        self._publisher = RunPublisher(ctx)
        self._connection_id = connection_id
        self._stream_name = stream
        """``?stream=``; ``None``: the default stream, claimed at the first sequenced frame."""
        self.stream: streams.Stream | None = None
        """The stream this socket writes, once claimed."""
        self._accepted_seq = 0
        """The last seq handled or waiting in :attr:`_run` (at least the committed seq)."""
        self.superseded = False

    # ----------------------------------------------------------------- the socket's side

    async def open(self) -> StreamView | None:
        """Before ``connection_ack``: claim the named stream (raises when that fails), or
        read the default stream for the ack (``None`` when it cannot be read now)."""
        if self._stream_name is not None:
            stream = await self._claim(self._stream_name)
            return StreamView(stream.name, stream.committed_seq, stream.pending_snapshot)
        try:
            state = await streams.peek(self.ctx.account_id, streams.DEFAULT_STREAM)
        except Exception as exc:
            log.warning("stream of %s not read: %s", self.ctx.account_id, type(exc).__name__)
            return None
        if state is None:
            return StreamView(streams.DEFAULT_STREAM, 0, None)
        pending = state.pending
        return StreamView(
            streams.DEFAULT_STREAM,
            state.committed_seq,
            None
            if pending is None
            else PendingSnapshot(
                id=pending.id, next_chunk=pending.next_chunk, chunks=pending.chunks
            ),
        )

    def superseded_by(self, stream: str | None, writer: str | None) -> bool:
        """Whether a ``superseded`` event (``writer`` claimed ``stream``) ends this socket."""
        own = self.stream
        return own is not None and own.name == stream and own.writer != writer

    async def supersede(self) -> None:
        """Another socket writes this stream now: nothing more is handled, close 4409."""
        if not self.superseded:
            self.superseded = True
            self._run = []
            await self._sink.close(SUPERSEDED, "superseded")

    async def release(self) -> None:
        """The socket is closed: its stream waits for its next writer."""
        if self.stream is not None and not self.superseded:
            await self.stream.release()

    async def receive(self, data: bytes) -> None:
        """Queue a frame; waits while :data:`QUEUED_FRAMES` are waiting."""
        await self._inbox.put(data)

    async def end(self) -> None:
        """No more frames: :meth:`run` returns after the ones already queued."""
        await self._inbox.put(None)

    async def run(self) -> None:
        """Handle the queued frames until :meth:`end`, up to :data:`DELTA_BATCH_FRAMES` at
        a time; then publish what is left."""
        while not self._ended:
            await self.handle(await self._next_frames())
        await self._publisher.close()

    async def _next_frames(self) -> list[bytes]:
        """The next frame, and those queued behind it."""
        first = await self._inbox.get()
        if first is None:
            self._ended = True
            return []
        frames = [first]
        while len(frames) < DELTA_BATCH_FRAMES and not self._inbox.empty():
            following = self._inbox.get_nowait()
            if following is None:
                self._ended = True
                break
            frames.append(following)
        return frames

    # ----------------------------------------------------------------- the stream

    async def _claim(self, name: str) -> streams.Stream:
        stream = await streams.claim(
            self.ctx.channels, self.ctx.account_id, name, self._connection_id
        )
        self.stream = stream
        self._accepted_seq = stream.committed_seq
        return stream

    async def _sequenced(self, frame_type: str, seq: int) -> bool:
        """Whether the frame ``seq`` is the stream's next one; else it is answered here (a
        duplicate, a gap, or the stream could not be claimed)."""
        stream = self.stream
        if stream is None:
            try:
                stream = await self._claim(streams.DEFAULT_STREAM)
            except Exception as exc:
                await self._refuse(_failure(exc, "stream claim", self.ctx.account_id), seq)
                return False
        if stream.committed_seq < seq <= self._accepted_seq:
            await self._flush()  # waiting in the run: commit it, then it is a duplicate
        if seq <= stream.committed_seq:
            await self._acknowledge(
                IngestAckPayload(
                    frame="cache_update" if frame_type == "cache_update" else "new_raw_message",
                    accepted=0,
                    duplicates=0,
                    updated=0,
                    rejected=0,
                    first_seq=seq,
                    last_seq=seq,
                    committed_seq=stream.committed_seq,
                    duplicate_frame=True,
                )
            )
            return False
        expected = self._accepted_seq + 1
        if seq > expected:
            await self._gap(seq, expected)
            return False
        return True

    async def _answer_failure(self, error: FrameError, seq: int | None) -> None:
        """A frame's error. A sequenced frame's non-retryable error consumes it (its seq is
        committed with nothing stored); a retryable one leaves it to be sent again."""
        stream = self.stream
        if seq is None or stream is None:
            await self._refuse(error)
            return
        if error.retryable:
            self._accepted_seq = stream.committed_seq
            await self._refuse(error, seq)
            return
        try:
            await stream.advance(seq, seq)
        except StreamFenced:
            await self.supersede()
            return
        except Exception as exc:
            self._accepted_seq = stream.committed_seq
            await self._refuse(_failure(exc, "consuming a frame", self.ctx.account_id), seq)
            return
        self._accepted_seq = max(self._accepted_seq, seq)
        await self._refuse(error, seq)

    # ----------------------------------------------------------------- frames

    def _rate_limited(self) -> FrameError:
        """The refusal of a frame over the credential's budget, saying when to resend."""
        return rate_limited(self._budget.per_minute, self._budget.retry_after_ms())

    async def handle(self, frames: Sequence[bytes]) -> None:
        """Frames in arrival order; every answer goes out in that order."""
        for data in frames:
            if self.superseded:
                return
            await self._frame(data)
        await self._flush()

    async def _frame(self, data: bytes) -> None:
        peeked = _peek(data)
        if peeked is None:  # v1: the budget first, then decoding
            await self._dispatch(
                decode_frame(data) if await self._budget.take() else self._rate_limited(), None
            )
            return
        frame_type, seq = peeked
        if not await self._sequenced(frame_type, seq):
            return
        if not await self._budget.take():
            await self._sink.send(_error_frame(self._rate_limited(), seq))
            return
        decoded = decode_frame(data)
        is_delta = isinstance(decoded, Inbound) and type(decoded.frame) is NewRawMessage
        if not is_delta and not await self._settled(seq):
            return
        if isinstance(decoded, FrameError):
            await self._answer_failure(decoded, seq)
            return
        await self._dispatch(decoded, seq)

    async def _settled(self, seq: int) -> bool:
        """Before a sequenced frame other than a delta: the deltas before it are stored and
        answered. When they were refused, ``seq`` is no longer the next frame: it is
        answered as a gap (``False``)."""
        await self._flush()
        stream = self.stream
        if stream is None or seq == stream.committed_seq + 1:
            return True
        await self._gap(seq, stream.committed_seq + 1)
        return False

    async def _gap(self, seq: int, expected: int) -> None:
        error = FrameError(
            "sequence_gap",
            "Frames are missing before this one",
            f"expected seq {expected}, got {seq}",
            retryable=True,
        )
        await self._sink.send(_error_frame(error, seq, expected_seq=expected))

    async def _dispatch(self, decoded: Inbound | FrameError, seq: int | None) -> None:
        if not (isinstance(decoded, Inbound) and type(decoded.frame) is NewRawMessage):
            await self._flush()  # the deltas before it are answered first
        try:
            match decoded:
                case Inbound(frame=NewRawMessage(payload=payload)):
                    self._run.append(_Delta(payload.message, decoded, seq))
                    if seq is not None:
                        self._accepted_seq = seq
                case Inbound(frame=SnapshotFrame(payload=payload)):
                    await self._snapshot(payload, decoded.size, seq)
                    if seq is not None:
                        self._accepted_seq = seq
                case Inbound(frame=Keepalive()):
                    await self._on_keepalive()
                case Inbound(frame=OnlineUsersUpdate(payload=payload)):
                    await self._online_users(payload)
                case FrameError():
                    await self._refuse(decoded)
        except StreamFenced:
            await self.supersede()
        except Exception as exc:
            frame_type = decoded.frame.__struct_config__.tag if isinstance(decoded, Inbound) else ""
            await self._answer_failure(
                _failure(exc, f"{frame_type} frame", self.ctx.account_id), seq
            )

    async def _refuse(self, error: FrameError, seq: int | None = None) -> None:
        await self._sink.send(error.encode() if seq is None else _error_frame(error, seq))

    async def _acknowledge(self, ack: IngestAckPayload) -> None:
        await self._sink.send(outgoing_encoder.encode(IngestAck(payload=ack)))

    # ----------------------------------------------------------------- deltas

    async def _flush(self) -> None:
        """Store the waiting deltas with one commit and answer each, in order. Sequenced
        runs are stored in units of distinct message ids, one transaction each, which also
        moves the stream's ``committed_seq`` over the unit's frames."""
        if not self._run:
            return
        run, self._run = self._run, []
        units = _units(run) if self.stream is not None else [run]
        for index, unit in enumerate(units):
            try:
                stored = await self._store_unit(unit)
            except StreamFenced:
                await self.supersede()
                return
            except Exception as exc:
                error = _failure(exc, f"{len(unit)} deltas", self.ctx.account_id)
                if error.retryable or self.stream is None:
                    for rest in units[index:]:
                        for delta in rest:
                            await self._answer_failure(error, delta.seq)
                    return
                for delta in unit:  # consumed; the next units are stored all the same
                    await self._answer_failure(error, delta.seq)
                continue
            await self._acknowledge_unit(unit, stored)
            self._publisher.publish(stored)

    async def _store_unit(self, unit: list[_Delta]) -> StoredRun:
        seqs = [delta.seq for delta in unit if delta.seq is not None]
        frame_bytes = sum(delta.inbound.size for delta in unit)
        items = [(delta.message, delta.inbound.raw_message) for delta in unit]
        stream = self.stream
        if stream is None or not seqs:
            return await store_deltas(self.ctx, items, frame_bytes)
        hook, ran = stream.advancing(seqs[0], seqs[-1])
        stored = await store_deltas(self.ctx, items, frame_bytes, hook)
        if ran[0]:
            stream.committed_seq = seqs[-1]
        else:  # nothing to store (every message refused): the frames are handled all the same
            await stream.advance(seqs[0], seqs[-1])
        return stored

    async def _acknowledge_unit(self, unit: list[_Delta], stored: StoredRun) -> None:
        """One ack per unsequenced delta; one per consecutive sequenced ones (the counts
        summed, ``first_seq..last_seq`` named)."""
        merged: IngestAckPayload | None = None
        for delta, ack in zip(unit, stored.acks, strict=True):
            if delta.seq is None:
                if merged is not None:
                    await self._acknowledge(merged)
                    merged = None
                await self._acknowledge(ack)
                continue
            if merged is None:  # a copy: the run's acks also make its ingest log line
                merged = msgspec.structs.replace(ack, rejected_items=list(ack.rejected_items))
                merged.first_seq = delta.seq
            else:
                merged.accepted += ack.accepted
                merged.duplicates += ack.duplicates
                merged.updated += ack.updated
                merged.rejected += ack.rejected
                merged.chats += ack.chats
                merged.rejected_items.extend(ack.rejected_items)
            merged.last_seq = delta.seq
        if merged is not None:
            assert self.stream is not None
            merged.committed_seq = self.stream.committed_seq
            merged.rejected_items = merged.rejected_items[:100]
            await self._acknowledge(merged)

    # ----------------------------------------------------------------- snapshots

    async def _snapshot(self, payload: RawSnapshotPayload, size: int, seq: int | None) -> None:
        marker = payload.snapshot
        stream = self.stream
        if marker is not None:
            if seq is None or stream is None:
                raise FrameRejected(
                    "validation_error",
                    "Invalid cache_update",
                    "the chunks of a chunked snapshot must carry seq (docs/protocol.md)",
                )
            if marker.chunk >= marker.chunks:
                raise FrameRejected(
                    "validation_error",
                    "Invalid cache_update",
                    f"chunk {marker.chunk} of a snapshot of {marker.chunks} chunks",
                )
            if marker.chunk < marker.chunks - 1:
                await self._acknowledge(await stage_chunk(self.ctx, stream, payload, seq))
                return
        # What the snapshot publishes comes after what the deltas before it published.
        await self._publisher.drain()
        last = -1.0

        async def progress(fraction: float) -> None:
            nonlocal last
            if fraction - last >= PROGRESS_STEP or fraction >= 1.0:
                last = fraction
                await self._sink.send(
                    status_frame("PROCESSING_SNAPSHOT", "storing snapshot", min(fraction, 1.0))
                )

        await progress(0.0)
        publish_to_dashboards(
            self.ctx.channels,
            self.ctx.account_id,
            status_frame("PROCESSING_SNAPSHOT", "receiving snapshot", 0.0),
        )
        if seq is None or stream is None:
            ack = await store_snapshot(self.ctx, payload, size, progress)
        elif marker is not None:
            ack = await apply_chunks(self.ctx, stream, payload, size, seq, progress)
        else:
            hook, ran = stream.advancing(seq, seq)
            ack = await store_snapshot(self.ctx, payload, size, progress, hook)
            if not ran[0]:
                await stream.advance(seq, seq)
            stream.committed_seq = seq
            _sequenced_ack(ack, seq, seq)
        await self._sink.send(status_frame("REALTIME"))
        await self._acknowledge(ack)

    async def _online_users(self, payload: OnlineUsersPayload) -> None:
        await self._publisher.drain()  # after the append_message of the deltas before it
        publish_to_dashboards(
            self.ctx.channels, self.ctx.account_id, OnlineUsersUpdateOut(payload=payload)
        )


def _sequenced_ack(ack: IngestAckPayload, first_seq: int, last_seq: int) -> None:
    ack.first_seq = first_seq
    ack.last_seq = last_seq
    ack.committed_seq = last_seq


def _units(run: list[_Delta]) -> list[list[_Delta]]:
    """A run cut where a message id repeats: each unit is stored in one transaction."""
    units: list[list[_Delta]] = [[]]
    ids: set[str] = set()
    for delta in run:
        message_id = str(delta.message.id)  # as ingest.deltas groups them
        if message_id in ids:
            units.append([])
            ids = set()
        ids.add(message_id)
        units[-1].append(delta)
    return units
