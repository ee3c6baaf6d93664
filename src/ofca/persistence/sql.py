"""Raw SQL on the ofca engine, written once for both engines.

Queries use Piccolo's ``{}`` placeholders. A served Postgres process (a pool and no open
transaction) runs them on the pool as asyncpg prepared statements and gets the records
themselves: no Piccolo query object and no dict per row, which matters on the live path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from piccolo.engine.postgres import PostgresEngine
from piccolo.query.methods.raw import Raw
from piccolo.querystring import QueryString

from ofca.persistence.tables import Account

__all__ = ["Row", "fetch_rows", "numbered", "raw_sql"]

Row = Mapping[str, Any]
"""A result row: an asyncpg ``Record`` (served Postgres) or a Piccolo dict."""


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
    engine = Account._meta.db
    if (
        isinstance(engine, PostgresEngine)
        and engine.pool is not None
        and engine.current_transaction.get() is None
    ):
        return await engine.pool.fetch(prepared or numbered(sql), *args)
    return await raw_sql(sql, *args).run()
