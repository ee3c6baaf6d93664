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
from ofca.domain.wss import PendingSnapshot
from ofca.persistence import streams
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


@pytest.mark.slow
async def test_snapshot_survives_sigkill_after_chunk_6(
    backend_env: dict[str, str], make_key: Any, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    owner = await make_key(account_id, "owner")
    account = generate_account(3000, seed=41, fans=15)
    with live_server(backend_env) as first:
        dashboard_url = f"{first.ws_url}/ws/frontend/{account_id}?token={owner}"
        async with open_socket(dashboard_url) as dashboard:
            await dashboard.until("full_sync_response")
            async with ExtensionClient(
                first.http_url, key, account_id, stream="migrate", window_frames=4
            ) as client:
                plan = _plan(client, account, 10)
                assert await client.send_snapshot(plan, stop=6) == [1, 2, 3, 4, 5, 6]
                await client.drain()
                assert client.pending_snapshot == PendingSnapshot(
                    id=plan.id, next_chunk=6, chunks=10
                )
                # What the dashboard shows while the chunks come in.
                shown = []
                while len(shown) < 6:
                    status = await dashboard.until("system_status", within=10)
                    if "snapshot_progress" in status["payload"]:
                        shown.append(status["payload"]["snapshot_progress"]["received"])
                assert shown == [1, 2, 3, 4, 5, 6]
                assert await _staged(account_id) == [0, 1, 2, 3, 4, 5]
                await _nothing_visible(first, account_id, owner)
                first.process.kill()  # SIGKILL: no shutdown, no cleanup
                first.process.wait(timeout=10)
    assert await _staged(account_id) == [0, 1, 2, 3, 4, 5]

    with live_server(backend_env) as second:
        await _nothing_visible(second, account_id, owner)
        async with ExtensionClient(second.http_url, key, account_id, stream="migrate") as client:
            assert client.committed_seq == 6
            assert client.pending_snapshot == PendingSnapshot(id=plan.id, next_chunk=6, chunks=10)
            assert await client.send_snapshot(plan) == [7, 8, 9, 10]  # chunks 6..9 only
            await client.drain()
        last = client.last_ack
        assert last is not None and last.accepted == len(account.messages)
        assert last.snapshot_progress is not None
        assert client.stats.failures == [] and client.stats.resends == 0

    stored = await _messages(account_id)
    assert stored == {
        str(m["id"]): raw for m, raw in zip(account.messages, _raws(plan), strict=True)
    }
    assert await MessageRow.count().where(MessageRow.account_id == account_id) == len(stored)
    assert await _staged(account_id) == []
    state = await streams.read_stream(account_id, "migrate")
    assert state is not None and state.committed_seq == 10 and state.pending is None


def _raws(plan: SnapshotPlan) -> list[str]:
    """Each message of the plan as the JSON text it was sent as (stored as ``raw``)."""
    return [raw.decode() for chunk in plan.chunks for raw in chunk.messages]


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
