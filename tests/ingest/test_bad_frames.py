"""Frames no decoder can read, on real sockets: a frame nested ~1,000 levels deep (msgspec
raises ``RecursionError``, not a ``DecodeError``) or otherwise malformed is answered as
``json_parse_error`` on every socket kind, the socket stays open, and the frames queued
behind it are still answered (and stored) in order. The extension's deltas leave their
line in the ingest log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from ofca.persistence.tables import IngestLog, MessageRow
from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server

DEEP = b"[" * 1000 + b"]" * 1000
"""2 KB nested 1,000 levels deep."""

DEEP_FRAMES = [
    b'{"type":"keepalive","payload":{},"ignored":' + DEEP + b"}",
    b'{"ignored":' + DEEP + b',"type":"keepalive"}',
    b'{"type":"new_raw_message","payload":{"message":{"id":1,"chat_id":5,"x":' + DEEP + b"}}}",
    b'{"type":"cache_update","payload":{"chats":[],"messages":[{"id":2,"x":' + DEEP + b"}]}}",
    b'{"type":"keepalive","payload":{},"ignored":' + b'{"a":' * 1000 + b"1" + b"}" * 1000 + b"}",
]


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _url(server: LiveServer, kind: str, account_id: str, key: str) -> str:
    return f"{server.ws_url}/ws/{kind}/{account_id}?token={key}"


def _delta(message_id: int) -> bytes:
    return new_raw_message_frame(
        {"id": message_id, "chat_id": 5, "text": f"hello {message_id}", "is_inbound": True}
    )


async def test_extension_answers_deep_frames_and_the_frames_behind_them(
    server: LiveServer, make_key, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    async with open_socket(_url(server, "extension", account_id, key)) as socket:
        await socket.until("connection_ack")
        # Sent back to back: each deep frame is queued with a delta behind it.
        sent: list[bytes] = []
        for index, deep in enumerate(DEEP_FRAMES):
            sent += [deep, _delta(100 + index)]
        await asyncio.gather(*(socket.connection.send(frame) for frame in sent))
        answers = [await socket.next() for _ in sent]
        kinds = [
            answer["payload"]["code"] if answer["type"] == "system_error" else answer["type"]
            for answer in answers
        ]
        assert kinds == ["json_parse_error", "ingest_ack"] * len(DEEP_FRAMES), answers
        assert all(a["payload"]["accepted"] == 1 for a in answers if a["type"] == "ingest_ack")
        # Still open and working.
        await socket.send(_delta(200))
        assert (await socket.until("ingest_ack"))["payload"]["accepted"] == 1
    stored = await MessageRow.select(MessageRow.message_id).where(
        MessageRow.account_id == account_id
    )
    assert sorted(int(row["message_id"]) for row in stored) == [
        *range(100, 100 + len(DEEP_FRAMES)),
        200,
    ]
    # The socket's deltas are in the ingest log (one line for them, written as it closed).
    deadline = asyncio.get_running_loop().time() + 15
    while True:
        lines = await IngestLog.select().where(
            (IngestLog.account_id == account_id) & (IngestLog.kind == "new_raw_message")
        )
        if lines or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.2)
    assert [(line["source"], line["accepted"], line["duplicates"]) for line in lines] == [
        ("extension", len(DEEP_FRAMES) + 1, 0)
    ]
    assert lines[0]["frame_bytes"] >= sum(len(_delta(100)) for _ in range(len(DEEP_FRAMES) + 1))


@pytest.mark.parametrize(("kind", "role"), [("frontend", "dashboard"), ("chatwoot", "integration")])
async def test_read_only_sockets_answer_deep_frames_and_stay_open(
    server: LiveServer, make_key, account_id: str, kind: str, role: str
) -> None:
    key = await make_key(account_id, role)
    async with open_socket(_url(server, kind, account_id, key)) as socket:
        await socket.until("full_sync_response")
        sent = [*DEEP_FRAMES, b"{not json", _delta(1)]
        await asyncio.gather(*(socket.connection.send(frame) for frame in sent))
        answers = [await socket.until("system_error") for _ in sent]
        assert [a["payload"]["code"] for a in answers] == [
            *(["json_parse_error"] * (len(DEEP_FRAMES) + 1)),
            "unhandled_type",  # a read-only socket refuses what it does not take
        ]
        # A keepalive is accepted silently; the socket still answers.
        await socket.send({"type": "keepalive", "payload": {}})
        await socket.send(b'{"type":')
        assert (await socket.until("system_error"))["payload"]["code"] == "json_parse_error"
