"""The three sockets: ``/ws/extension/{user_id}`` (ingest), ``/ws/frontend/{user_id}``
(dashboards) and ``/ws/chatwoot/{user_id}`` (integrations, read-only).

Plain ``@websocket`` handlers with their own receive loop (``websocket_listener`` does not
validate typed data: docs/architecture.md, "Measured behaviour"). The extension's frames go
to its session in the ingest context (``ofca.ingest.extension``), which handles them
strictly in arrival order; the plumbing every socket shares (authentication, close codes,
the credential re-check, presence) is in ``ofca.controllers.sockets``. A bad frame gets a
``system_error`` with a stable ``code`` and the connection stays open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin, Subscriber
from litestar.di import NamedDependency
from litestar.params import FromPath

from ofca.access.ratelimit import RateLimiter
from ofca.channels.monitor import ChannelsMonitor
from ofca.channels.names import dashboard_channel, extension_channel
from ofca.channels.plugin import OfcaSubscriber
from ofca.channels.publish import (
    CONTROL_PREFIX,
    decode_control,
    event_batch,
    split_events,
    status_frame,
)
from ofca.controllers.sockets import (
    POLICY_VIOLATION,
    TRY_AGAIN_LATER,
    Connection,
    Presence,
    authenticate,
    receive_frames,
    send_connection_ack,
    watch,
)
from ofca.conversations.full_sync import FullSyncs
from ofca.domain.frames import FrameError, decode_envelope
from ofca.ingest.commands import ExtensionCommands
from ofca.ingest.context import Ingest
from ofca.ingest.extension import ExtensionSession, valid_stream

__all__ = ["WEBSOCKET_HANDLERS", "chatwoot_socket", "extension_socket", "frontend_socket"]

log = logging.getLogger(__name__)

STREAM_UNAVAILABLE = 1011
"""The stream could not be claimed (the database is unavailable): reconnect later."""
EXTENSION_IDLE_SECONDS = 120.0
"""An extension silent this long (keepalives come every ~20 s) is considered gone."""


# --------------------------------------------------------------------------- extension


@websocket("/ws/extension/{user_id:str}")
async def extension_socket(
    socket: WebSocket[Any, Any, Any],
    user_id: FromPath[str],
    ingest: NamedDependency[Ingest],
    commands: NamedDependency[ExtensionCommands],
    rate_limiter: NamedDependency[RateLimiter],
) -> None:
    """The Agent: ``cache_update``, ``new_raw_message``, ``keepalive``, ``online_users_update``
    in; ``connection_ack``, ``system_status``, ``ingest_ack``, ``system_error`` and
    ``command_to_execute`` out."""
    principal = await authenticate(socket, user_id, frozenset({"extension", "owner"}))
    if principal is None:
        return
    if not principal.allows("ingest"):
        await socket.close(code=POLICY_VIOLATION, reason="this credential may not ingest")
        return
    stream_name = socket.query_params.get("stream")
    if stream_name is not None and not valid_stream(stream_name):
        await socket.close(
            code=POLICY_VIOLATION, reason="stream must be 1-64 characters of [A-Za-z0-9_.:-]"
        )
        return
    settings = socket.app.state.settings
    channels: ChannelsPlugin = socket.app.state.channels
    connection = Connection(socket, principal, user_id)
    presence = Presence(commands, connection)
    session = ExtensionSession(
        ingest.context(user_id),
        connection,
        budget=rate_limiter.frame_budget(principal.credential_id),
        on_keepalive=presence.mark_present,
        connection_id=connection.connection_id,
        stream=stream_name,
    )
    try:
        stream = await session.open()
    except Exception as exc:
        log.warning("stream of %s not claimed: %s", user_id, type(exc).__name__)
        await connection.close(STREAM_UNAVAILABLE, "stream unavailable")
        return

    async def on_event(data: bytes) -> None:
        if data.startswith(CONTROL_PREFIX):
            event = decode_control(data)
            if (
                event is not None
                and event.action == "superseded"
                and session.superseded_by(event.stream, event.writer)
            ):
                await session.supersede()
                return
        if not await connection.on_control(data):
            await connection.send(data)  # command_to_execute

    async def receive() -> None:
        try:
            await receive_frames(connection, session.receive)
        finally:
            await session.end()

    await send_connection_ack(connection, stream)
    await presence.mark_present()
    watcher = asyncio.create_task(watch(connection, idle_limit=EXTENSION_IDLE_SECONDS))
    try:
        async with (
            channels.start_subscription(
                [extension_channel(settings.channel_prefix, user_id)]
            ) as subscriber,
            subscriber.run_in_background(on_event, join=False),
        ):
            receiver = asyncio.create_task(receive())
            try:
                await session.run()
            finally:
                receiver.cancel()
    finally:
        watcher.cancel()
        await session.release()
        await presence.mark_absent()
        await connection.close(1000, "bye")


# --------------------------------------------------------------------------- dashboards


async def _send_full_sync(connection: Connection, full_syncs: FullSyncs) -> None:
    """The account's ``full_sync_response``, from a build that starts after this call (so
    it holds every change made before it), encoded once for all the sockets sharing it."""
    try:
        frame = await full_syncs.frame(connection.account_id)
    except Exception as exc:
        log.exception("full sync of %s failed", connection.account_id)
        error = FrameError(
            "storage_unavailable", "Could not load conversations", type(exc).__name__, True
        )
        await connection.send(error.encode())
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


def _ofca_subscriber(subscriber: Subscriber) -> OfcaSubscriber:
    """The app's channels plugin makes every subscriber an :class:`OfcaSubscriber`."""
    assert isinstance(subscriber, OfcaSubscriber), type(subscriber)
    return subscriber


_BATCH_VALUES = {"1": True, "true": True, "0": False, "false": False}


async def _read_only(connection: Connection, data: bytes) -> None:
    """A frame sent to a socket that only sends: keepalives are fine, the rest refused."""
    envelope = decode_envelope(data)
    if isinstance(envelope, FrameError):
        await connection.send(envelope.encode())
    elif envelope.type != "keepalive":
        error = FrameError(
            "unhandled_type",
            "This socket is read-only",
            f"type {envelope.type!r} is not accepted here",
        )
        await connection.send(error.encode())


async def _outgoing_socket(
    socket: WebSocket[Any, Any, Any],
    user_id: str,
    roles: frozenset[str],
    full_syncs: FullSyncs,
    monitor: ChannelsMonitor,
) -> None:
    principal = await authenticate(socket, user_id, roles)
    if principal is None:
        return
    if not principal.allows("live"):
        await socket.close(
            code=POLICY_VIOLATION, reason="this credential may not receive live events"
        )
        return
    settings = socket.app.state.settings
    channels: ChannelsPlugin = socket.app.state.channels
    connection = Connection(socket, principal, user_id)

    async def on_control(data: bytes) -> None:
        event = decode_control(data)
        if event is not None and event.action == "resync":
            await _send_full_sync(connection, full_syncs)
            return
        await connection.on_control(data)

    async def handle(data: bytes) -> None:
        await _read_only(connection, data)

    async def watch_backlog() -> None:
        await subscriber.overflowed.wait()
        await connection.close(
            TRY_AGAIN_LATER,
            f"slow consumer: more than {settings.subscriber_max_backlog} events behind",
        )

    batch_value = (socket.query_params.get("batch") or "0").lower()
    batched = _BATCH_VALUES.get(batch_value, False)
    await send_connection_ack(connection)
    if batch_value not in _BATCH_VALUES:
        error = FrameError(
            "validation_error",
            "Invalid query parameter",
            f"batch must be 0, 1, true or false, got {batch_value!r}; events come unbatched",
        )
        await connection.send(error.encode())
    watcher = asyncio.create_task(watch(connection, idle_limit=None))
    try:
        async with channels.start_subscription(
            [dashboard_channel(settings.channel_prefix, user_id)]
        ) as subscription:
            subscriber = _ofca_subscriber(subscription)
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
                await receive_frames(connection, handle)
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
