"""Reply times counted per bucket (docs/metrics.md "Chatters": each chatter's reply count,
mean, exact median and p90, longest and SLA share).

Each chatter's statistics read and sorted all their answered runs of the window (43k per
chatter at 90 days of a 1M-message account: ~25 ms each). Each run now carries its
reply-time bucket (``reply_bucket``, quarter octaves, ``domain.aggregates.reply_bucket``),
and ``ofca_reply_bucket_day`` counts and sums the runs per (chatter, UTC day, bucket),
kept by delta at refresh: a window's whole days sum a few thousand rows, and only the
buckets holding the median, the p90, the longest run and the SLA are read run by run
(an index per chatter and bucket, in time order).
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import BigInt, Integer, SmallInt, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

# A frozen copy of domain.aggregates.REPLY_BUCKET_BOUNDS as this migration wrote them.
BOUNDS = (0.0, *(2.0 ** (k / 4) for k in range(100)))


MICROS = "CAST(round(reply_seconds * 1000000) AS BIGINT)"
"""A run's reply time in whole microseconds (the timestamps' resolution), as summed."""


class ReplyBucketDayRow(Table, tablename="ofca_reply_bucket_day"):
    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    day_start = Timestamptz()
    bucket = SmallInt()
    answered = Integer()
    micros = BigInt()


def bucket_sql(column: str) -> str:
    """The bucket of ``column`` in SQL either engine runs: how many bounds are <= it
    (exact decimal literals: ``repr`` of a float reads back as the same double)."""
    cases = " ".join(f"WHEN {column} < {bound!r} THEN {i}" for i, bound in enumerate(BOUNDS))
    return f"CASE {cases} ELSE {len(BOUNDS)} END"


async def fill(engine: Engine[Any], account_id: str | None = None) -> None:
    """Fill the day buckets from the stored runs (every account, or one)."""
    if isinstance(engine, PostgresEngine):
        day = "date_trunc('day', first_inbound_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    else:
        # Piccolo stores UTC timestamps as 'YYYY-MM-DD HH:MM:SS[.ffffff]+00:00'.
        day = "substr(first_inbound_at, 1, 10) || ' 00:00:00+00:00'"
    only = "" if account_id is None else " AND account_id = {}"
    ReplyBucketDayRow._meta.db = engine
    await ReplyBucketDayRow.raw(
        "INSERT INTO ofca_reply_bucket_day "
        "(account_id, chatter, day_start, bucket, answered, micros) "
        f"SELECT account_id, COALESCE(chatter, 'unassigned'), {day}, reply_bucket, count(*), "
        f"sum({MICROS}) FROM ofca_reply WHERE reply_seconds IS NOT NULL{only} "
        f"GROUP BY account_id, COALESCE(chatter, 'unassigned'), {day}, reply_bucket",
        *([] if account_id is None else [account_id]),
    ).run()


async def forwards(engine: Engine[Any]) -> None:
    await engine.run_ddl("ALTER TABLE ofca_reply ADD COLUMN reply_bucket SMALLINT")
    ReplyBucketDayRow._meta.db = engine
    await ReplyBucketDayRow.raw(
        f"UPDATE ofca_reply SET reply_bucket = {bucket_sql('reply_seconds')} "
        "WHERE reply_seconds IS NOT NULL"
    ).run()
    await ReplyBucketDayRow.create_table(if_not_exists=True).run()
    await engine.run_ddl(
        "CREATE UNIQUE INDEX IF NOT EXISTS ofca_reply_bucket_day_key "
        "ON ofca_reply_bucket_day (account_id, day_start, chatter, bucket)"
    )
    if isinstance(engine, PostgresEngine):
        # Only Postgres reads runs by bucket (SQLite sorts the window's values).
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS ofca_reply_chatter_bucket ON ofca_reply "
            "(account_id, chatter, reply_bucket, first_inbound_at) INCLUDE (reply_seconds) "
            "WHERE reply_seconds IS NOT NULL"
        )
    await fill(engine)
