"""The database engine, chosen at run time from ``OFCA_DATABASE_URL``.

Piccolo binds tables to an engine through a ``piccolo_conf`` module by default; ofca picks
the engine from its settings instead and binds every ofca table to it, so one process (or
one test run) can choose SQLite or Postgres without a conf module.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from ofca.persistence import tables  # noqa: F401 - importing it registers the tables
from ofca.settings import Settings

__all__ = [
    "bind_tables",
    "close_engine",
    "create_engine",
    "database_state",
    "ofca_tables",
    "open_engine",
]

log = logging.getLogger(__name__)

POOL_MAX_SIZE = 20
PROBE_TIMEOUT_SECONDS = 2.0
"""``/health`` waits at most this long for the database."""


def create_engine(settings: Settings) -> Engine[Any]:
    if settings.is_postgres:
        # No JIT: Postgres compiles a query once its estimated cost passes jit_above_cost,
        # which ofca's insight queries reach on large accounts (a tip-credit query at 1M
        # messages spent 0.8 s of 1.4 s compiling); they run for milliseconds, not minutes.
        return PostgresEngine(
            config={"dsn": settings.database_url, "server_settings": {"jit": "off"}},
            log_queries=False,
        )
    path = Path(settings.sqlite_path)
    if path.parent != Path("."):
        path.parent.mkdir(parents=True, exist_ok=True)
    # A generous busy timeout: writers queue behind each other instead of failing.
    return SQLiteEngine(path=str(path), timeout=30)


def ofca_tables() -> list[type[Table]]:
    """Every Table subclass defined in an ofca module (including migration snapshots)."""
    found: list[type[Table]] = []
    pending: list[type[Table]] = list(Table.__subclasses__())
    while pending:
        table = pending.pop()
        pending.extend(table.__subclasses__())
        if table.__module__.startswith("ofca."):
            found.append(table)
    return found


def bind_tables(engine: Engine[Any]) -> None:
    for table in ofca_tables():
        table._meta.db = engine


async def _keep_session(connection: object) -> None:
    """A pooled connection goes back as it is. asyncpg's default reset costs a round trip
    per release (``RESET ALL``, ``UNLISTEN *``, advisory unlocks, ...): a second round trip
    for every query Piccolo runs on the pool. ofca never changes session state: its locks
    are transaction-scoped, it sets no session variables and listens to nothing (an open
    transaction is still rolled back by asyncpg before this is called)."""


async def open_engine(settings: Settings, *, pool_max_size: int = POOL_MAX_SIZE) -> Engine[Any]:
    """Create the engine, bind the tables and (on Postgres) start a connection pool."""
    engine = create_engine(settings)
    bind_tables(engine)
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=pool_max_size, reset=_keep_session)
    return engine


async def close_engine(engine: Engine[Any]) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


async def database_state(engine: Engine[Any]) -> Literal["connected", "unavailable"]:
    """For ``/health``: whether the database answers a trivial query right now."""
    try:
        await asyncio.wait_for(engine.run_ddl("SELECT 1"), PROBE_TIMEOUT_SECONDS)
    except Exception as exc:  # any failure means "not usable now"
        log.warning("database probe failed: %s", type(exc).__name__)
        return "unavailable"
    return "connected"
