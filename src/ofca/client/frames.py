"""The extension's data frames as bytes: deltas, whole snapshots and snapshot chunks.

Items (chats, messages) are encoded once, to JSON, and frames are put together from those
bytes: a message given as raw JSON (an export's stored ``raw``) reaches the server exactly
as it was, so it hashes the same and a resend is a duplicate, never an edit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ofca.domain.onlyfans import Chat, Message

__all__ = [
    "MIB",
    "Item",
    "SnapshotChunkPlan",
    "SnapshotPlan",
    "chunk_frame",
    "delta_frame",
    "encode_item",
    "keepalive_frame",
    "plan_snapshot",
    "snapshot_frame",
]

MIB = 1024 * 1024

Item = Message | Chat | Mapping[str, Any] | bytes | msgspec.Raw
"""A chat or a message: a Struct, a mapping, or its JSON as bytes (sent as it is)."""

_encoder = msgspec.json.Encoder()
_CHUNK_OVERHEAD = 200
"""Bytes of a chunk frame besides its items (envelope, seq, snapshot field)."""


def encode_item(item: Item) -> bytes:
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    if isinstance(item, msgspec.Raw):
        return bytes(item)
    return _encoder.encode(item)


def _seq(seq: int | None) -> bytes:
    return b"" if seq is None else b'"seq":%d,' % seq


def delta_frame(seq: int | None, message: bytes) -> bytes:
    """``new_raw_message`` carrying ``message`` (encoded JSON)."""
    return b'{"type":"new_raw_message",' + _seq(seq) + b'"payload":{"message":' + message + b"}}"


def snapshot_frame(seq: int | None, chats: Iterable[bytes], messages: Iterable[bytes]) -> bytes:
    """A whole snapshot in one ``cache_update`` (protocol v1's only kind)."""
    return (
        b'{"type":"cache_update",'
        + _seq(seq)
        + b'"payload":{"chats":['
        + b",".join(chats)
        + b'],"messages":['
        + b",".join(messages)
        + b"]}}"
    )


def chunk_frame(
    seq: int | None, snapshot_id: str, chunk: int, chunks: int, part: SnapshotChunkPlan
) -> bytes:
    """Chunk ``chunk`` of ``chunks`` of snapshot ``snapshot_id``."""
    marker = _encoder.encode({"id": snapshot_id, "chunk": chunk, "chunks": chunks})
    return (
        b'{"type":"cache_update",'
        + _seq(seq)
        + b'"payload":{"snapshot":'
        + marker
        + b',"chats":['
        + b",".join(part.chats)
        + b'],"messages":['
        + b",".join(part.messages)
        + b"]}}"
    )


def keepalive_frame(timestamp: float) -> bytes:
    return _encoder.encode({"type": "keepalive", "payload": {"timestamp": timestamp}})


@dataclass
class SnapshotChunkPlan:
    chats: list[bytes] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    size: int = _CHUNK_OVERHEAD


@dataclass
class SnapshotPlan:
    """A snapshot cut into chunks of about ``chunk_bytes`` each, and its id."""

    id: str
    chunks: list[SnapshotChunkPlan]

    @property
    def messages(self) -> int:
        return sum(len(chunk.messages) for chunk in self.chunks)


def plan_snapshot(
    chats: Iterable[Item],
    messages: Iterable[Item],
    chunk_bytes: int,
    snapshot_id: str | None = None,
) -> SnapshotPlan:
    """Chats first, then messages, packed in order into chunks of at most ``chunk_bytes``
    (an item larger than that gets a chunk of its own). The id, unless given, is derived
    from the content and the cut, so planning the same snapshot again (another run of
    ``ofca push``) gives the same id and the server's staged chunks can be resumed."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(b"%d|" % chunk_bytes)
    chunks: list[SnapshotChunkPlan] = [SnapshotChunkPlan()]
    for kind, items in ((b"c", chats), (b"m", messages)):
        for item in items:
            data = encode_item(item)
            digest.update(kind + b"%d|" % len(data) + data)
            current = chunks[-1]
            if current.size + len(data) + 1 > chunk_bytes and (current.chats or current.messages):
                current = SnapshotChunkPlan()
                chunks.append(current)
            (current.chats if kind == b"c" else current.messages).append(data)
            current.size += len(data) + 1
    return SnapshotPlan(id=snapshot_id or f"snap-{digest.hexdigest()}", chunks=chunks)
