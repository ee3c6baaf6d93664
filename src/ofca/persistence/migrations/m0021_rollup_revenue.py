"""Revenue in the session rollups (docs/metrics.md "Topics": ``revenue`` and
``revenue_per_session`` of each topic row).

Each topic row's revenue is the revenue of its sessions in the window; it was summed from
session-topic rows on every request (25 ms at 90 days on a 1M-message account, 50 ms with
a topic filter, half of the topics insight). The hourly and daily session rollups carry
it now, kept by delta like the other sums; this fills it for the rows that exist.
"""

from __future__ import annotations

from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class _Statements(Table, tablename="ofca_session_hour"):
    """Only runs this migration's raw statements."""


_TABLES = (("ofca_session_hour", "hour_start", "hour"), ("ofca_session_day", "day_start", "day"))


def _floor(engine: Engine[Any], unit: str) -> str:
    if isinstance(engine, PostgresEngine):
        return f"date_trunc('{unit}', start_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    # Piccolo stores UTC timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'.
    if unit == "hour":
        return "substr(start_at, 1, 13) || ':00:00+00:00'"
    return "substr(start_at, 1, 10) || ' 00:00:00+00:00'"


async def fill(engine: Engine[Any], account_id: str | None = None) -> None:
    """Set the rollups' revenue from the stored sessions (every account, or one)."""
    only = "" if account_id is None else " AND account_id = {}"
    params = [] if account_id is None else [account_id, account_id]
    _Statements._meta.db = engine
    for table, column, unit in _TABLES:
        floor = _floor(engine, unit)
        earned = (
            f"SELECT account_id, '' AS topic, {floor} AS t, sum(revenue) AS revenue "
            f"FROM ofca_session WHERE revenue <> 0{only} GROUP BY account_id, {floor} UNION ALL "
            f"SELECT account_id, topic, {floor}, sum(revenue) FROM ofca_session_topic "
            f"WHERE revenue <> 0{only} GROUP BY account_id, topic, {floor}"
        )
        await _Statements.raw(
            f"UPDATE {table} SET revenue = e.revenue FROM ({earned}) AS e "
            f"WHERE {table}.account_id = e.account_id AND {table}.topic = e.topic "
            f"AND {table}.{column} = e.t",
            *params,
        ).run()


async def forwards(engine: Engine[Any]) -> None:
    for table, _column, _unit in _TABLES:
        await engine.run_ddl(
            f"ALTER TABLE {table} ADD COLUMN revenue DOUBLE PRECISION NOT NULL DEFAULT 0"
        )
    await fill(engine)
