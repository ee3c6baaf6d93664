"""Revenue (docs/metrics.md, "Revenue" and "Topics revenue"): the window's and the previous
window's tips and PPV offers, and the window's trend per bucket.

On Postgres one statement sums both windows per bucket (``width_bucket`` against the
buckets' starts; the previous window is bucket 0) and a second counts the paying fans of
each window, both over the partial index of money messages (m0015), with a chatter filter
too (a tip's credit from ``ofca_tip_credit``, compared with the credit hours in SQL). Each
request returns a few hundred rows instead of every money message of two windows: reading
those into Python was half of a 90-day request at 1M messages. SQLite sums the messages
in Python (``ofca.domain.money``); both answer the same to 9 decimals.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ofca.domain.insights import RevenueResponse
from ofca.domain.metrics import Granularity, Window, bucket_locator, bucket_starts
from ofca.domain.money import (
    RevenueSums,
    RevenueTrendPoint,
    RevenueValues,
    TrendItem,
    money_kind,
    revenue_of,
    revenue_sums,
    revenue_trend,
    sums_together,
    trend_items,
    trend_points,
)
from ofca.insights.credits import credited_chatter_sql
from ofca.insights.money import (
    MoneyFilters,
    money_events,
    money_scope,
    sessions_of,
)
from ofca.insights.spend import CHATTER_SQL, MAY_CARRY_SQL, OFFER_SQL, PAID_SQL, TIP_SQL
from ofca.insights.windows import is_postgres, query, together, window_view
from ofca.persistence.sql import to_utc
from ofca.settings import Settings

__all__ = ["revenue", "revenue_summary"]


async def _summed(
    account_id: str, window: Window, filters: MoneyFilters
) -> tuple[RevenueSums, RevenueSums]:
    """(the window's, the previous window's) sums, summed in SQL (no chatter filter)."""
    scope, params = money_scope(filters, account_id, window.previous().start)
    bought = f"{OFFER_SQL} AND m.is_opened"
    rows = await query(
        "SELECT CASE WHEN m.created_at >= {} THEN 1 ELSE 0 END AS cur, "
        f"sum(CASE WHEN {TIP_SQL} THEN 1 ELSE 0 END) AS tips, "
        f"sum(CASE WHEN {TIP_SQL} AND m.price > 0 THEN m.price ELSE 0 END) AS tips_amount, "
        f"sum(CASE WHEN {TIP_SQL} AND NOT m.price > 0 THEN 1 ELSE 0 END) AS unpriced, "
        f"sum(CASE WHEN {TIP_SQL} AND m.price IS NULL THEN 1 ELSE 0 END) AS unpriced_null, "
        f"sum(CASE WHEN {OFFER_SQL} THEN 1 ELSE 0 END) AS offered, "
        f"sum(CASE WHEN {bought} THEN 1 ELSE 0 END) AS purchased, "
        f"sum(CASE WHEN {bought} THEN m.price ELSE 0 END) AS ppv_revenue, "
        f"count(DISTINCT CASE WHEN {PAID_SQL} THEN m.chat_id END) AS paying "
        f"FROM ofca_message m WHERE m.account_id = {{}} AND {MAY_CARRY_SQL} "
        f"AND m.created_at >= {{}} AND m.created_at < {{}}{scope} "
        "GROUP BY 1",
        window.start,
        account_id,
        window.previous().start,
        window.end,
        *params,
    )
    sums = {0: RevenueSums(), 1: RevenueSums()}
    for row in rows:
        sums[int(row["cur"])] = RevenueSums(
            tips=int(row["tips"] or 0),
            tips_amount=float(row["tips_amount"] or 0.0),
            tips_without_amount=int(row["unpriced"] or 0) + int(row["unpriced_null"] or 0),
            ppv_offered=int(row["offered"] or 0),
            ppv_purchased=int(row["purchased"] or 0),
            ppv_revenue=float(row["ppv_revenue"] or 0.0),
            paying_fans=int(row["paying"] or 0),
        )
    return sums[1], sums[0]


async def _trend_items(account_id: str, window: Window, filters: MoneyFilters) -> list[TrendItem]:
    """The window's tips and offers as trend items (no chatter filter)."""
    scope, params = money_scope(filters, account_id, window.start)
    rows = await query(
        "SELECT m.created_at, m.direction, m.is_tip, m.price, m.is_free, m.is_opened "
        f"FROM ofca_message m WHERE m.account_id = {{}} AND {MAY_CARRY_SQL} "
        f"AND m.created_at >= {{}} AND m.created_at < {{}}{scope}",
        account_id,
        window.start,
        window.end,
        *params,
    )
    items: list[TrendItem] = []
    for row in rows:
        price = row["price"]
        kind = money_kind(row["direction"], bool(row["is_tip"]), price, bool(row["is_free"]))
        if kind is None:
            continue
        amount = float(price) if price is not None and price > 0 else 0.0
        bought = kind == "offer" and bool(row["is_opened"])
        items.append((to_utc(row["created_at"]), kind, bought, amount))
    return items


async def _chatter_sums(
    account_id: str, window: Window, filters: MoneyFilters, settings: Settings
) -> tuple[RevenueSums, RevenueSums, list[TrendItem]]:
    """Sums and trend items of one chatter's offers and credited tips."""
    previous = window.previous()
    events = await money_events(
        account_id, previous.start, window.end, filters, settings.tip_credit_hours
    )
    kept = [e for e in events if e.chatter == filters.chatter]
    now = [e for e in kept if e.at >= window.start]
    before = [e for e in kept if e.at < window.start]
    return revenue_sums(now), revenue_sums(before), trend_items(now)


# --------------------------------------------------------------------------- Postgres

_BUCKET_SUMS = (
    f"count(*) FILTER (WHERE {TIP_SQL}) AS tips, "
    f"sum(m.price) FILTER (WHERE {TIP_SQL} AND m.price > 0) AS tips_amount, "
    f"count(*) FILTER (WHERE {TIP_SQL} AND NOT COALESCE(m.price > 0, FALSE)) AS unpriced, "
    f"count(*) FILTER (WHERE {OFFER_SQL}) AS offered, "
    f"count(*) FILTER (WHERE {OFFER_SQL} AND m.is_opened) AS purchased, "
    f"sum(m.price) FILTER (WHERE {OFFER_SQL} AND m.is_opened) AS ppv_revenue"
)


def _both_windows(
    account_id: str, window: Window, filters: MoneyFilters, credit_hours: float
) -> tuple[str, list[Any]]:
    """FROM and WHERE of the money messages of the window and the previous one after the
    filters (a chatter's offers and the tips credited to them within ``credit_hours``)."""
    scope, params = money_scope(filters, account_id, window.previous().start)
    bounds = [window.previous().start, window.end]
    joins, joined = "", []
    if filters.chatter is not None:
        credited, joins = credited_chatter_sql(True)
        joined = bounds
        scope += (
            f" AND (m.direction <> 'outbound' OR {CHATTER_SQL} = {{}})"
            f" AND (m.direction = 'outbound' OR {credited} = {{}})"
        )
        params += [filters.chatter, credit_hours * 3600.0, filters.chatter]
    return (
        f"FROM ofca_message m{joins} WHERE m.account_id = {{}} AND {MAY_CARRY_SQL} "
        f"AND m.created_at >= {{}} AND m.created_at < {{}}{scope}",
        [*joined, account_id, *bounds, *params],
    )


async def _bucket_sums(
    account_id: str,
    window: Window,
    starts: list[datetime],
    filters: MoneyFilters,
    credit_hours: float,
) -> tuple[list[RevenueSums], RevenueSums]:
    """(each bucket's sums, the previous window's), paying fans not counted."""
    where, params = _both_windows(account_id, window, filters, credit_hours)
    rows = await query(
        "SELECT CASE WHEN m.created_at >= {} THEN width_bucket(m.created_at, "
        f"{{}}::timestamptz[]) ELSE 0 END AS bucket, {_BUCKET_SUMS} {where} GROUP BY 1",
        window.start,
        starts,
        *params,
    )
    sums = [RevenueSums() for _ in range(len(starts) + 1)]
    for row in rows:
        sums[int(row["bucket"])] = RevenueSums(
            tips=int(row["tips"]),
            tips_amount=float(row["tips_amount"] or 0.0),
            tips_without_amount=int(row["unpriced"]),
            ppv_offered=int(row["offered"]),
            ppv_purchased=int(row["purchased"]),
            ppv_revenue=float(row["ppv_revenue"] or 0.0),
        )
    return sums[1:], sums[0]


async def _paying_fans(
    account_id: str, window: Window, filters: MoneyFilters, credit_hours: float
) -> tuple[int, int]:
    """(the window's, the previous window's) paying fans: distinct chats (compared by code
    point, which is how Postgres hashes and sorts them fastest; equality is the same)."""
    where, params = _both_windows(account_id, window, filters, credit_hours)
    rows = await query(
        'SELECT count(DISTINCT m.chat_id COLLATE "C") FILTER (WHERE m.created_at >= {}) '
        'AS now, count(DISTINCT m.chat_id COLLATE "C") FILTER (WHERE m.created_at < {}) '
        f"AS before {where} AND {PAID_SQL}",
        window.start,
        window.start,
        *params,
    )
    return int(rows[0]["now"]), int(rows[0]["before"])


async def _grouped(
    account_id: str,
    window: Window,
    starts: list[datetime],
    filters: MoneyFilters,
    credit_hours: float,
) -> tuple[RevenueSums, RevenueSums, list[RevenueTrendPoint]]:
    """:func:`revenue`'s sums and trend on Postgres, summed there."""
    (buckets, before), (paying, paid_before) = await together(
        _bucket_sums(account_id, window, starts, filters, credit_hours),
        _paying_fans(account_id, window, filters, credit_hours),
    )
    current = sums_together(buckets, paying)
    previous = sums_together([before], paid_before)
    return current, previous, trend_points(starts, buckets)


async def _in_python(
    account_id: str,
    window: Window,
    starts: list[datetime],
    filters: MoneyFilters,
    settings: Settings,
) -> tuple[RevenueSums, RevenueSums, list[RevenueTrendPoint]]:
    """:func:`revenue`'s sums and trend from the money messages, summed here (SQLite)."""
    if filters.chatter is None:
        (current, before), items = await together(
            _summed(account_id, window, filters), _trend_items(account_id, window, filters)
        )
    else:
        current, before, items = await _chatter_sums(account_id, window, filters, settings)
    return current, before, revenue_trend(items, starts, bucket_locator(starts))


async def revenue(
    account_id: str,
    window: Window,
    zone_name: str,
    granularity: Granularity,
    filters: MoneyFilters,
    settings: Settings,
) -> RevenueResponse:
    previous = window.previous()
    starts = bucket_starts(window, ZoneInfo(zone_name), granularity)
    sums = (
        _grouped(account_id, window, starts, filters, settings.tip_credit_hours)
        if is_postgres()
        else _in_python(account_id, window, starts, filters, settings)
    )
    (current, before, trend), current_sessions, previous_sessions = await together(
        sums,
        sessions_of(account_id, window, filters),
        sessions_of(account_id, previous, filters),
    )
    fee = settings.platform_fee_percent
    return RevenueResponse(
        current=revenue_of(current, current_sessions, fee),
        previous=revenue_of(before, previous_sessions, fee),
        trend=trend,
        window=window_view(window),
        previous_window=window_view(previous),
        granularity=granularity,
        timezone=zone_name,
    )


async def _unfiltered_sums(account_id: str, window: Window, credit_hours: float) -> RevenueSums:
    """The window's sums without filters or trend: on SQLite the sums alone (the trend's
    read of every money message of the window would be thrown away)."""
    if is_postgres():
        current, _before, _trend = await _grouped(
            account_id, window, [window.start], MoneyFilters(), credit_hours
        )
        return current
    current, _before = await _summed(account_id, window, MoneyFilters())
    return current


async def revenue_summary(account_id: str, window: Window, settings: Settings) -> RevenueValues:
    """The window's revenue without filters (``analytics_update``)."""
    current, sessions = await together(
        _unfiltered_sums(account_id, window, settings.tip_credit_hours),
        sessions_of(account_id, window, MoneyFilters()),
    )
    return revenue_of(current, sessions, settings.platform_fee_percent)
