"""The msgspec contracts: round trips, real platform payloads, clear errors, the schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from polyfactory.factories.msgspec_factory import MsgspecFactory

from ofca.domain.normalize import message_direction, normalize_message, parse_timestamp
from ofca.domain.onlyfans import Chat, Message
from ofca.domain.wss import (
    CacheUpdate,
    CommandToExecute,
    ConnectionAck,
    IncomingWssMessage,
    IngestAck,
    Keepalive,
    NewRawMessage,
    OnlineUsersUpdate,
    OutgoingWssMessage,
    SystemError,
    SystemStatus,
    incoming_decoder,
    wss_schema,
)

# A message as the OnlyFans web app stores it, with fields ofca does not model.
PLATFORM_MESSAGE = {
    "responseType": "message",
    "text": "<p>Hey babe, did you like the set? 😘</p>",
    "giphyId": None,
    "lockedText": False,
    "isFree": True,
    "price": 0,
    "isMediaReady": True,
    "mediaCount": 0,
    "media": [],
    "previews": [],
    "isTip": False,
    "isReportedByMe": False,
    "isCouplePeopleMedia": False,
    "queueId": 123456789,
    "fromUser": {"id": 987654, "_view": "s"},
    "isFromQueue": False,
    "canUnsendQueue": False,
    "unsendSecondsQueue": 0,
    "id": 4433221100,
    "isOpened": True,
    "isNew": False,
    "createdAt": "2024-05-01T18:22:05+00:00",
    "changedAt": "2024-05-01T18:22:05+00:00",
    "cancelSeconds": 0,
    "isLiked": False,
    "canPurchase": False,
    "canPurchaseReason": "free",
    "canReport": True,
    "canBePinned": True,
    "isPinned": False,
    "chat_id": 555111,
}

PLATFORM_CHAT = {
    "withUser": {
        "id": 555111,
        "name": "Big Fan",
        "username": "u555111",
        "avatar": "https://public.onlyfans.com/files/a.jpg",
        "isVerified": False,
        "subscribedBy": True,
        "subscribedOn": True,
    },
    "canNotSendReason": False,
    "canSendMessage": True,
    "unreadMessagesCount": 2,
    "hasUnreadTips": False,
    "isMutedNotifications": False,
    "lastReadMessageId": 4433221099,
    "countPinnedMessages": 0,
}


class MessageFactory(MsgspecFactory[Message]):
    __check_model__ = False


class ChatFactory(MsgspecFactory[Chat]):
    __check_model__ = False


class CacheUpdateFactory(MsgspecFactory[CacheUpdate]):
    __check_model__ = False


class SystemStatusFactory(MsgspecFactory[SystemStatus]):
    __check_model__ = False


class IngestAckFactory(MsgspecFactory[IngestAck]):
    __check_model__ = False


class CommandFactory(MsgspecFactory[CommandToExecute]):
    __check_model__ = False


outgoing_decoder = msgspec.json.Decoder(OutgoingWssMessage)


@pytest.mark.parametrize("seed", range(5))
def test_incoming_round_trip_with_factory_built_frames(seed: int) -> None:
    CacheUpdateFactory.seed_random(seed)
    frame = CacheUpdateFactory.build()
    encoded = msgspec.json.encode(frame)
    assert json.loads(encoded)["type"] == "cache_update"
    assert incoming_decoder.decode(encoded) == frame


@pytest.mark.parametrize(
    "factory", [SystemStatusFactory, IngestAckFactory, CommandFactory], ids=lambda f: f.__name__
)
def test_outgoing_round_trip_with_factory_built_frames(factory: type[MsgspecFactory]) -> None:
    frame = factory.build()
    assert outgoing_decoder.decode(msgspec.json.encode(frame)) == frame


def test_real_platform_payload_with_extra_fields_decodes() -> None:
    frame = {
        "type": "cache_update",
        "payload": {"chats": [PLATFORM_CHAT], "messages": [PLATFORM_MESSAGE]},
    }
    decoded = incoming_decoder.decode(json.dumps(frame).encode())
    assert isinstance(decoded, CacheUpdate)
    chat = decoded.payload.chats[0]
    message = decoded.payload.messages[0]
    assert chat.resolved_id == "555111"
    assert chat.withUser.username == "u555111"
    assert message.id == 4433221100
    assert message.fromUser is not None and message.fromUser.id == 987654
    normalized = normalize_message(message, chat_id="555111", fan_id="555111")
    assert normalized.direction == "outbound"  # sender is not the fan
    assert normalized.created_at == datetime(2024, 5, 1, 18, 22, 5, tzinfo=UTC)
    assert normalized.message_id == "4433221100"


def test_each_incoming_type_decodes() -> None:
    frames = [
        {"type": "new_raw_message", "payload": {"message": {"id": "m1", "text": "hi"}}},
        {"type": "keepalive"},
        {"type": "keepalive", "payload": {"timestamp": 1714587725.5}},
        {"type": "online_users_update", "payload": {"user_ids": [1, "2"], "timestamp": None}},
    ]
    types = [type(incoming_decoder.decode(json.dumps(f))) for f in frames]
    assert types == [NewRawMessage, Keepalive, Keepalive, OnlineUsersUpdate]


@pytest.mark.parametrize(
    ("frame", "path"),
    [
        ({"type": "new_raw_message", "payload": {"message": {"id": True}}}, "$.payload.message.id"),
        (
            # Money fields are checked per message (rejected_items), not by the decoder.
            {"type": "new_raw_message", "payload": {"message": {"id": 1, "mediaCount": "2"}}},
            "$.payload.message.mediaCount",
        ),
        (
            {"type": "cache_update", "payload": {"chats": [{"withUser": {}}], "messages": []}},
            "$.payload.chats[0].withUser",
        ),
        (
            {"type": "cache_update", "payload": {"messages": [{"id": 1, "mediaCount": -1}]}},
            "$.payload.messages[0].mediaCount",
        ),
        ({"type": "online_users_update", "payload": {}}, "$.payload"),
    ],
)
def test_wrong_types_are_rejected_with_a_path(frame: dict, path: str) -> None:
    with pytest.raises(msgspec.ValidationError) as excinfo:
        incoming_decoder.decode(json.dumps(frame))
    assert path in str(excinfo.value)


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="Invalid value 'hello'"):
        incoming_decoder.decode(b'{"type": "hello", "payload": {}}')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T18:22:05Z", datetime(2024, 5, 1, 18, 22, 5, tzinfo=UTC)),
        ("2024-05-01T20:22:05+02:00", datetime(2024, 5, 1, 18, 22, 5, tzinfo=UTC)),
        ("2024-05-01T18:22:05", datetime(2024, 5, 1, 18, 22, 5, tzinfo=UTC)),  # naive = UTC
        ("2020-03-03 13:05:57 UTC", datetime(2020, 3, 3, 13, 5, 57, tzinfo=UTC)),
        (1714587725, datetime(2024, 5, 1, 18, 22, 5, tzinfo=UTC)),
        ("yesterday", None),
        ("", None),
        (None, None),
        (-5, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "fan_id", "expected"),
    [
        ({"is_inbound": True, "is_creator": True}, "1", "inbound"),  # rule 1 wins
        ({"is_inbound": False}, "1", "outbound"),
        ({"is_creator": True, "fromUser": {"id": 1}}, "1", "outbound"),  # rule 2 before 3
        ({"is_creator": False}, None, "inbound"),
        ({"fromUser": {"id": 1}}, "1", "inbound"),
        ({"fromUser": {"id": 2}}, "1", "outbound"),
        ({"fromUser": {"id": 2}}, None, "unknown"),  # fan unknown
        ({}, "1", "unknown"),  # sender unknown
    ],
)
def test_direction_rules(fields: dict, fan_id: str | None, expected: str) -> None:
    message = msgspec.convert({"id": 1, **fields}, Message)
    assert message_direction(message, fan_id) == expected


@pytest.mark.parametrize("direction", ["outgoing", "incoming"])
def test_schema_discriminator_covers_every_type(direction: str) -> None:
    schema = wss_schema(direction)  # type: ignore[arg-type]
    union = IncomingWssMessage if direction == "incoming" else OutgoingWssMessage
    tags = {member.__struct_config__.tag for member in union.__args__}
    assert schema["title"] == (
        "IncomingWssMessage" if direction == "incoming" else "OutgoingWssMessage"
    )
    mapping = schema["discriminator"]["mapping"]
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(mapping) == tags
    for ref in mapping.values():
        assert ref.removeprefix("#/$defs/") in schema["$defs"]


def test_outgoing_tags_are_the_public_names() -> None:
    tags = {m.__struct_config__.tag for m in OutgoingWssMessage.__args__}
    assert tags == {
        "connection_ack",
        "system_status",
        "system_error",
        "full_sync_response",
        "append_message",
        "analytics_update",
        "enrichment_result",
        "online_users_update",
        "command_to_execute",
        "ingest_ack",
        "event_batch",
    }
    assert ConnectionAck.__struct_config__.tag_field == "type"
    assert SystemError.__struct_config__.tag == "system_error"
