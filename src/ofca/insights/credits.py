"""Whom each tip is credited to (docs/metrics.md "Chatters"), as a read model.

A tip is credited to the chatter of its chat's latest outbound message before it (chat
order), when that is at most ``OFCA_TIP_CREDIT_HOURS`` older. Looking that message up for
each tip of a window cost ~120 ms at 1M messages for the 16k tips of a 90-day window and
the one before it (one index step back per tip). The refresh now keeps each timed tip's
candidate (that message's chatter and time) in ``ofca_tip_credit`` (m0016), recounted per
chat from its money messages as ``ofca_chat_spend`` is; the hours are compared when read,
so a changed setting needs no refresh. A tip the refresh has not reached yet (or whose
time changed since) has no row: the reads look it up as before, so an answer never waits
for the refresh to be right about the tips it holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from ofca.domain.money import UNASSIGNED
from ofca.insights.spend import TIP_SQL
from ofca.insights.windows import is_postgres
from ofca.persistence.sql import fetch_for_chats

__all__ = ["credit_sql", "credited_chatter_sql", "refresh_tip_credits"]

_CREDITED = (
    "FROM ofca_message o WHERE {guard}o.account_id = m.account_id AND o.chat_id = m.chat_id "
    "AND o.direction = 'outbound' AND o.created_at <= m.created_at "
    "AND (o.created_at < m.created_at OR "
    "(o.created_at = m.created_at AND o.message_id{order} < m.message_id{order})) "
    "ORDER BY o.created_at DESC, o.message_id{order} DESC LIMIT 1"
)
"""The latest outbound message before tip ``m`` in its chat (chat order), one step back
on the index of sent messages per chat (m0014)."""


def _lookup(guard: str) -> tuple[str, str, str]:
    """(chatter, time, join): SQL for the credit of the tips ``guard`` keeps (NULL for the
    rest). Postgres reads both in one lateral lookup; SQLite has no lateral joins, so it
    looks twice."""
    if is_postgres():
        credited = _CREDITED.format(guard=f"{guard} AND ", order=' COLLATE "C"')
        join = f" LEFT JOIN LATERAL (SELECT o.chatter, o.created_at {credited}) c ON TRUE"
        return "c.chatter", "c.created_at", join
    credited = _CREDITED.format(guard="", order="")
    return (
        f"CASE WHEN {guard} THEN (SELECT o.chatter {credited}) END",
        f"CASE WHEN {guard} THEN (SELECT o.created_at {credited}) END",
        "",
    )


def credit_sql(with_start: bool) -> tuple[str, str, str]:
    """(chatter, time, joins): SQL for the credit of each money message ``m`` that is a
    tip (NULL for offers), the read model's row, else the lookup. The joins' ``{}`` are
    the window's start (``with_start``) and end: they bound the read model's rows too, so
    Postgres reads only the window's credits."""
    since = " AND t.created_at >= {}" if with_start else ""
    kept = (
        " LEFT JOIN ofca_tip_credit t ON t.account_id = m.account_id "
        "AND t.message_id = m.message_id AND t.created_at = m.created_at"
        f"{since} AND t.created_at < {{}}"
    )
    chatter, at, lookup = _lookup(f"{TIP_SQL} AND t.message_id IS NULL")
    return (
        f"CASE WHEN t.message_id IS NULL THEN {chatter} ELSE t.credit_chatter END",
        f"CASE WHEN t.message_id IS NULL THEN {at} ELSE t.credit_at END",
        kept + lookup,
    )


def credited_chatter_sql(with_start: bool) -> tuple[str, str]:
    """(chatter, joins): SQL (Postgres) for the chatter each money message ``m`` that is a
    tip is credited to: its candidate's, when at most the credit hours (the chatter's
    ``{}``, in seconds) older, else ``unassigned`` (so is every other message). The joins
    are :func:`credit_sql`'s."""
    chatter, credited_at, joins = credit_sql(with_start)
    return (
        f"COALESCE(CASE WHEN {credited_at} >= m.created_at - make_interval(secs => {{}}) "
        f"THEN {chatter} END, '{UNASSIGNED}')",
        joins,
    )


_REFRESH = (
    "INSERT INTO ofca_tip_credit (account_id, chat_id, message_id, created_at, "
    "credit_chatter, credit_at) SELECT m.account_id, m.chat_id, m.message_id, m.created_at, "
    "{columns} FROM ofca_message m{join} WHERE m.account_id = {{}} AND m.chat_id CHATS "
    f"AND (m.is_tip OR m.price > 0) AND {TIP_SQL} AND m.created_at IS NOT NULL"
)


async def refresh_tip_credits(account_id: str, chat_ids: Sequence[str]) -> None:
    """Recount these chats' tip credit rows, in SQL, from their money messages (the
    partial index per chat, m0015) and their sent messages (m0014)."""
    if not chat_ids:
        return
    await fetch_for_chats(
        "DELETE FROM ofca_tip_credit WHERE account_id = {} AND chat_id CHATS", account_id, chat_ids
    )
    chatter, at, join = _lookup(TIP_SQL)
    refresh = _REFRESH.format(columns=f"{chatter}, {at}", join=join)
    await fetch_for_chats(refresh, account_id, chat_ids)
