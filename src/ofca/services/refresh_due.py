"""Refreshes that no process got to: the sweeper of ``ofca_refresh_due``.

Every write of new or edited messages marks their chats in the same transaction
(``ingest_sql.due_marks``), and the refresh that re-derives a chat removes exactly the
mark it read (``sessions.refresh_chats``). The normal refresh is scheduled in the writing
process's memory, a second or two later; if that process dies first, the mark stays.
Every served process sweeps: each ``OFCA_REFRESH_SWEEP_SECONDS`` it re-derives the chats
marked more than twice that long ago, then publishes the accounts' ``analytics_update``.
Several processes may sweep the same mark; the refreshes serialize on the account lock
and the second finds its work done.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from ofca.persistence.sql import raw_sql
from ofca.services.ingest import context_for, publish_analytics, refresh_due_chats
from ofca.services.sessions import to_utc

__all__ = ["overdue_marks", "run_sweeper", "sweep_overdue"]

log = logging.getLogger(__name__)

SWEEP_LIMIT = 1000
"""Marks taken per sweep (oldest first); the rest wait for the next one."""


async def overdue_marks(older_than: timedelta) -> dict[str, dict[str, datetime | None]]:
    """Per account, the chats marked before ``older_than`` ago: since when (None: whole)."""
    cutoff = datetime.now(UTC) - older_than
    rows = await raw_sql(
        "SELECT account_id, chat_id, since, whole FROM ofca_refresh_due "
        "WHERE marked_at < {} ORDER BY marked_at LIMIT {}",
        cutoff,
        SWEEP_LIMIT,
    ).run()
    due: dict[str, dict[str, datetime | None]] = {}
    for row in rows:
        since = None if row["whole"] or row["since"] is None else to_utc(row["since"])
        due.setdefault(row["account_id"], {})[row["chat_id"]] = since
    return due


async def sweep_overdue(state: Any, older_than: timedelta) -> int:
    """Re-derive every overdue chat; returns how many."""
    due = await overdue_marks(older_than)
    for account_id, chats in due.items():
        ctx = context_for(state, account_id)
        await refresh_due_chats(ctx, chats)
        await publish_analytics(ctx)
    return sum(len(chats) for chats in due.values())


async def run_sweeper(state: Any, interval: float) -> None:
    """Sweep every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            swept = await sweep_overdue(state, timedelta(seconds=2 * interval))
        except Exception:
            log.exception("sweeping overdue insight refreshes failed")
            continue
        if swept:
            log.warning("re-derived %d chats whose insight refresh was overdue", swept)
