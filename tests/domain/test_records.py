"""The one record of a stored message and of a chat (``ofca.domain.records``): its fields are
the table's columns in the order the bulk writers hand them over, and every source builds
it the same way."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from ofca.domain.enrichment import DEFAULT_MATCHER, enrich
from ofca.domain.normalize import normalize_chat, normalize_message
from ofca.domain.onlyfans import Chat, Message
from ofca.domain.records import (
    CHAT_COLUMNS,
    MESSAGE_COLUMNS,
    bare_chat_record,
    chat_record,
    content_hash,
    message_record,
)
from ofca.domain.views import message_view
from ofca.persistence.tables import ChatRow, MessageRow

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_records_are_the_tables_columns() -> None:
    message_columns = {column._meta.name for column in MessageRow._meta.columns}
    chat_columns = {column._meta.name for column in ChatRow._meta.columns}
    # Every column but the key and what other steps set (the command link).
    assert set(MESSAGE_COLUMNS) == message_columns - {"id", "command_id"}
    assert set(CHAT_COLUMNS) == chat_columns - {"id"}


def _message(raw: bytes) -> Message:
    return msgspec.json.decode(raw, type=Message)


def test_a_record_waiting_for_enrichment_and_an_enriched_one() -> None:
    raw = b'{"id": 9, "chat_id": 4, "text": "I love you <3", "createdAt": "2024-05-01T10:00:00Z"}'
    normalized = normalize_message(_message(raw), "4", "4")
    waiting = message_record("acct", normalized, raw, "onlyfans", NOW)
    assert (waiting.text, waiting.sentiment, waiting.topics, waiting.enriched) == (
        None,
        None,
        "[]",
        False,
    )
    assert waiting.raw == raw.decode() and waiting.content_hash == content_hash(raw)
    assert (waiting.message_id, waiting.chat_id, waiting.version) == ("9", "4", 1)

    enrichment = enrich(normalized.raw_text, DEFAULT_MATCHER)
    enriched = message_record("acct", normalized, raw, "webhook", NOW, enrichment)
    assert enriched.enriched and enriched.source == "webhook"
    assert enriched.text == enrichment.text and enriched.sentiment == enrichment.sentiment
    assert msgspec.json.decode(enriched.topics) == list(enrichment.topics)
    # Tuples in column order are what COPY and executemany get.
    row = msgspec.structs.astuple(enriched)
    assert row[MESSAGE_COLUMNS.index("content_hash")] == content_hash(raw)
    # And dashboards see it as they see the stored row.
    view = message_view({**msgspec.structs.asdict(enriched), "command_id": "cmd-1"})
    assert (view.id, view.chat_id, view.text, view.enriched, view.command_id) == (
        "9",
        "4",
        enrichment.text,
        True,
        "cmd-1",
    )
    assert view.created_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert view.topics == list(enrichment.topics)


def test_chat_records() -> None:
    chat = msgspec.json.decode(b'{"id": 4, "withUser": {"id": 4, "name": "Fan"}}', type=Chat)
    record = chat_record("acct", normalize_chat(chat), NOW, "onlyfans", raw="{}")
    assert (record.chat_id, record.fan_id, record.fan_name, record.raw) == ("4", "4", "Fan", "{}")
    bare = bare_chat_record("acct", "77", NOW)
    assert (bare.chat_id, bare.fan_id, bare.source) == ("77", None, "onlyfans")
