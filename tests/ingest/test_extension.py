"""The extension socket against a real uvicorn: acks, dedup, edits, atomicity, bad frames."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ofca.persistence.tables import ChatRow, MessageRow
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _ext_url(server: LiveServer, account_id: str, key: str) -> str:
    return f"{server.ws_url}/ws/extension/{account_id}?token={key}"


async def _stored(account_id: str) -> list[dict[str, Any]]:
    return (
        await MessageRow.select(
            MessageRow.message_id,
            MessageRow.chat_id,
            MessageRow.direction,
            MessageRow.text,
            MessageRow.raw,
            MessageRow.content_hash,
            MessageRow.version,
            MessageRow.ingested_at,
        )
        .where(MessageRow.account_id == account_id)
        .order_by(MessageRow.message_id)
        .run()
    )


async def _wait_enriched(account_id: str, within: float = 30.0) -> None:
    """Snapshot enrichment runs after the ack; wait until every message has it."""
    deadline = asyncio.get_running_loop().time() + within
    while await MessageRow.exists().where(
        (MessageRow.account_id == account_id) & (MessageRow.enriched == False)  # noqa: E712
    ):
        assert asyncio.get_running_loop().time() < deadline, "enrichment did not finish"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("case", ["missing", "invalid", "other_account", "dashboard_role"])
async def test_extension_auth_failures_close_1008(server, make_key, account_id, case) -> None:
    key = {
        "missing": "",
        "invalid": "ofca_not-a-real-key",
        "other_account": await make_key(f"{account_id}-other", "extension"),
        "dashboard_role": await make_key(account_id, "dashboard"),
    }[case]
    await make_key(account_id, "extension")
    async with open_socket(_ext_url(server, account_id, key)) as socket:
        assert await socket.closed_with() == 1008


async def test_snapshot_ack_replay_and_edit(server, make_key, account_id) -> None:
    key = await make_key(account_id, "extension")
    account = generate_account(300, seed=3, fans=6)
    async with open_socket(_ext_url(server, account_id, key)) as socket:
        ack = await socket.next()
        assert ack["type"] == "connection_ack"
        assert ack["payload"]["user_id"] == account_id

        await socket.send(cache_update_frame(account))
        first = await socket.until("ingest_ack")
        statuses = [f["payload"]["status"] for f in socket.seen if f["type"] == "system_status"]
        assert statuses[0] == "PROCESSING_SNAPSHOT" and statuses[-1] == "REALTIME"
        assert first["payload"] | {"duration_ms": 0} == first["payload"] | {
            "frame": "cache_update",
            "accepted": 300,
            "duplicates": 0,
            "updated": 0,
            "rejected": 0,
            "chats": 6,
            "duration_ms": 0,
        }
        await _wait_enriched(account_id)
        before = await _stored(account_id)
        assert len(before) == 300
        assert all(row["text"] for row in before)

        # Replaying the same snapshot (an extension reconnecting) changes nothing.
        await socket.send(cache_update_frame(account))
        second = await socket.until("ingest_ack")
        assert (second["payload"]["accepted"], second["payload"]["duplicates"]) == (0, 300)
        assert await _stored(account_id) == before

        # An edit: same id, other content -> updated in place, version 2, re-enriched.
        original = account.messages[10]
        edited = {**original, "text": "totally new words, thank you so much!"}
        await socket.send(new_raw_message_frame(edited))
        edit_ack = await socket.until("ingest_ack")
        assert (edit_ack["payload"]["updated"], edit_ack["payload"]["accepted"]) == (1, 0)
        rows = {r["message_id"]: r for r in await _stored(account_id)}
        assert len(rows) == 300
        row = rows[str(original["id"])]
        assert row["version"] == 2
        assert row["text"] == "totally new words, thank you so much!"
        assert json.loads(row["raw"])["text"] == edited["text"]
        enriched = (
            await MessageRow.select(MessageRow.sentiment, MessageRow.enriched)
            .where(
                (MessageRow.account_id == account_id)
                & (MessageRow.message_id == str(original["id"]))
            )
            .first()
            .run()
        )
        assert enriched["enriched"] is True and enriched["sentiment"] > 0.5

        # The identical delta again is a duplicate: nothing written.
        await socket.send(new_raw_message_frame(edited))
        duplicate = await socket.until("ingest_ack")
        assert duplicate["payload"]["duplicates"] == 1
        assert {r["message_id"]: r for r in await _stored(account_id)}[str(original["id"])][
            "version"
        ] == 2


async def test_rejected_messages_and_unknown_chat_delta(server, make_key, account_id) -> None:
    key = await make_key(account_id, "extension")
    frame = {
        "type": "cache_update",
        "payload": {
            "chats": [{"withUser": {"id": 11, "name": "Fan"}}],
            "messages": [
                {"id": 1, "chat_id": 11, "text": "hi", "createdAt": "2026-01-01T10:00:00Z",
                 "fromUser": {"id": 11}},
                {"id": 2, "text": "no chat"},
                {"id": 3, "chat_id": 99, "text": "unknown chat"},
            ],
        },
    }  # fmt: skip
    async with open_socket(_ext_url(server, account_id, key)) as socket:
        await socket.next()
        await socket.send(frame)
        ack = (await socket.until("ingest_ack"))["payload"]
        assert (ack["accepted"], ack["rejected"]) == (1, 2)
        reasons = {item["message_id"]: item["reason"] for item in ack["rejected_items"]}
        assert reasons == {"2": "missing chat_id", "3": "unknown chat 99"}
        stored = await _stored(account_id)
        assert [(r["message_id"], r["direction"]) for r in stored] == [("1", "inbound")]

        # A delta of a chat never seen: stored, direction from its own fields, chat created.
        await socket.send(
            new_raw_message_frame({"id": 4, "chat_id": 55, "text": "hey", "is_inbound": True})
        )
        delta = (await socket.until("ingest_ack"))["payload"]
        assert (delta["accepted"], delta["chats"]) == (1, 1)
        rows = {r["message_id"]: r for r in await _stored(account_id)}
        assert rows["4"]["direction"] == "inbound"
        chat = await ChatRow.exists().where(
            (ChatRow.account_id == account_id) & (ChatRow.chat_id == "55")
        )
        assert chat


async def test_invalid_snapshot_stores_nothing(server, make_key, account_id) -> None:
    key = await make_key(account_id, "extension")
    account = generate_account(2500, seed=5, fans=10)
    account.messages[2400]["createdAt"] = {"not": "a time"}
    async with open_socket(_ext_url(server, account_id, key)) as socket:
        await socket.next()
        await socket.send(cache_update_frame(account))
        error = await socket.until("system_error")
        assert error["payload"]["code"] == "validation_error"
        assert "$.payload.messages[2400].createdAt" in error["payload"]["detail"]
        assert await _stored(account_id) == []
        assert not await ChatRow.exists().where(ChatRow.account_id == account_id)


async def test_every_bad_frame_gets_its_code_and_the_socket_keeps_working(
    server, make_key, account_id
) -> None:
    key = await make_key(account_id, "extension")
    huge_text = "x" * (1024 * 1024 + 10)
    bad_frames: list[tuple[Any, str, str | None]] = [
        (b"{not json", "json_parse_error", None),
        (b'{"type":"\x80"}', "json_parse_error", None),  # invalid UTF-8 in the type
        (
            b'{"type":"new_raw_message","payload":{"message":{"id":1,"text":"\xff"}}}',
            "json_parse_error",
            None,
        ),
        ({"type": "teleport", "payload": {}}, "unhandled_type", None),
        ({"payload": {}}, "validation_error", "type"),
        (
            {"type": "new_raw_message", "payload": {"message": {"id": 1, "mediaCount": "many"}}},
            "validation_error",
            "$.payload.message.mediaCount",
        ),
        (
            {"type": "new_raw_message", "payload": {"message": {"id": 2, "text": huge_text}}},
            "payload_too_large",
            None,
        ),
    ]
    async with open_socket(_ext_url(server, account_id, key)) as socket:
        await socket.next()
        for frame, code, detail in bad_frames:
            await socket.send(frame)
            error = await socket.until("system_error")
            assert error["payload"]["code"] == code, error
            if detail is not None:
                assert detail in error["payload"]["detail"]
        # Still open and working: keepalive is silent, a delta is stored.
        await socket.send({"type": "keepalive", "payload": {"timestamp": 1}})
        await socket.send(
            new_raw_message_frame({"id": 7, "chat_id": 5, "text": "ok", "is_inbound": True})
        )
        ack = await socket.until("ingest_ack")
        assert ack["payload"]["accepted"] == 1
        assert [r["message_id"] for r in await _stored(account_id)] == ["7"]
