"""A small migration runner over Piccolo.

Migrations are modules ``ofca.persistence.migrations.m<NNNN>_<name>`` with an
``async def forwards(engine)``; they run in name order, each once, inside one transaction
that also holds a lock, so several processes starting together (``--workers N`` or several
instances) migrate exactly once. Postgres DDL is transactional, so a failed migration
leaves nothing behind; on SQLite the write lock serializes starters.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

import ofca.persistence.migrations as migrations_package

__all__ = ["applied_migrations", "available_migrations", "migrate"]

log = logging.getLogger(__name__)

Migration = Callable[[Engine[Any]], Awaitable[None]]

# Any constant works; it only has to be the same in every ofca process.
_ADVISORY_LOCK_ID = 0x0FCA_0001

_CREATE_LEDGER = (
    "CREATE TABLE IF NOT EXISTS ofca_schema_migration "
    "(name VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)"
)


def available_migrations() -> list[tuple[str, Migration]]:
    found: list[tuple[str, Migration]] = []
    for info in pkgutil.iter_modules(migrations_package.__path__):
        if not info.name.startswith("m"):
            continue
        module = importlib.import_module(f"{migrations_package.__name__}.{info.name}")
        found.append((info.name, module.forwards))
    return sorted(found, key=lambda item: item[0])


async def applied_migrations(engine: Engine[Any]) -> list[str]:
    await engine.run_ddl(_CREATE_LEDGER)
    rows = await engine.run_ddl("SELECT name FROM ofca_schema_migration ORDER BY name")
    return [row["name"] for row in rows]


def _transaction(engine: Engine[Any]):  # type: ignore[no-untyped-def]
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def migrate(engine: Engine[Any]) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    if isinstance(engine, SQLiteEngine):
        # WAL lets readers (dashboards, insights) run while ingestion writes.
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    await engine.run_ddl(_CREATE_LEDGER)
    applied_now: list[str] = []
    async with _transaction(engine):
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})")
        rows = await engine.run_ddl("SELECT name FROM ofca_schema_migration")
        done = {row["name"] for row in rows}
        for name, forwards in available_migrations():
            if name in done:
                continue
            log.info("applying migration %s", name)
            await forwards(engine)
            stamp = datetime.now(UTC).isoformat()
            await engine.run_ddl(
                f"INSERT INTO ofca_schema_migration (name, applied_at) VALUES ('{name}', '{stamp}')"
            )
            applied_now.append(name)
    return applied_now
