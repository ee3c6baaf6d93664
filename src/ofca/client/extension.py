"""A reference client of the extension socket (docs/protocol.md), for tools, tests and benches.

It numbers the data frames of its stream (``seq``), keeps every frame until the server
says it is durably handled (``committed_seq``), and resends exactly from what the server
refused: a ``rate_limited`` frame after ``retry_after_ms``, a ``sequence_gap`` from its
``expected_seq``, a ``storage_unavailable`` after a pause. At most ``window_frames`` frames
(and ``window_bytes``) are kept unacknowledged: :meth:`ExtensionClient.send_delta` and
:meth:`ExtensionClient.send_snapshot` wait for room, which is the back-pressure a caller
feels. A lost connection is reopened and the stream resumed from the server's
``committed_seq``; a chunked snapshot started by an earlier run resumes from its
``pending_snapshot``.

Answers come in the order the frames were sent (the server handles a stream strictly in
order), one per data frame or one per run of frames: that is how a refusal is told apart
from the refusals it caused (frames sent after a refused one are refused as gaps; they
are already scheduled again, so those are not acted on twice). A server that speaks only
protocol v1 (no ``committed_seq`` in its ``connection_ack``) gets the same frames; its
answers are matched by order and only the refused frames are sent again.

    async with ExtensionClient("http://127.0.0.1:8000", key, "acct", stream="laptop") as c:
        for message in messages:
            await c.send_delta(message)
        await c.drain()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import msgspec
import websockets
from msgspec import UNSET
from websockets.asyncio.client import ClientConnection, connect

from ofca.client.frames import (
    MIB,
    Item,
    SnapshotChunkPlan,
    SnapshotPlan,
    chunk_frame,
    delta_frame,
    encode_item,
    keepalive_frame,
    plan_snapshot,
    snapshot_frame,
)
from ofca.domain.wss import (
    CommandToExecute,
    ConnectionAck,
    IngestAck,
    IngestAckPayload,
    PendingSnapshot,
    SnapshotProgress,
    SystemError,
    SystemErrorPayload,
    SystemStatus,
)

__all__ = [
    "AuthenticationFailed",
    "ClientError",
    "ClientStats",
    "ConnectionLost",
    "ExtensionClient",
    "FrameFailure",
    "StreamDiverged",
    "Superseded",
    "extension_url",
]

log = logging.getLogger(__name__)

SUPERSEDED = 4409
POLICY_VIOLATION = 1008
RETRYABLE = frozenset({"rate_limited", "sequence_gap", "storage_unavailable"})
"""Refusals that mean "not handled, send it again"; any other error consumes the frame."""
DEFAULT_RETRY_MS = 1000
"""Pause after a refusal that does not say how long (a v1 server's ``rate_limited``)."""
MAX_STORAGE_BACKOFF = 10.0


class ClientError(Exception):
    """The client cannot go on; frames not yet committed were not (all) handled."""


class AuthenticationFailed(ClientError):
    """The server refused the credential or the account (closed with 1008, or HTTP 4xx)."""


class Superseded(ClientError):
    """Another socket took over this stream (closed with 4409): only one writer per stream."""


class StreamDiverged(ClientError):
    """The server's state of the stream contradicts this client's (another writer used the
    stream, or the server lost frames it had committed)."""


class ConnectionLost(ClientError):
    """No connection could be opened again within ``reconnect_seconds``."""


@dataclass
class FrameFailure:
    """A frame the server answered with a non-retryable error: it will not be handled."""

    seq: int
    code: str
    message: str
    detail: str | None


@dataclass
class ClientStats:
    frames: int = 0
    """Data frames handed to the client."""
    transmissions: int = 0
    """Data frames written to a socket, resends included."""
    refusals: Counter[str] = field(default_factory=Counter)
    """Retryable refusals acted on, by code (each makes the client send again from it)."""
    caused_refusals: int = 0
    """Refusals of frames sent after an already refused one (gaps it caused): not acted on."""
    duplicate_frames: int = 0
    """Frames the server had already committed (answered ``duplicate_frame``)."""
    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected: int = 0
    """Messages, as counted by the acks."""
    failures: list[FrameFailure] = field(default_factory=list)
    connections: int = 0
    bytes_sent: int = 0

    @property
    def resends(self) -> int:
        return self.transmissions - self.frames


@dataclass(eq=False)
class _Entry:
    seq: int
    data: bytes
    sent: int = 0


def extension_url(base: str, account: str, stream: str | None) -> str:
    """``ws(s)://host/ws/extension/<account>?stream=...`` from an http(s) or ws(s) base URL."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"expected an http(s):// or ws(s):// URL, got {base!r}")
    path = parts.path.rstrip("/") + "/ws/extension/" + quote(account, safe="")
    query = urlencode({"stream": stream}) if stream is not None else ""
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _chunk(snapshot_id: str, index: int, count: int, part: SnapshotChunkPlan, seq: int) -> bytes:
    return chunk_frame(seq, snapshot_id, index, count, part)


_answer_decoder = msgspec.json.Decoder(
    ConnectionAck | IngestAck | SystemError | SystemStatus | CommandToExecute
)


class _Envelope(msgspec.Struct):
    type: str


_envelope_decoder = msgspec.json.Decoder(_Envelope)
_KNOWN = frozenset(
    {"connection_ack", "ingest_ack", "system_error", "system_status", "command_to_execute"}
)

EventKind = Literal["ack", "refused", "failed", "connected", "status", "command"]


class ExtensionClient:
    """One stream of the extension socket. Use as ``async with``; see the module doc."""

    def __init__(
        self,
        url: str,
        key: str,
        account: str,
        *,
        stream: str | None = "default",
        window_frames: int = 256,
        window_bytes: int = 16 * MIB,
        chunk_bytes: int = MIB,
        keepalive_seconds: float = 20.0,
        reconnect_seconds: float = 60.0,
        open_timeout: float = 10.0,
        compression: bool = False,
        on_event: Callable[[EventKind, Any], None] | None = None,
    ) -> None:
        if window_frames < 1 or window_bytes < 1 or chunk_bytes < 1:
            raise ValueError("window_frames, window_bytes and chunk_bytes must be positive")
        self.url = extension_url(url, account, stream)
        self.account = account
        self.stream = stream or "default"
        self.window_frames = window_frames
        self.window_bytes = window_bytes
        self.chunk_bytes = chunk_bytes
        self.keepalive_seconds = keepalive_seconds
        self.reconnect_seconds = reconnect_seconds
        self.open_timeout = open_timeout
        self.on_event = on_event
        self.stats = ClientStats()
        self.committed_seq = 0
        """What the server last said is durably handled (v2 servers)."""
        self.pending_snapshot: PendingSnapshot | None = None
        """The server's partly staged snapshot of this stream, as of the last connect."""
        self.sequenced = False
        """Whether the server speaks protocol v2 (it reported ``committed_seq``)."""
        self.last_ack: IngestAckPayload | None = None
        self._key = key
        self._compression = "deflate" if compression else None
        self._outbox: dict[int, _Entry] = {}
        self._outbox_bytes = 0
        self._next_seq = 1
        self._cursor = 1
        """v2: the next seq to write; every frame below it was written since the last rewind."""
        self._retry: deque[int] = deque()
        """v1: refused frames to write again, before new ones."""
        self._transmissions: deque[tuple[int, int]] = deque()
        """(seq, epoch) of each frame written and not yet answered, in order."""
        self._epoch = 0
        self._congestion_window = float(window_frames)
        """Frames written ahead of answers now: halved by each rate limit, +1 per answer."""
        self._paused_until = 0.0
        self._storage_backoff = 0.5
        self._changed = asyncio.Event()
        self._fatal: ClientError | None = None
        self._closing = False
        self._ready: asyncio.Future[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._last_write = 0.0

    # ------------------------------------------------------------------ public

    async def __aenter__(self) -> ExtensionClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the socket and wait for its ``connection_ack`` (raises :class:`ClientError`)."""
        if self._runner is not None:
            return
        self._ready = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run())
        await asyncio.shield(self._ready)

    async def close(self) -> None:
        """Close the socket now (frames not yet committed stay unhandled: drain first)."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
            self._runner = None

    @property
    def unacknowledged(self) -> int:
        """Frames handed over and not yet answered for good."""
        return len(self._outbox)

    @property
    def last_seq(self) -> int:
        """The seq of the last frame handed over (0: none)."""
        return self._next_seq - 1

    async def send_delta(self, message: Item) -> int:
        """Queue a ``new_raw_message`` (waiting for room in the window); returns its seq."""
        return await self._enqueue(lambda seq: delta_frame(seq, encode_item(message)))

    def plan_snapshot(
        self,
        chats: Iterable[Item],
        messages: Iterable[Item],
        *,
        chunk_bytes: int | None = None,
        snapshot_id: str | None = None,
    ) -> SnapshotPlan:
        return plan_snapshot(chats, messages, chunk_bytes or self.chunk_bytes, snapshot_id)

    async def send_snapshot(
        self,
        plan: SnapshotPlan,
        *,
        resume: bool = True,
        progress: Callable[[int], None] | None = None,
        stop: int | None = None,
    ) -> list[int]:
        """Queue the chunks of ``plan`` (one ``cache_update`` each); returns their seqs.
        With ``resume``, chunks the server has already staged for this snapshot id (its
        ``pending_snapshot``, as of the last connect or ack) are skipped. ``progress`` is
        told the number of chunks queued so far. ``stop``: queue the chunks before this
        index only (the snapshot stays pending on the server; a later call resumes it)."""
        start = 0
        pending = self.pending_snapshot
        if (
            resume
            and pending is not None
            and pending.id == plan.id
            and pending.chunks == len(plan.chunks)
        ):
            start = pending.next_chunk
        seqs: list[int] = []
        count = len(plan.chunks)
        for index in range(start, count if stop is None else min(stop, count)):
            part = plan.chunks[index]
            seqs.append(await self._enqueue(partial(_chunk, plan.id, index, count, part)))
            if progress is not None:
                progress(index + 1)
        return seqs

    async def send_whole_snapshot(self, chats: Iterable[Item], messages: Iterable[Item]) -> int:
        """Queue a snapshot as one ``cache_update`` without chunks (the v1 way)."""
        chat_bytes = [encode_item(chat) for chat in chats]
        message_bytes = [encode_item(message) for message in messages]
        return await self._enqueue(lambda seq: snapshot_frame(seq, chat_bytes, message_bytes))

    async def drain(self) -> None:
        """Wait until every frame handed over is answered for good (committed or failed)."""
        while self._outbox:
            self._raise_if_failed()
            await self._wait_change()
        self._raise_if_failed()

    # ------------------------------------------------------------------ queueing

    async def _enqueue(self, build: Callable[[int], bytes]) -> int:
        if self._ready is None:
            raise ClientError("connect() first")
        await asyncio.shield(self._ready)
        while self._outbox and (
            len(self._outbox) >= self.window_frames or self._outbox_bytes >= self.window_bytes
        ):
            self._raise_if_failed()
            await self._wait_change()
        self._raise_if_failed()
        seq = self._next_seq
        self._next_seq += 1
        entry = _Entry(seq, build(seq))
        self._outbox[seq] = entry
        self._outbox_bytes += len(entry.data)
        self.stats.frames += 1
        self._notify()
        return seq

    def _raise_if_failed(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, within: float | None = None) -> None:
        changed = self._changed
        if within is None:
            await changed.wait()
            return
        # asyncio.timeout, not wait_for: Python 3.11's wait_for loses a cancellation that
        # arrives as the event is set (and close() sets it before cancelling).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await changed.wait()

    def _emit(self, kind: EventKind, detail: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, detail)

    def _done(self, seq: int) -> None:
        entry = self._outbox.pop(seq, None)
        if entry is not None:
            self._outbox_bytes -= len(entry.data)

    def _commit(self, committed: int) -> None:
        self.committed_seq = max(self.committed_seq, committed)
        while self._outbox:  # in seq order: frames are queued with increasing seqs
            seq = next(iter(self._outbox))
            if seq > committed:
                break
            self._done(seq)
        self._cursor = max(self._cursor, committed + 1)

    # ------------------------------------------------------------------ connection

    async def _run(self) -> None:
        assert self._ready is not None
        lost_since: float | None = None
        delay = 0.2
        while not self._closing:
            try:
                socket, ack = await self._open()
            except ClientError as exc:
                self._fail(exc)
                return
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                now = time.monotonic()
                lost_since = lost_since or now
                if not self._ready.done() or now - lost_since > self.reconnect_seconds:
                    self._fail(ConnectionLost(f"cannot connect to {self._safe_url}: {exc}"))
                    return
                log.info("reconnecting in %.1f s (%s)", delay, type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            lost_since, delay = None, 0.2
            try:
                self._connected(ack)
            except ClientError as exc:
                await socket.close()
                self._fail(exc)
                return
            if not self._ready.done():
                self._ready.set_result(None)
            sender = asyncio.create_task(self._send_loop(socket))
            try:
                code, reason = await self._read_loop(socket)
            finally:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
                await socket.close()
            if self._closing:
                return
            if code == SUPERSEDED:
                self._fail(Superseded(f"another socket took over stream {self.stream!r}"))
                return
            if code == POLICY_VIOLATION:
                self._fail(AuthenticationFailed(reason or "policy violation"))
                return
            lost_since = time.monotonic()
            log.info("connection closed (%s %s); reconnecting", code, reason)

    @property
    def _safe_url(self) -> str:
        return self.url.split("?", 1)[0]

    async def _open(self) -> tuple[ClientConnection, ConnectionAck]:
        try:
            socket = await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self._key}"},
                max_size=None,
                open_timeout=self.open_timeout,
                ping_timeout=60,
                compression=self._compression,
            )
        except websockets.InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403, 404):
                raise AuthenticationFailed(f"HTTP {status} from {self._safe_url}") from None
            raise
        try:
            async with asyncio.timeout(self.open_timeout):
                raw = await socket.recv(decode=False)
        except websockets.ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == POLICY_VIOLATION:
                raise AuthenticationFailed(exc.rcvd.reason or "policy violation") from None
            raise
        frame = _answer_decoder.decode(raw)
        if not isinstance(frame, ConnectionAck):
            await socket.close()
            raise ClientError(f"expected connection_ack, got {type(frame).__name__}")
        return socket, frame

    def _connected(self, ack: ConnectionAck) -> None:
        """Take the server's view of the stream and plan what to (re)send."""
        payload = ack.payload
        first = self.stats.connections == 0
        self.stats.connections += 1
        self._epoch += 1
        self._transmissions.clear()
        self._paused_until = 0.0
        if payload.committed_seq is UNSET:
            self.sequenced = False
            self._retry = deque(sorted(s for s, e in self._outbox.items() if e.sent))
            self._emit("connected", payload)
            self._notify()
            return
        committed = int(payload.committed_seq)
        self.sequenced = True
        pending = payload.pending_snapshot
        self.pending_snapshot = None if pending is UNSET else pending
        if first and not self._outbox:
            self.committed_seq = committed
            self._next_seq = self._cursor = committed + 1
        else:
            if committed < self.committed_seq:
                raise StreamDiverged(
                    f"stream {self.stream!r}: the server's committed_seq went back from "
                    f"{self.committed_seq} to {committed}"
                )
            if committed >= self._next_seq:
                raise StreamDiverged(
                    f"stream {self.stream!r}: the server committed seq {committed}, beyond "
                    f"this client's last ({self._next_seq - 1}): another writer?"
                )
            self._commit(committed)
            self._cursor = committed + 1
        self._emit("connected", payload)
        self._notify()

    def _fail(self, exc: ClientError) -> None:
        if self._fatal is None:
            self._fatal = exc
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(exc)
        self._notify()

    # ------------------------------------------------------------------ sending

    def _next_entry(self) -> _Entry | None:
        while self._retry:
            entry = self._outbox.get(self._retry[0])
            if entry is not None:
                return entry
            self._retry.popleft()
        while self._cursor < self._next_seq:
            entry = self._outbox.get(self._cursor)
            if entry is not None:
                return entry
            self._cursor += 1  # committed or failed meanwhile
        return None

    async def _send_loop(self, socket: ClientConnection) -> None:
        self._last_write = time.monotonic()
        while not self._closing:
            now = time.monotonic()
            entry = self._next_entry()
            if entry is None or len(self._transmissions) >= int(self._congestion_window):
                idle = self.keepalive_seconds - (now - self._last_write)
                if idle <= 0 and not self._transmissions:
                    await socket.send(keepalive_frame(time.time()), text=True)
                    self._last_write = time.monotonic()
                    continue
                await self._wait_change(max(idle, 0.05))
                continue
            if now < self._paused_until:
                await self._wait_change(self._paused_until - now)
                continue
            if self._retry and self._retry[0] == entry.seq:
                self._retry.popleft()
            else:
                self._cursor = entry.seq + 1
            self._transmissions.append((entry.seq, self._epoch))
            entry.sent += 1
            self.stats.transmissions += 1
            self.stats.bytes_sent += len(entry.data)
            await socket.send(entry.data, text=True)
            self._last_write = time.monotonic()

    # ------------------------------------------------------------------ answers

    async def _read_loop(self, socket: ClientConnection) -> tuple[int | None, str | None]:
        try:
            while True:
                data = await socket.recv(decode=False)
                if _envelope_decoder.decode(data).type not in _KNOWN:
                    continue
                frame = _answer_decoder.decode(data)
                if isinstance(frame, IngestAck):
                    self._on_ack(frame.payload)
                elif isinstance(frame, SystemError):
                    self._on_error(frame.payload)
                elif isinstance(frame, SystemStatus):
                    self._emit("status", frame.payload)
                elif isinstance(frame, CommandToExecute):
                    self._emit("command", frame.payload)
                self._notify()
        except websockets.ConnectionClosed:
            pass
        return socket.close_code, socket.close_reason

    def _take(self, first: int | None, last: int | None) -> list[tuple[int, int]]:
        """The transmissions an answer is about (they are answered in order)."""
        if not self._transmissions:
            return []
        if first is None or last is None:
            return [self._transmissions.popleft()]
        taken: list[tuple[int, int]] = []
        # Answers come in order: drop anything before the answered range (never expected).
        while self._transmissions and self._transmissions[0][0] < first:
            if not any(seq >= first for seq, _ in self._transmissions):
                break
            self._transmissions.popleft()
        while self._transmissions and first <= self._transmissions[0][0] <= last:
            taken.append(self._transmissions.popleft())
        return taken

    def _on_ack(self, ack: IngestAckPayload) -> None:
        self.last_ack = ack
        first = None if ack.first_seq is UNSET else int(ack.first_seq)
        last = None if ack.last_seq is UNSET else int(ack.last_seq)
        taken = self._take(first, last if last is not None else first)
        stats = self.stats
        stats.accepted += ack.accepted
        stats.updated += ack.updated
        stats.duplicates += ack.duplicates
        stats.rejected += ack.rejected
        if ack.duplicate_frame is True:
            stats.duplicate_frames += max(len(taken), 1)
        self._storage_backoff = 0.5
        self._congestion_window = min(
            float(self.window_frames), self._congestion_window + max(len(taken), 1)
        )
        if ack.committed_seq is not UNSET:
            self._commit(int(ack.committed_seq))
        else:
            for seq, _ in taken:
                self._done(seq)
        if ack.snapshot_progress is not UNSET:
            progress: SnapshotProgress = ack.snapshot_progress
            self.pending_snapshot = (
                None
                if progress.received >= progress.chunks
                else PendingSnapshot(
                    id=progress.id, next_chunk=progress.received, chunks=progress.chunks
                )
            )
        self._emit("ack", ack)

    def _on_error(self, error: SystemErrorPayload) -> None:
        seq = None if error.seq is UNSET else int(error.seq)
        if self.sequenced and seq is None:
            self._emit("status", error)  # about an unsequenced frame (a keepalive)
            return
        taken = self._take(seq, seq)
        if not taken:
            self._emit("status", error)
            return
        seq, epoch = taken[0]
        if error.code not in RETRYABLE or not error.retryable:
            failure = FrameFailure(seq, error.code, error.errorMessage, error.detail)
            self.stats.failures.append(failure)
            self._done(seq)
            self._emit("failed", failure)
            return
        if self.sequenced and epoch != self._epoch:
            self.stats.caused_refusals += 1  # refused because an earlier frame was
            return
        self.stats.refusals[error.code] += 1
        self._pause(error)
        if not self.sequenced:
            if seq in self._outbox:
                self._retry.append(seq)
            self._emit("refused", error)
            return
        target = seq
        if error.code == "sequence_gap" and error.expected_seq is not UNSET:
            target = int(error.expected_seq)
            if target > seq:  # the server has committed more than it told this client
                self._commit(target - 1)
            elif target not in self._outbox and target > self.committed_seq:
                self._fail(
                    StreamDiverged(
                        f"stream {self.stream!r}: the server expects seq {target}, which this "
                        "client no longer has"
                    )
                )
                return
        self._epoch += 1
        self._cursor = min(self._cursor, max(target, self.committed_seq + 1))
        self._emit("refused", error)

    def _pause(self, error: SystemErrorPayload) -> None:
        if error.code == "rate_limited":
            # Frames sent ahead of a rate limit are refused too: send fewer ahead for now.
            self._congestion_window = max(1.0, self._congestion_window / 2)
            wait_ms = DEFAULT_RETRY_MS if error.retry_after_ms is UNSET else error.retry_after_ms
            pause = max(int(wait_ms), 1) / 1000
        elif error.code == "storage_unavailable":
            pause = self._storage_backoff
            self._storage_backoff = min(self._storage_backoff * 2, MAX_STORAGE_BACKOFF)
        else:
            return
        self._paused_until = max(self._paused_until, time.monotonic() + pause)
