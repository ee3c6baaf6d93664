"""Frames on the wire: decoding what a socket receives, and the ``system_error`` answers.

The extension socket decodes each frame once, with one decoder of the union
:data:`ExtensionFrame`, and dispatches on the result with one ``match``. That union is the
protocol's ``IncomingWssMessage`` (``ofca.domain.wss``) except for the snapshot: a
``cache_update``'s chats and messages stay raw JSON here (``msgspec.Raw``), decoded a slice
at a time by ``ofca.ingest.decode`` (20 MB decoded in one go hold the event loop ~0.5 s).

Every way a frame can be refused is a :class:`FrameError` with a stable ``code``, told
apart by types, never by an exception's text: malformed JSON (including invalid UTF-8 and
nesting too deep for the decoder, which raises ``RecursionError``) is ``json_parse_error``;
a frame without a string ``type`` or with invalid fields is ``validation_error``; a
``type`` that is not one of the protocol's tags is ``unhandled_type``; a frame other than a
snapshot over :data:`MAX_FRAME_BYTES` is ``payload_too_large``.
"""

from __future__ import annotations

from typing import Final, get_args

import msgspec

from ofca.domain.wss import (
    ErrorCode,
    IncomingWssMessage,
    Keepalive,
    NewRawMessage,
    OnlineUsersUpdate,
    Seq,
    SnapshotChunk,
    SystemError,
    SystemErrorPayload,
    outgoing_encoder,
)

__all__ = [
    "FRAME_TAGS",
    "INTERNAL_ERROR",
    "MAX_FRAME_BYTES",
    "Envelope",
    "ExtensionFrame",
    "FrameError",
    "Inbound",
    "RawSnapshotPayload",
    "SnapshotFrame",
    "decode_envelope",
    "decode_frame",
    "malformed",
    "rate_limited",
    "storage_unavailable",
    "system_error",
]

MAX_FRAME_BYTES: Final = 1024 * 1024
"""Frames other than snapshots larger than this are refused (``payload_too_large``)."""

FRAME_TAGS: Final = frozenset(
    member.__struct_config__.tag for member in get_args(IncomingWssMessage)
)
"""The ``type`` of every frame the protocol defines for sockets to receive."""


def system_error(
    code: ErrorCode,
    message: str,
    detail: str | None = None,
    retryable: bool = False,
    retry_after_ms: int | None = None,
) -> bytes:
    """An encoded ``system_error`` frame."""
    payload = SystemErrorPayload(
        errorMessage=message, code=code, detail=detail, retryable=retryable
    )
    if retry_after_ms is not None:
        payload.retry_after_ms = retry_after_ms
    return outgoing_encoder.encode(SystemError(payload=payload))


class FrameError(msgspec.Struct, frozen=True):
    """Why a frame was refused (or failed), answered as a ``system_error``."""

    code: ErrorCode
    message: str
    detail: str | None = None
    retryable: bool = False
    retry_after_ms: int | None = None
    """``rate_limited``: when to send the refused frame again."""

    def encode(self) -> bytes:
        return system_error(
            self.code, self.message, self.detail, self.retryable, self.retry_after_ms
        )


INTERNAL_ERROR: Final = FrameError("internal_error", "Internal error; the frame was not applied")
"""A bug of ours, never the frame's fault (logged where it happens)."""


def malformed(exc: BaseException) -> FrameError:
    return FrameError("json_parse_error", "Malformed JSON", str(exc))


def rate_limited(per_minute: int, retry_after_ms: int | None = None) -> FrameError:
    """Retryable: the frame was not handled; send it (and those after it) again after
    ``retry_after_ms``."""
    return FrameError(
        "rate_limited",
        "Too many frames",
        f"limit is {per_minute} per minute per key, shared by its sockets",
        True,
        retry_after_ms,
    )


def storage_unavailable(detail: str) -> FrameError:
    """Retryable: nothing of the frame was stored, so the sender should send it again."""
    return FrameError(
        "storage_unavailable",
        "Storage is unavailable; nothing of this frame was stored",
        detail,
        retryable=True,
    )


class Envelope(msgspec.Struct):
    """What every frame has: its ``type``."""

    type: str


_envelope_decoder = msgspec.json.Decoder(Envelope)

_MALFORMED = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What a decoder raises for bytes that are not JSON it can read. ``RecursionError``: msgspec
reads nested arrays and objects by recursion, ~1,000 levels deep at most (even inside a
field it ignores). ``ValidationError`` is a ``DecodeError``: catch it first."""


def decode_envelope(data: bytes) -> Envelope | FrameError:
    """The frame's ``{type}``, or why it has none."""
    try:
        return _envelope_decoder.decode(data)
    except msgspec.ValidationError as exc:
        return FrameError("validation_error", "Invalid frame", str(exc))
    except _MALFORMED as exc:
        return malformed(exc)


class RawSnapshotPayload(msgspec.Struct, kw_only=True):
    """``CacheUpdatePayload`` with each chat and message kept as its raw JSON."""

    chats: list[msgspec.Raw] = []
    messages: list[msgspec.Raw] = []
    snapshot: SnapshotChunk | None = None


class SnapshotFrame(msgspec.Struct, tag="cache_update", tag_field="type", kw_only=True):
    """``CacheUpdate`` as it is read off the socket (see the module's docstring)."""

    payload: RawSnapshotPayload
    seq: Seq | None = None


ExtensionFrame = SnapshotFrame | NewRawMessage | Keepalive | OnlineUsersUpdate
"""What the extension socket decodes every frame as."""

_frame_decoder = msgspec.json.Decoder(ExtensionFrame)


class _RawDeltaPayload(msgspec.Struct):
    message: msgspec.Raw


class _RawDelta(msgspec.Struct):
    payload: _RawDeltaPayload


_raw_delta_decoder = msgspec.json.Decoder(_RawDelta)


class Inbound(msgspec.Struct, frozen=True):
    """One decoded frame of the extension socket."""

    frame: ExtensionFrame
    size: int
    """Its length on the wire, in bytes."""
    raw_message: bytes = b""
    """A delta's message exactly as received (stored, and hashed to tell an edit from a
    resend)."""


def decode_frame(data: bytes) -> Inbound | FrameError:
    """``data`` decoded as an extension frame, or why it is refused."""
    try:
        frame = _frame_decoder.decode(data)
        raw = (
            _raw_delta_decoder.decode(data).payload.message if type(frame) is NewRawMessage else b""
        )
    except msgspec.ValidationError as exc:
        return _invalid(data, exc)
    except _MALFORMED as exc:
        return malformed(exc)
    if type(frame) is not SnapshotFrame and len(data) > MAX_FRAME_BYTES:
        return _too_large(frame.__struct_config__.tag, data)
    return Inbound(frame, len(data), bytes(raw))


def _invalid(data: bytes, exc: msgspec.ValidationError) -> FrameError:
    """Why a frame that is JSON is not a valid frame: its envelope tells."""
    envelope = decode_envelope(data)
    if isinstance(envelope, FrameError):
        return envelope
    if envelope.type != "cache_update" and len(data) > MAX_FRAME_BYTES:
        return _too_large(envelope.type, data)
    if envelope.type not in FRAME_TAGS:
        return FrameError(
            "unhandled_type", "Unknown message type", f"type {envelope.type!r}: {exc}"
        )
    return FrameError("validation_error", f"Invalid {envelope.type}", str(exc))


def _too_large(frame_type: object, data: bytes) -> FrameError:
    return FrameError(
        "payload_too_large",
        "Frame too large",
        f"{frame_type} frames may be at most {MAX_FRAME_BYTES} bytes, got {len(data)}",
    )
