"""Durable "this chat's insight rows are due" marks (``ofca_refresh_due``).

The transaction that stores messages (or erases a chat) marks the chats it changed: from
the earliest changed instant on, or whole. The refresh that re-derives a chat reads its
marks inside its own transaction and removes exactly the versions it read, so a mark
written meanwhile survives for the next refresh. A mark no process got to (its writer
died) is found by :func:`overdue_marks`, which every served process sweeps. Nothing that
correctness needs lives only in one process's memory.

:class:`RefreshScheduler` is how a writer asks for the refresh to happen soon; the insights
context implements it, and the writer does not need to know how.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from piccolo.engine.postgres import PostgresEngine

from ofca.persistence.sql import database, fetch_for_chats, own_connection, raw_sql, to_utc

__all__ = [
    "SQLITE_MARK_DUE",
    "Mark",
    "RefreshScheduler",
    "clear_marks",
    "mark_chats",
    "overdue_marks",
    "pg_mark_due",
    "read_marks",
    "widen_since",
]

Mark = tuple[str, datetime | None, bool]
"""``(chat_id, since, whole)``: a chat's rows are due from ``since`` on, or all of them."""

SWEEP_LIMIT = 1000
"""Marks taken per sweep (oldest first); the rest wait for the next one."""


class RefreshScheduler(Protocol):
    """Re-derives chats' insight rows soon after they changed, then tells dashboards."""

    def schedule_refresh(self, account_id: str, due: Mapping[str, datetime | None]) -> None:
        """Refresh these chats shortly: each from its instant on, or whole for None."""

    async def refresh_now(
        self,
        account_id: str,
        due: Mapping[str, datetime | None],
        *,
        publish: bool = True,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        """Refresh these chats now (in batches; ``progress`` told the fraction done), then
        (``publish``) the account's ``analytics_update``."""

    async def publish_analytics(self, account_id: str) -> None:
        """Send the account's dashboards its current ``analytics_update``."""

    def schedule_analytics(self, account_id: str) -> None:
        """Send it shortly, once for a burst of changes."""


async def read_marks(account_id: str, ids: list[str], since: dict[str, datetime]) -> list[Any]:
    """The stored marks of these chats (``ofca_refresh_due``), merged into ``since``: a
    chat refreshed from an instant also covers an earlier marked one, and a whole mark
    (an edit) makes it whole. Returns (chat, version) of each mark read."""
    found = []
    for chat_id, marked_since, whole, version in await fetch_for_chats(_MARKS, account_id, ids):
        found.append((chat_id, version))
        if chat_id not in since:
            continue  # asked for whole
        if whole or marked_since is None:
            del since[chat_id]
        else:
            since[chat_id] = min(to_utc(since[chat_id]), to_utc(marked_since))
    return found


async def clear_marks(account_id: str, marks: list[Any]) -> None:
    """Remove exactly the marks this refresh read: one written since (a newer version,
    committed after our reads) stays for the refresh that follows it."""
    if not marks:
        return
    engine = database()
    connection = own_connection(engine)
    if isinstance(engine, PostgresEngine) and connection is not None:
        chats, versions = map(list, zip(*marks, strict=True))
        await connection.execute(
            "DELETE FROM ofca_refresh_due d USING unnest($2::varchar[], $3::bigint[]) "
            "AS t(chat_id, version) WHERE d.account_id = $1 AND d.chat_id = t.chat_id "
            "AND d.version = t.version",
            account_id,
            chats,
            versions,
        )
        return
    for chat_id, version in marks:
        await raw_sql(
            "DELETE FROM ofca_refresh_due WHERE account_id = {} AND chat_id = {} AND version = {}",
            account_id,
            chat_id,
            version,
        )


async def pg_mark_due(
    connection: Any, account_id: str, marks: Sequence[tuple[str, datetime | None, bool]]
) -> None:
    if marks:
        await connection.execute(_PG_MARK_DUE, account_id, *map(list, zip(*marks, strict=True)))


_DUE_UPDATE = (
    " ON CONFLICT (account_id, chat_id) DO UPDATE SET since = CASE "
    "WHEN ofca_refresh_due.since IS NULL THEN excluded.since "
    "WHEN excluded.since IS NULL OR ofca_refresh_due.since <= excluded.since "
    "THEN ofca_refresh_due.since ELSE excluded.since END, "
    "whole = (ofca_refresh_due.whole OR excluded.whole), "
    "version = ofca_refresh_due.version + 1, marked_at = excluded.marked_at"
)


_PG_MARK_DUE = (
    "INSERT INTO ofca_refresh_due (account_id, chat_id, since, whole, version, marked_at) "
    "SELECT $1, t.chat_id, t.since, t.whole, 1, now() "
    "FROM unnest($2::varchar[], $3::timestamptz[], $4::boolean[]) AS t(chat_id, since, whole)"
    + _DUE_UPDATE
)


SQLITE_MARK_DUE = (
    "INSERT INTO ofca_refresh_due (account_id, chat_id, since, whole, version, marked_at) "
    "VALUES (?, ?, ?, ?, 1, ?)" + _DUE_UPDATE
)


async def mark_chats(account_id: str, marks: Sequence[Mark]) -> None:
    """Mark these chats due, inside the caller's transaction (any engine; the ingest write
    paths use the engine-specific bulk forms below)."""
    now = datetime.now(UTC)
    for chat_id, since, whole in marks:
        await raw_sql(
            "INSERT INTO ofca_refresh_due (account_id, chat_id, since, whole, version, "
            "marked_at) VALUES ({}, {}, {}, {}, 1, {})" + _DUE_UPDATE,
            account_id,
            chat_id,
            since,
            whole,
            now,
        )


def widen_since(due: dict[str, datetime | None], chat_id: str, instant: datetime | None) -> None:
    """Record in ``due`` that ``chat_id`` changed from ``instant`` on: the earliest instant
    wins, and None (the whole chat) wins over every instant."""
    if chat_id not in due:
        due[chat_id] = instant
    elif (known := due[chat_id]) is not None:
        due[chat_id] = None if instant is None else min(known, instant)


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


_MARKS = (
    "SELECT chat_id, since, whole, version FROM ofca_refresh_due "
    "WHERE account_id = {} AND chat_id CHATS"
)
