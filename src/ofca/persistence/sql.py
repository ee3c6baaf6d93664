"""Raw SQL on the ofca engine, written once for both engines.

Queries use Piccolo's ``{}`` placeholders. A served Postgres process (a pool and no open
transaction) runs them on the pool as asyncpg prepared statements and gets the records
themselves: no Piccolo query object and no dict per row, which matters on the live path.
Inside a transaction, statements go straight to the transaction's own connection (Piccolo
compiled a statement of thousands of ``{}`` parameters for 100+ ms, and made a dict of
every row), with one array parameter per column on Postgres.

The tables are bound to one engine (``persistence.engine.bind_tables``); :func:`database`
is the one way to reach it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query.methods.raw import Raw
from piccolo.querystring import QueryString

from ofca.persistence.tables import Account

__all__ = [
    "Row",
    "chunks",
    "database",
    "fetch_bounded",
    "fetch_for_chats",
    "fetch_rows",
    "insert_rows",
    "lock_derived_rows",
    "numbered",
    "own_connection",
    "raw_sql",
    "to_utc",
    "write_transaction",
]

Row = Mapping[str, Any]
"""A result row: an asyncpg ``Record`` (served Postgres) or a Piccolo dict."""

_ENCODE = msgspec.json.encode

__all__ = ["Row", "fetch_rows", "numbered", "raw_sql"]


def raw_sql(sql: str, *args: Any) -> Raw:
    """A raw query on the ofca engine. (``MessageRow.raw``/``ChatRow.raw`` are shadowed by
    their ``raw`` column, so the query is bound to a table without one.)"""
    return Raw(table=Account, querystring=QueryString(sql, *args))


def numbered(sql: str) -> str:
    """``{}`` placeholders as Postgres' ``$1, $2, ...``."""
    parts = sql.split("{}")
    return "".join(f"{part}${index}" for index, part in enumerate(parts[:-1], 1)) + parts[-1]


async def fetch_rows(sql: str, *args: Any, prepared: str | None = None) -> Sequence[Row]:
    """Rows of ``sql``. ``prepared`` is ``numbered(sql)`` when the caller keeps it (a
    constant query), so it is not rebuilt on every call."""
    engine = database()
    if (
        isinstance(engine, PostgresEngine)
        and engine.pool is not None
        and engine.current_transaction.get() is None
    ):
        records: Sequence[Row] = await engine.pool.fetch(prepared or numbered(sql), *args)
        return records
    rows: Sequence[Row] = await raw_sql(sql, *args).run()
    return rows


# asyncpg allows 32767 bind parameters per statement; stay well below on both engines.
MAX_PARAMS = 16000


COPY_ROWS = 5_000
"""Rows per COPY call: asyncpg encodes a call's rows without yielding to the loop (~10 ms
for 5000; smaller calls cost a round trip each, which slowed large refreshes down)."""


_LOCK_NAMESPACE = 0x0FCA


def database() -> Engine[Any]:
    """The engine the ofca tables are bound to."""
    return Account._meta.db


def write_transaction(engine: Engine[Any]) -> AbstractAsyncContextManager[Any]:
    """A transaction that takes SQLite's write lock up front (no upgrade deadlocks), and on
    Postgres leaves nothing behind when its connection is lost (:func:`_postgres_transaction`)."""
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    if isinstance(engine, PostgresEngine):
        return _postgres_transaction(engine)
    transaction: AbstractAsyncContextManager[Any] = engine.transaction()
    return transaction


@asynccontextmanager
async def _postgres_transaction(engine: PostgresEngine) -> AsyncIterator[Any]:
    """Piccolo's Postgres transaction, cleaned up even when its connection was lost.

    When the rollback (or commit) itself fails, Piccolo's ``__aexit__`` neither releases
    the connection nor resets its ``current_transaction`` context variable: every later
    query of that task would run on the dead transaction ("connection has been released
    back to the pool"). When ``BEGIN`` fails it leaks the connection. Both are undone here.
    """
    transaction: Any = engine.transaction()
    if engine.current_transaction.get() is not None:
        async with transaction as joined:  # nested: Piccolo joins the outer transaction
            yield joined
        return
    try:
        await transaction.__aenter__()
    except BaseException:
        await _discard(engine, getattr(transaction, "connection", None))
        raise
    try:
        yield transaction
    except BaseException as error:
        await _end(engine, transaction, error)
        raise
    await _end(engine, transaction, None)


async def _end(engine: PostgresEngine, transaction: Any, error: BaseException | None) -> None:
    """Commit (no ``error``) or roll back; when that fails, forget the transaction and drop
    its connection. A failed commit raises; after a failed rollback the body's ``error``
    is the one the caller sees."""
    try:
        await transaction.__aexit__(
            None if error is None else type(error),
            error,
            None if error is None else error.__traceback__,
        )
    except BaseException:
        current = engine.current_transaction.get()
        if current is not None and current is transaction:
            engine.current_transaction.reset(current.context)
        await _discard(engine, transaction.connection)
        if error is None:
            raise


async def _discard(engine: PostgresEngine, connection: Any) -> None:
    """Close a connection whose state is unknown and give its pool slot back."""
    if connection is None:
        return
    connection.terminate()
    if engine.pool is not None:
        with contextlib.suppress(Exception):  # already released, or the pool is closing
            await engine.pool.release(connection)


async def lock_derived_rows(engine: Engine[Any], account_id: str) -> None:
    """Serialize derived-row writers of one account until the transaction ends."""
    if isinstance(engine, PostgresEngine):
        await raw_sql("SELECT pg_advisory_xact_lock({}, hashtext({}))", _LOCK_NAMESPACE, account_id)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def to_utc(value: datetime | str) -> datetime:
    """A UTC datetime from a DB value (SQLite returns text for computed columns)."""
    if isinstance(value, datetime) and value.tzinfo is UTC:
        return value  # asyncpg's timestamptz values
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def own_connection(engine: Engine[Any]) -> Any:
    """The current transaction's connection (asyncpg or aiosqlite), or None."""
    transaction = engine.current_transaction.get()
    return None if transaction is None else transaction.connection


async def fetch_for_chats(sql: str, account_id: str, chat_ids: Sequence[str]) -> list[Any]:
    """Rows of ``sql``, whose ``{}`` are the account and ``CHATS`` the chat ids, as tuples of
    the selected columns. Postgres: asyncpg records (one array parameter, no dict per row).
    """
    engine = database()
    if isinstance(engine, PostgresEngine):
        query = numbered(sql.replace("CHATS", "= ANY({}::varchar[])"))
        connection = own_connection(engine)
        if connection is not None:
            return list(await connection.fetch(query, account_id, list(chat_ids)))
        sql = sql.replace("CHATS", "= ANY({}::varchar[])")
        rows = await raw_sql(sql, account_id, list(chat_ids))
    else:
        sql = sql.replace("CHATS", "IN (SELECT value FROM json_each({}))")
        rows = await raw_sql(sql, account_id, _ENCODE(list(chat_ids)).decode())
    return [tuple(row.values()) for row in rows]


async def fetch_bounded(
    sql: str,
    account_id: str,
    bounds: Mapping[str, tuple[datetime, ...]],
    names: Sequence[str],
    *,
    per_chat: str | None = None,
) -> list[Any]:
    """Rows of ``sql`` for chats that each have their own instants: ``BOUNDS`` in it is a
    table ``b(chat_id, *names)`` of one row per chat, and its one ``{}`` (after ``BOUNDS``)
    is the account. Postgres: one statement over arrays; SQLite: one per chat, of
    ``per_chat`` when given (its ``{}`` are the chat, its instants, the account)."""
    if not bounds:
        return []
    engine = database()
    if isinstance(engine, PostgresEngine):
        arrays = ", ".join(["{}::varchar[]"] + ["{}::timestamptz[]"] * len(names))
        source = f"unnest({arrays}) AS b(chat_id, {', '.join(names)})"
        args = [list(bounds), *map(list, zip(*bounds.values(), strict=True)), account_id]
        connection = own_connection(engine)
        if connection is not None:
            return list(await connection.fetch(numbered(sql.replace("BOUNDS", source)), *args))
        rows = await raw_sql(sql.replace("BOUNDS", source), *args)
        return [tuple(row.values()) for row in rows]
    columns = ", ".join(["{} AS chat_id"] + [f"{{}} AS {name}" for name in names])
    query = per_chat or sql.replace("BOUNDS", f"(SELECT {columns}) AS b")
    found: list[Any] = []
    for chat_id, instants in bounds.items():
        rows = await raw_sql(query, chat_id, *instants, account_id)
        found.extend(tuple(row.values()) for row in rows)
    return found


async def insert_rows(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], json_columns: set[str]
) -> None:
    """Bulk insert: COPY inside a Postgres transaction, ``executemany`` inside a SQLite one
    (in its worker thread), else multi-row INSERTs chunked under the bind-parameter limit."""
    if not rows:
        return
    engine = database()
    is_postgres = isinstance(engine, PostgresEngine)
    connection = own_connection(engine)
    if connection is not None and is_postgres:
        # COPY on the transaction's connection: ~10x a multi-row INSERT
        # (docs/architecture.md, "Measured behaviour").
        for chunk in chunks(rows, COPY_ROWS):
            await connection.copy_records_to_table(table, records=chunk, columns=list(columns))
        return
    if connection is not None:
        await connection.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)})",
            rows,
        )
        return
    cell = ["{}::json" if is_postgres and c in json_columns else "{}" for c in columns]
    row_template = "(" + ", ".join(cell) + ")"
    per_statement = max(1, MAX_PARAMS // len(columns))
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    for chunk in chunks(rows, per_statement):
        sql = head + ", ".join([row_template] * len(chunk))
        await raw_sql(sql, *[value for row in chunk for value in row])
