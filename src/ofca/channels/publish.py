"""Live events: publishing to an account's channels, and control events.

Every live event is an encoded ``OutgoingWssMessage`` published on the account's
dashboard channel (``channels.names``) and forwarded verbatim by each socket. A few
internal *control* events travel the same way (credential revoked, resync); sockets act on
them instead of forwarding them. They start with :data:`CONTROL_PREFIX` so telling them
apart costs one ``bytes.startswith``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from ofca.channels.names import dashboard_channel, extension_channel
from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.domain.wss import SnapshotProgress, SystemStatus, SystemStatusPayload, outgoing_encoder

__all__ = [
    "CONTROL_PREFIX",
    "EVENT_BATCH_PREFIX",
    "ControlEvent",
    "decode_control",
    "encode_control",
    "event_batch",
    "publish_control",
    "publish_credential_revoked",
    "publish_events",
    "publish_superseded",
    "publish_to_dashboards",
    "split_events",
    "status_frame",
]

log = logging.getLogger(__name__)

CONTROL_PREFIX = b'{"type":"_ofca_control"'


class ControlEvent(msgspec.Struct, kw_only=True):
    type: Literal["_ofca_control"] = "_ofca_control"
    action: Literal["credential_revoked", "resync", "superseded"]
    account_id: str
    credential_id: str | None = None
    stream: str | None = None
    """``superseded``: the extension stream that ``writer`` (a connection id) now writes."""
    writer: str | None = None


_control_decoder = msgspec.json.Decoder(ControlEvent)


def decode_control(data: bytes) -> ControlEvent | None:
    try:
        return _control_decoder.decode(data)
    except msgspec.DecodeError:
        return None


def encode_control(event: ControlEvent) -> bytes:
    encoded = msgspec.json.encode(event)
    assert encoded.startswith(CONTROL_PREFIX)
    return encoded


def status_frame(
    status: Literal["PROCESSING_SNAPSHOT", "REALTIME", "ERROR"],
    detail: str | None = None,
    progress: float | None = None,
    snapshot_progress: SnapshotProgress | None = None,
) -> bytes:
    payload = SystemStatusPayload(status=status, detail=detail, progress=progress)
    if snapshot_progress is not None:
        payload.snapshot_progress = snapshot_progress
    return outgoing_encoder.encode(SystemStatus(payload=payload))


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
    data = encode_control(event)
    plugin.publish(data, channels)
    if not plugin.healthy:
        # The backend is down: reach at least this process's sockets now; the others
        # re-check their credential periodically.
        plugin.deliver_local(data, channels)


def publish_credential_revoked(
    plugin: OfcaChannelsPlugin, account_id: str, credential_id: str
) -> None:
    """Close every open socket of ``credential_id`` (any process) with 1008."""
    event = ControlEvent(
        action="credential_revoked", account_id=account_id, credential_id=credential_id
    )
    publish_control(plugin, event, extension=True)


def publish_superseded(
    plugin: OfcaChannelsPlugin, account_id: str, stream: str, writer: str
) -> None:
    """Close the extension socket (any process) that wrote ``stream`` before ``writer``
    claimed it, with 4409."""
    event = ControlEvent(action="superseded", account_id=account_id, stream=stream, writer=writer)
    prefix = plugin.settings.channel_prefix
    data = encode_control(event)
    channels = [extension_channel(prefix, account_id)]
    plugin.publish(data, channels)
    if not plugin.healthy:
        plugin.deliver_local(data, channels)
