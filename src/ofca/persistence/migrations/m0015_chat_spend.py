"""Each chat's money as a read model (``ofca_chat_spend``, docs/metrics.md "Fans").

The fans list summed every paying chat's tips and bought offers on each request and built
a row for each of an account's chats in Python before it took the top 50 (~120 ms at 1M
messages / 20k chats). The refresh now keeps, per chat with revenue, its lifetime spend
(rounded as the insights answer it), tips, PPV revenue and last paid time, and the fans
list reads the top rows off an index. Filled here from the stored messages; a partial
index over each chat's money messages keeps the refresh's recount cheap in long chats. The
window's money index also carries each message's id and chatter now (it replaces m0010's),
so the money events of the chatters leaderboard come from the index alone.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import DoublePrecision, Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from ofca.persistence.sql import to_utc


class ChatSpendRow(Table, tablename="ofca_chat_spend"):
    account_id = Varchar(length=200)
    chat_id = Varchar(length=200)
    lifetime_spend = DoublePrecision()
    tips_amount = DoublePrecision()
    ppv_revenue = DoublePrecision()
    last_paid_at = Timestamptz()


PAID = (
    "m.price > 0 AND ((m.direction = 'inbound' AND m.is_tip) OR (m.direction = 'outbound' "
    "AND NOT m.is_tip AND NOT m.is_free AND m.is_opened))"
)
"""Message ``m`` brings revenue: a tip with an amount, or a bought offer."""

SPEND_SQL = (
    "SELECT m.chat_id, sum(CASE WHEN m.is_tip THEN m.price ELSE 0 END) AS tips, "
    "sum(CASE WHEN m.is_tip THEN 0 ELSE m.price END) AS ppv, max(m.created_at) AS last_paid "
    "FROM ofca_message m WHERE m.account_id = {} AND (m.is_tip OR m.price > 0) "
    f"AND m.created_at IS NOT NULL AND {PAID}"
)
"""Per chat of an account: tips, PPV revenue, last paid time (``GROUP BY m.chat_id``)."""


def _indexes(postgres: bool) -> tuple[str, ...]:
    order = ' COLLATE "C"' if postgres else ""
    return (
        "CREATE UNIQUE INDEX IF NOT EXISTS ofca_chat_spend_chat ON ofca_chat_spend "
        "(account_id, chat_id)",
        # The fans list: by lifetime spend descending, then chat id by code point.
        "CREATE INDEX IF NOT EXISTS ofca_chat_spend_rank ON ofca_chat_spend "
        f"(account_id, lifetime_spend DESC, chat_id{order})",
        "CREATE INDEX IF NOT EXISTS ofca_message_chat_money ON ofca_message "
        "(account_id, chat_id, created_at) WHERE (is_tip OR price > 0)",
        # The window's money with each message's id and chatter, from the index alone
        # (money events for the chatters and a chatter filter read both).
        "CREATE INDEX IF NOT EXISTS ofca_message_money_events ON ofca_message (account_id, "
        "created_at, chat_id, direction, is_tip, is_free, is_opened, price, message_id, "
        "chatter) WHERE (is_tip OR price > 0)",
        "DROP INDEX IF EXISTS ofca_message_money",
    )


def spend_row(account_id: str, row: Any) -> tuple[Any, ...]:
    """A chat's ``ofca_chat_spend`` row from a :data:`SPEND_SQL` row (sums rounded as every
    insight rounds them, so the list's order and tiers are those of its values)."""
    tips, ppv = float(row["tips"] or 0.0), float(row["ppv"] or 0.0)
    return (
        account_id,
        row["chat_id"],
        round(tips + ppv, 9),
        round(tips, 9),
        round(ppv, 9),
        to_utc(row["last_paid"]),
    )


COLUMNS = ("account_id", "chat_id", "lifetime_spend", "tips_amount", "ppv_revenue", "last_paid_at")


async def fill_account(engine: Engine[Any], account_id: str) -> None:
    """Write the spend rows of one account's chats from its stored messages (the table
    holds none of them yet)."""
    ChatSpendRow._meta.db = engine
    rows = await ChatSpendRow.raw(f"{SPEND_SQL} GROUP BY m.chat_id", account_id).run()
    values = [spend_row(account_id, row) for row in rows]
    for start in range(0, len(values), 1000):
        await ChatSpendRow.insert(
            *(
                ChatSpendRow(**dict(zip(COLUMNS, v, strict=True)))
                for v in values[start : start + 1000]
            )
        ).run()


async def forwards(engine: Engine[Any]) -> None:
    ChatSpendRow._meta.db = engine
    await ChatSpendRow.create_table(if_not_exists=True).run()
    accounts = await ChatSpendRow.raw("SELECT DISTINCT account_id FROM ofca_message").run()
    for account in accounts:
        await fill_account(engine, account["account_id"])
    for statement in _indexes(isinstance(engine, PostgresEngine)):
        await engine.run_ddl(statement)
