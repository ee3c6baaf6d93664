"""Decoding a snapshot's items without holding the event loop.

A ``cache_update`` arrives with its chats and messages still raw JSON
(``ofca.domain.frames.RawSnapshotPayload``): decoding 100k messages in one go takes ~0.5 s,
far beyond the ~50 ms the event loop may be held, so they are decoded in chunks, each
message's raw JSON kept exactly as received (its hash tells a duplicate from an edit).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import msgspec

from ofca.domain.frames import RawSnapshotPayload
from ofca.domain.onlyfans import Chat, Message
from ofca.ingest.context import FrameRejected

__all__ = ["decode_snapshot"]

DECODE_CHUNK = 1000
"""Messages decoded per slice (~4 ms each)."""

_chats_decoder = msgspec.json.Decoder(list[Chat])


_messages_decoder = msgspec.json.Decoder(list[Message])


_PATH_INDEX = re.compile(r"`\$\[(\d+)\]")


def _frame_path(field: str, offset: int) -> Any:
    """Rewrites a chunk's ``$[i]`` as the whole frame's ``$.payload.<field>[offset + i]``."""
    return lambda match: f"`$.payload.{field}[{offset + int(match.group(1))}]"


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
            detail = _PATH_INDEX.sub(_frame_path(field, start), str(exc))
            raise FrameRejected("validation_error", "Invalid cache_update", detail) from None
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise FrameRejected("json_parse_error", "Malformed JSON", str(exc)) from None
        await asyncio.sleep(0)
    return items


async def decode_snapshot(
    payload: RawSnapshotPayload,
) -> tuple[list[Chat], list[Message], list[msgspec.Raw]]:
    """Chats, messages and each message's raw JSON, validated as ``CacheUpdate`` would be."""
    chats: list[Chat] = await _decode_items(payload.chats, _chats_decoder, "chats")
    messages: list[Message] = await _decode_items(payload.messages, _messages_decoder, "messages")
    return chats, messages, payload.messages
