"""Chunked snapshots on a real server (docs/protocol.md, "Chunked snapshots"): chunks are
staged durably and invisibly, applied atomically at the last one, a later delta's version
wins over the snapshot's, and an abandoned snapshot expires."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ofca.client import ExtensionClient
from ofca.client.frames import SnapshotPlan, chunk_frame
from ofca.persistence.tables import ChatRow, MessageRow, SnapshotChunkRow
from ofca.synthetic import generate_account
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


async def _messages(account_id: str) -> dict[str, str]:
    rows = (
        await MessageRow.select(MessageRow.message_id, MessageRow.raw)
        .where(MessageRow.account_id == account_id)
        .run()
    )
    return {row["message_id"]: row["raw"] for row in rows}


async def _staged(account_id: str) -> list[int]:
    rows = (
        await SnapshotChunkRow.select(SnapshotChunkRow.chunk)
        .where(SnapshotChunkRow.account_id == account_id)
        .order_by(SnapshotChunkRow.chunk)
        .run()
    )
    return [row["chunk"] for row in rows]


def _plan(client: ExtensionClient, account: Any, chunks: int) -> SnapshotPlan:
    """The account's snapshot cut into exactly ``chunks`` chunks."""
    total = sum(len(str(item)) for item in (*account.chats, *account.messages))
    size = total // chunks
    for _ in range(200):
        plan = client.plan_snapshot(account.chats, account.messages, chunk_bytes=size)
        if len(plan.chunks) == chunks:
            return plan
        size = int(size * (1.02 if len(plan.chunks) > chunks else 0.99))
    raise AssertionError(f"no cut into {chunks} chunks")


async def _rest(server: LiveServer, path: str, key: str) -> Any:
    async with httpx.AsyncClient(base_url=server.http_url, timeout=30) as http:
        response = await http.get(path, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


async def _nothing_visible(server: LiveServer, account_id: str, owner: str) -> None:
    """Nothing of a staged snapshot in storage, REST, insights or a dashboard's full sync."""
    assert await _messages(account_id) == {}
    assert await ChatRow.count().where(ChatRow.account_id == account_id) == 0
    listed = await _rest(server, f"/api/v1/conversations?account_id={account_id}", owner)
    assert listed["items"] == [] and listed["total"] == 0
    overview = await _rest(server, f"/api/v1/insights/overview?account_id={account_id}", owner)
    assert overview["current"]["messages"] == 0
    url = f"{server.ws_url}/ws/frontend/{account_id}?token={owner}"
    async with open_socket(url) as dashboard:
        sync = await dashboard.until("full_sync_response")
        assert sync["payload"]["conversations"] == []


async def test_a_later_delta_wins_over_the_snapshot(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    """A message edited by a delta sent between the chunks keeps the delta's version; one
    edited by a delta sent before the snapshot gets the snapshot's."""
    key = await make_key(account_id, "extension")
    account = generate_account(300, seed=42, fans=5)
    async with ExtensionClient(server.http_url, key, account_id, stream="s") as client:
        plan = _plan(client, account, 3)
        early, late = plan.chunks[0].messages[0], plan.chunks[1].messages[-1]
        early_id = _id(early)
        late_id = _id(late)
        before = _edited(account, early_id, "sent before the snapshot")
        await client.send_delta(before)
        await client.drain()
        await client.send_snapshot(plan, stop=2)
        await client.drain()
        newer = _edited(account, late_id, "sent after its chunk")
        await client.send_delta(newer)
        await client.drain()
        assert (await _messages(account_id)).keys() == {early_id, late_id}
        await client.send_snapshot(plan)  # the last chunk
        await client.drain()
    stored = await _messages(account_id)
    assert len(stored) == len(account.messages)
    assert stored[early_id] == early.decode()  # the snapshot's version (a later seq)
    assert "sent after its chunk" in stored[late_id]  # the delta's (a later seq)


def _id(raw: bytes) -> str:
    return str(json.loads(raw)["id"])


def _edited(account: Any, message_id: str, text: str) -> dict[str, Any]:
    message = next(m for m in account.messages if str(m["id"]) == message_id)
    return {**message, "text": text}


async def test_chunk_errors_name_their_seq(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    """A chunk that does not continue the pending snapshot is refused, naming its seq,
    and consumed; a chunked snapshot without seq is refused."""
    key = await make_key(account_id, "extension")
    account = generate_account(40, seed=43, fans=2)
    async with ExtensionClient(server.http_url, key, account_id, stream="e") as client:
        plan = _plan(client, account, 3)
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}&stream=e"
    async with open_socket(url) as socket:
        assert (await socket.next())["payload"]["committed_seq"] == 0
        await socket.send(chunk_frame(1, plan.id, 1, 3, plan.chunks[1]))  # not chunk 0
        error = (await socket.until("system_error"))["payload"]
        assert (error["code"], error["seq"], error["retryable"]) == ("validation_error", 1, False)
        await socket.send(chunk_frame(None, plan.id, 0, 3, plan.chunks[0]))
        error = (await socket.until("system_error"))["payload"]
        assert error["code"] == "validation_error" and "seq" not in error
        await socket.send(chunk_frame(2, plan.id, 0, 3, plan.chunks[0]))
        ack = (await socket.until("ingest_ack"))["payload"]
        assert ack["snapshot_progress"] == {"id": plan.id, "received": 1, "chunks": 3}
        assert ack["committed_seq"] == 2
    assert await _messages(account_id) == {}


async def test_abandoned_snapshot_expires(
    backend_env: dict[str, str], make_key: Any, account_id: str
) -> None:
    """The sweeper of a served process drops a pending snapshot after
    ``OFCA_SNAPSHOT_TTL_SECONDS``; its last chunk is then refused."""
    key = await make_key(account_id, "extension")
    account = generate_account(60, seed=44, fans=2)
    env = {**backend_env, "OFCA_SNAPSHOT_TTL_SECONDS": "1", "OFCA_REFRESH_SWEEP_SECONDS": "1"}
    with live_server(env) as expiring:
        async with ExtensionClient(expiring.http_url, key, account_id, stream="x") as client:
            plan = _plan(client, account, 3)
            await client.send_snapshot(plan, stop=2)
            await client.drain()
        assert await _staged(account_id) == [0, 1]
        for _ in range(60):
            if not await _staged(account_id):
                break
            await asyncio.sleep(0.1)
        assert await _staged(account_id) == []
        async with ExtensionClient(expiring.http_url, key, account_id, stream="x") as client:
            assert client.pending_snapshot is None
            await client.send_snapshot(plan, resume=False)  # all three again: applied
            await client.drain()
    assert len(await _messages(account_id)) == len(account.messages)
