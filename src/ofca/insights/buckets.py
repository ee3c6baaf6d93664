"""Where each part of a bucketed window is read from: hourly rollups or base rows.

A chart splits its window into local buckets (``bucket_starts``). The hourly read models
(``ofca_activity_hour``, ``ofca_session_hour``, ...) hold whole UTC hours, so a
:class:`BucketPlan` serves every whole UTC hour that lies inside one bucket from them and
reads base rows (messages, sessions) only for *pieces*: the partial hours at the window's
ends and, in zones whose offset is not a whole number of hours (Asia/Kolkata), the UTC
hours a bucket boundary cuts in two, split at that boundary. In whole-hour zones a window
has at most two pieces whatever its length and granularity.

Pieces are read in one statement (:func:`fetch_pieces`): the ``(bucket, from, to)`` list
joined to the base table by range, so each piece is an index range scan.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from piccolo.engine.postgres import PostgresEngine

from ofca.domain.metrics import Granularity, Window, bucket_starts
from ofca.persistence.sql import MAX_PARAMS, database, fetch_rows

__all__ = [
    "BucketPlan",
    "fetch_pieces",
    "is_postgres",
    "local_bucket_starts",
    "round_float",
]

HOUR = timedelta(hours=1)
_DIGITS = 9


def round_float(value: float | None) -> float | None:
    """Floats to 9 decimals, as every insight (SQL sums add in storage order, which differs
    between engines in the last bits)."""
    return None if value is None else round(value, _DIGITS)


def is_postgres() -> bool:
    return isinstance(database(), PostgresEngine)


def _floor_hour(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def _ceil_hour(instant: datetime) -> datetime:
    floor = _floor_hour(instant)
    return floor if floor == instant else floor + HOUR


def _quarter(instant: datetime) -> int | None:
    """0, 1 or 2 for an instant at exactly minute 15, 30 or 45 of its hour, else None."""
    if instant.second or instant.microsecond or instant.minute not in (15, 30, 45):
        return None
    return instant.minute // 15 - 1


def local_bucket_starts(window: Window, tz: ZoneInfo, granularity: Granularity) -> list[datetime]:
    """``bucket_starts``, with a fast path for hours: when local hour boundaries lie an
    hour apart through the window (any offset that changes by whole hours only: UTC,
    Europe/Berlin, Asia/Kolkata), they are the local hour holding the window's start and
    every hour after it (the general function probes a 15-minute grid: 8,640 probes for
    90 days). Any other spacing falls back to it."""
    if granularity != "hour":
        return bucket_starts(window, tz, granularity)
    first = window.start.astimezone(tz).replace(minute=0, second=0, microsecond=0)
    current = first.astimezone(UTC)
    if not current <= window.start < current + HOUR:
        return bucket_starts(window, tz, granularity)
    hours: list[datetime] = []
    while current < window.end:
        local = current.astimezone(tz)
        if local.minute or local.second:
            return bucket_starts(window, tz, granularity)
        hours.append(local)
        current += HOUR
    return hours


class BucketPlan:
    """A window cut into buckets, and which parts of it come from hourly rows.

    - ``hours``: ``[first, last)`` of whole UTC hours to read from a rollup (None: none);
      rows at an hour in ``split_hours`` are skipped (a bucket boundary cuts them);
    - ``pieces``: ``(bucket, from, to)`` ranges to read from base rows, each inside one
      bucket and the window;
    - ``quarter_hours`` (with ``quarters``: the rollup counts the messages before minute
      15, 30 and 45 of each hour, m0025): hours cut once, at one of those minutes, split
      from the rollup row instead of read as pieces (:meth:`quarter_split`).
    """

    def __init__(
        self, window: Window, starts: Sequence[datetime], *, quarters: bool = False
    ) -> None:
        self.window = window
        self.starts = list(starts)
        self.utc_starts = [start.astimezone(UTC) for start in starts]
        inner = [b for b in self.utc_starts if window.start < b < window.end]
        first, last = _ceil_hour(window.start), _floor_hour(window.end)
        ranges: list[tuple[datetime, datetime]] = []
        self.hours: tuple[datetime, datetime] | None = None
        self.split_hours: frozenset[datetime] = frozenset()
        self.quarter_hours: dict[datetime, datetime] = {}
        if first < last:
            self.hours = (first, last)
            ranges += [(a, b) for a, b in ((window.start, first), (last, window.end)) if a < b]
            cut_hours: dict[datetime, list[datetime]] = {}
            for b in inner:
                if b != _floor_hour(b) and first <= _floor_hour(b) < last:
                    cut_hours.setdefault(_floor_hour(b), []).append(b)
            for hour, at in cut_hours.items():
                if quarters and len(at) == 1 and _quarter(at[0]) is not None:
                    self.quarter_hours[hour] = at[0]
            self.split_hours = frozenset(h for h in cut_hours if h not in self.quarter_hours)
            ranges += [(hour, hour + HOUR) for hour in sorted(self.split_hours)]
        else:
            ranges.append((window.start, window.end))
        self.pieces: list[tuple[int, datetime, datetime]] = []
        for a, b in ranges:
            cuts = inner[bisect_right(inner, a) : bisect_left(inner, b)]
            for p, q in pairwise([a, *cuts, b]):
                self.pieces.append((self.index(p), p, q))

    def index(self, instant: datetime) -> int:
        """The bucket holding ``instant`` (an instant inside the window)."""
        return max(bisect_right(self.utc_starts, instant) - 1, 0)

    def hour_index(self, hour: datetime) -> int | None:
        """The bucket of a rollup row's whole UTC hour, or None when the row is not used
        (outside ``hours``, or cut by a bucket boundary: its pieces are read instead)."""
        if self.hours is None or not self.hours[0] <= hour < self.hours[1]:
            return None
        if hour in self.split_hours or hour in self.quarter_hours:
            return None
        return self.index(hour)

    def quarter_split(self, hour: datetime) -> tuple[int, int, int] | None:
        """For an hour cut at a quarter: (which quarter column, 0-2; the bucket before the
        cut; the bucket after it), else None."""
        cut = self.quarter_hours.get(hour)
        if cut is None:
            return None
        quarter = _quarter(cut)
        assert quarter is not None
        return quarter, self.index(hour), self.index(cut)


_PIECES_PER_STATEMENT = (MAX_PARAMS - 100) // 3


async def fetch_pieces(
    plan: BucketPlan,
    account_id: str,
    source: str,
    columns: str,
    sql: str,
    *params: Any,
) -> list[Any]:
    """Rows of ``sql`` over the base rows in the plan's pieces.

    ``r`` holds, for every row of table ``source`` (``"ofca_message m"``, aliased, with a
    ``created_at``-like column named in ``columns`` first) of the account lying in a
    piece, ``r.i`` (its bucket) and ``columns``; ``sql`` selects from ``r`` and takes
    ``params``. The rows are found piece by piece, each an index range scan, before
    ``sql``'s filters run: Postgres gets them as a MATERIALIZED step, so a filter never
    turns the plan into a scan of the whole table, and the pieces as three arrays (one
    statement text whatever their number; the planner's exact row count for ``unnest``
    keeps it from compiling a thousand-piece join with JIT, which cost 250 ms); SQLite gets
    a ``VALUES`` list.
    """
    if not plan.pieces:
        return []
    alias = source.split()[-1]
    time_column = columns.split(",")[0].split(" AS ")[0].strip()
    rows_sql = (
        f"SELECT p.i AS i, {columns} FROM p JOIN {source} ON {alias}.account_id = {{}} "
        f"AND {time_column} >= p.a AND {time_column} < p.b"
    )
    if is_postgres():
        return list(
            await fetch_rows(
                "WITH p(i, a, b) AS (SELECT * FROM unnest({}::integer[], {}::timestamptz[], "
                f"{{}}::timestamptz[])), r AS MATERIALIZED ({rows_sql}) {sql}",
                [piece[0] for piece in plan.pieces],
                [piece[1] for piece in plan.pieces],
                [piece[2] for piece in plan.pieces],
                account_id,
                *params,
            )
        )
    row = "({}, {}, {})"
    rows: list[Any] = []
    for index in range(0, len(plan.pieces), _PIECES_PER_STATEMENT):
        chunk = plan.pieces[index : index + _PIECES_PER_STATEMENT]
        values = ", ".join([row] * len(chunk))
        rows += await fetch_rows(
            f"WITH p(i, a, b) AS (VALUES {values}), r AS ({rows_sql}) {sql}",
            *[value for piece in chunk for value in piece],
            account_id,
            *params,
        )
    return rows
