"""Decoding the extension's frames without holding the event loop.

A ``cache_update`` (snapshot) is decoded in chunks (a 20 MB frame takes ~0.5 s to decode
in one go, far beyond the ~50 ms the event loop may be held), each message's raw JSON kept
exactly as received and hashed: the hash tells a duplicate (same hash as stored) from an
edit (another hash).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ofca.domain.onlyfans import Chat, Message
from ofca.ingest.context import FrameRejected

__all__ = ["content_hash", "decode_snapshot", "raw_delta_message"]

DECODE_CHUNK = 1000
"""Messages decoded per slice (~4 ms each)."""


class _RawSnapshotPayload(msgspec.Struct):
    chats: list[msgspec.Raw] = []
    messages: list[msgspec.Raw] = []


class _RawSnapshot(msgspec.Struct):
    payload: _RawSnapshotPayload


class _RawDeltaPayload(msgspec.Struct):
    message: msgspec.Raw


class _RawDelta(msgspec.Struct):
    payload: _RawDeltaPayload


_raw_snapshot_decoder = msgspec.json.Decoder(_RawSnapshot)


_raw_delta_decoder = msgspec.json.Decoder(_RawDelta)


_chats_decoder = msgspec.json.Decoder(list[Chat])


_messages_decoder = msgspec.json.Decoder(list[Message])


_PATH_INDEX = re.compile(r"`\$\[(\d+)\]")


async def _decode_items(
    raws: Sequence[msgspec.Raw], decoder: msgspec.json.Decoder[Any], field: str
) -> list[Any]:
    items: list[Any] = []
    for start in range(0, len(raws), DECODE_CHUNK):
        chunk = raws[start : start + DECODE_CHUNK]
        try:
            items.extend(decoder.decode(b"[" + b",".join(chunk) + b"]"))
        except msgspec.ValidationError as exc:
            # Name the field as the whole frame would: $.payload.<field>[<index>]...
            offset = start
            detail = _PATH_INDEX.sub(
                lambda m, offset=offset: f"`$.payload.{field}[{offset + int(m.group(1))}]",
                str(exc),
            )
            raise FrameRejected("validation_error", "Invalid cache_update", detail) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise FrameRejected("json_parse_error", "Malformed JSON", str(exc)) from None
        await asyncio.sleep(0)
    return items


async def decode_snapshot(data: bytes) -> tuple[list[Chat], list[Message], list[msgspec.Raw]]:
    """Chats, messages and each message's raw JSON, validated as ``CacheUpdate`` would be."""
    try:
        raw = _raw_snapshot_decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise FrameRejected("validation_error", "Invalid cache_update", str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise FrameRejected("json_parse_error", "Malformed JSON", str(exc)) from None
    await asyncio.sleep(0)
    chats = await _decode_items(raw.payload.chats, _chats_decoder, "chats")
    messages = await _decode_items(raw.payload.messages, _messages_decoder, "messages")
    return chats, messages, raw.payload.messages


def raw_delta_message(data: bytes | str) -> bytes:
    return bytes(_raw_delta_decoder.decode(data).payload.message)


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()
