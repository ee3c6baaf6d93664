"""Faults on the ingest path (issue 5, "nothing accepted is lost"): while the database is
unreachable the extension gets a retryable ``storage_unavailable`` for each frame and no
ack; ingestion resumes by itself when it returns; a process killed in the middle of a
snapshot leaves nothing partial, and the extension's resend completes it."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ofca.persistence.tables import MessageRow
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.security.test_faults import _admin, _rename_database
from tests.support.backends import BACKEND, POSTGRES_ADMIN_URL, _with_database
from tests.support.server import live_server


def _cli_key(env: dict[str, str], account_id: str) -> str:
    """An extension key in the server's own database, made as an operator would."""
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "ofca.cli",
            "keys",
            "create",
            "--account",
            account_id,
            "--role",
            "extension",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return made.stdout.strip()


async def _count(account_id: str) -> int:
    return await MessageRow.count().where(MessageRow.account_id == account_id).run()


def _delta(account: Any, message_id: int) -> bytes:
    template = account.messages[-1]
    return new_raw_message_frame({**template, "id": message_id, "text": "are you there?"})


async def _storage_outage_round_trip(url: str, account: Any, take_down, bring_back) -> None:
    """Snapshot while up; deltas while down get storage_unavailable; resend after is stored."""
    async with open_socket(url) as socket:
        assert (await socket.next())["type"] == "connection_ack"
        await socket.send(cache_update_frame(account))
        ack = await socket.until("ingest_ack", within=60)
        assert ack["payload"]["accepted"] == len(account.messages)

        await take_down()
        for _attempt in range(2):  # every frame sent during the outage gets its own error
            await socket.send(_delta(account, 9_000_000_001))
            error = await socket.until("system_error", within=30)
            assert error["payload"]["code"] == "storage_unavailable", error
            assert error["payload"]["retryable"] is True
        assert not [f for f in socket.seen if f["type"] == "ingest_ack"][1:]  # nothing acked

        await bring_back()
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # the extension retries until storage answers again
            await socket.send(_delta(account, 9_000_000_001))
            frame = await socket.next(within=30)
            while frame["type"] not in ("ingest_ack", "system_error"):
                frame = await socket.next(within=30)
            if frame["type"] == "ingest_ack":
                break
            assert frame["payload"]["code"] == "storage_unavailable"
            assert asyncio.get_running_loop().time() < deadline, "ingestion did not resume"
            await asyncio.sleep(0.5)
        assert frame["payload"]["accepted"] == 1


async def test_sqlite_outage_gives_storage_unavailable_then_resumes(
    tmp_path: Path, backend_env: dict[str, str]
) -> None:
    database = tmp_path / "outage.sqlite"
    env = {**backend_env, "OFCA_DATABASE_URL": f"sqlite:///{database}"}
    account_id = f"acct-{secrets.token_hex(4)}"
    account = generate_account(200, seed=3, fans=5)
    with live_server(env) as server:
        key = _cli_key(env, account_id)
        moved = tmp_path / "moved"
        moved.mkdir()
        files: list[Path] = []

        def move_away() -> None:
            files.extend(p for p in tmp_path.iterdir() if p.name.startswith("outage.sqlite"))
            for path in files:
                path.rename(moved / path.name)
            database.mkdir()  # "unable to open database file"

        def move_back() -> None:
            database.rmdir()
            for path in files:
                (moved / path.name).rename(path)

        async def take_down() -> None:
            await asyncio.to_thread(move_away)

        async def bring_back() -> None:
            await asyncio.to_thread(move_back)

        url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
        await _storage_outage_round_trip(url, account, take_down, bring_back)


@pytest.mark.skipif(BACKEND != "postgres", reason="needs the Postgres backend")
async def test_postgres_outage_gives_storage_unavailable_then_resumes(
    backend_env: dict[str, str],
) -> None:
    name = f"ofca_ingest_fault_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    env = {**backend_env, "OFCA_DATABASE_URL": _with_database(POSTGRES_ADMIN_URL, name)}
    account_id = f"acct-{secrets.token_hex(4)}"
    account = generate_account(200, seed=3, fans=5)
    try:
        with live_server(env) as server:
            key = _cli_key(env, account_id)

            async def take_down() -> None:
                await _rename_database(name, name + "_away")

            async def bring_back() -> None:
                await _rename_database(name + "_away", name)

            url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
            await _storage_outage_round_trip(url, account, take_down, bring_back)
    finally:
        for candidate in (name, name + "_away"):
            await _admin(f'DROP DATABASE IF EXISTS "{candidate}" WITH (FORCE)')


async def test_process_killed_mid_snapshot_leaves_nothing_partial(
    backend_env: dict[str, str], make_key, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    account = generate_account(30_000, seed=11)
    frame = cache_update_frame(account)
    with live_server(backend_env) as server:
        url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
        async with open_socket(url) as socket:
            assert (await socket.next())["type"] == "connection_ack"
            await socket.send(frame)
            status = await socket.until("system_status", within=30)
            assert status["payload"]["status"] == "PROCESSING_SNAPSHOT"
            os.kill(server.process.pid, signal.SIGKILL)  # no shutdown, no cleanup
            server.process.wait(timeout=10)
    stored = await _count(account_id)
    assert stored in (0, len(account.messages)), f"partial snapshot: {stored} rows"

    with live_server(backend_env) as server:  # the extension reconnects and resends
        url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
        async with open_socket(url) as socket:
            assert (await socket.next())["type"] == "connection_ack"
            await socket.send(frame)
            ack = await socket.until("ingest_ack", within=120)
    payload = ack["payload"]
    assert payload["accepted"] + payload["duplicates"] == len(account.messages)
    assert payload["accepted"] == len(account.messages) - stored
    assert await _count(account_id) == len(account.messages)
