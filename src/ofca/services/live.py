"""Live events: publishing to an account's channels, control events, and channel health.

Every live event is an encoded ``OutgoingWssMessage`` published on the account's
dashboard channel (``ofca.channels.names``) and forwarded verbatim by each socket. A few
internal *control* events travel the same way (credential revoked, resync); sockets act on
them instead of forwarding them. They start with :data:`CONTROL_PREFIX` so telling them
apart costs one ``bytes.startswith``.

:class:`ChannelsMonitor` probes the channels backend (Redis ping, worker liveness, publish
errors). When it fails, local dashboards get ``system_status`` ERROR and ``/health`` shows
``channels: unavailable``; when it answers again the backend is re-created, channels are
re-subscribed and dashboards get REALTIME plus a fresh full sync (events published during
the outage could not reach them). Ingestion never waits for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from ofca.channels.names import dashboard_channel, extension_channel
from ofca.domain.wss import SystemStatus, SystemStatusPayload, outgoing_encoder

if TYPE_CHECKING:
    from litestar.datastructures import State

    from ofca.channels.plugin import OfcaChannelsPlugin

__all__ = [
    "CONTROL_PREFIX",
    "EVENT_BATCH_PREFIX",
    "ChannelsMonitor",
    "ControlEvent",
    "decode_control",
    "event_batch",
    "publish_control",
    "publish_credential_revoked",
    "publish_events",
    "publish_to_dashboards",
    "split_events",
    "status_frame",
]

log = logging.getLogger(__name__)

CONTROL_PREFIX = b'{"type":"_ofca_control"'


class ControlEvent(msgspec.Struct, kw_only=True):
    type: Literal["_ofca_control"] = "_ofca_control"
    action: Literal["credential_revoked", "resync"]
    account_id: str
    credential_id: str | None = None


_control_decoder = msgspec.json.Decoder(ControlEvent)


def decode_control(data: bytes) -> ControlEvent | None:
    try:
        return _control_decoder.decode(data)
    except msgspec.DecodeError:
        return None


def _encode_control(event: ControlEvent) -> bytes:
    encoded = msgspec.json.encode(event)
    assert encoded.startswith(CONTROL_PREFIX)
    return encoded


def status_frame(
    status: Literal["PROCESSING_SNAPSHOT", "REALTIME", "ERROR"],
    detail: str | None = None,
    progress: float | None = None,
) -> bytes:
    return outgoing_encoder.encode(
        SystemStatus(payload=SystemStatusPayload(status=status, detail=detail, progress=progress))
    )


def publish_to_dashboards(plugin: OfcaChannelsPlugin, account_id: str, frame: Any) -> None:
    """Queue ``frame`` (a Struct or already-encoded bytes) for the account's dashboards."""
    data = frame if isinstance(frame, bytes) else outgoing_encoder.encode(frame)
    plugin.publish(data, dashboard_channel(plugin.settings.channel_prefix, account_id))


def publish_events(plugin: OfcaChannelsPlugin, account_id: str, frames: Sequence[bytes]) -> None:
    """Queue several encoded live events as one channel message (an ``event_batch``): one
    publish, and one backlog entry per subscriber, for a whole run of deltas. Sockets that
    did not ask for batches get the events one frame each (:func:`split_events`)."""
    if len(frames) == 1:
        publish_to_dashboards(plugin, account_id, frames[0])
    elif frames:
        publish_to_dashboards(plugin, account_id, event_batch(frames))


EVENT_BATCH_PREFIX = b'{"type":"event_batch","payload":{"events":['
_EVENT_BATCH_SUFFIX = b"]}}"


def event_batch(frames: Sequence[bytes]) -> bytes:
    """An ``event_batch`` frame of encoded live events (a plain frame stays as it is), made
    by joining bytes: nothing is decoded or encoded again."""
    return EVENT_BATCH_PREFIX + b",".join(frames) + _EVENT_BATCH_SUFFIX


class _EventBatchPayload(msgspec.Struct):
    events: list[msgspec.Raw]


class _EventBatch(msgspec.Struct):
    payload: _EventBatchPayload


_event_batch_decoder = msgspec.json.Decoder(_EventBatch)


_last_split: tuple[bytes, list[bytes]] = (b"", [])


def split_events(data: bytes) -> list[bytes]:
    """The frames of a live event: those inside an ``event_batch``, else ``[data]``. Split
    once for all the sockets it goes to (they get the same bytes object in turn), and each
    event is again one bytes object for all of them."""
    global _last_split
    if not data.startswith(EVENT_BATCH_PREFIX):
        return [data]
    if _last_split[0] is not data:
        events = [bytes(raw) for raw in _event_batch_decoder.decode(data).payload.events]
        _last_split = (data, events)
    return _last_split[1]


def publish_control(plugin: OfcaChannelsPlugin, event: ControlEvent, *, extension: bool) -> None:
    prefix = plugin.settings.channel_prefix
    channels = [dashboard_channel(prefix, event.account_id)]
    if extension:
        channels.append(extension_channel(prefix, event.account_id))
    data = _encode_control(event)
    plugin.publish(data, channels)
    monitor: ChannelsMonitor | None = getattr(plugin, "monitor", None)
    if monitor is not None and not monitor.healthy:
        # The backend is down: reach at least this process's sockets now; the others
        # re-check their credential periodically.
        plugin.deliver_local(data, channels)


async def publish_credential_revoked(app_state: State, account_id: str, credential_id: str) -> None:
    """Close every open socket of ``credential_id`` (any process) with 1008."""
    plugin: OfcaChannelsPlugin = app_state.channels
    event = ControlEvent(
        action="credential_revoked", account_id=account_id, credential_id=credential_id
    )
    publish_control(plugin, event, extension=True)


class ChannelsMonitor:
    """Health of the channels backend, and its recovery (``app.state.channels_monitor``)."""

    def __init__(self, plugin: OfcaChannelsPlugin) -> None:
        self.plugin = plugin
        plugin.monitor = self  # type: ignore[attr-defined]
        self.healthy = True
        self.detail: str | None = None
        self.recoveries = 0
        self.changed_at = datetime.now(UTC)
        self._task: asyncio.Task[None] | None = None
        self._seen_publish_errors = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ofca-channels-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self.plugin.settings.channels_probe_seconds
        while True:
            await asyncio.sleep(interval)
            if not self.plugin.running:
                continue
            try:
                await self.check()
            except Exception:  # the monitor itself must never die
                log.exception("channels monitor check failed")

    async def _unreachable(self) -> str | None:
        redis = self.plugin.redis
        if redis is None:
            return None
        try:
            await asyncio.wait_for(redis.ping(), 1.0)
        except Exception as exc:
            return f"Redis unreachable ({type(exc).__name__})"
        return None

    async def _problem(self) -> str | None:
        plugin = self.plugin
        unreachable = await self._unreachable()
        if unreachable is not None:
            return unreachable
        errors = plugin.publish_errors
        if errors != self._seen_publish_errors:
            self._seen_publish_errors = errors
            return f"publishing failed ({plugin.last_publish_error})"
        if plugin.subscriber_error is not None or not plugin.workers_alive:
            return f"subscriber stopped ({plugin.subscriber_error or 'worker ended'})"
        return None

    async def check(self) -> None:
        """One probe; marks the backend down, or recovers it once it answers again."""
        if self.healthy:
            problem = await self._problem()
            if problem is None:
                return
            self._set(False, problem)
            log.warning("live channels unavailable: %s", problem)
            self.plugin.deliver_local(status_frame("ERROR", f"Live updates interrupted: {problem}"))
            return
        # Down: recover as soon as the backend answers (the broken workers and subscriptions
        # are replaced by the restart, so they are not a reason to wait).
        unreachable = await self._unreachable()
        if unreachable is not None:
            self.detail = unreachable
            return
        try:
            await asyncio.wait_for(self.plugin.restart_backend(), 5.0)
        except Exception as exc:
            self.detail = f"recovery failed ({type(exc).__name__})"
            log.warning("live channels recovery failed: %s", exc)
            return
        self._seen_publish_errors = self.plugin.publish_errors
        self.recoveries += 1
        self._set(True, None)
        log.warning("live channels recovered (recovery #%d)", self.recoveries)
        self.plugin.deliver_local(status_frame("REALTIME", "Live updates restored"))
        for channel in self.plugin.active_channels():
            account_id = _account_of(channel)
            if account_id is not None:
                self.plugin.deliver_local(
                    _encode_control(ControlEvent(action="resync", account_id=account_id)),
                    [channel],
                )

    def _set(self, healthy: bool, detail: str | None) -> None:
        self.healthy = healthy
        self.detail = detail
        self.changed_at = datetime.now(UTC)


def _account_of(channel: str) -> str | None:
    """The account of a dashboard channel name (``<prefix>:acct:<id>:live``)."""
    _head, sep, rest = channel.partition(":acct:")
    if not sep or not rest.endswith(":live"):
        return None
    return rest[: -len(":live")] or None
