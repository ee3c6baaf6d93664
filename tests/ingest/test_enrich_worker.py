"""A served process scores large snapshots' texts in a worker process of its own
(``OFCA_ENRICH_WORKER``), off the event loop that carries live deltas; the worker never
outlives its server, whether the server stops or is killed outright."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from ofca.persistence.tables import MessageRow
from tests.ingest.wsclient import open_socket
from tests.support.processes import alive, children
from tests.support.server import live_server

TEXTS = 3000
"""Distinct texts: above the size a snapshot hands to the worker (500)."""


WORDS = [
    "love",
    "amazing",
    "terrible",
    "happy",
    "sad",
    "great",
    "awful",
    "sweet",
    "angry",
    "beautiful",
    "boring",
    "lovely",
    "hate",
    "wonderful",
    "horrible",
    "fun",
    "cute",
    "gross",
    "nice",
    "bad",
    "good",
    "best",
    "worst",
    "kind",
    "rude",
]


def _children(server_pid: int) -> dict[int, str]:
    """The server's child processes: pid -> name."""
    return {pid: name for pid, (name, _) in children(server_pid).items()}


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _snapshot() -> dict[str, Any]:
    messages = [
        {
            "id": 1000 + n,
            "chat_id": 1 + n % 20,
            "text": " ".join(WORDS[(n * k) % len(WORDS)] for k in range(1, 40)) + f" {n}",
            "createdAt": "2026-01-02T10:00:00Z",
            "is_inbound": True,
        }
        for n in range(TEXTS)
    ]
    chats = [{"withUser": {"id": 1 + n, "name": f"Fan {n}"}} for n in range(20)]
    return {"type": "cache_update", "payload": {"chats": chats, "messages": messages}}


async def _enrich_workers(server_pid: int) -> list[int]:
    """The server's enrichment workers, once one has named itself (its first act)."""
    deadline = time.monotonic() + 15
    while True:
        found = [p for p, name in _children(server_pid).items() if name == "ofca-enrich"]
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def _wait_gone(pids: list[int]) -> list[int]:
    deadline = time.monotonic() + 10
    while any(map(alive, pids)) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


async def test_snapshots_are_enriched_in_a_worker_that_dies_with_a_killed_server(
    backend_env: dict[str, str], make_key, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    with live_server(backend_env) as server:
        (worker,) = await _enrich_workers(server.process.pid)  # started with the server
        idle = _cpu_ticks(worker)
        url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
        async with open_socket(url) as socket:
            await socket.until("connection_ack")
            await socket.send(_snapshot())
            assert (await socket.until("ingest_ack", within=60))["payload"]["accepted"] == TEXTS
            deadline = time.monotonic() + 60
            while (
                await MessageRow.count().where(
                    (MessageRow.account_id == account_id) & (MessageRow.enriched == True)  # noqa: E712
                )
                < TEXTS
            ):
                assert time.monotonic() < deadline, "not enriched"
                await asyncio.sleep(0.2)
        # The worker scored them: an idle worker waits on its pipe and uses no CPU, while
        # VADER on 3000 long texts took 10-20 ticks (100-200 ms) here; a fast machine may
        # need fewer, so the bound only says the worker did the work.
        assert _cpu_ticks(worker) - idle > 3
        scored = await MessageRow.count().where(
            (MessageRow.account_id == account_id) & MessageRow.sentiment.is_not_null()
        )
        assert scored == TEXTS
        helpers = list(_children(server.process.pid))  # the worker and the resource tracker
        assert worker in helpers

        server.process.kill()  # no shutdown: the worker must notice on its own
        assert await _wait_gone(helpers) == []


async def test_the_worker_stops_with_its_server(backend_env: dict[str, str]) -> None:
    with live_server(backend_env) as server:
        assert len(await _enrich_workers(server.process.pid)) == 1
        helpers = list(_children(server.process.pid))
    assert await _wait_gone(helpers) == []


async def test_the_worker_can_be_switched_off(backend_env: dict[str, str]) -> None:
    with live_server({**backend_env, "OFCA_ENRICH_WORKER": "false"}) as server:
        await asyncio.sleep(2)  # a worker would have named itself by now
        assert "ofca-enrich" not in _children(server.process.pid).values()
