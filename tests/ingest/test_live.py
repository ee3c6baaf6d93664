"""Dashboards and integrations: full sync, live events across processes, account isolation,
ordering of deltas sent during a snapshot, reconnects, revocation and rate limits."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ofca.persistence.keys import resolve_api_key, revoke_api_key
from ofca.persistence.tables import MessageRow
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _url(server: LiveServer, kind: str, account_id: str, key: str) -> str:
    return f"{server.ws_url}/ws/{kind}/{account_id}?token={key}"


def _delta(message_id: int, chat_id: int, text: str, inbound: bool = True) -> bytes:
    return new_raw_message_frame(
        {
            "id": message_id,
            "chat_id": chat_id,
            "text": text,
            "createdAt": "2026-11-01T12:00:00Z",
            "is_inbound": inbound,
        }
    )


async def _connected_dashboard(socket: Socket) -> dict[str, Any]:
    ack = await socket.next()
    assert ack["type"] == "connection_ack"
    sync = await socket.next()
    assert sync["type"] == "full_sync_response"
    return sync


async def test_dashboard_gets_full_sync_then_live_events_and_integration_reads_only(
    server, make_key, account_id
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    integration_key = await make_key(account_id, "integration")
    other_account = f"{account_id}-b"
    other_key = await make_key(other_account, "dashboard")
    account = generate_account(400, seed=11, fans=8)

    async with (
        open_socket(_url(server, "extension", account_id, ext_key)) as extension,
        open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard,
        open_socket(_url(server, "chatwoot", account_id, integration_key)) as chatwoot,
        open_socket(_url(server, "frontend", other_account, other_key)) as stranger,
    ):
        await extension.next()
        empty = await _connected_dashboard(dashboard)
        assert empty["payload"]["conversations"] == []
        await _connected_dashboard(chatwoot)
        await _connected_dashboard(stranger)

        await extension.send(cache_update_frame(account))
        await extension.until("ingest_ack")
        # After the snapshot (and again once enriched) dashboards get a fresh full sync.
        synced = await dashboard.until("full_sync_response")
        assert len(synced["payload"]["conversations"]) == 8
        await dashboard.until("enrichment_result", done=True, within=30)
        final = await dashboard.until("full_sync_response", within=30)
        nodes = final["payload"]["conversations"]
        assert sum(node["message_count"] for node in nodes) == 400
        assert all(m["enriched"] for node in nodes for m in node["messages"])
        # Issue 17: the inbox's triage order (ofca.domain.triage), no longer longest wait
        # first: fans waiting within the horizon (24 h) first, then by last activity.
        now = datetime.now(UTC)
        recent = [
            n["unanswered_since"] is not None
            and now - datetime.fromisoformat(n["unanswered_since"]) <= timedelta(hours=24)
            for n in nodes
        ]
        assert recent == sorted(recent, reverse=True)
        rest = [n["last_activity_at"] for n, first in zip(nodes, recent, strict=True) if not first]
        assert rest == sorted(rest, reverse=True)
        assert final["payload"]["analytics"] is not None

        await extension.send(_delta(9_000_001, 700_000, "hello there, I love it 😍"))
        await extension.until("ingest_ack")
        for socket in (dashboard, chatwoot):
            append = await socket.until("append_message")
            payload = append["payload"]
            assert payload["message"]["id"] == "9000001"
            assert payload["message"]["enriched"] is True
            assert payload["message"]["sentiment"] > 0.5
            assert payload["conversation"]["chat_id"] == "700000"
            assert payload["edited"] is False

        # The integration socket is read-only.
        await chatwoot.send({"type": "keepalive", "payload": {}})
        await chatwoot.send({"type": "new_raw_message", "payload": {"message": {"id": 1}}})
        error = await chatwoot.until("system_error")
        assert error["payload"]["code"] == "unhandled_type"

        # online_users_update is relayed.
        await extension.send({"type": "online_users_update", "payload": {"user_ids": [700001]}})
        online = await dashboard.until("online_users_update")
        assert online["payload"]["user_ids"] == [700001]

        # The other account's dashboard saw nothing of this account.
        leaked = await stranger.quiet(1.0)
        assert [f for f in leaked if f["type"] != "system_status"] == []
        assert "700000" not in str(stranger.seen)

    # A reconnecting dashboard gets a fresh full sync with everything stored so far.
    async with open_socket(_url(server, "frontend", account_id, dash_key)) as again:
        sync = await _connected_dashboard(again)
        assert sum(n["message_count"] for n in sync["payload"]["conversations"]) == 401


@pytest.mark.parametrize(
    ("kind", "role"),
    [("frontend", "extension"), ("frontend", "integration"), ("chatwoot", "dashboard")],
)
async def test_outgoing_sockets_refuse_wrong_roles(
    server, make_key, account_id, kind, role
) -> None:
    key = await make_key(account_id, role)
    async with open_socket(_url(server, kind, account_id, key)) as socket:
        assert await socket.closed_with() == 1008


async def test_dashboard_key_of_another_account_is_refused(server, make_key, account_id) -> None:
    key = await make_key(f"{account_id}-x", "dashboard")
    await make_key(account_id, "dashboard")
    async with open_socket(_url(server, "frontend", account_id, key)) as socket:
        assert await socket.closed_with() == 1008


async def test_deltas_sent_during_a_large_snapshot_apply_after_it(
    server, make_key, account_id
) -> None:
    key = await make_key(account_id, "extension")
    account = generate_account(20_000, seed=2, fans=200)
    target = account.messages[123]
    async with open_socket(_url(server, "extension", account_id, key)) as extension:
        await extension.next()
        await extension.send(cache_update_frame(account))
        # Sent right away, without waiting: they must be applied after the snapshot.
        edit = {**target, "text": "edited while the snapshot was in flight"}
        await extension.send(new_raw_message_frame(edit))
        for index in range(30):
            await extension.send(_delta(8_000_000 + index, 700_000, f"delta {index}"))
        acks = [await extension.until("ingest_ack", within=60) for _ in range(32)]
    assert [a["payload"]["frame"] for a in acks] == ["cache_update"] + ["new_raw_message"] * 31
    assert acks[0]["payload"]["accepted"] == 20_000
    assert acks[1]["payload"]["updated"] == 1  # the edit came after the snapshot's version
    assert all(a["payload"]["accepted"] == 1 for a in acks[2:])
    count = await MessageRow.count().where(MessageRow.account_id == account_id)
    assert count == 20_030
    row = (
        await MessageRow.select(MessageRow.text, MessageRow.version)
        .where((MessageRow.account_id == account_id) & (MessageRow.message_id == str(target["id"])))
        .first()
        .run()
    )
    assert row == {"text": "edited while the snapshot was in flight", "version": 2}


async def test_revoking_a_key_closes_its_open_socket_at_once(server, make_key, account_id) -> None:
    owner = await make_key(account_id, "owner")
    dash_key = await make_key(account_id, "dashboard")
    info = await resolve_api_key(dash_key)
    assert info is not None
    async with open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard:
        await _connected_dashboard(dashboard)
        async with httpx.AsyncClient(base_url=server.http_url) as http:
            response = await http.delete(
                f"/api/v1/accounts/{account_id}/keys/{info.id}",
                headers={"Authorization": f"Bearer {owner}"},
            )
        assert response.status_code == 204
        # Well before the periodic re-check (30 s): the revocation event closes it.
        assert await dashboard.closed_with(within=5) == 1008


async def test_rate_limit_per_connection(backend_env, make_key, account_id) -> None:
    key = await make_key(account_id, "extension")
    with live_server({**backend_env, "OFCA_WS_FRAMES_PER_MINUTE": "5"}) as limited:
        async with open_socket(_url(limited, "extension", account_id, key)) as extension:
            await extension.next()
            for _ in range(8):
                await extension.send({"type": "keepalive", "payload": {}})
            errors = [f for f in await extension.quiet(1.0) if f["type"] == "system_error"]
            assert len(errors) == 3
            assert {e["payload"]["code"] for e in errors} == {"rate_limited"}
            assert all(e["payload"]["retryable"] for e in errors)
            await asyncio.sleep(13)  # ~1 token per 12 s at 5/min
            await extension.send(_delta(1, 2, "still here"))
            ack = await extension.until("ingest_ack")
            assert ack["payload"]["accepted"] == 1


async def test_two_processes_share_live_events(backend_env, make_key, account_id) -> None:
    if "OFCA_REDIS_URL" not in backend_env:
        pytest.skip(
            "cross-process delivery needs Redis channels; the sqlite backend uses in-memory "
            "channels (one process). Runs with OFCA_TEST_BACKEND=postgres."
        )
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    other_account = f"{account_id}-o"
    other_key = await make_key(other_account, "dashboard")
    account = generate_account(500, seed=4, fans=5)
    with live_server(backend_env) as first, live_server(backend_env) as second:
        async with (
            open_socket(_url(first, "extension", account_id, ext_key)) as extension,
            open_socket(_url(first, "frontend", account_id, dash_key)) as near,
            open_socket(_url(second, "frontend", account_id, dash_key)) as far,
            open_socket(_url(second, "frontend", other_account, other_key)) as stranger,
        ):
            await extension.next()
            for socket in (near, far, stranger):
                await _connected_dashboard(socket)
            await extension.send(cache_update_frame(account))
            await extension.until("ingest_ack")
            for socket in (near, far):
                sync = await socket.until("full_sync_response", within=30)
                assert len(sync["payload"]["conversations"]) == 5
            for index in range(5):
                await extension.send(_delta(7_000_000 + index, 700_001, f"cross {index}"))
            for socket in (near, far):
                ids = [
                    (await socket.until("append_message", within=20))["payload"]["message"]["id"]
                    for _ in range(5)
                ]
                assert ids == [str(7_000_000 + i) for i in range(5)]
            leaked = await stranger.quiet(1.0)
            assert [f for f in leaked if f["type"] != "system_status"] == []
            assert "7000000" not in str(stranger.seen)


async def test_periodic_recheck_closes_a_socket_whose_key_was_revoked_silently(
    backend_env, make_key, account_id
) -> None:
    """The backstop when no revocation event arrives (e.g. Redis was down): revoked straight
    in the database, the socket still closes with 1008 at the next re-check."""
    dash_key = await make_key(account_id, "dashboard")
    info = await resolve_api_key(dash_key)
    assert info is not None
    env = {**backend_env, "OFCA_WS_CREDENTIAL_RECHECK_SECONDS": "1"}
    with live_server(env) as server:
        async with open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard:
            await _connected_dashboard(dashboard)
            assert await revoke_api_key(info.id, account_id)
            assert await dashboard.closed_with(within=8) == 1008
