"""Each chat's money as a read model (``ofca_chat_spend``, m0015), and the fans list
ranked off it (:func:`ranked_fans`). The refresh recounts it for the chats it re-derives,
inside its transaction, from their money messages only (a partial index per chat), so it
follows every write, edit (a late unlock) and erasure as the other read models do."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ofca.domain.insights import FansResponse
from ofca.domain.metrics import Window
from ofca.domain.money import FanName, FanRow, Tier, tier_of
from ofca.insights.windows import is_postgres, query, together, window_view
from ofca.persistence.sql import fetch_for_chats, insert_rows, to_utc
from ofca.settings import Settings

__all__ = [
    "CHATTER_SQL",
    "MAY_CARRY_SQL",
    "OFFER_SQL",
    "PAID_SQL",
    "TIP_SQL",
    "ranked_fans",
    "refresh_chat_spend",
]

MAY_CARRY_SQL = "(m.is_tip OR m.price > 0)"
"""The partial money indexes' condition (m0010, m0015): every tip and offer meets it."""
PAID_SQL = (
    "m.price > 0 AND ((m.direction = 'inbound' AND m.is_tip) OR (m.direction = 'outbound' "
    "AND NOT m.is_tip AND NOT m.is_free AND m.is_opened))"
)
"""Message ``m`` brings revenue: a tip with an amount, or a bought offer."""
TIP_SQL = "(m.direction = 'inbound' AND m.is_tip)"
"""Message ``m`` is a tip (with an amount or without)."""
OFFER_SQL = "(m.direction = 'outbound' AND NOT m.is_tip AND m.price > 0 AND NOT m.is_free)"
"""Message ``m`` is a PPV offer (bought or not)."""
CHATTER_SQL = "COALESCE(m.chatter, 'unassigned')"
"""The chatter of outbound message ``m`` (stored at ingest, m0014)."""

_COLUMNS = ("account_id", "chat_id", "lifetime_spend", "tips_amount", "ppv_revenue", "last_paid_at")
_SPEND = (
    "SELECT m.chat_id, sum(CASE WHEN m.is_tip THEN m.price ELSE 0 END), "
    "sum(CASE WHEN m.is_tip THEN 0 ELSE m.price END), max(m.created_at) "
    "FROM ofca_message m WHERE m.account_id = {} AND m.chat_id CHATS "
    f"AND {MAY_CARRY_SQL} AND m.created_at IS NOT NULL AND {PAID_SQL} "
    "GROUP BY m.chat_id"
)


async def refresh_chat_spend(account_id: str, chat_ids: Sequence[str]) -> None:
    """Recount these chats' spend rows (a chat without revenue has none). Sums are rounded
    as every insight rounds them, so the fans list's order and tiers follow its values."""
    if not chat_ids:
        return
    await fetch_for_chats(
        "DELETE FROM ofca_chat_spend WHERE account_id = {} AND chat_id CHATS", account_id, chat_ids
    )
    rows: list[tuple[Any, ...]] = []
    for chat_id, tips, ppv, last_paid in await fetch_for_chats(_SPEND, account_id, chat_ids):
        tips, ppv = float(tips or 0.0), float(ppv or 0.0)
        rows.append(
            (
                account_id,
                chat_id,
                round(tips + ppv, 9),
                round(tips, 9),
                round(ppv, 9),
                to_utc(last_paid),
            )
        )
    await insert_rows("ofca_chat_spend", _COLUMNS, rows, set())


# --------------------------------------------------------------------------- the fans list


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("{}" for _ in values)


def _tier_sql(tier: Tier | None, column: str) -> tuple[str, list[Any]]:
    """Conditions keeping a tier on lifetime spend ``column`` (its ``whale_spend`` bound
    is the caller's first parameter when there is one)."""
    if tier == "whale":
        return f" AND {column} >= {{}}", ["whale"]
    if tier == "spender":
        return f" AND {column} > 0 AND {column} < {{}}", ["whale"]
    if tier == "free":
        return f" AND NOT {column} > 0", []
    return "", []


async def ranked_fans(
    account_id: str, window: Window, settings: Settings, tier: Tier | None, limit: int
) -> FansResponse | None:
    """The fans list from the spend read model, or None when it cannot answer: revenue at
    or after ``as_of``, or a wait answered then (the list is taken as the chats stood at
    ``as_of``: only the messages tell their spend and waits then). The same rows, order
    and sums as ``fan_rows`` of the messages: spenders by rounded lifetime spend then chat
    id, then chats without revenue by chat id; spend waiting over every chat the tier
    keeps, before the limit."""
    as_of = window.end
    # The latest of each, compared here: the same statements with ``>= as_of`` bound as a
    # parameter got generic plans from Postgres that read every reply run (~40 ms).
    last_paid, last_answer = await together(
        query(
            "SELECT max(m.created_at) AS at FROM ofca_message m WHERE m.account_id = {} "
            f"AND {MAY_CARRY_SQL} AND {PAID_SQL}",
            account_id,
        ),
        query("SELECT max(replied_at) AS at FROM ofca_reply WHERE account_id = {}", account_id),
    )
    for latest in (last_paid, last_answer):
        if latest[0]["at"] is not None and to_utc(latest[0]["at"]) >= as_of:
            return None
    whale = settings.whale_spend
    order = ' COLLATE "C"' if is_postgres() else ""
    spenders: Sequence[Any] = []
    if tier != "free":
        condition, bound = _tier_sql(tier, "s.lifetime_spend")
        spenders = await query(
            "SELECT s.chat_id, s.lifetime_spend, s.tips_amount, s.ppv_revenue, s.last_paid_at "
            "FROM ofca_chat_spend s WHERE s.account_id = {} AND s.lifetime_spend > 0"
            f"{condition} ORDER BY s.lifetime_spend DESC, s.chat_id{order} LIMIT {{}}",
            account_id,
            *(whale for _ in bound),
            limit,
        )
    free: list[str] = []
    if tier in (None, "free") and len(spenders) < limit:
        rows = await query(
            "SELECT f.chat_id FROM ofca_chat_first f WHERE f.account_id = {} "
            "AND f.first_at < {} AND NOT EXISTS (SELECT 1 FROM ofca_chat_spend s "
            "WHERE s.account_id = f.account_id AND s.chat_id = f.chat_id AND s.lifetime_spend > 0) "
            f"ORDER BY f.chat_id{order} LIMIT {{}}",
            account_id,
            as_of,
            limit - len(spenders),
        )
        free = [row["chat_id"] for row in rows]
    shown = [row["chat_id"] for row in spenders] + free
    names, in_window, waiting, (waiting_sums,) = await together(
        _names_of(account_id, shown),
        _window_spend(account_id, [row["chat_id"] for row in spenders], window),
        _open_runs(account_id, shown, as_of),
        _waiting_sums(account_id, as_of, settings.reply_sla_seconds, tier, whale),
    )
    fans = [
        FanRow(
            chat_id=row["chat_id"],
            fan=names.get(row["chat_id"], FanName(name=None, username=None)),
            lifetime_spend=float(row["lifetime_spend"]),
            window_spend=in_window.get(row["chat_id"], 0.0),
            tips_amount=float(row["tips_amount"]),
            ppv_revenue=float(row["ppv_revenue"]),
            last_paid_at=to_utc(row["last_paid_at"]),
            tier=tier_of(float(row["lifetime_spend"]), whale),
            waiting_seconds=waiting.get(row["chat_id"]),
        )
        for row in spenders
    ]
    fans += [
        FanRow(
            chat_id=chat_id,
            fan=names.get(chat_id, FanName(name=None, username=None)),
            lifetime_spend=0.0,
            window_spend=0.0,
            tips_amount=0.0,
            ppv_revenue=0.0,
            last_paid_at=None,
            tier="free",
            waiting_seconds=waiting.get(chat_id),
        )
        for chat_id in free
    ]
    return FansResponse(
        fans=fans,
        spend_waiting=round(float(waiting_sums["spend"] or 0.0), 9),
        fans_waiting=int(waiting_sums["n"] or 0),
        as_of=as_of,
        window=window_view(window),
    )


async def _names_of(account_id: str, chat_ids: Sequence[str]) -> dict[str, FanName]:
    if not chat_ids:
        return {}
    rows = await query(
        "SELECT chat_id, fan_name, fan_username FROM ofca_chat WHERE account_id = {} "
        f"AND chat_id IN ({_marks(chat_ids)})",
        account_id,
        *chat_ids,
    )
    return {r["chat_id"]: FanName(name=r["fan_name"], username=r["fan_username"]) for r in rows}


async def _window_spend(
    account_id: str, chat_ids: Sequence[str], window: Window
) -> dict[str, float]:
    """The window's revenue of these spenders, counted per chat (a correlated lookup on
    each chat's money index: with the chats as a plain ``IN`` list, Postgres' generic plan
    for the prepared statement scanned the whole window's money instead, ~20 ms at 90
    days)."""
    if not chat_ids:
        return {}
    rows = await query(
        "SELECT s.chat_id, (SELECT sum(m.price) FROM ofca_message m "
        "WHERE m.account_id = s.account_id AND m.chat_id = s.chat_id "
        f"AND {MAY_CARRY_SQL} AND m.created_at >= {{}} AND m.created_at < {{}} "
        f"AND {PAID_SQL}) AS spent FROM ofca_chat_spend s WHERE s.account_id = {{}} "
        f"AND s.chat_id IN ({_marks(chat_ids)})",
        window.start,
        window.end,
        account_id,
        *chat_ids,
    )
    return {r["chat_id"]: round(float(r["spent"] or 0.0), 9) for r in rows}


async def _open_runs(account_id: str, chat_ids: Sequence[str], as_of: datetime) -> dict[str, float]:
    """Seconds waited at ``as_of`` by these chats' open runs (no message is later)."""
    if not chat_ids:
        return {}
    rows = await query(
        "SELECT chat_id, first_inbound_at FROM ofca_reply WHERE account_id = {} "
        f"AND replied_at IS NULL AND chat_id IN ({_marks(chat_ids)}) AND first_inbound_at < {{}}",
        account_id,
        *chat_ids,
        as_of,
    )
    return {r["chat_id"]: (as_of - to_utc(r["first_inbound_at"])).total_seconds() for r in rows}


async def _waiting_sums(
    account_id: str, as_of: datetime, sla_seconds: float, tier: Tier | None, whale: float
) -> Sequence[Any]:
    """Count and lifetime spend of the chats (of the tier) waiting longer than the SLA at
    ``as_of``: their open run began before ``as_of - sla`` (exactly the SLA is not over)."""
    lifetime = "COALESCE(s.lifetime_spend, 0)"
    condition, bound = _tier_sql(tier, lifetime)
    return await query(
        f"SELECT count(*) AS n, sum({lifetime}) AS spend FROM ofca_reply r "
        "LEFT JOIN ofca_chat_spend s ON s.account_id = r.account_id AND s.chat_id = r.chat_id "
        "WHERE r.account_id = {} AND r.replied_at IS NULL AND r.first_inbound_at < {}"
        f"{condition}",
        account_id,
        as_of - timedelta(seconds=sla_seconds),
        *(whale for _ in bound),
    )
