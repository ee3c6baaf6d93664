"""Sources on real sockets: dashboards see webhook/Chatwoot lines live, and commands reach
the connected extension (across processes when Redis is configured)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import KeyMaker
from tests.ingest.wsclient import Socket, open_socket
from tests.sources.helpers import auth, sign
from tests.sources.payloads import chatwoot_message_created, webhook_body
from tests.support.backends import BACKEND
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


async def _appended(socket: Socket, count: int) -> list[dict[str, Any]]:
    frames = []
    for _ in range(count):
        frames.append((await socket.until("append_message"))["payload"])
    return frames


async def test_dashboard_receives_webhook_and_chatwoot_lines(
    server: LiveServer, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    dashboard = await make_key(account_id, "dashboard")
    other_dashboard = await make_key(f"{account_id}-b", "dashboard")
    url = f"{server.ws_url}/ws/frontend/{account_id}?token={dashboard}"
    other_url = f"{server.ws_url}/ws/frontend/{account_id}-b?token={other_dashboard}"
    async with (
        open_socket(url) as socket,
        open_socket(other_url) as other,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        await socket.until("connection_ack")
        await other.until("connection_ack")
        secret = (
            await http.put(f"/api/v1/accounts/{account_id}/webhook-secret", headers=auth(owner))
        ).json()["secret"]
        raw = httpx.Request("POST", "/", json=webhook_body()).read()
        response = await http.post(
            "/api/v1/webhook/conversation",
            content=raw,
            headers={
                **auth(owner),
                "Content-Type": "application/json",
                "X-Webhook-Signature": sign(secret, raw),
            },
        )
        assert response.status_code == 200, response.text
        appended = await _appended(socket, 3)
        assert [frame["message"]["id"] for frame in appended] == [
            "webhook:conv_abc123:msg_123",
            "webhook:conv_abc123:msg_124",
            "webhook:conv_abc123:msg_125",
        ]
        last = appended[-1]
        assert last["conversation"]["chat_id"] == "webhook:conv_abc123"
        assert last["conversation"]["message_count"] == 3
        assert last["message"]["enriched"] is True and last["edited"] is False

        token = (
            await http.post(f"/api/v1/accounts/{account_id}/chatwoot-token", headers=auth(owner))
        ).json()["token"]
        chatwoot_url = f"/api/v1/integrations/chatwoot/{account_id}?token={token}"
        assert (await http.post(chatwoot_url, json=chatwoot_message_created())).status_code == 200
        [frame] = await _appended(socket, 1)
        assert frame["message"]["id"] == "chatwoot:654"
        assert frame["message"]["direction"] == "inbound"
        assert frame["conversation"]["fan"]["name"] == "Jamie Fan"
        edit = chatwoot_message_created(content="changed my mind", event="message_updated")
        await http.post(chatwoot_url, json=edit)
        [edited] = await _appended(socket, 1)
        assert edited["edited"] is True and edited["message"]["text"] == "changed my mind"
        # A duplicate delivery publishes nothing; the other account saw nothing at all.
        await http.post(chatwoot_url, json=edit)
        later = await socket.quiet(1.0)
        assert not [f for f in later if f["type"] == "append_message"]
        assert not [f for f in await other.quiet(0.5) if f["type"] == "append_message"]


async def _seed_chat(socket: Socket, chat_id: int) -> None:
    await socket.send(
        {
            "type": "cache_update",
            "payload": {
                "chats": [{"id": chat_id, "withUser": {"id": chat_id, "name": "Fan"}}],
                "messages": [
                    {
                        "id": 1,
                        "chat_id": chat_id,
                        "text": "hey",
                        "createdAt": "2024-01-15T10:00:00Z",
                        "fromUser": {"id": chat_id},
                    }
                ],
            },
        }
    )
    await socket.until("ingest_ack")


async def test_command_reaches_extension_and_links_its_message(
    server: LiveServer, account_id: str, make_key: KeyMaker
) -> None:
    extension = await make_key(account_id, "extension")
    dashboard = await make_key(account_id, "dashboard")
    integration = await make_key(account_id, "integration")
    owner_b = await make_key(f"{account_id}-b", "owner")
    chat = 4242
    command_url = f"/api/v1/conversations/{chat}/messages"
    async with httpx.AsyncClient(base_url=server.http_url) as http:
        ext_url = f"{server.ws_url}/ws/extension/{account_id}?token={extension}"
        async with open_socket(ext_url) as ext:
            await ext.until("connection_ack")
            await _seed_chat(ext, chat)
            body = {"text": "Hi babe, new set is up"}
            assert (
                await http.post(command_url, json=body, headers=auth(integration))
            ).status_code == 403
            assert (
                await http.post(command_url, json=body, headers=auth(owner_b))
            ).status_code == 404
            for bad in ({"text": ""}, {"text": "x" * 1001}, {}):
                rejected = await http.post(command_url, json=bad, headers=auth(dashboard))
                assert rejected.status_code in (400, 422), bad
            queued = await http.post(command_url, json=body, headers=auth(dashboard))
            assert queued.status_code == 202, queued.text
            command = queued.json()
            assert command["status"] == "queued" and command["command_id"].startswith("cmd_")
            frame = await ext.until("command_to_execute")
            assert frame["payload"]["command_id"] == command["command_id"]
            assert frame["payload"]["chat_id"] == str(chat)
            assert frame["payload"]["text"] == "Hi babe, new set is up"
            assert frame["payload"]["action"] == "send_message"
            # The extension sends it; OnlyFans echoes it back as a new message.
            await ext.send(
                {
                    "type": "new_raw_message",
                    "payload": {
                        "message": {
                            "id": 2,
                            "chat_id": chat,
                            "text": "<p>Hi babe, new set is up</p>",
                            "createdAt": "2024-01-15T10:01:00Z",
                            "fromUser": {"id": 1},
                        }
                    },
                }
            )
            await ext.until("ingest_ack")
            page = (await http.get(f"{command_url}?limit=10", headers=auth(dashboard))).json()
            by_id = {item["id"]: item for item in page["items"]}
            assert by_id["2"]["command_id"] == command["command_id"]
            assert by_id["2"]["direction"] == "outbound"
            assert by_id["1"]["command_id"] is None
        # The extension left: no one to run a command (the server notices the close
        # asynchronously, so allow it a moment).
        for _ in range(50):
            gone = await http.post(
                command_url, json={"text": "still there?"}, headers=auth(dashboard)
            )
            if gone.status_code != 202:
                break
            await asyncio.sleep(0.1)
        assert gone.status_code == 409
        assert "No extension is connected" in gone.json()["detail"]


@pytest.mark.skipif(BACKEND != "postgres", reason="cross-process presence needs Redis")
async def test_presence_and_commands_cross_processes(
    server: LiveServer, backend_env: dict[str, str], account_id: str, make_key: KeyMaker
) -> None:
    extension = await make_key(account_id, "extension")
    owner = await make_key(account_id, "owner")
    chat = 77
    with live_server(backend_env) as second:
        async with (
            open_socket(f"{server.ws_url}/ws/extension/{account_id}?token={extension}") as ext,
            httpx.AsyncClient(base_url=second.http_url) as http,
        ):
            await ext.until("connection_ack")
            await _seed_chat(ext, chat)
            queued = await http.post(
                f"/api/v1/conversations/{chat}/messages",
                json={"text": "from the other process"},
                headers=auth(owner),
            )
            assert queued.status_code == 202, queued.text
            frame = await ext.until("command_to_execute")
            assert frame["payload"]["command_id"] == queued.json()["command_id"]


async def test_deleting_a_conversation_updates_dashboards(
    server: LiveServer, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    dashboard = await make_key(account_id, "dashboard")
    recent = datetime.now(UTC) - timedelta(hours=1)
    transcript = [
        {
            "timestamp": (recent + timedelta(minutes=index)).isoformat(),
            "speaker": "user" if index % 2 == 0 else "agent",
            "content": f"line {index}",
            "messageId": str(index),
        }
        for index in range(3)
    ]
    async with (
        open_socket(f"{server.ws_url}/ws/frontend/{account_id}?token={dashboard}") as socket,
        httpx.AsyncClient(base_url=server.http_url) as http,
    ):
        await socket.until("connection_ack")
        await http.post(
            "/api/v1/webhook/conversation",
            json=webhook_body("bye", transcript),
            headers=auth(owner),
        )
        await _appended(socket, 3)
        before = await socket.until("analytics_update")  # debounced after the batch
        assert before["payload"]["overview"]["current"]["messages"] == 3
        deleted = await http.delete("/api/v1/conversations/webhook:bye", headers=auth(owner))
        assert deleted.json() == {"status": "success", "deleted_messages": 3}
        after = await socket.until("analytics_update")
        assert after["payload"]["overview"]["current"]["messages"] == 0
        sync = await socket.until("full_sync_response")
        assert "webhook:bye" not in [n["chat_id"] for n in sync["payload"]["conversations"]]
