"""How the sockets read frames (``ofca.domain.frames``): one decode per frame, and every
refusal a ``FrameError`` with its stable code, told apart by type; nothing a client sends
makes the decoder raise."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofca.domain.frames import (
    FRAME_TAGS,
    MAX_FRAME_BYTES,
    Envelope,
    FrameError,
    Inbound,
    RawSnapshotPayload,
    SnapshotFrame,
    decode_envelope,
    decode_frame,
    rate_limited,
)
from ofca.domain.wss import (
    CacheUpdate,
    CacheUpdatePayload,
    IncomingWssMessage,
    Keepalive,
    NewRawMessage,
    OnlineUsersUpdate,
)

DEEP = b"[" * 1000 + b"]" * 1000
"""2 KB nested 1,000 levels deep: msgspec raises RecursionError, not a DecodeError."""


def _encoded(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame).encode()


def test_every_protocol_tag_is_known() -> None:
    tags = {member.__struct_config__.tag for member in IncomingWssMessage.__args__}
    assert (
        tags
        == FRAME_TAGS
        == {
            "cache_update",
            "new_raw_message",
            "keepalive",
            "online_users_update",
        }
    )


def test_the_snapshot_read_off_the_socket_is_the_protocols_cache_update() -> None:
    """Same fields at every level (only the items stay raw), so both validate alike."""
    assert SnapshotFrame.__struct_fields__ == CacheUpdate.__struct_fields__
    assert RawSnapshotPayload.__struct_fields__ == CacheUpdatePayload.__struct_fields__
    assert SnapshotFrame.__struct_config__.tag == CacheUpdate.__struct_config__.tag
    bad_seq = decode_frame(b'{"type":"cache_update","seq":0,"payload":{}}')
    assert isinstance(bad_seq, FrameError) and bad_seq.code == "validation_error"
    chunk = decode_frame(
        b'{"type":"cache_update","seq":3,"payload":{"snapshot":{"id":"s1","chunk":0,"chunks":2}}}'
    )
    assert isinstance(chunk, Inbound) and isinstance(chunk.frame, SnapshotFrame)
    assert chunk.frame.seq == 3 and chunk.frame.payload.snapshot is not None


def test_a_delta_keeps_its_message_exactly_as_received() -> None:
    data = b'{"type":"new_raw_message","payload":{"message":{"id": 7, "chat_id":5,"text":"hi"}}}'
    decoded = decode_frame(data)
    assert isinstance(decoded, Inbound)
    assert isinstance(decoded.frame, NewRawMessage)
    assert decoded.frame.payload.message.id == 7
    assert decoded.raw_message == b'{"id": 7, "chat_id":5,"text":"hi"}'
    assert decoded.size == len(data)


def test_a_snapshot_keeps_its_items_raw() -> None:
    data = _encoded(
        {
            "type": "cache_update",
            "payload": {"chats": [{"id": 1}], "messages": [{"id": 2, "deep": [[[]]]}]},
        }
    )
    decoded = decode_frame(data)
    assert isinstance(decoded, Inbound) and isinstance(decoded.frame, SnapshotFrame)
    assert [bytes(raw) for raw in decoded.frame.payload.messages] == [b'{"id": 2, "deep": [[[]]]}']
    assert decoded.raw_message == b""


def test_other_frames_decode_to_their_types() -> None:
    keepalive = decode_frame(b'{"type":"keepalive"}')
    online = decode_frame(_encoded({"type": "online_users_update", "payload": {"user_ids": [1]}}))
    assert isinstance(keepalive, Inbound) and isinstance(keepalive.frame, Keepalive)
    assert isinstance(online, Inbound) and isinstance(online.frame, OnlineUsersUpdate)


@pytest.mark.parametrize(
    ("data", "code", "detail"),
    [
        (b"{not json", "json_parse_error", None),
        (b'{"type":"\x80"}', "json_parse_error", None),
        (
            b'{"type":"new_raw_message","payload":{"message":{"id":1,"text":"\xff"}}}',
            "json_parse_error",
            None,
        ),
        (b'{"type":"keepalive","x":' + DEEP + b"}", "json_parse_error", None),
        (b'{"x":' + DEEP + b',"type":"keepalive"}', "json_parse_error", None),
        (
            b'{"type":"new_raw_message","payload":{"message":{"id":1,"x":' + DEEP + b"}}}",
            "json_parse_error",
            None,
        ),
        (
            b'{"type":"cache_update","payload":{"messages":[{"id":1,"x":' + DEEP + b"}]}}",
            "json_parse_error",
            None,
        ),
        (b'{"type":"teleport","payload":{}}', "unhandled_type", "teleport"),
        (b'{"payload":{}}', "validation_error", "type"),
        (b'{"type":1}', "validation_error", "$.type"),
        (b"[1]", "validation_error", None),
        (
            b'{"type":"new_raw_message","payload":{"message":{"id":1,"mediaCount":"many"}}}',
            "validation_error",
            "$.payload.message.mediaCount",
        ),
        (b'{"type":"cache_update","payload":{"chats":3}}', "validation_error", "$.payload.chats"),
    ],
)
def test_refusals_carry_their_code(data: bytes, code: str, detail: str | None) -> None:
    decoded = decode_frame(data)
    assert isinstance(decoded, FrameError), decoded
    assert decoded.code == code
    if detail is not None:
        assert decoded.detail is not None and detail in decoded.detail
    answer = json.loads(decoded.encode())
    assert answer["type"] == "system_error"
    assert answer["payload"]["code"] == code


def test_only_snapshots_may_be_large() -> None:
    text = "x" * MAX_FRAME_BYTES
    delta = _encoded({"type": "new_raw_message", "payload": {"message": {"id": 1, "text": text}}})
    invalid = _encoded({"type": "new_raw_message", "payload": {"message": {"text": text}}})
    unknown = _encoded({"type": "teleport", "payload": {"text": text}})
    for data in (delta, invalid, unknown):
        refused = decode_frame(data)
        assert isinstance(refused, FrameError) and refused.code == "payload_too_large"
        assert str(len(data)) in (refused.detail or "")
    snapshot = _encoded(
        {"type": "cache_update", "payload": {"chats": [], "messages": [{"id": 1, "text": text}]}}
    )
    assert isinstance(decode_frame(snapshot), Inbound)


def test_envelopes_of_read_only_sockets() -> None:
    assert decode_envelope(b'{"type":"keepalive","payload":{"x":1}}') == Envelope("keepalive")
    for data, code in [
        (b'{"type":"keepalive","x":' + DEEP + b"}", "json_parse_error"),
        (b"\xff", "json_parse_error"),
        (b'{"type":null}', "validation_error"),
    ]:
        refused = decode_envelope(data)
        assert isinstance(refused, FrameError) and refused.code == code


def test_rate_limited_is_retryable() -> None:
    error = rate_limited(60)
    assert (error.code, error.retryable) == ("rate_limited", True)
    assert "60 per minute" in (error.detail or "")


nested = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | nested.map(lambda v: json.dumps(v).encode())
    | st.tuples(st.sampled_from(sorted(FRAME_TAGS)), nested, st.integers(1, 3000)).map(
        lambda t: (
            b'{"type":"%s","payload":%s,"x":' % (t[0].encode(), json.dumps(t[1]).encode())
            + b"[" * t[2]
            + b"]" * t[2]
            + b"}"
        )
    )
)
def test_decoding_never_raises(data: bytes) -> None:
    decoded = decode_frame(data)
    assert isinstance(decoded, Inbound | FrameError)
    assert isinstance(decode_envelope(data), Envelope | FrameError)
    if isinstance(decoded, FrameError):
        assert decoded.code != "internal_error"
        msgspec.json.decode(decoded.encode())
