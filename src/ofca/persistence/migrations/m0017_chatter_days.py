"""The days each chatter sent to each chat as a read model (``ofca_chatter_day``,
docs/metrics.md "Chatters").

The chatters leaderboard counted each chatter's sent messages and distinct fans over the
window's sent messages, grouped by (chatter, chat): 208k messages and 60k groups for a
90-day window at 1M messages (~77 ms). The refresh now keeps one row per (chatter, chat,
UTC day) with its message count and the chatter's previous day in that chat, as it keeps
the fans' days: whole days sum rows (a chatter's fans are their rows whose previous day
lies before the first), the partial days at the window's ends read messages. Filled here
from the stored messages, day by day as the refresh derives them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table

from ofca.persistence.sql import to_utc


class ChatterDayRow(Table, tablename="ofca_chatter_day"):
    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    chat_id = Varchar(length=200)
    day_start = Timestamptz()
    previous_day = Timestamptz(null=True, default=None)
    messages = Integer()


COLUMNS = ("account_id", "chatter", "chat_id", "day_start", "previous_day", "messages")

INDEXES = (
    # Whole days of a window: the count, sums and previous day from the index alone.
    "CREATE INDEX IF NOT EXISTS ofca_chatter_day_time ON ofca_chatter_day "
    "(account_id, day_start, chatter, previous_day, messages)",
    # A chat's rows (refresh) and whether a chatter sent to it in the whole days.
    "CREATE INDEX IF NOT EXISTS ofca_chatter_day_chat ON ofca_chatter_day "
    "(account_id, chat_id, chatter, day_start)",
)


def _day(instant: datetime) -> datetime:
    return instant.replace(hour=0, minute=0, second=0, microsecond=0)


async def fill_account(engine: Engine[Any], account_id: str) -> None:
    """Write the rows of one account's sent messages (the table holds none of them yet)."""
    ChatterDayRow._meta.db = engine
    stored = await ChatterDayRow.raw(
        "SELECT chat_id, COALESCE(chatter, 'unassigned') AS chatter, created_at "
        "FROM ofca_message WHERE account_id = {} AND direction = 'outbound' "
        "AND created_at IS NOT NULL",
        account_id,
    ).run()
    counts: dict[tuple[str, str, datetime], int] = {}
    for row in stored:
        key = (row["chat_id"], row["chatter"], _day(to_utc(row["created_at"])))
        counts[key] = counts.get(key, 0) + 1
    values: list[tuple[Any, ...]] = []
    previous: dict[tuple[str, str], datetime] = {}
    for (chat_id, chatter, day), messages in sorted(counts.items()):
        values.append(
            (account_id, chatter, chat_id, day, previous.get((chat_id, chatter)), messages)
        )
        previous[(chat_id, chatter)] = day
    for start in range(0, len(values), 1000):
        await ChatterDayRow.insert(
            *(
                ChatterDayRow(**dict(zip(COLUMNS, v, strict=True)))
                for v in values[start : start + 1000]
            )
        ).run()


async def forwards(engine: Engine[Any]) -> None:
    ChatterDayRow._meta.db = engine
    await ChatterDayRow.create_table(if_not_exists=True).run()
    accounts = await ChatterDayRow.raw("SELECT DISTINCT account_id FROM ofca_message").run()
    for account in accounts:
        await fill_account(engine, account["account_id"])
    for statement in INDEXES:
        await engine.run_ddl(statement)
