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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

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
    IngestAck,
    IngestAckPayload,
    Keepalive,
    NewRawMessage,
    OnlineUsersPayload,
    OnlineUsersUpdate,
    OnlineUsersUpdateOut,
    outgoing_encoder,
)
from ofca.ingest.context import FrameRejected, IngestContext
from ofca.ingest.deltas import RunPublisher, store_deltas
from ofca.ingest.snapshot import store_snapshot
from ofca.persistence.faults import StorageUnavailable, is_database_unavailable

__all__ = [
    "DELTA_BATCH_FRAMES",
    "QUEUED_FRAMES",
    "ExtensionSession",
    "FrameBudget",
    "FrameSink",
]

log = logging.getLogger(__name__)

DELTA_BATCH_FRAMES = 500
"""Queued frames handled together; consecutive deltas among them share one commit."""
QUEUED_FRAMES = 1000
"""Frames waiting at most; then the socket stops reading and TCP pushes back."""
PROGRESS_STEP = 0.2
"""A snapshot's ``system_status`` progress is sent in steps of this fraction."""


class FrameSink(Protocol):
    """Where a session's answers go (the socket)."""

    async def send(self, data: bytes) -> None: ...


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
    ) -> None:
        self.ctx = ctx
        self._sink = sink
        self._on_keepalive = on_keepalive
        self._budget = budget
        self._inbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUED_FRAMES)
        self._ended = False
        self._run: list[tuple[Message, Inbound]] = []
        """Deltas waiting for their commit, in arrival order."""
        self._publisher = RunPublisher(ctx)

    # ----------------------------------------------------------------- the socket's side

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

    # ----------------------------------------------------------------- frames

    async def handle(self, frames: Sequence[bytes]) -> None:
        """Frames in arrival order; every answer goes out in that order."""
        for data in frames:
            if await self._budget.take():
                await self._dispatch(decode_frame(data))
            else:
                budget = self._budget
                await self._dispatch(rate_limited(budget.per_minute, budget.retry_after_ms()))
        await self._flush()

    async def _dispatch(self, decoded: Inbound | FrameError) -> None:
        if not (isinstance(decoded, Inbound) and type(decoded.frame) is NewRawMessage):
            await self._flush()  # the deltas before it are answered first
        try:
            match decoded:
                case Inbound(frame=NewRawMessage(payload=payload)):
                    self._run.append((payload.message, decoded))
                case Inbound(frame=SnapshotFrame(payload=payload)):
                    await self._snapshot(payload, decoded.size)
                case Inbound(frame=Keepalive()):
                    await self._on_keepalive()
                case Inbound(frame=OnlineUsersUpdate(payload=payload)):
                    await self._online_users(payload)
                case FrameError():
                    await self._refuse(decoded)
        except Exception as exc:
            frame_type = decoded.frame.__struct_config__.tag if isinstance(decoded, Inbound) else ""
            await self._refuse(_failure(exc, f"{frame_type} frame", self.ctx.account_id))

    async def _refuse(self, error: FrameError) -> None:
        await self._sink.send(error.encode())

    async def _acknowledge(self, ack: IngestAckPayload) -> None:
        await self._sink.send(outgoing_encoder.encode(IngestAck(payload=ack)))

    async def _flush(self) -> None:
        """Store the waiting deltas with one commit and answer each, in order."""
        if not self._run:
            return
        run, self._run = self._run, []
        frame_bytes = sum(inbound.size for _, inbound in run)
        try:
            stored = await store_deltas(
                self.ctx, [(message, inbound.raw_message) for message, inbound in run], frame_bytes
            )
        except Exception as exc:
            error = _failure(exc, f"{len(run)} deltas", self.ctx.account_id)
            for _ in run:
                await self._refuse(error)
            return
        for ack in stored.acks:
            await self._acknowledge(ack)
        self._publisher.publish(stored)

    async def _snapshot(self, payload: RawSnapshotPayload, size: int) -> None:
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
        ack = await store_snapshot(self.ctx, payload, size, progress)
        await self._sink.send(status_frame("REALTIME"))
        await self._acknowledge(ack)

    async def _online_users(self, payload: OnlineUsersPayload) -> None:
        await self._publisher.drain()  # after the append_message of the deltas before it
        publish_to_dashboards(
            self.ctx.channels, self.ctx.account_id, OnlineUsersUpdateOut(payload=payload)
        )
