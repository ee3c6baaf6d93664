"""Shared plumbing of the ingestion benches: a throwaway Postgres database, an ofca server
(uvicorn subprocess) on it, accounts and keys, peak RSS."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

POSTGRES_ADMIN_URL = os.environ.get(
    "OFCA_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("OFCA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    http_url: str
    ws_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process has used so far."""
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float | None:
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


@contextmanager
def throwaway_database() -> Iterator[str]:
    name = f"ofca_bench_{secrets.token_hex(4)}"

    async def run(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(POSTGRES_ADMIN_URL)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def ofca_server(env: Mapping[str, str], *, quiet: bool = True) -> Iterator[Server]:
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "ofca.app:create_app_from_env",
        "--host", "127.0.0.1", "--port", str(port),
        "--ws-max-size", str(64 * 1024 * 1024), "--log-level", "warning",
    ]  # fmt: skip
    with served_process(command, port, env, quiet=quiet) as server:
        yield server


@contextmanager
def served_process(
    command: list[str], port: int, env: Mapping[str, str], *, quiet: bool = True
) -> Iterator[Server]:
    """Run ``command`` (an ofca server on ``port``) until ``/health`` answers; stop it after."""
    full_env = {**os.environ, "OFCA_LOG_LEVEL": "WARNING", **env}
    root = str(Path(__file__).resolve().parent.parent)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (full_env.get("PYTHONPATH"), root) if p)
    process = subprocess.Popen(command, env=full_env, stderr=subprocess.DEVNULL if quiet else None)
    server = Server(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", dict(env), process)
    deadline = time.monotonic() + 60
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError("ofca exited during start-up")
            try:
                if httpx.get(f"{server.http_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("ofca did not start")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


async def make_account_keys(database_url: str, account_id: str, roles: list[str]) -> list[str]:
    """Create ``account_id`` and one key per role directly in the database."""
    from ofca.persistence.accounts import ensure_account
    from ofca.persistence.engine import close_engine, open_engine
    from ofca.persistence.keys import create_api_key
    from ofca.settings import load_settings

    settings = load_settings({"OFCA_DATABASE_URL": database_url}, dotenv=None)
    engine = await open_engine(settings)
    try:
        await ensure_account(account_id)
        keys = []
        for role in roles:
            _, key = await create_api_key(account_id=account_id, role=role, name="bench")
            keys.append(key)
        return keys
    finally:
        await close_engine(engine)
