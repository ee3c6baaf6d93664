"""A Redis outage longer than the ~10 s that kills Litestar's subscriber worker: ingestion
keeps storing, dashboards are told, /health degrades, and live delivery resumes by itself
when Redis returns, without restarting ofca.

Uses its own throwaway redis-server (the shared one serves other engineers' runs), so it
runs on both backends."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.redis import ThrowawayRedis
from tests.support.server import live_server

pytestmark = pytest.mark.slow


def _delta(message_id: int, text: str) -> bytes:
    return new_raw_message_frame(
        {"id": message_id, "chat_id": 42, "text": text, "is_inbound": True,
         "createdAt": "2026-11-01T12:00:00Z"}
    )  # fmt: skip


async def _health(url: str) -> dict:
    async with httpx.AsyncClient(base_url=url) as http:
        return (await http.get("/health")).json()


async def test_live_delivery_recovers_after_a_long_redis_outage(
    backend_env, make_key, account_id, throwaway_redis
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    env = {
        **backend_env,
        "OFCA_REDIS_URL": f"redis://127.0.0.1:{throwaway_redis.port}/0",
        "OFCA_CHANNELS_PROBE_SECONDS": "0.5",
    }
    with live_server(env) as server:
        base = f"{server.ws_url}/ws"
        async with (
            open_socket(f"{base}/extension/{account_id}?token={ext_key}") as extension,
            open_socket(f"{base}/frontend/{account_id}?token={dash_key}") as dashboard,
        ):
            await extension.next()
            await dashboard.until("full_sync_response")
            await extension.send(_delta(1, "before"))
            await extension.until("ingest_ack")
            assert (await dashboard.until("append_message"))["payload"]["message"]["id"] == "1"

            throwaway_redis.kill()
            await extension.send(_delta(2, "during the outage"))
            ack = await extension.until("ingest_ack")
            assert ack["payload"]["accepted"] == 1  # stored and acknowledged regardless
            status = await dashboard.until("system_status", status="ERROR", within=10)
            assert "Redis" in status["payload"]["detail"]
            health = await _health(server.http_url)
            assert health["dependencies"]["channels"] == "unavailable"
            assert health["status"] == "degraded"

            await asyncio.sleep(12)  # longer than redis-py's reconnect attempts
            throwaway_redis.start()

            await dashboard.until("system_status", status="REALTIME", within=20)
            resync = await dashboard.until("full_sync_response", within=10)
            ids = {m["id"] for n in resync["payload"]["conversations"] for m in n["messages"]}
            assert {"1", "2"} <= ids  # what was stored during the outage is shown

            await extension.send(_delta(3, "after"))
            await extension.until("ingest_ack")
            append = await dashboard.until("append_message", within=10)
            assert append["payload"]["message"]["id"] == "3"
            assert (await _health(server.http_url))["dependencies"]["channels"] == "connected"


def _outage_env(backend_env: dict[str, str], redis: ThrowawayRedis) -> dict[str, str]:
    return {
        **backend_env,
        "OFCA_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "OFCA_CHANNELS_PROBE_SECONDS": "0.5",
    }


async def test_an_outage_is_logged_once_not_per_dropped_event(
    backend_env, make_key, account_id, throwaway_redis, tmp_path
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    log_file = tmp_path / "server.log"
    with live_server(_outage_env(backend_env, throwaway_redis), log_file=log_file) as server:
        base = f"{server.ws_url}/ws"
        async with (
            open_socket(f"{base}/extension/{account_id}?token={ext_key}") as extension,
            open_socket(f"{base}/frontend/{account_id}?token={dash_key}") as dashboard,
        ):
            await extension.next()
            await dashboard.until("full_sync_response")
            await extension.send(_delta(1, "before"))
            await extension.until("ingest_ack")
            await dashboard.until("append_message")
            before = log_file.read_text().splitlines()

            throwaway_redis.kill()
            # Every delta is its own run and its own live event, each dropped by the outage.
            for message_id in range(2, 62):
                await extension.send(_delta(message_id, f"during the outage {message_id}"))
                assert (await extension.until("ingest_ack"))["payload"]["accepted"] == 1
            await dashboard.until("system_status", status="ERROR", within=10)
            await asyncio.sleep(1.5)  # a few more probes of the dead Redis
            during = log_file.read_text().splitlines()[len(before) :]

    # One warning for the outage (the monitor's), whatever number of events it dropped.
    warnings = [line for line in during if line.startswith(("WARNING", "ERROR", "CRITICAL"))]
    assert len(warnings) == 1, warnings
    assert "Live updates interrupted" in warnings[0] or "interrupted" in warnings[0], warnings


async def test_a_command_during_an_outage_names_redis_not_the_database(
    backend_env, make_key, account_id, throwaway_redis
) -> None:
    ext_key = await make_key(account_id, "extension")
    owner_key = await make_key(account_id, "owner")
    with live_server(_outage_env(backend_env, throwaway_redis)) as server:
        url = f"{server.ws_url}/ws/extension/{account_id}?token={ext_key}"
        async with (
            open_socket(url) as extension,
            httpx.AsyncClient(base_url=server.http_url) as http,
        ):
            await extension.next()
            await extension.send(_delta(1, "a chat to answer in"))
            await extension.until("ingest_ack")
            throwaway_redis.kill()
            answer = await http.post(
                "/api/v1/conversations/42/messages",
                json={"text": "are you there?"},
                headers={"Authorization": f"Bearer {owner_key}"},
            )
    assert answer.status_code == 503, answer.text
    detail = answer.json()["detail"]
    assert "database" not in detail.lower(), detail
    assert "Redis" in detail and "retry" in detail, detail
    assert answer.headers["Retry-After"]


async def test_presence_is_written_again_when_redis_returns(
    backend_env, make_key, account_id, throwaway_redis
) -> None:
    ext_key = await make_key(account_id, "extension")
    owner_key = await make_key(account_id, "owner")
    with live_server(_outage_env(backend_env, throwaway_redis)) as server:
        url = f"{server.ws_url}/ws/extension/{account_id}?token={ext_key}"
        async with (
            open_socket(url) as extension,
            httpx.AsyncClient(base_url=server.http_url) as http,
        ):
            await extension.next()
            await extension.send(_delta(1, "a chat to answer in"))
            await extension.until("ingest_ack")

            # Redis restarts empty (no persistence): the presence it held is gone.
            throwaway_redis.kill()
            await asyncio.sleep(1.5)
            throwaway_redis.start()
            deadline = time.monotonic() + 20
            while (await _health(server.http_url))["dependencies"]["channels"] != "connected":
                assert time.monotonic() < deadline, "channels did not recover"
                await asyncio.sleep(0.2)

            # No keepalive was sent since the restart, yet the extension counts as present.
            queued = await http.post(
                "/api/v1/conversations/42/messages",
                json={"text": "back again"},
                headers={"Authorization": f"Bearer {owner_key}"},
            )
            assert queued.status_code == 202, queued.text
            command = await extension.until("command_to_execute")
            assert command["payload"]["command_id"] == queued.json()["command_id"]
