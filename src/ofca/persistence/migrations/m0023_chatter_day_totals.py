"""Chatter days summed per day (docs/metrics.md "Chatters": messages sent and fans).

A chatter's messages and distinct fans in a window's whole days were counted from their
chatter days (one row per chatter, chat and day: ~100k rows at 90 days of a 1M-message
account, 30 ms). Per (chatter, day) this keeps the rows of the day (``chats``), their
messages, and the rows whose previous day is that day (``followed``): a window's fans are
its days' ``chats`` less the rows that follow a day of the window from inside it, which
are its days' ``followed`` less those that follow from after it (few when the window
ends near now). Kept by delta at refresh; this fills it from the stored chatter days.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Integer, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.table import Table


class ChatterDayTotalRow(Table, tablename="ofca_chatter_day_total"):
    account_id = Varchar(length=200)
    chatter = Varchar(length=250)
    day_start = Timestamptz()
    chats = Integer()
    messages = Integer()
    followed = Integer()


INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_chatter_day_total_key "
    "ON ofca_chatter_day_total (account_id, day_start, chatter)"
)


async def fill(engine: Engine[Any], account_id: str | None = None) -> None:
    """Fill the totals from the stored chatter days (every account, or one)."""
    where = "" if account_id is None else " AND account_id = {}"
    params = [] if account_id is None else [account_id, account_id]
    ChatterDayTotalRow._meta.db = engine
    await ChatterDayTotalRow.raw(
        "INSERT INTO ofca_chatter_day_total "
        "(account_id, chatter, day_start, chats, messages, followed) "
        "SELECT account_id, chatter, day, sum(chats), sum(messages), sum(followed) FROM ("
        "SELECT account_id, chatter, day_start AS day, count(*) AS chats, "
        "sum(messages) AS messages, 0 AS followed FROM ofca_chatter_day WHERE 1 = 1"
        f"{where} GROUP BY account_id, chatter, day_start UNION ALL "
        "SELECT account_id, chatter, previous_day, 0, 0, count(*) FROM ofca_chatter_day "
        f"WHERE previous_day IS NOT NULL{where} GROUP BY account_id, chatter, previous_day"
        ") t GROUP BY account_id, chatter, day",
        *params,
    ).run()


async def forwards(engine: Engine[Any]) -> None:
    ChatterDayTotalRow._meta.db = engine
    await ChatterDayTotalRow.create_table(if_not_exists=True).run()
    await engine.run_ddl(INDEX)
    await fill(engine)
