"""The rows ingest stores: one typed record per message and per chat, built in one place.

Every source (snapshots, deltas, the transcript webhook, Chatwoot) turns what it received
into :class:`StoredMessage` and :class:`StoredChat` records with :func:`message_record`,
:func:`chat_record` and :func:`bare_chat_record`; ``ofca.ingest.store`` writes them. Field
order is column order (:data:`MESSAGE_COLUMNS`, :data:`CHAT_COLUMNS`): the bulk writers
hand ``msgspec.structs.astuple(record)`` to COPY and ``executemany``.

The records are built positionally: keyword construction of 19 fields cost ~0.5 µs more
per message (50 ms of a 100k-message snapshot). ``gc=False``: they hold only strings,
numbers and datetimes (no cycles), so the collector never has to walk 100k of them.
``array_like`` would change only how they are serialized, and they never are.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import msgspec

from ofca.domain.enrichment import Enrichment
from ofca.domain.money import message_chatter
from ofca.domain.normalize import Direction, NormalizedChat, NormalizedMessage

__all__ = [
    "CHAT_COLUMNS",
    "MESSAGE_COLUMNS",
    "StoredChat",
    "StoredMessage",
    "bare_chat_record",
    "chat_record",
    "content_hash",
    "message_record",
]

_ENCODE = msgspec.json.encode


class StoredMessage(msgspec.Struct, gc=False):
    """One ``ofca_message`` row as ingest writes it (``command_id`` is set by linking)."""

    account_id: str
    message_id: str
    chat_id: str
    direction: Direction
    created_at: datetime | None
    changed_at: datetime | None
    text: str | None
    """The cleaned text; ``None`` until enriched (snapshots enrich after the ack)."""
    raw: str
    """The message's JSON exactly as received."""
    content_hash: str
    """Of ``raw``: the same hash as stored means a duplicate, another one an edit."""
    from_user_id: str | None
    is_tip: bool
    price: float | None
    media_count: int
    source: str
    sentiment: float | None
    topics: str
    """The topic ids as a JSON array."""
    enriched: bool
    ingested_at: datetime
    version: int
    is_free: bool
    is_opened: bool
    """Money (docs/metrics.md "Money"): absent flags are stored false."""
    operator_id: str | None
    operator_name: str | None
    """The extension's ``operator`` of the message (a chatter, docs/metrics.md)."""
    chatter: str | None
    """An outbound message's chatter as known at write (``ext:<operator>`` or
    ``unassigned``; None for other directions); linking it to a dashboard command makes
    the command's user or key its chatter (``ingest.commands``)."""


class StoredChat(msgspec.Struct, gc=False):
    """One ``ofca_chat`` row."""

    account_id: str
    chat_id: str
    fan_id: str | None
    fan_name: str | None
    fan_username: str | None
    fan_avatar: str | None
    source: str
    raw: str | None
    created_at: datetime
    updated_at: datetime


MESSAGE_COLUMNS: tuple[str, ...] = StoredMessage.__struct_fields__
CHAT_COLUMNS: tuple[str, ...] = StoredChat.__struct_fields__


def content_hash(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def message_record(
    account_id: str,
    message: NormalizedMessage,
    raw: bytes,
    source: str,
    now: datetime,
    enrichment: Enrichment | None = None,
) -> StoredMessage:
    """The record of ``message`` (``raw``: its JSON as received), enriched when
    ``enrichment`` is given (deltas and other sources: they are published at once) or
    left for background enrichment (snapshots)."""
    if enrichment is None:
        text, sentiment, topics = None, None, "[]"
    else:
        text, sentiment = enrichment.text, enrichment.sentiment
        topics = _ENCODE(enrichment.topics).decode()
    return StoredMessage(
        account_id,
        message.message_id,
        message.chat_id,
        message.direction,
        message.created_at,
        message.changed_at,
        text,
        raw.decode("utf-8"),
        content_hash(raw),
        message.from_user_id,
        message.is_tip,
        message.price,
        message.media_count,
        source,
        sentiment,
        topics,
        enrichment is not None,
        now,
        1,
        message.is_free,
        message.is_opened,
        message.operator_id,
        message.operator_name,
        message_chatter(message.direction, None, message.operator_id),
    )


def chat_record(
    account_id: str, chat: NormalizedChat, now: datetime, source: str, raw: str | None = None
) -> StoredChat:
    return StoredChat(
        account_id,
        chat.chat_id,
        chat.fan_id,
        chat.fan_name,
        chat.fan_username,
        chat.fan_avatar,
        source,
        raw,
        now,
        now,
    )


def bare_chat_record(account_id: str, chat_id: str, now: datetime) -> StoredChat:
    """A chat known only by its id (a delta of a chat no snapshot has brought yet)."""
    return StoredChat(account_id, chat_id, None, None, None, None, "onlyfans", None, now, now)
