"""The reference client's frames are what the protocol's Structs decode, chunks are cut to
size, and a snapshot's id follows from its content (a second run can resume it)."""

from __future__ import annotations

import msgspec

from ofca.client.frames import (
    chunk_frame,
    delta_frame,
    encode_item,
    plan_snapshot,
    snapshot_frame,
)
from ofca.domain.wss import CacheUpdate, NewRawMessage, incoming_decoder
from ofca.synthetic import generate_account


def test_delta_frame_carries_seq_and_the_message_bytes_as_given() -> None:
    raw = b'{"id": 7,  "chat_id": 3, "text": "hi"}'  # spacing kept: the server hashes it
    frame = delta_frame(41, raw)
    decoded = incoming_decoder.decode(frame)
    assert isinstance(decoded, NewRawMessage)
    assert decoded.seq == 41
    assert decoded.payload.message.id == 7
    assert raw in frame
    assert incoming_decoder.decode(delta_frame(None, raw)).seq is None  # type: ignore[union-attr]


def test_chunks_fit_their_size_and_decode_as_cache_updates() -> None:
    account = generate_account(2000, seed=11, fans=25)
    limit = 64 * 1024
    plan = plan_snapshot(account.chats, account.messages, limit)
    assert len(plan.chunks) > 5
    assert plan.messages == len(account.messages)
    seen_messages: list[int | str] = []
    seen_chats = 0
    for index, part in enumerate(plan.chunks):
        frame = chunk_frame(100 + index, plan.id, index, len(plan.chunks), part)
        assert len(frame) <= limit
        decoded = incoming_decoder.decode(frame)
        assert isinstance(decoded, CacheUpdate)
        assert decoded.seq == 100 + index
        marker = decoded.payload.snapshot
        assert marker is not None
        assert (marker.id, marker.chunk, marker.chunks) == (plan.id, index, len(plan.chunks))
        seen_chats += len(decoded.payload.chats)
        seen_messages.extend(message.id for message in decoded.payload.messages)
    assert seen_chats == len(account.chats)
    assert seen_messages == [message["id"] for message in account.messages]  # order kept


def test_an_item_larger_than_a_chunk_gets_a_chunk_of_its_own() -> None:
    small = [{"id": i, "chat_id": 1, "text": "x"} for i in range(3)]
    large = {"id": 99, "chat_id": 1, "text": "y" * 5000}
    plan = plan_snapshot([], [small[0], large, small[1], small[2]], 1000)
    assert [len(part.messages) for part in plan.chunks] == [1, 1, 2]
    assert plan.chunks[1].messages == [encode_item(large)]


def test_snapshot_id_follows_content_and_cut() -> None:
    account = generate_account(300, seed=2, fans=5)
    first = plan_snapshot(account.chats, account.messages, 16 * 1024)
    again = plan_snapshot(account.chats, account.messages, 16 * 1024)
    other_cut = plan_snapshot(account.chats, account.messages, 32 * 1024)
    edited = [dict(m) for m in account.messages]
    edited[0]["text"] = "changed"
    other_content = plan_snapshot(account.chats, edited, 16 * 1024)
    assert first.id == again.id
    assert len({first.id, other_cut.id, other_content.id}) == 3
    assert plan_snapshot([], [], 1024, snapshot_id="mine").id == "mine"


def test_whole_snapshot_frame_is_the_v1_shape() -> None:
    account = generate_account(50, seed=4, fans=3)
    frame = snapshot_frame(
        None, map(encode_item, account.chats), map(encode_item, account.messages)
    )
    decoded = msgspec.json.decode(frame)
    assert set(decoded) == {"type", "payload"}
    assert set(decoded["payload"]) == {"chats", "messages"}
    assert len(decoded["payload"]["messages"]) == len(account.messages)
