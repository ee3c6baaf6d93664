"""The three sockets: ``/ws/extension/{user_id}`` (ingest), ``/ws/frontend/{user_id}``
(dashboards) and ``/ws/chatwoot/{user_id}`` (integrations, read-only).

Plain ``@websocket`` handlers with their own receive loop: frames of one connection are
handled strictly in arrival order (a delta sent during a snapshot is applied after it),
and every frame is decoded with the one module-level decoder (``websocket_listener`` does
not validate typed data: docs/architecture.md, "Measured behaviour"). Authentication
failures accept first and then close with 1008, so browsers can read the code. A bad
frame gets a ``system_error`` with a stable ``code`` and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.exceptions import WebSocketDisconnect
from litestar.params import FromPath

from ofca import __version__
from ofca.access.principals import (
    authenticate_token,
    credential_from_connection,
    cross_site_refusal,
)
from ofca.channels.monitor import ChannelsMonitor
from ofca.channels.names import dashboard_channel, extension_channel
from ofca.channels.plugin import OfcaSubscriber
from ofca.channels.publish import (
    CONTROL_PREFIX,
    decode_control,
    event_batch,
    publish_to_dashboards,
    split_events,
    status_frame,
)
from ofca.conversations.full_sync import FullSyncs
from ofca.domain.auth import Principal
from ofca.domain.wss import (
    ConnectionAck,
    ConnectionAckPayload,
    ErrorCode,
    IngestAck,
    Keepalive,
    NewRawMessage,
    OnlineUsersUpdate,
    OnlineUsersUpdateOut,
    SystemError,
    SystemErrorPayload,
    incoming_decoder,
    outgoing_encoder,
)
from ofca.ingest import deltas
from ofca.ingest.commands import ExtensionCommands
from ofca.ingest.context import FrameRejected, Ingest, IngestContext
from ofca.ingest.decode import raw_delta_message
from ofca.ingest.snapshot import ingest_snapshot
from ofca.persistence.faults import StorageUnavailable, is_database_unavailable

__all__ = ["WEBSOCKET_HANDLERS", "chatwoot_socket", "extension_socket", "frontend_socket"]

log = logging.getLogger(__name__)

POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
MAX_DELTA_BYTES = 1024 * 1024
"""Frames other than snapshots larger than this are refused (``payload_too_large``)."""
EXTENSION_IDLE_SECONDS = 120.0
"""An extension silent this long (keepalives come every ~20 s) is considered gone."""
PROGRESS_STEP = 0.2
DELTA_BATCH_FRAMES = 500
"""Queued frames handled together; consecutive deltas among them share one commit."""
EXTENSION_QUEUE_FRAMES = 1000


class _Envelope(msgspec.Struct):
    type: str


_envelope_decoder = msgspec.json.Decoder(_Envelope)


def _error(
    code: ErrorCode, message: str, detail: str | None = None, retryable: bool = False
) -> bytes:
    return outgoing_encoder.encode(
        SystemError(
            payload=SystemErrorPayload(
                errorMessage=message, code=code, detail=detail, retryable=retryable
            )
        )
    )


def _storage_unavailable(exc: BaseException) -> bytes:
    """Retryable: nothing of the frame was stored, so the extension should send it again."""
    return _error(
        "storage_unavailable",
        "Storage is unavailable; nothing of this frame was stored",
        type(exc).__name__ if not isinstance(exc, StorageUnavailable) else str(exc),
        retryable=True,
    )


async def _decode_envelope(connection: Connection, data: bytes) -> _Envelope | None:
    """The frame's ``{type}`` envelope, or ``None`` after answering why it has none."""
    try:
        return _envelope_decoder.decode(data)
    except msgspec.ValidationError as exc:
        await connection.send(_error("validation_error", "Invalid frame", str(exc)))
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        await connection.send(_error("json_parse_error", "Malformed JSON", str(exc)))
    return None


class TokenBucket:
    """Frames per minute per connection; a burst up to the minute's allowance."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Connection:
    """One authenticated socket: sending, closing once, and its background watchers."""

    def __init__(self, socket: WebSocket[Any, Any, Any], principal: Principal, account_id: str):
        self.socket = socket
        self.principal = principal
        self.account_id = account_id
        self.connection_id = secrets.token_hex(8)
        self.closed = False
        self.last_seen = time.monotonic()
        self._send_lock = asyncio.Lock()

    async def send(self, data: bytes) -> None:
        if self.closed:
            return
        text = _as_text(data)
        async with self._send_lock:
            try:
                await self.socket.send_data(text, mode="text")
            except (WebSocketDisconnect, RuntimeError, OSError):
                self.closed = True

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.socket.close(code=code, reason=reason)

    async def on_control(self, data: bytes) -> bool:
        """Act on a control event; ``True`` when ``data`` was one."""
        if not data.startswith(CONTROL_PREFIX):
            return False
        event = decode_control(data)
        if (
            event is not None
            and event.action == "credential_revoked"
            and event.credential_id == self.principal.credential_id
        ):
            await self.close(POLICY_VIOLATION, "credential revoked")
        return True


_texts: dict[int, tuple[bytes, str]] = {}
_TEXTS_KEPT = 256
_SMALL_FRAME = 64 * 1024
_last_large: tuple[bytes, str] = (b"", "")


def _as_text(data: bytes) -> str:
    """``data`` as text (ASGI wants text frames as ``str``), decoded once for all the sockets
    a live event goes to: they are handed the same bytes object in turn. Small frames are
    kept by the hundred (events interleave), a large one (a full sync: MBs, and up to 4x
    that as text) only until the next large one."""
    global _last_large
    if len(data) > _SMALL_FRAME:
        if _last_large[0] is not data:
            _last_large = (data, data.decode("utf-8"))
        return _last_large[1]
    known = _texts.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    if len(_texts) >= _TEXTS_KEPT:
        del _texts[next(iter(_texts))]  # the oldest
    text = data.decode("utf-8")
    _texts[id(data)] = (data, text)
    return text


def _may_access(principal: Principal, account_id: str) -> bool:
    return principal.account_id == account_id or account_id in principal.account_ids


async def _authenticate(
    socket: WebSocket[Any, Any, Any], account_id: str, roles: frozenset[str]
) -> Principal | None:
    """Accept, then the principal, or close with 1008 and ``None``."""
    await socket.accept()
    token = credential_from_connection(socket)
    principal: Principal | None = None
    if token:
        try:
            principal = await authenticate_token(token, socket.app.state.settings)
        except Exception as exc:
            log.warning("socket authentication failed: %s", type(exc).__name__)
            await socket.close(code=1011, reason="authentication unavailable")
            return None
    if principal is None:
        await socket.close(code=POLICY_VIOLATION, reason="missing or invalid credentials")
        return None
    if cross_site_refusal(socket, socket.app.state.settings) is not None:
        await socket.close(code=POLICY_VIOLATION, reason="cross-site socket refused")
        return None
    if principal.role not in roles and principal.kind != "session":
        await socket.close(
            code=POLICY_VIOLATION, reason=f"role {principal.role} may not use this socket"
        )
        return None
    if principal.kind == "session" and not principal.allows("live"):
        await socket.close(code=POLICY_VIOLATION, reason="this login may not use this socket")
        return None
    if not _may_access(principal, account_id):
        await socket.close(code=POLICY_VIOLATION, reason="no access to this account")
        return None
    return principal


async def _send_ack(connection: Connection) -> None:
    await connection.send(
        outgoing_encoder.encode(
            ConnectionAck(
                payload=ConnectionAckPayload(
                    connection_id=connection.connection_id,
                    user_id=connection.account_id,
                    role=connection.principal.role,
                    server_time=datetime.now(UTC),
                    version=__version__,
                )
            )
        )
    )


async def _watch(connection: Connection, token: str, *, idle_limit: float | None) -> None:
    """Re-check the credential periodically (revocation backstop) and drop idle sockets."""
    settings = connection.socket.app.state.settings
    interval = settings.ws_credential_recheck_seconds
    step = min(interval, 5.0)
    next_check = time.monotonic() + interval
    while not connection.closed:
        await asyncio.sleep(step)
        if idle_limit is not None and time.monotonic() - connection.last_seen > idle_limit:
            await connection.close(1001, "no keepalive")
            return
        if time.monotonic() < next_check:
            continue
        next_check = time.monotonic() + interval
        try:
            principal = await authenticate_token(token, settings)
        except Exception:
            continue  # the database is down: not the credential's fault
        if principal is None or not _may_access(principal, connection.account_id):
            await connection.close(POLICY_VIOLATION, "credential revoked or expired")
            return


async def _receive_loop(
    connection: Connection, handle: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    socket = connection.socket
    while not connection.closed:
        try:
            event = await socket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if event["type"] == "websocket.disconnect":
            connection.closed = True
            return
        if event["type"] != "websocket.receive":
            continue
        connection.last_seen = time.monotonic()
        await handle(event)


def _frame_bytes(event: dict[str, Any]) -> bytes:
    data = event.get("bytes")
    if data is not None:
        return data
    return (event.get("text") or "").encode("utf-8")


# --------------------------------------------------------------------------- extension


async def _handle_extension_frame(
    connection: Connection,
    ctx: IngestContext,
    commands: ExtensionCommands,
    bucket: TokenBucket,
    data: bytes,
) -> None:
    state = connection.socket.app.state
    if not bucket.take():
        await connection.send(
            _error(
                "rate_limited",
                "Too many frames",
                f"limit is {state.settings.ws_frames_per_minute} per minute",
                True,
            )
        )
        return
    envelope = await _decode_envelope(connection, data)
    if envelope is None:
        return
    try:
        if envelope.type == "cache_update":
            await _snapshot(connection, ctx, data)
            return
        if len(data) > MAX_DELTA_BYTES:
            await connection.send(
                _error(
                    "payload_too_large",
                    "Frame too large",
                    f"{envelope.type} frames may be at most {MAX_DELTA_BYTES} bytes, "
                    f"got {len(data)}",
                )
            )
            return
        try:
            frame = incoming_decoder.decode(data)
        except UnicodeDecodeError as exc:
            await connection.send(_error("json_parse_error", "Invalid UTF-8", str(exc)))
            return
        except msgspec.ValidationError as exc:
            message = str(exc)
            if "UTF-8" in message:
                await connection.send(_error("json_parse_error", "Invalid UTF-8", message))
                return
            if message.endswith("`$.type`"):
                await connection.send(
                    _error(
                        "unhandled_type",
                        "Unknown message type",
                        f"type {envelope.type!r}: {message}",
                    )
                )
            else:
                await connection.send(
                    _error("validation_error", f"Invalid {envelope.type}", message)
                )
            return
        except msgspec.DecodeError as exc:  # msgspec >= 0.23: invalid UTF-8 in a tag value
            await connection.send(_error("json_parse_error", "Malformed JSON", str(exc)))
            return
        if isinstance(frame, NewRawMessage):
            ack = await deltas.ingest_delta(ctx, frame.payload.message, raw_delta_message(data))
            await connection.send(outgoing_encoder.encode(IngestAck(payload=ack)))
        elif isinstance(frame, Keepalive):
            await _mark_present(connection, commands)
        elif isinstance(frame, OnlineUsersUpdate):
            publish_to_dashboards(
                state.channels, ctx.account_id, OnlineUsersUpdateOut(payload=frame.payload)
            )
        else:  # a union member this socket does not take
            await connection.send(_error("unhandled_type", "Unhandled message type", envelope.type))
    except FrameRejected as exc:
        await connection.send(_error(exc.code, exc.message, exc.detail))  # type: ignore[arg-type]
    except StorageUnavailable as exc:
        await connection.send(_storage_unavailable(exc))
    except Exception as exc:
        if is_database_unavailable(exc):  # a read before the write failed the same way
            await connection.send(_storage_unavailable(exc))
            return
        log.exception("frame of %s failed (%s)", ctx.account_id, envelope.type)
        await connection.send(_error("internal_error", "Internal error; the frame was not applied"))


async def _handle_extension_frames(
    connection: Connection,
    ctx: IngestContext,
    commands: ExtensionCommands,
    bucket: TokenBucket,
    frames: list[bytes],
    publisher: deltas.RunPublisher,
) -> None:
    """Frames that queued up while earlier ones were processed, in arrival order. Runs of
    valid ``new_raw_message`` are stored together (``deltas.store_deltas``: one commit for
    the run) and published in the background, in order; every other frame, and every
    answer, keeps its place in the order."""
    pending: list[tuple[Any, bytes]] = []

    async def flush() -> None:
        if not pending:
            return
        items = list(pending)
        pending.clear()
        try:
            run = await deltas.store_deltas(ctx, items)
        except StorageUnavailable as exc:
            error = _storage_unavailable(exc)
            for _ in items:
                await connection.send(error)
            return
        except Exception as exc:
            if is_database_unavailable(exc):
                error = _storage_unavailable(exc)
            else:
                log.exception("%d deltas of %s failed", len(items), ctx.account_id)
                error = _error("internal_error", "Internal error; the frame was not applied")
            for _ in items:
                await connection.send(error)
            return
        for ack in run.acks:
            await connection.send(outgoing_encoder.encode(IngestAck(payload=ack)))
        publisher.publish(run)

    for data in frames:
        frame: Any = None
        if len(data) <= MAX_DELTA_BYTES:
            try:
                if _envelope_decoder.decode(data).type == "new_raw_message":
                    frame = incoming_decoder.decode(data)
            except (msgspec.DecodeError, UnicodeDecodeError):  # answered in order below
                frame = None
        if isinstance(frame, NewRawMessage) and bucket.take():
            pending.append((frame.payload.message, raw_delta_message(data)))
            continue
        await flush()
        if isinstance(frame, NewRawMessage):  # over the rate limit
            await connection.send(
                _error(
                    "rate_limited",
                    "Too many frames",
                    f"limit is {connection.socket.app.state.settings.ws_frames_per_minute} "
                    "per minute",
                    True,
                )
            )
            continue
        await publisher.drain()  # what a snapshot publishes comes after the deltas before it
        await _handle_extension_frame(connection, ctx, commands, bucket, data)
    await flush()


async def _snapshot(connection: Connection, ctx: IngestContext, data: bytes) -> None:
    last = -1.0

    async def progress(fraction: float) -> None:
        nonlocal last
        if fraction - last >= PROGRESS_STEP or fraction >= 1.0:
            last = fraction
            await connection.send(
                status_frame("PROCESSING_SNAPSHOT", "storing snapshot", min(fraction, 1.0))
            )

    await progress(0.0)
    publish_to_dashboards(
        ctx.channels, ctx.account_id, status_frame("PROCESSING_SNAPSHOT", "receiving snapshot", 0.0)
    )
    ack = await ingest_snapshot(ctx, data, progress)
    await connection.send(status_frame("REALTIME"))
    await connection.send(outgoing_encoder.encode(IngestAck(payload=ack)))


async def _mark_present(
    connection: Connection, commands: ExtensionCommands, *, present: bool = True
) -> None:
    try:
        if present:
            await commands.mark_present(connection.account_id, connection.connection_id)
        else:
            await commands.mark_absent(connection.account_id, connection.connection_id)
    except Exception as exc:
        log.warning("extension presence not recorded: %s", type(exc).__name__)


@websocket("/ws/extension/{user_id:str}")
async def extension_socket(
    socket: WebSocket[Any, Any, Any],
    user_id: FromPath[str],
    ingest: NamedDependency[Ingest],
    commands: NamedDependency[ExtensionCommands],
) -> None:
    """The Agent: ``cache_update``, ``new_raw_message``, ``keepalive``, ``online_users_update``
    in; ``connection_ack``, ``system_status``, ``ingest_ack``, ``system_error`` and
    ``command_to_execute`` out."""
    principal = await _authenticate(socket, user_id, frozenset({"extension", "owner"}))
    if principal is None:
        return
    if not principal.allows("ingest"):
        await socket.close(code=POLICY_VIOLATION, reason="this credential may not ingest")
        return
    state = socket.app.state
    connection = Connection(socket, principal, user_id)
    ctx = ingest.context(user_id)
    publisher = deltas.RunPublisher(ctx)
    bucket = TokenBucket(state.settings.ws_frames_per_minute)
    token = credential_from_connection(socket) or ""
    channels: ChannelsPlugin = state.channels

    async def on_event(data: bytes) -> None:
        if not await connection.on_control(data):
            await connection.send(data)  # command_to_execute

    # Frames wait here while earlier ones are processed (bounded: a full queue stops
    # reading the socket, so TCP pushes back on the extension).
    inbox: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=EXTENSION_QUEUE_FRAMES)

    async def handle(event: dict[str, Any]) -> None:
        await inbox.put(_frame_bytes(event))

    async def receive() -> None:
        try:
            await _receive_loop(connection, handle)
        finally:
            await inbox.put(None)

    async def process() -> None:
        while True:
            first = await inbox.get()
            if first is None:
                return
            frames = [first]
            while len(frames) < DELTA_BATCH_FRAMES and not inbox.empty():
                following = inbox.get_nowait()
                if following is None:
                    await _handle_extension_frames(
                        connection, ctx, commands, bucket, frames, publisher
                    )
                    return
                frames.append(following)
            await _handle_extension_frames(connection, ctx, commands, bucket, frames, publisher)

    await _send_ack(connection)
    await _mark_present(connection, commands)
    watcher = asyncio.create_task(_watch(connection, token, idle_limit=EXTENSION_IDLE_SECONDS))
    try:
        async with (
            channels.start_subscription(
                [extension_channel(state.settings.channel_prefix, user_id)]
            ) as subscriber,
            subscriber.run_in_background(on_event, join=False),
        ):
            receiver = asyncio.create_task(receive())
            try:
                await process()
            finally:
                receiver.cancel()
    finally:
        watcher.cancel()
        await _mark_present(connection, commands, present=False)
        await connection.close(1000, "bye")


# --------------------------------------------------------------------------- dashboards


async def _send_full_sync(connection: Connection, full_syncs: FullSyncs) -> None:
    """The account's ``full_sync_response``, from a build that starts after this call (so
    it holds every change made before it), encoded once for all the sockets sharing it."""
    try:
        frame = await full_syncs.frame(connection.account_id)
    except Exception as exc:
        log.exception("full sync of %s failed", connection.account_id)
        await connection.send(
            _error("storage_unavailable", "Could not load conversations", type(exc).__name__, True)
        )
        return
    await connection.send(frame)


async def _send_live(connection: Connection, frames: list[bytes], batched: bool) -> None:
    """Live events in order: one frame each, or (``batched``) one ``event_batch`` for all
    of them when there is more than one."""
    if not frames:
        return
    if batched:
        if len(frames) == 1:
            await connection.send(frames[0])  # one event, or one run already batched
        else:
            await connection.send(event_batch([e for f in frames for e in split_events(f)]))
        return
    for frame in frames:
        for event in split_events(frame):
            await connection.send(event)


async def _forward_live(
    connection: Connection,
    subscriber: OfcaSubscriber,
    on_control: Callable[[bytes], Awaitable[None]],
    batched: bool,
) -> None:
    """Send the subscriber's events as they come; whatever piled up meanwhile goes out
    together (in one frame when ``batched``). Control events are acted on in their place."""
    while (events := await subscriber.next_events()) is not None:
        live: list[bytes] = []
        for data in events:
            if data.startswith(CONTROL_PREFIX):
                await _send_live(connection, live, batched)
                live = []
                await on_control(data)
            else:
                live.append(data)
        await _send_live(connection, live, batched)


_BATCH_VALUES = {"1": True, "true": True, "0": False, "false": False}


async def _outgoing_socket(
    socket: WebSocket[Any, Any, Any],
    user_id: str,
    roles: frozenset[str],
    full_syncs: FullSyncs,
    monitor: ChannelsMonitor,
) -> None:
    principal = await _authenticate(socket, user_id, roles)
    if principal is None:
        return
    if not principal.allows("live"):
        await socket.close(
            code=POLICY_VIOLATION, reason="this credential may not receive live events"
        )
        return
    state = socket.app.state
    connection = Connection(socket, principal, user_id)
    token = credential_from_connection(socket) or ""
    channels = state.channels

    async def on_control(data: bytes) -> None:
        event = decode_control(data)
        if event is not None and event.action == "resync":
            await _send_full_sync(connection, full_syncs)
            return
        await connection.on_control(data)

    async def handle(event: dict[str, Any]) -> None:
        data = _frame_bytes(event)
        envelope = await _decode_envelope(connection, data)
        if envelope is None:
            return
        if envelope.type != "keepalive":
            await connection.send(
                _error(
                    "unhandled_type",
                    "This socket is read-only",
                    f"type {envelope.type!r} is not accepted here",
                )
            )

    async def watch_backlog() -> None:
        await subscriber.overflowed.wait()
        await connection.close(
            TRY_AGAIN_LATER,
            f"slow consumer: more than {state.settings.subscriber_max_backlog} events behind",
        )

    batch_value = (socket.query_params.get("batch") or "0").lower()
    batched = _BATCH_VALUES.get(batch_value, False)
    await _send_ack(connection)
    if batch_value not in _BATCH_VALUES:
        await connection.send(
            _error(
                "validation_error",
                "Invalid query parameter",
                f"batch must be 0, 1, true or false, got {batch_value!r}; events come unbatched",
            )
        )
    watcher = asyncio.create_task(_watch(connection, token, idle_limit=None))
    try:
        async with channels.start_subscription(
            [dashboard_channel(state.settings.channel_prefix, user_id)]
        ) as subscriber:
            # Events arriving while the full sync is built wait in the subscriber's backlog.
            await _send_full_sync(connection, full_syncs)
            if not monitor.healthy:
                await connection.send(
                    status_frame("ERROR", f"Live updates interrupted: {monitor.detail}")
                )
            backlog = asyncio.create_task(watch_backlog())
            forwarder = asyncio.create_task(
                _forward_live(connection, subscriber, on_control, batched)
            )
            try:
                await _receive_loop(connection, handle)
            finally:
                backlog.cancel()
                forwarder.cancel()
    finally:
        watcher.cancel()
        await connection.close(1000, "bye")


@websocket("/ws/frontend/{user_id:str}")
async def frontend_socket(
    socket: WebSocket[Any, Any, Any],
    user_id: FromPath[str],
    full_syncs: NamedDependency[FullSyncs],
    channels_monitor: NamedDependency[ChannelsMonitor],
) -> None:
    """The Bridge dashboard: ``connection_ack``, ``full_sync_response``, then live events."""
    await _outgoing_socket(
        socket, user_id, frozenset({"dashboard", "owner"}), full_syncs, channels_monitor
    )


@websocket("/ws/chatwoot/{user_id:str}")
async def chatwoot_socket(
    socket: WebSocket[Any, Any, Any],
    user_id: FromPath[str],
    full_syncs: NamedDependency[FullSyncs],
    channels_monitor: NamedDependency[ChannelsMonitor],
) -> None:
    """Integrations: the dashboards' outgoing stream, read-only (keepalive accepted)."""
    await _outgoing_socket(
        socket, user_id, frozenset({"integration", "owner"}), full_syncs, channels_monitor
    )


WEBSOCKET_HANDLERS = [extension_socket, frontend_socket, chatwoot_socket]
