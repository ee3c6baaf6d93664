"""Which storage/channels backend a test run uses, and throwaway databases for it.

``OFCA_TEST_BACKEND=sqlite`` (default): a SQLite file and in-memory channels.
``OFCA_TEST_BACKEND=postgres``: a fresh Postgres database per run plus Redis, with a
unique channel prefix, so concurrent runs never see each other. When that backend is
asked for and a service is missing the run fails: it never silently skips.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

__all__ = ["BACKEND", "backend_environment", "redis_url"]

BACKEND = os.environ.get("OFCA_TEST_BACKEND", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "OFCA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("OFCA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_url() -> str:
    return REDIS_URL


def _answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


async def _create_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@contextmanager
def backend_environment(tmp_dir: Path) -> Iterator[dict[str, str]]:
    """The ``OFCA_*`` variables of a fresh, isolated backend for one test run."""
    run_id = secrets.token_hex(4)
    env = {"OFCA_CHANNEL_PREFIX": f"ofcatest{run_id}", "OFCA_LOG_LEVEL": "WARNING"}
    if BACKEND == "sqlite":
        env["OFCA_DATABASE_URL"] = f"sqlite:///{tmp_dir / 'ofca-test.sqlite'}"
        yield env
        return
    if BACKEND != "postgres":
        raise RuntimeError(f"OFCA_TEST_BACKEND must be sqlite or postgres, not {BACKEND!r}")
    missing = [
        name
        for name, url, port in (("Postgres", POSTGRES_ADMIN_URL, 5432), ("Redis", REDIS_URL, 6379))
        if not _answers(url, port)
    ]
    if missing:
        raise RuntimeError(
            f"OFCA_TEST_BACKEND=postgres but {' and '.join(missing)} not answering; "
            "start them (see README) - these tests must not be skipped"
        )
    database = f"ofca_test_{run_id}"
    asyncio.run(_create_database(database))
    env["OFCA_DATABASE_URL"] = _with_database(POSTGRES_ADMIN_URL, database)
    env["OFCA_REDIS_URL"] = REDIS_URL
    try:
        yield env
    finally:
        asyncio.run(_drop_database(database))
