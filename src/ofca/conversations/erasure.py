"""Erasure of a chat or of a whole account's data.

Erasure walks every ofca table that has an ``account_id`` column, so tables added later
are covered without touching this module. Erasing a chat marks its insight rows due in the
same transaction (``persistence.refresh_marks``), so the read models and rollups lose it
even if this process dies right after.
"""

from __future__ import annotations

import logging
from typing import Literal

import msgspec
from piccolo.table import Table

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import ControlEvent, publish_control
from ofca.persistence import tables as live_tables
from ofca.persistence.engine import ofca_tables
from ofca.persistence.refresh_marks import RefreshScheduler, mark_chats
from ofca.persistence.sql import database, raw_sql
from ofca.persistence.tables import CommandRow

__all__ = ["AccountDeleted", "account_tables", "delete_account_data", "delete_chat"]

log = logging.getLogger(__name__)


class AccountDeleted(msgspec.Struct, kw_only=True):
    status: Literal["deleted"]
    account_id: str
    deleted_rows: dict[str, int]
    """Rows removed per table."""


def account_tables() -> list[type[Table]]:
    """Every ofca table (one class per table name) with an ``account_id`` column."""
    chosen: dict[str, type[Table]] = {}
    # Prefer the live definitions over migration snapshots of the same table.
    live = [t for t in vars(live_tables).values() if isinstance(t, type) and issubclass(t, Table)]
    for table in [*live, *ofca_tables()]:
        if table is Table or not hasattr(table, "account_id"):
            continue
        chosen.setdefault(table._meta.tablename, table)
    return [chosen[name] for name in sorted(chosen)]


async def delete_account_data(account_id: str) -> dict[str, int]:
    """Delete every row of the account from every table, in one transaction; returns the
    number of rows deleted per table (tables with none are left out)."""
    deleted: dict[str, int] = {}
    engine = database()
    # Messages first: deleting them adds to the chats' tallies (m0026's triggers), which
    # are then deleted with the rest.
    ordered = sorted(account_tables(), key=lambda table: table is not live_tables.MessageRow)
    async with engine.transaction():
        for table in ordered:
            name = table._meta.tablename
            rows = await raw_sql(
                f"DELETE FROM {name} WHERE account_id = {{}} RETURNING id", account_id
            ).run()
            if rows:
                deleted[name] = len(rows)
    log.info("deleted account %s: %d rows", account_id, sum(deleted.values()))
    return deleted


async def delete_chat(
    account_id: str, chat_id: str, *, insights: RefreshScheduler, channels: OfcaChannelsPlugin
) -> int | None:
    """Delete the chat, its messages, commands and insights rows; returns the number of
    messages deleted, or ``None`` when the account has no such chat."""
    async with database().transaction():
        messages = await raw_sql(
            "DELETE FROM ofca_message WHERE account_id = {} AND chat_id = {} RETURNING id",
            account_id,
            chat_id,
        ).run()
        chats = await raw_sql(
            "DELETE FROM ofca_chat WHERE account_id = {} AND chat_id = {} RETURNING id",
            account_id,
            chat_id,
        ).run()
        await (
            CommandRow.delete()
            .where((CommandRow.account_id == account_id) & (CommandRow.chat_id == chat_id))
            .run()
        )
        if messages or chats:
            await mark_chats(account_id, [(chat_id, None, True)])
    if not messages and not chats:
        return None
    # No messages left: the refresh removes the chat's sessions, replies and activity, and
    # dashboards get the new analytics_update and re-sync their inbox (the chat leaves it).
    await insights.refresh_now(account_id, {chat_id: None})
    publish_control(channels, ControlEvent(action="resync", account_id=account_id), extension=False)
    log.info("deleted chat of %s: %d messages", account_id, len(messages))
    return len(messages)
