"""On Postgres a served process recomputes insight rows in a worker process of its own: the
rows appear as before, a worker that dies is replaced by the next refresh, and a worker
never outlives its server, even one killed outright."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from ofca.persistence.tables import SessionRow
from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.support.backends import BACKEND
from tests.support.processes import alive, children
from tests.support.server import LiveServer, live_server

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the worker runs on Postgres")


def _children(server_pid: int, marker: bytes) -> list[int]:
    """Pids of the server's child processes whose command line holds ``marker``."""
    return [pid for pid, (_, cmdline) in children(server_pid).items() if marker in cmdline]


def _workers(server_pid: int) -> list[int]:
    """The insights worker (named by itself; the enrichment worker is another child)."""
    return [pid for pid, (name, _) in children(server_pid).items() if name == "ofca-insights"]


async def _delta_refreshed(
    server: LiveServer, extension: Socket, dashboard: Socket, account_id: str, chat: int
) -> None:
    """Send a delta in ``chat`` and wait until its insight rows exist."""
    await extension.send(
        new_raw_message_frame(
            {"id": 9_500_000 + chat, "chat_id": chat, "text": "hi", "is_inbound": True,
             "createdAt": "2030-05-01T10:00:00Z"}
        )
    )  # fmt: skip
    await extension.until("ingest_ack")
    await dashboard.until("analytics_update", within=30)
    sessions = await SessionRow.count().where(
        (SessionRow.account_id == account_id) & (SessionRow.chat_id == str(chat))
    )
    assert sessions == 1


async def test_refreshes_run_in_a_worker_that_is_replaced_and_never_outlives_its_server(
    backend_env: dict[str, str], make_key, account_id: str
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    with live_server(backend_env) as server:
        base = f"{server.ws_url}/ws"
        async with (
            open_socket(f"{base}/extension/{account_id}?token={ext_key}") as extension,
            open_socket(f"{base}/frontend/{account_id}?token={dash_key}") as dashboard,
        ):
            await extension.until("connection_ack")
            await dashboard.until("full_sync_response")
            await _delta_refreshed(server, extension, dashboard, account_id, 1)
            (first,) = _workers(server.process.pid)

            os.kill(first, signal.SIGKILL)  # a worker that dies ...
            await _delta_refreshed(server, extension, dashboard, account_id, 2)
            (second,) = _workers(server.process.pid)  # ... is replaced
            assert second != first
            helpers = _children(server.process.pid, b"multiprocessing")  # + resource tracker

        server.process.kill()  # the server dies without a chance to stop its worker
        deadline = time.monotonic() + 10
        while any(map(alive, helpers)) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        assert second in helpers
        assert not [pid for pid in helpers if alive(pid)]
