"""Insight refreshes after a Postgres outage (issue 16, item 3), on a real ``ofca serve``
whose database connections go through a proxy the test cuts.

A cut while a refresh's transaction is open used to leave the task that ran it holding a
dead transaction (Piccolo skips resetting it when the rollback itself fails): every later
refresh of that worker (or of the sweeper) failed with "connection has been released back
to the pool", the overview stayed behind the stored messages for good, and ``/health``
said healthy throughout. Now every refresh runs in its own task, a lost connection
restarts the worker, a failed refresh is retried, and ``/health`` says ``degraded`` while
refreshes fail.

The database is made read-only for a while after the cut (as a failover to a replica
would): it answers ``/health``'s probe, but no refresh can write, which is the state
``degraded`` describes.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from piccolo.engine.postgres import PostgresEngine

from ofca.persistence.engine import create_engine
from ofca.persistence.faults import is_database_unavailable
from ofca.persistence.sql import write_transaction
from ofca.settings import Settings
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.security.conftest import ADMIN_KEY
from tests.security.test_faults import _admin
from tests.support.backends import BACKEND, POSTGRES_ADMIN_URL, _with_database
from tests.support.server import LiveServer, ofca_serve
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = [
    pytest.mark.skipif(BACKEND != "postgres", reason="a Postgres outage"),
    pytest.mark.slow,
]

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
MESSAGES = 6000
CHATS = 1500
CATCH_UP_SECONDS = 60.0
"""After the database is back, the overview counts every stored message within this."""


def _owner_key(http: httpx.Client, account_id: str) -> str:
    assert http.post("/api/v1/accounts", json={"account_id": account_id}, headers=ADMIN).is_success
    made = http.post(f"/api/v1/accounts/{account_id}/keys", json={"role": "owner"}, headers=ADMIN)
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


async def _read_only(database: str, on: bool) -> None:
    """New sessions of ``database`` may read but not write (existing ones keep their mode:
    the proxy is cut after this, so every connection is new)."""
    if on:
        await _admin(f'ALTER DATABASE "{database}" SET default_transaction_read_only = on')
    else:
        await _admin(f'ALTER DATABASE "{database}" RESET default_transaction_read_only')


async def _counted(http: httpx.AsyncClient) -> int:
    response = await http.get("/api/v1/insights/overview")
    assert response.status_code == 200, response.text
    return int(response.json()["current"]["messages"])


async def _until_partly_counted(http: httpx.AsyncClient, within: float = 60.0) -> None:
    """Wait until the snapshot's refresh is under way: some of its chats counted, not all."""
    deadline = time.monotonic() + within
    while not 0 < (counted := await _counted(http)) < MESSAGES:
        assert counted < MESSAGES, "the refresh ended before the test could cut it"
        assert time.monotonic() < deadline, "the snapshot's refresh never started"
        await asyncio.sleep(0.02)


async def _health(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await http.get("/health")
    return response.status_code, response.json()


async def _until_health(http: httpx.AsyncClient, status: str, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    seen: list[str] = []
    while True:
        code, body = await _health(http)
        seen.append(body["status"])
        if body["status"] == status:
            assert code == (503 if status == "unhealthy" else 200), body
            return body
        assert time.monotonic() < deadline, f"/health never said {status}: {seen[-5:]}"
        await asyncio.sleep(0.2)


async def _store(extension: Socket, frame: bytes, within: float = 30.0) -> None:
    """Send ``frame`` until it is acknowledged (an extension retries ``storage_unavailable``)."""
    deadline = time.monotonic() + within
    while True:
        await extension.send(frame)
        while (answer := await extension.next(within=30))["type"] not in (
            "ingest_ack",
            "system_error",
        ):
            pass
        if answer["type"] == "ingest_ack":
            return
        assert answer["payload"].get("retryable"), answer
        assert time.monotonic() < deadline, f"never stored: {answer}"
        await asyncio.sleep(0.3)


def _cut(proxy: TcpProxy) -> None:
    proxy.cut()
    proxy.restore()


@pytest.mark.parametrize("worker", ["true", "false"], ids=["worker", "in-process"])
async def test_insights_catch_up_after_a_postgres_cut(
    backend_env: dict[str, str], tmp_path: Path, worker: str
) -> None:
    database = f"ofca_refresh_fault_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{database}"')
    account_id = f"acct-{secrets.token_hex(4)}"
    account = generate_account(MESSAGES, seed=5, fans=CHATS, days=7)
    log = tmp_path / "server.log"
    try:
        with tcp_proxy("127.0.0.1", 5432) as proxy:
            env = {
                **backend_env,
                "OFCA_DATABASE_URL": _with_database(
                    POSTGRES_ADMIN_URL.replace(":5432", f":{proxy.port}"), database
                ),
                "OFCA_ADMIN_KEY": ADMIN_KEY,
                "OFCA_INSIGHTS_WORKER": worker,
                "OFCA_LOG_LEVEL": "INFO",
                "OFCA_REFRESH_SWEEP_SECONDS": "1",
            }
            with ofca_serve(env, log) as server:
                await _outage_then_catch_up(server, proxy, database, account_id, account)
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


async def _outage_then_catch_up(
    server: LiveServer, proxy: TcpProxy, database: str, account_id: str, account: Any
) -> None:
    with httpx.Client(base_url=server.http_url, timeout=10) as sync_http:
        key = _owner_key(sync_http, account_id)
    owner = {"Authorization": f"Bearer {key}"}
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
    async with (
        httpx.AsyncClient(base_url=server.http_url, timeout=10, headers=owner) as http,
        open_socket(url) as extension,
    ):
        assert (await extension.next())["type"] == "connection_ack"
        await extension.send(cache_update_frame(account))
        assert (await extension.until("ingest_ack", within=120))["payload"]["accepted"] == MESSAGES

        # The snapshot's chats are refreshed 25 per transaction, back to back: cut the
        # database's connections while those transactions run.
        await _until_partly_counted(http)
        await _read_only(database, True)
        _cut(proxy)

        # The database answers again but refuses every refresh's writes.
        body = await _until_health(http, "degraded", within=30)
        assert body["dependencies"]["database"] == "connected"
        assert body["dependencies"]["insights"] == "failing"

        await _read_only(database, False)
        _cut(proxy)  # every new connection may write again

        # New messages after the outage, in an old chat and a new one.
        template = account.messages[-1]
        for index, chat in enumerate((template["chat_id"], 77_000_001)):
            message = {
                **template,
                "id": 88_000_000 + index,
                "chat_id": chat,
                "createdAt": template["createdAt"],
            }
            await _store(extension, new_raw_message_frame(message))
        stored = MESSAGES + 2

        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            counted = await _counted(http)
            if counted == stored:
                break
            assert time.monotonic() < deadline, (
                f"the overview counts {counted} of {stored} stored messages "
                f"{CATCH_UP_SECONDS:.0f} s after the outage"
            )
            await asyncio.sleep(0.5)
        body = await _until_health(http, "healthy", within=30)
        assert body["dependencies"]["insights"] == "ok"


async def test_a_transaction_whose_connection_is_lost_leaves_nothing_behind(
    settings: Settings,
) -> None:
    """The unit under the fix: a statement of a ``write_transaction`` loses its connection,
    so the rollback fails too. The task must not keep the dead transaction, and the pool
    must serve the next statement once the database is back."""
    with tcp_proxy("127.0.0.1", 5432) as proxy:
        url = settings.database_url.replace(":5432", f":{proxy.port}")
        engine = create_engine(msgspec.structs.replace(settings, database_url=url))
        assert isinstance(engine, PostgresEngine)
        await engine.start_connection_pool(min_size=1, max_size=2)
        try:
            with pytest.raises(Exception) as lost:
                async with write_transaction(engine) as transaction:
                    statement = asyncio.create_task(
                        transaction.connection.fetch("SELECT pg_sleep(10)")
                    )
                    await asyncio.sleep(0.3)
                    await asyncio.to_thread(proxy.cut)
                    await statement
            assert is_database_unavailable(lost.value)
            assert engine.current_transaction.get() is None
            proxy.restore()
            for _ in range(3):  # more than the pool holds: no connection was leaked
                async with write_transaction(engine) as transaction:
                    assert await transaction.connection.fetchval("SELECT 1") == 1
            assert engine.current_transaction.get() is None
        finally:
            await engine.close_connection_pool()
