"""The pure mappings of seed-004 webhooks and Chatwoot events onto chats and messages."""

from __future__ import annotations

import msgspec
import pytest

from ofca.domain.normalize import normalize_chat, normalize_message, parse_timestamp
from ofca.domain.sources import (
    chatwoot_event_decoder,
    map_chatwoot_event,
    map_conversation_webhook,
    webhook_decoder,
)
from tests.sources.payloads import (
    chatwoot_conversation_created,
    chatwoot_message_created,
    webhook_body,
)


def _decode_webhook(body: dict) -> object:
    return webhook_decoder.decode(msgspec.json.encode(body))


def test_webhook_maps_speakers_to_directions_and_namespaces_ids() -> None:
    batch = map_conversation_webhook(_decode_webhook(webhook_body()))
    assert [chat.resolved_id for chat in batch.chats] == ["webhook:conv_abc123"]
    chat = normalize_chat(batch.chats[0])
    assert chat.fan_name == "user@example.com"
    normalized = [normalize_message(m, chat.chat_id, chat.fan_id) for m in batch.messages]
    assert [m.message_id for m in normalized] == [
        "webhook:conv_abc123:msg_123",
        "webhook:conv_abc123:msg_124",
        "webhook:conv_abc123:msg_125",
    ]
    assert [m.direction for m in normalized] == ["inbound", "outbound", "inbound"]
    assert normalized[0].created_at == parse_timestamp("2024-01-15T10:30:00Z")
    # The caller's own ids and metadata stay with the chat.
    origin = batch.origin["webhook:conv_abc123"]
    assert origin["accountId"] == "acc123"
    assert origin["metadata"].sessionId == "sess_456"


def test_webhook_unknown_speaker_and_repeated_lines() -> None:
    transcript = [
        {
            "timestamp": "2024-01-15T10:30:00Z",
            "speaker": "system",
            "content": "x",
            "messageId": "a",
        },
        {"timestamp": "2024-01-15T10:30:00Z", "speaker": "USER", "content": "y", "messageId": "b"},
        {"timestamp": "2024-01-15T10:30:00Z", "speaker": "USER", "content": "y", "messageId": "b"},
    ]
    batch = map_conversation_webhook(_decode_webhook(webhook_body(transcript=transcript)))
    assert [m.is_inbound for m in batch.messages] == [None, True]


def test_webhook_rejects_missing_fields() -> None:
    body = webhook_body()
    del body["conversationId"]
    with pytest.raises(msgspec.ValidationError, match="conversationId"):
        _decode_webhook(body)


def test_webhook_mapping_is_deterministic() -> None:
    first = map_conversation_webhook(_decode_webhook(webhook_body()))
    second = map_conversation_webhook(_decode_webhook(webhook_body()))
    assert msgspec.json.encode(first) == msgspec.json.encode(second)


def _decode_event(body: dict) -> object:
    return chatwoot_event_decoder.decode(msgspec.json.encode(body))


def test_chatwoot_incoming_message_is_inbound_with_contact_as_fan() -> None:
    batch = map_chatwoot_event(_decode_event(chatwoot_message_created()))
    assert batch is not None
    chat = normalize_chat(batch.chats[0])
    assert chat.chat_id == "chatwoot:207"
    assert chat.fan_id == "chatwoot:contact:4"
    assert chat.fan_name == "Jamie Fan"
    assert batch.origin["chatwoot:207"] == {
        "source": "chatwoot",
        "conversation_id": 207,
        "inbox_id": 3,
        "status": "open",
    }
    [message] = batch.messages
    normalized = normalize_message(message, chat.chat_id, chat.fan_id)
    assert normalized.message_id == "chatwoot:654"
    assert normalized.direction == "inbound"
    assert normalized.created_at == parse_timestamp("2024-01-15T10:30:00Z")


def test_chatwoot_outgoing_and_older_time_form() -> None:
    body = chatwoot_message_created(
        message_type="outgoing", created_at="2020-03-03 13:05:57 UTC", message_id=655
    )
    batch = map_chatwoot_event(_decode_event(body))
    assert batch is not None
    [message] = batch.messages
    assert message.is_inbound is False
    assert parse_timestamp(message.createdAt) == parse_timestamp("2020-03-03T13:05:57Z")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"private": True}, "private note"),
        ({"message_type": "activity"}, "activity"),
        ({"message_type": "template"}, "template"),
    ],
)
def test_chatwoot_non_chat_lines_are_ignored(changes: dict, reason: str) -> None:
    body = chatwoot_message_created()
    body.update(changes)
    batch = map_chatwoot_event(_decode_event(body))
    assert batch is not None, reason
    assert batch.messages == []
    assert batch.ignored == 1


def test_chatwoot_conversation_event_maps_nested_unix_messages() -> None:
    batch = map_chatwoot_event(_decode_event(chatwoot_conversation_created()))
    assert batch is not None
    assert batch.chats[0].resolved_id == "chatwoot:208"
    # Template greeting and private note are not chat lines.
    assert [m.id for m in batch.messages] == ["chatwoot:701", "chatwoot:702"]
    assert [m.is_inbound for m in batch.messages] == [True, False]
    assert batch.ignored == 2
    assert parse_timestamp(batch.messages[0].createdAt) == parse_timestamp(1705314060)


def test_chatwoot_same_message_in_both_time_forms_maps_identically() -> None:
    """A message first seen nested in a conversation event (Unix seconds, integer type)
    and then as a message event (ISO, string type) must map to the same Struct, or the
    re-delivery would look like an edit."""
    nested = map_chatwoot_event(_decode_event(chatwoot_conversation_created()))
    top = chatwoot_message_created(
        message_id=701,
        conversation_id=208,
        content="hey are you there? want a tip menu",
        created_at="2024-01-15T10:21:00.000Z",
    )
    direct = map_chatwoot_event(_decode_event(top))
    assert nested is not None and direct is not None
    assert msgspec.json.encode(direct.messages[0]) == msgspec.json.encode(nested.messages[0])


def test_chatwoot_unknown_events_map_to_nothing() -> None:
    assert map_chatwoot_event(_decode_event({"event": "contact_created", "id": 4})) is None
    assert map_chatwoot_event(_decode_event({"event": "webwidget_triggered"})) is None


def test_chatwoot_string_ids_from_older_docs() -> None:
    body = chatwoot_message_created()
    body["id"] = "1"
    body["conversation"]["id"] = "1"
    batch = map_chatwoot_event(_decode_event(body))
    assert batch is not None
    assert batch.messages[0].id == "chatwoot:1"
    assert batch.chats[0].resolved_id == "chatwoot:1"
