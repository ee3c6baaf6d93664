"""Fans and chatters (docs/metrics.md, "Money" and "Chatters"): the SQL that reads a
window's tips and PPV offers (``ofca.insights.revenue`` sums them), who sent what, and who
is waiting; the arithmetic is the pure ``ofca.domain.money``.

Money is sparse (a few messages in a hundred carry any), so the tips and offers of a window
are read from a partial index over the messages that can carry money (m0015). Postgres sums
them per chatter or per bucket in SQL; SQLite sums them here with ``math.fsum`` (the
answers agree to the 9 decimals every insight rounds to). An outbound
message's chatter (the user or key of the dashboard command it is linked to, else the
extension's operator, else ``unassigned``) is stored with it at ingest and on the reply
run it answered by the refresh (m0014), so the leaderboard reads both from indexes. A
tip is credited to the chatter of the chat's latest outbound message before it, when that
is at most ``OFCA_TIP_CREDIT_HOURS`` older (``ofca.insights.credits``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import msgspec

from ofca.domain.aggregates import ReplyStats
from ofca.domain.insights import ChattersResponse, FansResponse
from ofca.domain.metrics import Window
from ofca.domain.money import (
    UNASSIGNED,
    ChatterSent,
    FanChat,
    FanSpend,
    MoneyEvent,
    OfferSums,
    Tier,
    chatter_rows,
    fan_rows,
    money_kind,
    tip_amounts,
)
from ofca.insights.chatter_replies import reply_times
from ofca.insights.credits import credit_sql, credited_chatter_sql
from ofca.insights.reply_buckets import bucketed_reply_times
from ofca.insights.sent import sent_from_days
from ofca.insights.session_sums import window_session_sums
from ofca.insights.spend import (
    CHATTER_SQL,
    MAY_CARRY_SQL,
    OFFER_SQL,
    PAID_SQL,
    TIP_SQL,
    ranked_fans,
)
from ofca.insights.windows import is_postgres, query, together, window_view
from ofca.persistence.sql import to_utc
from ofca.settings import Settings

__all__ = [
    "CHATTER_EXPORT_COLUMNS",
    "CHATTER_SQL",
    "MoneyFilters",
    "chatters",
    "export_chatters",
    "fans",
    "fans_from_messages",
    "money_events",
    "money_scope",
    "sent_from_messages",
    "session_scope",
    "sessions_of",
]

_encode = msgspec.json.Encoder().encode


class MoneyFilters(msgspec.Struct, frozen=True, kw_only=True):
    """``chat_id``, ``topic`` and ``chatter`` (docs/metrics.md, "Revenue")."""

    chat_id: str | None = None
    topic: str | None = None
    chatter: str | None = None


def money_scope(
    filters: MoneyFilters, account_id: str, since: datetime | None, alias: str = "m"
) -> tuple[str, list[Any]]:
    """Conditions on messages ``alias`` of ``account_id`` (none before ``since``, when
    given) for the chat and topic filters (a message is in a topic when the session it
    lies in has the topic).

    The topic's sessions that can hold such a message end at ``since`` or later: one range
    of m0019's index, which Postgres hashes on the chat. They are a subquery it may not
    merge into the statement (``OFFSET 0``): merged, Postgres probed them once per message
    whenever it expected few messages, one range each (a topic's PPV offers of 30 days at
    1M messages: 966 ms; hashed: 5 ms). A topic-filtered revenue of 90 days went
    228 -> 50 ms. SQLite cannot take ``OFFSET`` alone and needs no fence."""
    sql = ""
    params: list[Any] = []
    if filters.chat_id is not None:
        sql += f" AND {alias}.chat_id = {{}}"
        params.append(filters.chat_id)
    if filters.topic is not None:
        sessions = (
            "SELECT chat_id, start_at, end_at FROM ofca_session_topic "
            "WHERE account_id = {} AND topic = {}"
        )
        params += [account_id, filters.topic]
        if since is not None:
            sessions += " AND end_at >= {}"
            params.append(since)
        if filters.chat_id is not None:
            sessions += " AND chat_id = {}"
            params.append(filters.chat_id)
        fence = " OFFSET 0" if is_postgres() else ""
        sql += (
            f" AND EXISTS (SELECT 1 FROM ({sessions}{fence}) st WHERE st.chat_id = "
            f"{alias}.chat_id AND st.start_at <= {alias}.created_at "
            f"AND st.end_at >= {alias}.created_at)"
        )
    return sql, params


def session_scope(
    sql: str, params: list[Any], alias: str, start_column: str, filters: MoneyFilters
) -> tuple[str, list[Any]]:
    """``sql`` on rows ``alias`` of one session each (its start in ``start_column``) with
    the chat and topic filters added."""
    if filters.chat_id is not None:
        sql += f" AND {alias}.chat_id = {{}}"
        params = [*params, filters.chat_id]
    if filters.topic is not None:
        sql += (
            " AND EXISTS (SELECT 1 FROM ofca_session_topic ft WHERE ft.account_id = "
            f"{alias}.account_id AND ft.chat_id = {alias}.chat_id AND ft.start_at = "
            f"{alias}.{start_column} AND ft.topic = {{}})"
        )
        params = [*params, filters.topic]
    return sql, params


async def money_events(
    account_id: str,
    start: datetime | None,
    end: datetime,
    filters: MoneyFilters,
    credit_hours: float | None,
    *,
    tips_only: bool = False,
) -> list[MoneyEvent]:
    """The tips and PPV offers with revenue time in ``[start, end)`` (``start`` None: from
    the beginning), after the chat and topic filters, each with its chatter (tips: the
    chatter credited within ``credit_hours``; None: not asked for, every tip
    ``unassigned``); with the ``chatter`` filter, other chatters' offers are left out in
    SQL and their credited tips left to the caller; ``tips_only``: the tips alone."""
    scope, params = money_scope(filters, account_id, start)
    if tips_only:
        scope += f" AND {TIP_SQL}"
    since = "" if start is None else " AND m.created_at >= {}"
    bounds = [end] if start is None else [start, end]
    credit, credit_join, joined = ", NULL AS credit_chatter, NULL AS credit_at", "", []
    if credit_hours is not None:
        chatter, credited_at, credit_join = credit_sql(start is not None)
        credit = f", {chatter} AS credit_chatter, {credited_at} AS credit_at"
        joined = bounds
    if filters.chatter is not None:
        # Only this chatter's offers, and the tips that may be credited to them (whether
        # within the credit hours is decided below; every tip may be unassigned).
        scope += f" AND (m.direction <> 'outbound' OR {CHATTER_SQL} = {{}})"
        params.append(filters.chatter)
        if credit_hours is not None and filters.chatter != UNASSIGNED:
            scope += f" AND (m.direction = 'outbound' OR {chatter} = {{}})"
            params.append(filters.chatter)
    rows = await query(
        "SELECT m.message_id, m.chat_id, m.direction, m.created_at, m.is_tip, m.price, "
        f"m.is_free, m.is_opened, {CHATTER_SQL} AS chatter{credit} "
        f"FROM ofca_message m{credit_join} WHERE m.account_id = {{}} AND {MAY_CARRY_SQL}"
        f"{since} AND m.created_at < {{}}{scope}",
        *joined,
        account_id,
        *bounds,
        *params,
    )
    window = timedelta(hours=credit_hours or 0)
    events: list[MoneyEvent] = []
    for row in rows:
        kind = money_kind(row["direction"], bool(row["is_tip"]), row["price"], bool(row["is_free"]))
        if kind is None:
            continue
        at = to_utc(row["created_at"])
        chatter = row["chatter"]
        if kind == "tip":
            credited_at = row["credit_at"]
            chatter = (
                row["credit_chatter"] or UNASSIGNED
                if credited_at is not None and at - to_utc(credited_at) <= window
                else UNASSIGNED
            )
        events.append(
            MoneyEvent(
                message_id=row["message_id"],
                chat_id=row["chat_id"],
                at=at,
                kind=kind,
                price=None if row["price"] is None else float(row["price"]),
                purchased=kind == "offer" and bool(row["is_opened"]),
                chatter=chatter,
            )
        )
    return events


async def sessions_of(account_id: str, window: Window, filters: MoneyFilters) -> int:
    """Sessions in the window after the filters; with ``chatter``, those in which the
    chatter sent a message."""
    if filters.chatter is None:
        sums = await window_session_sums(account_id, window, filters.chat_id, filters.topic)
        return sums.sessions
    sql, params = session_scope(
        "SELECT count(*) AS n FROM ofca_session_chatter s WHERE s.account_id = {} "
        "AND s.chatter = {} AND s.start_at >= {} AND s.start_at < {}",
        [account_id, filters.chatter, window.start, window.end],
        "s",
        "start_at",
        filters,
    )
    rows = await query(sql, *params)
    return int(rows[0]["n"] or 0)


# --------------------------------------------------------------------------- fans


async def _fan_chats(account_id: str, as_of: datetime) -> list[FanChat]:
    rows = await query(
        "SELECT f.chat_id, ch.fan_name, ch.fan_username FROM ofca_chat_first f "
        "LEFT JOIN ofca_chat ch ON ch.account_id = f.account_id AND ch.chat_id = f.chat_id "
        "WHERE f.account_id = {} AND f.first_at < {}",
        account_id,
        as_of,
    )
    return [FanChat(r["chat_id"], r["fan_name"], r["fan_username"]) for r in rows]


async def _fan_spend(account_id: str, window: Window) -> dict[str, FanSpend]:
    """Per chat with revenue before the window's end: lifetime and window spend, tips and
    PPV, last paid time (summed in SQL; rounded to 9 decimals like every insight)."""
    rows = await query(
        "SELECT m.chat_id, sum(CASE WHEN m.is_tip THEN m.price ELSE 0 END) AS tips, "
        "sum(CASE WHEN m.is_tip THEN 0 ELSE m.price END) AS ppv, "
        "sum(CASE WHEN m.created_at >= {} THEN m.price ELSE 0 END) AS spent, "
        "max(m.created_at) AS last_paid FROM ofca_message m WHERE m.account_id = {} "
        f"AND {MAY_CARRY_SQL} AND m.created_at < {{}} AND {PAID_SQL} GROUP BY m.chat_id",
        window.start,
        account_id,
        window.end,
    )
    spend: dict[str, FanSpend] = {}
    for row in rows:
        tips, ppv = float(row["tips"] or 0.0), float(row["ppv"] or 0.0)
        spend[row["chat_id"]] = FanSpend(
            lifetime_spend=round(tips + ppv, 9),
            window_spend=round(float(row["spent"] or 0.0), 9),
            tips_amount=round(tips, 9),
            ppv_revenue=round(ppv, 9),
            last_paid_at=to_utc(row["last_paid"]),
        )
    return spend


async def _waiting_since(account_id: str, as_of: datetime) -> dict[str, datetime]:
    """Per chat waiting at ``as_of``: the first inbound message of its open run (a run
    answered at or after ``as_of`` was still open then)."""
    # Two index reads (m0013's open runs, m0014's answer times) rather than one OR, which
    # read every reply run of the account.
    open_runs, answered_later = await together(
        query(
            "SELECT chat_id, first_inbound_at FROM ofca_reply WHERE account_id = {} "
            "AND replied_at IS NULL AND first_inbound_at < {}",
            account_id,
            as_of,
        ),
        query(
            "SELECT chat_id, first_inbound_at FROM ofca_reply WHERE account_id = {} "
            "AND replied_at >= {} AND first_inbound_at < {}",
            account_id,
            as_of,
            as_of,
        ),
    )
    return {r["chat_id"]: to_utc(r["first_inbound_at"]) for r in [*open_runs, *answered_later]}


async def fans(
    account_id: str, window: Window, settings: Settings, tier: Tier | None, limit: int
) -> FansResponse:
    ranked = await ranked_fans(account_id, window, settings, tier, limit)
    if ranked is not None:
        return ranked
    return await fans_from_messages(account_id, window, settings, tier, limit)


async def fans_from_messages(
    account_id: str, window: Window, settings: Settings, tier: Tier | None, limit: int
) -> FansResponse:
    """The fans list as the chats stood at the window's end, from the messages themselves
    (for an ``as_of`` with later messages; the read model answers the rest)."""
    as_of = window.end
    chats, spend, waiting = await together(
        _fan_chats(account_id, as_of),
        _fan_spend(account_id, window),
        _waiting_since(account_id, as_of),
    )
    rows, spend_waiting, fans_waiting = fan_rows(
        chats,
        spend,
        waiting,
        as_of,
        whale_spend=settings.whale_spend,
        sla_seconds=settings.reply_sla_seconds,
        tier=tier,
        limit=limit,
    )
    return FansResponse(
        fans=rows,
        spend_waiting=spend_waiting,
        fans_waiting=fans_waiting,
        as_of=as_of,
        window=window_view(window),
    )


# --------------------------------------------------------------------------- chatters


async def _sent(account_id: str, window: Window, filters: MoneyFilters) -> dict[str, ChatterSent]:
    """Per chatter: messages sent in the window and the distinct chats sent to: off the
    chatter days (``insights.sent``), or with a chat or topic filter from the messages."""
    if filters.chat_id is None and filters.topic is None:
        sent = await sent_from_days(account_id, window)
        if sent is not None:
            return sent
    return await sent_from_messages(account_id, window, filters)


async def sent_from_messages(
    account_id: str, window: Window, filters: MoneyFilters
) -> dict[str, ChatterSent]:
    """:func:`_sent` from the window's sent messages (counted per (chatter, chat) first:
    two hash aggregations, not a sort for ``count(DISTINCT)``, over the index of sent
    messages, m0014)."""
    scope, params = money_scope(filters, account_id, window.start)
    rows = await query(
        "SELECT chatter, sum(n) AS messages, count(*) AS fans FROM ("
        f"SELECT {CHATTER_SQL} AS chatter, m.chat_id, count(*) AS n FROM ofca_message m "
        "WHERE m.account_id = {} AND m.direction = 'outbound' AND m.created_at >= {} "
        f"AND m.created_at < {{}}{scope} GROUP BY 1, 2) sent GROUP BY chatter",
        account_id,
        window.start,
        window.end,
        *params,
    )
    return {
        r["chatter"]: ChatterSent(messages_sent=int(r["messages"]), fans=int(r["fans"]))
        for r in rows
    }


async def _reply_times(
    account_id: str, window: Window, filters: MoneyFilters, sla_seconds: float
) -> dict[str, ReplyStats]:
    """Per chatter: the statistics of the answered runs of the window whose reply is
    theirs (``insights.chatter_replies``), after the chat and topic filters: a topic's
    runs are read from their copies filed under it (each chatter's one range of m0020's
    index), not every run of the window tested against the topic's sessions. Without a
    filter, Postgres reads the reply-time buckets (``insights.reply_buckets``, m0024)."""
    if filters.topic is not None:
        where = (
            "FROM ofca_reply_topic r WHERE r.account_id = {} AND r.topic = {} "
            "AND r.first_inbound_at >= {} AND r.first_inbound_at < {} "
            "AND r.reply_seconds IS NOT NULL"
        )
        params: list[Any] = [account_id, filters.topic, window.start, window.end]
        if filters.chat_id is not None:
            where += " AND r.chat_id = {}"
            params.append(filters.chat_id)
        chat = filters.chat_id is not None
        return await reply_times(account_id, where, params, sla_seconds, filtered=chat)
    if filters.chat_id is None and is_postgres():
        bucketed = await bucketed_reply_times(account_id, window, sla_seconds)
        if bucketed is not None:
            return bucketed
    where, params = session_scope(
        "FROM ofca_reply r WHERE r.account_id = {} AND r.first_inbound_at >= {} "
        "AND r.first_inbound_at < {} AND r.reply_seconds IS NOT NULL",
        [account_id, window.start, window.end],
        "r",
        "session_start_at",
        filters,
    )
    filtered = filters.chat_id is not None or filters.topic is not None
    return await reply_times(account_id, where, params, sla_seconds, filtered=filtered)


async def _names(account_id: str, chatter_ids: Sequence[str]) -> dict[str, str | None]:
    """Users by their name, keys by theirs, extension operators by the latest name seen."""
    names: dict[str, str | None] = {}
    users = [c.removeprefix("user:") for c in chatter_ids if c.startswith("user:")]
    keys = [c.removeprefix("key:") for c in chatter_ids if c.startswith("key:")]
    operators = [c.removeprefix("ext:") for c in chatter_ids if c.startswith("ext:")]
    if users:
        marks = ", ".join("{}" for _ in users)
        for row in await query(
            f"SELECT user_id, name FROM ofca_user WHERE user_id IN ({marks})", *users
        ):
            names[f"user:{row['user_id']}"] = row["name"] or None
    numeric = [int(k) for k in keys if k.isdigit()]
    if numeric:
        marks = ", ".join("{}" for _ in numeric)
        for row in await query(
            f"SELECT id, name FROM ofca_api_key WHERE id IN ({marks})", *numeric
        ):
            names[f"key:{row['id']}"] = row["name"] or None
    for operator in operators:
        names[f"ext:{operator}"] = await _operator_name(account_id, operator)
    return names


async def _operator_name(account_id: str, operator_id: str) -> str | None:
    """The latest name seen for an operator: of its latest timed message with one (read
    backwards off an index, m0014), else of its latest untimed one."""
    for timed in ("created_at IS NOT NULL", "created_at IS NULL"):
        rows = await query(
            "SELECT operator_name FROM ofca_message WHERE account_id = {} AND operator_id = {} "
            f"AND operator_name IS NOT NULL AND {timed} "
            "ORDER BY created_at DESC, ingested_at DESC LIMIT 1",
            account_id,
            operator_id,
        )
        if rows:
            return str(rows[0]["operator_name"])
    return None


async def _offer_sums(
    account_id: str, window: Window, filters: MoneyFilters
) -> dict[str, OfferSums]:
    """Per chatter: the window's PPV offers, summed in SQL (as the revenue sums are)."""
    scope, params = money_scope(filters, account_id, window.start)
    rows = await query(
        f"SELECT {CHATTER_SQL} AS chatter, count(*) AS offered, "
        "sum(CASE WHEN m.is_opened THEN 1 ELSE 0 END) AS purchased, "
        "sum(CASE WHEN m.is_opened THEN m.price ELSE 0 END) AS revenue "
        f"FROM ofca_message m WHERE m.account_id = {{}} AND {MAY_CARRY_SQL} AND {OFFER_SQL} "
        f"AND m.created_at >= {{}} AND m.created_at < {{}}{scope} GROUP BY 1",
        account_id,
        window.start,
        window.end,
        *params,
    )
    return {
        r["chatter"]: OfferSums(
            offered=int(r["offered"]),
            purchased=int(r["purchased"] or 0),
            revenue=float(r["revenue"] or 0.0),
        )
        for r in rows
    }


async def _tip_amounts(
    account_id: str, window: Window, filters: MoneyFilters, credit_hours: float
) -> dict[str, float]:
    """Per chatter credited with a tip of the window: the tips' amount, after the chat and
    topic filters. Postgres sums them per chatter (the tips' credits compared with the
    hours there); SQLite sums their events."""
    if not is_postgres():
        tips = await money_events(
            account_id, window.start, window.end, filters, credit_hours, tips_only=True
        )
        return tip_amounts(tips)
    scope, params = money_scope(filters, account_id, window.start)
    credited, joins = credited_chatter_sql(True)
    rows = await query(
        f"SELECT {credited} AS chatter, sum(CASE WHEN m.price > 0 THEN m.price ELSE 0 END) "
        f"AS amount FROM ofca_message m{joins} WHERE m.account_id = {{}} AND {MAY_CARRY_SQL} "
        f"AND {TIP_SQL} AND m.created_at >= {{}} AND m.created_at < {{}}{scope} GROUP BY 1",
        credit_hours * 3600.0,
        window.start,
        window.end,
        account_id,
        window.start,
        window.end,
        *params,
    )
    return {row["chatter"]: float(row["amount"] or 0.0) for row in rows}


async def chatters(
    account_id: str, window: Window, filters: MoneyFilters, settings: Settings
) -> ChattersResponse:
    sent, replies, offers, tips = await together(
        _sent(account_id, window, filters),
        _reply_times(account_id, window, filters, settings.reply_sla_seconds),
        _offer_sums(account_id, window, filters),
        _tip_amounts(account_id, window, filters, settings.tip_credit_hours),
    )
    if filters.chatter is not None:
        sent = {k: v for k, v in sent.items() if k == filters.chatter}
        replies = {k: v for k, v in replies.items() if k == filters.chatter}
        offers = {k: v for k, v in offers.items() if k == filters.chatter}
        tips = {k: v for k, v in tips.items() if k == filters.chatter}
    ids = sorted(set(sent) | set(replies) | set(offers) | set(tips))
    rows = chatter_rows(
        sent, replies, offers, tips, await _names(account_id, ids), settings.reply_sla_seconds
    )
    return ChattersResponse(chatters=rows, window=window_view(window))


# --------------------------------------------------------------------------- export

CHATTER_EXPORT_COLUMNS = (
    "chatter",
    "name",
    "messages_sent",
    "fans",
    "replies",
    "reply_mean_seconds",
    "reply_median_seconds",
    "reply_p90_seconds",
    "reply_within_sla_percentage",
    "ppv_offered",
    "ppv_purchased",
    "ppv_revenue",
    "unlock_rate",
    "tips_amount",
    "revenue",
    "revenue_per_message",
)
"""The chatters export's CSV columns: a leaderboard row, its reply time flattened."""


def _csv(values: Sequence[Any]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue().encode("utf-8")


async def export_chatters(
    account_id: str,
    window: Window,
    filters: MoneyFilters,
    settings: Settings,
    fmt: Literal["csv", "ndjson"],
) -> AsyncIterator[bytes]:
    """The chatters leaderboard of the window as CSV (:data:`CHATTER_EXPORT_COLUMNS`) or
    NDJSON (one ``/insights/chatters`` row per line)."""
    rows = (await chatters(account_id, window, filters, settings)).chatters
    if fmt == "ndjson":
        yield b"".join(_encode(row) + b"\n" for row in rows)
        return
    lines = [_csv(CHATTER_EXPORT_COLUMNS)]
    for row in rows:
        reply = row.reply_time
        lines.append(
            _csv(
                [
                    row.chatter,
                    row.name,
                    row.messages_sent,
                    row.fans,
                    row.replies,
                    reply.mean_seconds,
                    reply.median_seconds,
                    reply.p90_seconds,
                    reply.within_sla_percentage,
                    row.ppv_offered,
                    row.ppv_purchased,
                    row.ppv_revenue,
                    row.unlock_rate,
                    row.tips_amount,
                    row.revenue,
                    row.revenue_per_message,
                ]
            )
        )
    yield b"".join(lines)
