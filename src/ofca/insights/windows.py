"""Cutting an insights window into what the read models can serve, and the SQL plumbing
the insights queries share.

A window ``[start, end)`` is read from whole UTC days (daily rollups), whole hours outside
them (hourly rollups) and the partial hours at its ends (session rows or messages, by
index): :func:`levels` and :func:`pieces` cut it, :func:`ranges_sql` turns the pieces into
conditions. Every float an insight returns goes through :func:`round_value`: SQL sums add
in storage order, which differs between engines in the last bits; rounding to
:data:`DIGITS` places makes SQLite and Postgres answer identically.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from ofca.domain.insights import WindowView
from ofca.domain.metrics import Window
from ofca.persistence.sql import database, fetch_rows, numbered

__all__ = [
    "DAY",
    "DIGITS",
    "HOUR",
    "Range",
    "ceil_hour",
    "edge_sql",
    "is_postgres",
    "levels",
    "pieces",
    "query",
    "ranges_sql",
    "round_value",
    "split_hours",
    "together",
    "window_view",
]

DIGITS = 9
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

Range = tuple[datetime, datetime]
"""``[start, end)``."""


def round_value(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


async def query(sql: str, *params: Any) -> Sequence[Any]:
    """Rows of ``sql`` (``{}`` placeholders), read by column name.

    On Postgres outside a transaction they are the driver's records (turning 50k of them
    into dicts took ~1 us each), from a statement prepared for this call: Postgres plans a
    prepared statement for its values only for its first five runs, then may keep a
    generic plan, and for these range and topic queries the generic plans were 2-4x
    slower (a topic-filtered revenue sum at 1M messages: 54 -> 120 ms at the sixth run).
    One more round trip per query buys a plan for the values at hand."""
    engine = database()
    if (
        isinstance(engine, PostgresEngine)
        and engine.pool is not None
        and engine.current_transaction.get() is None
    ):
        async with engine.pool.acquire() as connection:
            statement = await connection.prepare(numbered(sql))
            rows: Sequence[Any] = await statement.fetch(*params)
            return rows
    return await fetch_rows(sql, *params)


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Independent queries at once (each takes its own pool connection); one after the
    other inside a caller's transaction, whose single connection cannot multiplex."""
    if database().current_transaction.get() is not None:
        return [await call for call in calls]
    return list(await asyncio.gather(*calls))


def is_postgres() -> bool:
    return isinstance(database(), PostgresEngine)


def window_view(window: Window) -> WindowView:
    return WindowView(start=window.start, end=window.end)


def ceil_hour(instant: datetime) -> datetime:
    floor = instant.replace(minute=0, second=0, microsecond=0)
    return floor if floor == instant else floor + HOUR


def split_hours(window: Window, use_hours: bool) -> tuple[Range | None, list[Range]]:
    """(whole UTC hours served by activity rows, [edge ranges read from messages])."""
    if use_hours:
        first, last = (
            ceil_hour(window.start),
            window.end.replace(minute=0, second=0, microsecond=0),
        )
        if first < last:
            edges = [(a, b) for a, b in ((window.start, first), (last, window.end)) if a < b]
            return (first, last), edges
    return None, [(window.start, window.end)]


def edge_sql(edges: list[Range]) -> tuple[str, list[Any]]:
    parts = " OR ".join(["(m.created_at >= {} AND m.created_at < {})"] * len(edges))
    return f"({parts})", [value for edge in edges for value in edge]


def ceil_to(instant: datetime, unit: timedelta) -> datetime:
    floor = floor_to(instant, unit)
    return floor if floor == instant else floor + unit


def floor_to(instant: datetime, unit: timedelta) -> datetime:
    if unit == DAY:
        return instant.replace(hour=0, minute=0, second=0, microsecond=0)
    return instant.replace(minute=0, second=0, microsecond=0)


def levels(start: datetime, end: datetime) -> tuple[list[Range], list[Range], list[Range]]:
    """``[start, end)`` as (whole UTC days, whole hours outside them, the rest)."""
    first_hour, last_hour = ceil_to(start, HOUR), floor_to(end, HOUR)
    if first_hour >= last_hour:
        return [], [], [(start, end)]
    edges = [(a, b) for a, b in ((start, first_hour), (last_hour, end)) if a < b]
    first_day, last_day = ceil_to(first_hour, DAY), floor_to(last_hour, DAY)
    if first_day >= last_day:
        return [], [(first_hour, last_hour)], edges
    hours = [(a, b) for a, b in ((first_hour, first_day), (last_day, last_hour)) if a < b]
    return [(first_day, last_day)], hours, edges


def pieces(bounds: Sequence[datetime]) -> tuple[list[Range], list[Range]]:
    """Adjacent windows ``[b0, b1), [b1, b2), ...`` as (whole UTC hours, edge ranges): the
    hours inside each window come from activity rows, the rest from messages."""
    hours: list[tuple[datetime, datetime]] = []
    edges: list[Range] = []
    for start, end in itertools.pairwise(bounds):
        interior, rest = split_hours(Window(start, end), True)
        if interior is not None:
            hours.append(interior)
        edges += rest
    return hours, edges


def ranges_sql(column: str, ranges: list[Range]) -> tuple[str, list[Any]]:
    """``column`` in any of ``ranges`` (never true without one), and its parameters."""
    if not ranges:
        return "1 = 0", []
    parts = " OR ".join([f"({column} >= {{}} AND {column} < {{}})"] * len(ranges))
    return f"({parts})", [value for pair in ranges for value in pair]
