"""Each tip's credited chatter as a read model (``ofca_tip_credit``, docs/metrics.md
"Chatters").

The chatters leaderboard and a chatter filter on revenue looked up, for every tip of the
window, its chat's latest outbound message before it: one index step per tip, ~120 ms for
the 16k tips of a 90-day window and the one before it at 1M messages. The refresh now keeps
that message's chatter and time per timed tip (the credit hours are compared when read);
reads join the window's rows and look up only the tips the refresh has not reached. Filled
here from the stored messages with the same lookup.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table


class TipCreditRow(Table, tablename="ofca_tip_credit"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    message_id = Varchar(length=200)
    created_at = Timestamptz()
    credit_chatter = Varchar(length=250, null=True, default=None)
    credit_at = Timestamptz(null=True, default=None)


def _credited(column: str, postgres: bool) -> str:
    order = ' COLLATE "C"' if postgres else ""
    return (
        f"(SELECT o.{column} FROM ofca_message o WHERE o.account_id = m.account_id "
        "AND o.chat_id = m.chat_id AND o.direction = 'outbound' AND o.created_at <= m.created_at "
        "AND (o.created_at < m.created_at OR "
        f"(o.created_at = m.created_at AND o.message_id{order} < m.message_id{order})) "
        f"ORDER BY o.created_at DESC, o.message_id{order} DESC LIMIT 1)"
    )


def fill_sql(postgres: bool) -> str:
    """The rows of one account's (``{}``) stored timed tips (run once: two lookups per
    tip are fine here)."""
    return (
        "INSERT INTO ofca_tip_credit (account_id, chat_id, message_id, created_at, "
        "credit_chatter, credit_at) SELECT m.account_id, m.chat_id, m.message_id, m.created_at, "
        f"{_credited('chatter', postgres)}, {_credited('created_at', postgres)} "
        "FROM ofca_message m WHERE m.account_id = {} AND (m.is_tip OR m.price > 0) "
        "AND m.direction = 'inbound' "
        "AND m.is_tip AND m.created_at IS NOT NULL"
    )


INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ofca_tip_credit_message ON ofca_tip_credit "
    "(account_id, message_id)",
    # The window's credits from the index alone (joined to its money messages).
    "CREATE INDEX IF NOT EXISTS ofca_tip_credit_time ON ofca_tip_credit "
    "(account_id, created_at, message_id, credit_chatter, credit_at)",
    "CREATE INDEX IF NOT EXISTS ofca_tip_credit_chat ON ofca_tip_credit (account_id, chat_id)",
)


async def fill_account(engine: Engine[Any], account_id: str) -> None:
    """Write the credit rows of one account's tips (the table holds none of them yet)."""
    TipCreditRow._meta.db = engine
    await TipCreditRow.raw(fill_sql(isinstance(engine, PostgresEngine)), account_id).run()


async def forwards(engine: Engine[Any]) -> None:
    TipCreditRow._meta.db = engine
    await TipCreditRow.create_table(if_not_exists=True).run()
    accounts = await TipCreditRow.raw("SELECT DISTINCT account_id FROM ofca_message").run()
    for account in accounts:
        await fill_account(engine, account["account_id"])
    for statement in INDEXES:
        await engine.run_ddl(statement)
