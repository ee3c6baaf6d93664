"""Database outages on a real server: /health says ``database: unavailable`` (503), REST
answers 503 ``{detail, status_code, timestamp}`` instead of 500, and both recover by
themselves when the database is back (no restart)."""

from __future__ import annotations

import asyncio
import secrets
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.security.conftest import ADMIN_KEY
from tests.support.backends import BACKEND, POSTGRES_ADMIN_URL, _with_database
from tests.support.server import LiveServer, live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


def _prepare(server: LiveServer) -> tuple[str, dict[str, str]]:
    """An account and its owner key, made over the admin API."""
    account_id = f"acct-{secrets.token_hex(4)}"
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        assert (
            http.post(
                "/api/v1/accounts", json={"account_id": account_id}, headers=ADMIN
            ).status_code
            == 201
        )
        made = http.post(
            f"/api/v1/accounts/{account_id}/keys", json={"role": "owner"}, headers=ADMIN
        )
        assert made.status_code == 201
    return account_id, {"X-API-Key": made.json()["key"]}


def _assert_down(server: LiveServer, account_id: str, owner: dict[str, str]) -> None:
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        health = http.get("/health")
        assert health.status_code == 503
        assert health.json()["dependencies"]["database"] == "unavailable"
        assert health.json()["status"] == "unhealthy"
        for path, headers in (
            (f"/api/v1/accounts/{account_id}/keys", owner),  # key lookup itself fails
            ("/api/v1/accounts", ADMIN),  # admin key needs no lookup; the listing fails
        ):
            response = http.get(path, headers=headers)
            assert response.status_code == 503, response.text
            body = response.json()
            assert set(body) >= {"detail", "status_code", "timestamp"}
            assert body["status_code"] == 503 and "database" in body["detail"].lower()
            assert "Traceback" not in response.text
        assert server.process.poll() is None  # still serving


def _assert_up(server: LiveServer, account_id: str, owner: dict[str, str]) -> None:
    deadline = time.monotonic() + 20
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        while http.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "did not recover"
            time.sleep(0.2)
        assert http.get(f"/api/v1/accounts/{account_id}/keys", headers=owner).status_code == 200


def test_sqlite_file_gone_then_back(tmp_path: Path, backend_env: dict[str, str]) -> None:
    database = tmp_path / "fault.sqlite"
    env = {**backend_env, "OFCA_DATABASE_URL": f"sqlite:///{database}", "OFCA_ADMIN_KEY": ADMIN_KEY}
    with live_server(env) as server:
        account_id, owner = _prepare(server)
        moved = tmp_path / "moved"
        moved.mkdir()
        files = [p for p in tmp_path.iterdir() if p.name.startswith("fault.sqlite")]
        for path in files:
            path.rename(moved / path.name)
        database.mkdir()  # a directory where the file was: "unable to open database file"
        _assert_down(server, account_id, owner)
        database.rmdir()
        for path in files:
            (moved / path.name).rename(path)
        _assert_up(server, account_id, owner)


async def _rename_database(name: str, new_name: str) -> None:
    """Rename, terminating its connections first (the pool reconnects in between)."""
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        for _ in range(50):
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            try:
                await connection.execute(f'ALTER DATABASE "{name}" RENAME TO "{new_name}"')
                return
            except asyncpg.exceptions.ObjectInUseError:
                await asyncio.sleep(0.05)
        raise AssertionError(f"could not rename {name}")
    finally:
        await connection.close()


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.mark.skipif(BACKEND != "postgres", reason="needs the Postgres backend")
def test_postgres_database_gone_then_back(backend_env: dict[str, str]) -> None:
    # A database of its own: the shared Postgres server is never stopped.
    name = f"ofca_fault_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        env = {
            **backend_env,
            "OFCA_DATABASE_URL": _with_database(POSTGRES_ADMIN_URL, name),
            "OFCA_ADMIN_KEY": ADMIN_KEY,
        }
        with live_server(env) as server:
            account_id, owner = _prepare(server)
            asyncio.run(_rename_database(name, name + "_away"))
            try:
                _assert_down(server, account_id, owner)
            finally:
                asyncio.run(_rename_database(name + "_away", name))
            _assert_up(server, account_id, owner)
    finally:
        for candidate in (name, name + "_away"):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{candidate}" WITH (FORCE)'))
