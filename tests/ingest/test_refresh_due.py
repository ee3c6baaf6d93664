"""A chat's insight refresh survives the death of the process that stored its messages:
the delta's transaction marks the chat (``ofca_refresh_due``), and another process's
sweeper re-derives it; a normal refresh removes the mark it handled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from ofca.persistence.sql import raw_sql
from ofca.persistence.tables import SessionRow
from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server


async def _marks(account_id: str) -> list[dict]:
    return await raw_sql(
        "SELECT chat_id, since, whole FROM ofca_refresh_due WHERE account_id = {}", account_id
    ).run()


async def _sessions(account_id: str, chat_id: str) -> int:
    return await SessionRow.count().where(
        (SessionRow.account_id == account_id) & (SessionRow.chat_id == chat_id)
    )


def _delta(message_id: int, chat_id: int) -> bytes:
    return new_raw_message_frame(
        {"id": message_id, "chat_id": chat_id, "text": "hi there", "is_inbound": True,
         "createdAt": "2030-05-01T10:00:00Z"}
    )  # fmt: skip


async def _store_delta(
    server: LiveServer, account_id: str, key: str, message_id: int, chat_id: int
) -> None:
    """Send one delta from an extension socket and wait for its ack (it is committed)."""
    async with open_socket(f"{server.ws_url}/ws/extension/{account_id}?token={key}") as ws:
        await ws.until("connection_ack")
        await ws.send(_delta(message_id, chat_id))
        await ws.until("ingest_ack")


async def _wait_for(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_a_refresh_lost_with_its_process_is_swept_by_another(
    engine: object, backend_env: dict[str, str], make_key, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    # The first process stores a delta and is killed before its refresh (0.5 s later).
    with live_server(backend_env) as server:
        await _store_delta(server, account_id, key, 8_100_001, 41)
        server.process.kill()
    assert await _sessions(account_id, "41") == 0
    (mark,) = await _marks(account_id)
    assert mark["chat_id"] == "41" and not mark["whole"]

    # Another process's sweeper re-derives it.
    with live_server({**backend_env, "OFCA_REFRESH_SWEEP_SECONDS": "0.2"}):

        async def swept() -> bool:
            return await _sessions(account_id, "41") == 1 and not await _marks(account_id)

        await _wait_for(swept)


@pytest.mark.asyncio
async def test_the_normal_refresh_clears_the_mark_it_handled(
    engine: object, backend_env: dict[str, str], make_key, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    with live_server(backend_env) as server:
        await _store_delta(server, account_id, key, 8_200_001, 42)

        async def refreshed() -> bool:
            return await _sessions(account_id, "42") == 1 and not await _marks(account_id)

        await _wait_for(refreshed)
