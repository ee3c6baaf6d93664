"""Protocol v2 on a real server (docs/protocol.md, "Streams and sequence numbers"): a
burst over the frame limit is resent exactly from what was refused, a reconnect resumes
from ``committed_seq`` and a resent frame is a duplicate with no work, a second socket on
the stream supersedes the first (4409), and every frame error names its seq."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from msgspec import UNSET

from ofca.client import ExtensionClient
from ofca.client.frames import delta_frame, encode_item
from ofca.domain.wss import SystemErrorPayload
from ofca.persistence import streams
from ofca.persistence.tables import IngestLog, MessageRow
from ofca.synthetic import generate_account
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _url(server: LiveServer, account_id: str, key: str, stream: str | None) -> str:
    query = f"?token={key}" + ("" if stream is None else f"&stream={stream}")
    return f"{server.ws_url}/ws/extension/{account_id}{query}"


async def _rows(account_id: str) -> dict[str, tuple[str, int]]:
    rows = (
        await MessageRow.select(MessageRow.message_id, MessageRow.raw, MessageRow.version)
        .where(MessageRow.account_id == account_id)
        .run()
    )
    return {row["message_id"]: (row["raw"], row["version"]) for row in rows}


@pytest.mark.slow
async def test_burst_over_the_frame_limit_is_resent_exactly(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    """1,500 deltas as fast as the client may send them, under the default limit (1,000 a
    minute, bursts of 1,000): the refused ones, and only those, are sent again; every
    message is stored once and ``committed_seq`` covers every frame."""
    key = await make_key(account_id, "extension")
    account = generate_account(1500, seed=31, fans=20)
    messages = account.messages[:1500]
    errors: list[SystemErrorPayload] = []

    def on_event(kind: str, detail: Any) -> None:
        if kind == "refused":
            errors.append(detail)

    async with ExtensionClient(
        server.http_url, key, account_id, stream="burst", on_event=on_event
    ) as client:
        for message in messages:
            await client.send_delta(message)
        await client.drain()

    stats = client.stats
    assert stats.refusals["rate_limited"] > 0
    # Each transmission beyond the first of a frame answers one refusal of it.
    assert stats.transmissions == stats.frames + sum(stats.refusals.values()) + (
        stats.caused_refusals
    )
    assert stats.failures == [] and stats.duplicate_frames == 0
    assert all(error.seq is not UNSET for error in errors)
    limited = [error for error in errors if error.code == "rate_limited"]
    assert limited and all(
        error.retry_after_ms is not UNSET and int(error.retry_after_ms) > 0 for error in limited
    )
    assert client.committed_seq == len(messages)
    state = await streams.read_stream(account_id, "burst")
    assert state is not None and state.committed_seq == len(messages)
    stored = await _rows(account_id)
    assert set(stored) == {str(m["id"]) for m in messages}
    assert all(version == 1 for _, version in stored.values())  # stored once, never again
    assert stats.accepted == len(messages)


async def test_reconnect_resumes_and_a_resent_frame_is_a_duplicate(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    messages = generate_account(8, seed=32, fans=2).messages[:6]
    async with ExtensionClient(server.http_url, key, account_id, stream="laptop") as client:
        for message in messages[:5]:
            await client.send_delta(message)
        await client.drain()
    assert client.committed_seq == 5
    before = await _rows(account_id)
    log_lines = await IngestLog.count().where(IngestLog.account_id == account_id)

    async with open_socket(_url(server, account_id, key, "laptop")) as socket:
        ack = (await socket.next())["payload"]
        assert (ack["stream"], ack["committed_seq"], ack["pending_snapshot"]) == (
            "laptop",
            5,
            None,
        )
        # Frame 3 again, even with other content: answered as a duplicate, nothing done.
        edited = {**messages[2], "text": "an edit that must not be applied"}
        await socket.send(delta_frame(3, encode_item(edited)))
        duplicate = (await socket.until("ingest_ack"))["payload"]
        assert duplicate["duplicate_frame"] is True
        assert (duplicate["first_seq"], duplicate["last_seq"], duplicate["committed_seq"]) == (
            3,
            3,
            5,
        )
        assert (duplicate["accepted"], duplicate["updated"], duplicate["duplicates"]) == (0, 0, 0)
        # A gap: 7 before 6.
        await socket.send(delta_frame(7, encode_item(messages[5])))
        gap = (await socket.until("system_error"))["payload"]
        assert (gap["code"], gap["seq"], gap["expected_seq"], gap["retryable"]) == (
            "sequence_gap",
            7,
            6,
            True,
        )
        await socket.send(delta_frame(6, encode_item(messages[5])))
        next_ack = (await socket.until("ingest_ack"))["payload"]
        assert (next_ack["first_seq"], next_ack["committed_seq"], next_ack["accepted"]) == (
            6,
            6,
            1,
        )
        # An invalid frame with a seq is answered naming it, and consumed.
        await socket.send(json.dumps({"type": "new_raw_message", "seq": 7, "payload": {}}))
        invalid = (await socket.until("system_error"))["payload"]
        assert (invalid["code"], invalid["seq"], invalid["retryable"]) == (
            "validation_error",
            7,
            False,
        )
    after = await _rows(account_id)
    assert {k: v for k, v in after.items() if k in before} == before  # the edit: not applied
    assert set(after) - set(before) == {str(messages[5]["id"])}
    assert await IngestLog.count().where(IngestLog.account_id == account_id) >= log_lines
    state = await _released(account_id, "laptop")
    assert state.committed_seq == 7 and state.writer is None


async def _released(account_id: str, stream: str) -> streams.StreamState:
    """The stream once its socket's close has released it (the server does that after
    the client has gone)."""
    for _ in range(50):
        state = await streams.read_stream(account_id, stream)
        assert state is not None
        if state.writer is None:
            break
        await asyncio.sleep(0.1)
    return state


async def test_a_second_socket_supersedes_the_first(
    server: LiveServer, backend_env: dict[str, str], make_key: Any, account_id: str
) -> None:
    """4409 for the older socket, on the same process or (Redis) another one; what the
    older one sends after that is not stored."""
    key = await make_key(account_id, "extension")
    messages = generate_account(4, seed=33, fans=1).messages
    with live_server(backend_env) if "OFCA_REDIS_URL" in backend_env else _same(server) as other:
        async with open_socket(_url(server, account_id, key, "tab")) as first:
            assert (await first.next())["payload"]["committed_seq"] == 0
            await first.send(delta_frame(1, encode_item(messages[0])))
            assert (await first.until("ingest_ack"))["payload"]["committed_seq"] == 1
            async with open_socket(_url(other, account_id, key, "tab")) as second:
                ack = (await second.next())["payload"]
                assert (ack["stream"], ack["committed_seq"]) == ("tab", 1)
                assert await first.closed_with(within=10) == 4409
                assert first.connection.close_reason == "superseded"
                await second.send(delta_frame(2, encode_item(messages[1])))
                assert (await second.until("ingest_ack"))["payload"]["committed_seq"] == 2
    assert set(await _rows(account_id)) == {str(messages[0]["id"]), str(messages[1]["id"])}


class _same:
    def __init__(self, server: LiveServer) -> None:
        self.server = server

    def __enter__(self) -> LiveServer:
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        return None


async def test_v1_socket_is_unchanged_and_names_the_default_stream(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    """No ``?stream=``, no ``seq``: v1 answers (no seq fields), and the stream is not moved;
    two such sockets do not supersede each other."""
    key = await make_key(account_id, "extension")
    messages = generate_account(4, seed=34, fans=1).messages
    async with (
        open_socket(_url(server, account_id, key, None)) as one,
        open_socket(_url(server, account_id, key, None)) as two,
    ):
        ack = (await one.next())["payload"]
        assert (ack["stream"], ack["committed_seq"], ack["pending_snapshot"]) == (
            "default",
            0,
            None,
        )
        await two.next()
        await one.send(delta_frame(None, encode_item(messages[0])))
        await two.send(delta_frame(None, encode_item(messages[1])))
        for socket in (one, two):
            payload = (await socket.until("ingest_ack"))["payload"]
            assert payload["accepted"] == 1
            assert not {"first_seq", "last_seq", "committed_seq", "duplicate_frame"} & set(payload)
    assert await streams.read_stream(account_id, "default") is None


async def test_invalid_stream_is_refused(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    async with open_socket(_url(server, account_id, key, "no%20spaces")) as socket:
        assert await socket.closed_with() == 1008
