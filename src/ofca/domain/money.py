"""Money on messages: tips, pay-per-view (PPV) offers and purchases, fans' spend and
chatters' sales (docs/metrics.md, "Money" and "Chatters"). Pure functions, no I/O.

What a message carries (``isTip``, ``price``, ``isFree``, ``isOpened``) is checked once on
ingest (:func:`money_problem`: a malformed field rejects that message only) and stored as
:class:`MoneyFields`. The insights read the window's tips and offers as
:class:`MoneyEvent` rows and sum them here, always in the same order (revenue time, then
message id), so both database engines answer identically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import msgspec

from ofca.domain.aggregates import ReplyStats, no_reply_stats
from ofca.domain.metrics import NO_SESSIONS
from ofca.domain.onlyfans import Message

__all__ = [
    "INVALID_MONEY",
    "NO_MESSAGES_SENT",
    "NO_PAYING_FANS",
    "NO_PPV_OFFERED",
    "NO_PPV_PURCHASED",
    "TIERS",
    "UNASSIGNED",
    "ChatterRow",
    "ChatterSent",
    "FanChat",
    "FanName",
    "FanRow",
    "FanSpend",
    "MoneyEvent",
    "MoneyFields",
    "OfferSums",
    "RevenueSums",
    "RevenueTrendPoint",
    "RevenueValues",
    "Tier",
    "TrendItem",
    "chatter_rows",
    "command_chatter",
    "fan_rows",
    "invalid_money",
    "message_chatter",
    "message_revenue",
    "money_fields",
    "money_kind",
    "money_problem",
    "net_of",
    "offer_sums",
    "revenue_of",
    "revenue_sums",
    "revenue_trend",
    "revenue_values",
    "stored_revenue",
    "sums_together",
    "tier_of",
    "tip_amounts",
    "trend_items",
    "trend_points",
]

INVALID_MONEY = "invalid_money"
"""Reason prefix of a message rejected for a malformed money field."""

NO_PPV_OFFERED = "no_ppv_offered"
NO_PPV_PURCHASED = "no_ppv_purchased"
NO_PAYING_FANS = "no_paying_fans"
NO_MESSAGES_SENT = "no_messages_sent"

UNASSIGNED = "unassigned"
"""The chatter of an outbound message nobody can be named for, and of uncredited tips."""

Tier = Literal["whale", "spender", "free"]
TIERS: tuple[Tier, ...] = ("whale", "spender", "free")

Kind = Literal["tip", "offer"]


# --------------------------------------------------------------------------- on ingest


class MoneyFields(msgspec.Struct, frozen=True):
    """The money columns of a stored message (absent flags are stored as false)."""

    is_tip: bool = False
    price: float | None = None
    is_free: bool = False
    is_opened: bool = False


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def money_problem(is_tip: Any, price: Any, is_free: Any, is_opened: Any) -> str | None:
    """Why a message's money fields are malformed (it is then rejected alone), or None.

    ``price``: absent/null or a finite JSON number >= 0; the flags: absent/null or JSON
    booleans."""
    if price is not None:
        if not _is_number(price):
            return f"{INVALID_MONEY}: price must be a number, not {type(price).__name__}"
        if not math.isfinite(price) or price < 0:
            return f"{INVALID_MONEY}: price must be a number >= 0, not {price!r}"
    for name, flag in (("isTip", is_tip), ("isFree", is_free), ("isOpened", is_opened)):
        if flag is not None and not isinstance(flag, bool):
            return f"{INVALID_MONEY}: {name} must be true or false, not {type(flag).__name__}"
    return None


def invalid_money(message: Message) -> str | None:
    """:func:`money_problem` of a captured message (the reason it is rejected alone)."""
    return money_problem(message.isTip, message.price, message.isFree, message.isOpened)


def money_fields(is_tip: Any, price: Any, is_free: Any, is_opened: Any) -> MoneyFields:
    """The stored columns of fields :func:`money_problem` accepted (anything else reads as
    absent: no money by guess)."""
    return MoneyFields(
        is_tip=is_tip is True,
        price=float(price) if _is_number(price) and math.isfinite(price) and price >= 0 else None,
        is_free=is_free is True,
        is_opened=is_opened is True,
    )


def money_kind(direction: str, is_tip: bool, price: float | None, is_free: bool) -> Kind | None:
    """``tip`` (inbound, isTip), ``offer`` (outbound PPV: not a tip, price > 0, not free), or
    None."""
    if direction == "inbound" and is_tip:
        return "tip"
    if direction == "outbound" and not is_tip and price is not None and price > 0 and not is_free:
        return "offer"
    return None


def message_revenue(
    direction: str, is_tip: bool, price: float | None, is_free: bool, is_opened: bool
) -> float:
    """What one stored message brings: a tip's amount, a bought offer's price, else 0."""
    kind = money_kind(direction, is_tip, price, is_free)
    if price is None or price <= 0 or kind is None or (kind == "offer" and not is_opened):
        return 0.0
    return float(price)


def stored_revenue(row: Mapping[str, Any]) -> float:
    """:func:`message_revenue` of a stored message's row (its money columns)."""
    return message_revenue(
        row["direction"],
        bool(row["is_tip"]),
        row["price"],
        bool(row["is_free"]),
        bool(row["is_opened"]),
    )


def command_chatter(user_id: str | None, key_id: str | None) -> str | None:
    """The chatter of a dashboard command: its user (login), else its API key."""
    if user_id:
        return f"user:{user_id}"
    if key_id:
        return f"key:{key_id}"
    return None


def message_chatter(
    direction: str, command_chatter_id: str | None, operator_id: str | None
) -> str | None:
    """An outbound message's chatter: the command's user or key, else the extension's
    operator, else ``unassigned``; None for other directions."""
    if direction != "outbound":
        return None
    if command_chatter_id:
        return command_chatter_id
    if operator_id:
        return f"ext:{operator_id}"
    return UNASSIGNED


# --------------------------------------------------------------------------- events


class MoneyEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A tip or a PPV offer as the insights read it (its latest stored version)."""

    message_id: str
    chat_id: str
    at: datetime
    """Revenue time: the message's own ``createdAt`` (an offer's, for its purchase)."""
    kind: Kind
    price: float | None
    purchased: bool = False
    """An offer whose latest version has ``isOpened`` true."""
    chatter: str = UNASSIGNED
    """The offer's own chatter, or the chatter the tip is credited to."""

    @property
    def amount(self) -> float:
        """The revenue it brings: a tip's price (> 0), a purchased offer's price, else 0."""
        if self.price is None or self.price <= 0:
            return 0.0
        if self.kind == "tip" or self.purchased:
            return self.price
        return 0.0


def ordered(events: Iterable[MoneyEvent]) -> list[MoneyEvent]:
    return sorted(events, key=lambda e: (e.at, e.message_id))


def net_of(gross: float, fee_percent: float) -> float:
    return gross * (1.0 - fee_percent / 100.0)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 9)


class RevenueValues(msgspec.Struct, kw_only=True):
    """The revenue of one window (docs/metrics.md, "Revenue")."""

    gross: float
    net: float
    tips: int
    tips_amount: float
    tips_without_amount: int
    ppv_offered: int
    ppv_purchased: int
    ppv_revenue: float
    unlock_rate: float | None
    average_purchase: float | None
    paying_fans: int
    revenue_per_paying_fan: float | None
    revenue_per_session: float | None
    unavailable_reasons: dict[str, str]


class RevenueSums(msgspec.Struct, kw_only=True):
    """The counts and sums behind :class:`RevenueValues` (from events, or summed in SQL)."""

    tips: int = 0
    tips_amount: float = 0.0
    tips_without_amount: int = 0
    ppv_offered: int = 0
    ppv_purchased: int = 0
    ppv_revenue: float = 0.0
    paying_fans: int = 0


def revenue_sums(events: Iterable[MoneyEvent]) -> RevenueSums:
    """Sums of a window's events (already filtered), in a fixed order."""
    tips: list[float] = []
    tips_without_amount = 0
    offered = 0
    purchases: list[float] = []
    paying: set[str] = set()
    for event in ordered(events):
        if event.kind == "tip":
            if event.amount > 0:
                tips.append(event.amount)
            else:
                tips_without_amount += 1
        else:
            offered += 1
            if event.purchased:
                purchases.append(event.amount)
        if event.amount > 0:
            paying.add(event.chat_id)
    return RevenueSums(
        tips=len(tips) + tips_without_amount,
        tips_amount=math.fsum(tips),
        tips_without_amount=tips_without_amount,
        ppv_offered=offered,
        ppv_purchased=len(purchases),
        ppv_revenue=math.fsum(purchases),
        paying_fans=len(paying),
    )


def revenue_of(sums: RevenueSums, sessions: int, fee_percent: float) -> RevenueValues:
    """The values of docs/metrics.md "Revenue" from a window's sums; ``sessions``: the
    window's sessions (the denominator of ``revenue_per_session``)."""
    gross = math.fsum([sums.tips_amount, sums.ppv_revenue])
    reasons: dict[str, str] = {}
    offered, purchased = sums.ppv_offered, sums.ppv_purchased
    unlock_rate = purchased / offered * 100.0 if offered else None
    if unlock_rate is None:
        reasons["unlock_rate"] = NO_PPV_OFFERED
    average = sums.ppv_revenue / purchased if purchased else None
    if average is None:
        reasons["average_purchase"] = NO_PPV_PURCHASED
    per_fan = gross / sums.paying_fans if sums.paying_fans else None
    if per_fan is None:
        reasons["revenue_per_paying_fan"] = NO_PAYING_FANS
    per_session = gross / sessions if sessions else None
    if per_session is None:
        reasons["revenue_per_session"] = NO_SESSIONS
    return RevenueValues(
        gross=round(gross, 9),
        net=round(net_of(gross, fee_percent), 9),
        tips=sums.tips,
        tips_amount=round(sums.tips_amount, 9),
        tips_without_amount=sums.tips_without_amount,
        ppv_offered=offered,
        ppv_purchased=purchased,
        ppv_revenue=round(sums.ppv_revenue, 9),
        unlock_rate=_round(unlock_rate),
        average_purchase=_round(average),
        paying_fans=sums.paying_fans,
        revenue_per_paying_fan=_round(per_fan),
        revenue_per_session=_round(per_session),
        unavailable_reasons=reasons,
    )


def revenue_values(
    events: Iterable[MoneyEvent], sessions: int, fee_percent: float
) -> RevenueValues:
    """:func:`revenue_of` the sums of ``events``."""
    return revenue_of(revenue_sums(events), sessions, fee_percent)


class RevenueTrendPoint(msgspec.Struct, kw_only=True):
    """One bucket of the revenue trend; ``date`` is the bucket's local start."""

    date: datetime
    gross: float
    tips_amount: float
    ppv_revenue: float
    ppv_offered: int
    ppv_purchased: int


TrendItem = tuple[datetime, str, bool, float]
"""(revenue time, ``tip`` or ``offer``, bought, amount) of one event of the trend."""


def revenue_trend(
    items: Iterable[TrendItem],
    starts: Sequence[datetime],
    locate: Callable[[datetime], int | None],
) -> list[RevenueTrendPoint]:
    """Per bucket (``starts``, every one present) of the window's events."""
    tips: list[list[float]] = [[] for _ in starts]
    ppv: list[list[float]] = [[] for _ in starts]
    offered = [0] * len(starts)
    purchased = [0] * len(starts)
    for at, kind, bought, amount in sorted(items):
        index = locate(at)
        if index is None:
            continue
        if kind == "tip":
            tips[index].append(amount)
            continue
        offered[index] += 1
        if bought:
            purchased[index] += 1
            ppv[index].append(amount)
    sums = [
        RevenueSums(
            tips_amount=math.fsum(tips[index]),
            ppv_revenue=math.fsum(ppv[index]),
            ppv_offered=offered[index],
            ppv_purchased=purchased[index],
        )
        for index in range(len(starts))
    ]
    return trend_points(starts, sums)


def trend_points(
    starts: Sequence[datetime], sums: Sequence[RevenueSums]
) -> list[RevenueTrendPoint]:
    """The trend from each bucket's sums (``sums[i]`` those of the bucket ``starts[i]``)."""
    return [
        RevenueTrendPoint(
            date=start,
            gross=round(math.fsum([bucket.tips_amount, bucket.ppv_revenue]), 9),
            tips_amount=round(bucket.tips_amount, 9),
            ppv_revenue=round(bucket.ppv_revenue, 9),
            ppv_offered=bucket.ppv_offered,
            ppv_purchased=bucket.ppv_purchased,
        )
        for start, bucket in zip(starts, sums, strict=True)
    ]


def sums_together(parts: Iterable[RevenueSums], paying_fans: int) -> RevenueSums:
    """One window's sums from its parts' (its buckets'), and its ``paying_fans`` (distinct
    chats, which parts cannot add up)."""
    parts = list(parts)
    return RevenueSums(
        tips=sum(part.tips for part in parts),
        tips_amount=math.fsum(part.tips_amount for part in parts),
        tips_without_amount=sum(part.tips_without_amount for part in parts),
        ppv_offered=sum(part.ppv_offered for part in parts),
        ppv_purchased=sum(part.ppv_purchased for part in parts),
        ppv_revenue=math.fsum(part.ppv_revenue for part in parts),
        paying_fans=paying_fans,
    )


def trend_items(events: Iterable[MoneyEvent]) -> list[TrendItem]:
    return [(e.at, e.kind, e.purchased, e.amount) for e in events]


# --------------------------------------------------------------------------- fans


def tier_of(lifetime_spend: float, whale_spend: float) -> Tier:
    if lifetime_spend >= whale_spend:
        return "whale"
    return "spender" if lifetime_spend > 0 else "free"


class FanSpend(msgspec.Struct, kw_only=True):
    """A chat's money (lifetime, and within one window)."""

    lifetime_spend: float = 0.0
    window_spend: float = 0.0
    tips_amount: float = 0.0
    ppv_revenue: float = 0.0
    last_paid_at: datetime | None = None


class FanName(msgspec.Struct, kw_only=True):
    name: str | None
    username: str | None


class FanRow(msgspec.Struct, kw_only=True):
    """One fan (chat) of the fans insight (docs/metrics.md, "Fans")."""

    chat_id: str
    fan: FanName
    lifetime_spend: float
    window_spend: float
    tips_amount: float
    ppv_revenue: float
    last_paid_at: datetime | None
    tier: Tier
    waiting_seconds: float | None


class FanChat(msgspec.Struct, frozen=True):
    """A chat with a message with a usable time before ``as_of``."""

    chat_id: str
    name: str | None = None
    username: str | None = None


def fan_rows(
    chats: Iterable[FanChat],
    spend: Mapping[str, FanSpend],
    waiting_since: Mapping[str, datetime],
    as_of: datetime,
    *,
    whale_spend: float,
    sla_seconds: float,
    tier: Tier | None = None,
    limit: int,
) -> tuple[list[FanRow], float, int]:
    """(rows by lifetime spend descending then chat id, at most ``limit``; spend waiting;
    fans waiting). Spend waiting sums the lifetime spend of the chats waiting longer than
    ``sla_seconds`` (exactly the SLA is not over it), among those the ``tier`` keeps."""
    kept: list[tuple[float, str, FanChat, Tier, float | None]] = []
    for chat in chats:
        lifetime = spend[chat.chat_id].lifetime_spend if chat.chat_id in spend else 0.0
        fan_tier = tier_of(lifetime, whale_spend)
        if tier is not None and fan_tier != tier:
            continue
        since = waiting_since.get(chat.chat_id)
        waited = None if since is None else (as_of - since).total_seconds()
        kept.append((-lifetime, chat.chat_id, chat, fan_tier, waited))
    waiting = sorted(-k[0] for k in kept if k[4] is not None and k[4] > sla_seconds)
    kept.sort(key=lambda k: (k[0], k[1]))
    rows = []
    for _, chat_id, chat, fan_tier, waited in kept[:limit]:
        money = spend.get(chat_id, FanSpend())
        rows.append(
            FanRow(
                chat_id=chat_id,
                fan=FanName(name=chat.name, username=chat.username),
                lifetime_spend=money.lifetime_spend,
                window_spend=money.window_spend,
                tips_amount=money.tips_amount,
                ppv_revenue=money.ppv_revenue,
                last_paid_at=money.last_paid_at,
                tier=fan_tier,
                waiting_seconds=waited,
            )
        )
    return rows, round(math.fsum(waiting), 9), len(waiting)


# --------------------------------------------------------------------------- chatters


class ChatterSent(msgspec.Struct, kw_only=True):
    """What one chatter sent in the window."""

    messages_sent: int = 0
    fans: int = 0


class ChatterRow(msgspec.Struct, kw_only=True):
    """One chatter's row (docs/metrics.md, "Chatters")."""

    chatter: str
    name: str | None
    messages_sent: int
    fans: int
    replies: int
    reply_time: ReplyStats
    ppv_offered: int
    ppv_purchased: int
    ppv_revenue: float
    unlock_rate: float | None
    tips_amount: float
    revenue: float
    revenue_per_message: float | None
    unavailable_reasons: dict[str, str]


class OfferSums(msgspec.Struct, kw_only=True):
    """One chatter's PPV offers in the window: offered, purchased, the purchases' sum."""

    offered: int = 0
    purchased: int = 0
    revenue: float = 0.0


def offer_sums(events: Iterable[MoneyEvent]) -> dict[str, OfferSums]:
    """Per chatter: the sums of the offers among ``events`` (exact: ``math.fsum``)."""
    purchases: dict[str, list[float]] = {}
    sums: dict[str, OfferSums] = {}
    for event in events:
        if event.kind != "offer":
            continue
        row = sums.setdefault(event.chatter, OfferSums())
        row.offered += 1
        if event.purchased:
            row.purchased += 1
            purchases.setdefault(event.chatter, []).append(event.amount)
    for chatter, amounts in purchases.items():
        sums[chatter].revenue = math.fsum(amounts)
    return sums


def tip_amounts(tips: Iterable[MoneyEvent]) -> dict[str, float]:
    """Per chatter credited with a tip (one without an amount too): the amount of its tips
    (``math.fsum``: exact, whatever their order)."""
    amounts: dict[str, list[float]] = {}
    for tip in tips:
        if tip.kind == "tip":
            amounts.setdefault(tip.chatter, []).append(tip.amount)
    return {chatter: math.fsum(values) for chatter, values in amounts.items()}


def chatter_rows(
    sent: Mapping[str, ChatterSent],
    replies: Mapping[str, ReplyStats],
    offers: Mapping[str, OfferSums],
    tips: Mapping[str, float],
    names: Mapping[str, str | None],
    sla_seconds: float,
) -> list[ChatterRow]:
    """A row per chatter with, in the window, a message sent, a reply (``replies``: the
    statistics of each chatter's answered runs, as :func:`reply_stats` gives them), an
    offer (``offers``, as :func:`offer_sums` gives them) or a credited tip (``tips``: the
    amount credited to each chatter with a tip, as :func:`tip_amounts` gives it); by
    revenue descending, then chatter."""
    chatters = set(sent) | {c for c, stats in replies.items() if stats.count} | set(tips)
    chatters |= {c for c, sums in offers.items() if sums.offered}
    rows = [
        _chatter_row(
            chatter,
            names.get(chatter),
            sent.get(chatter, ChatterSent()),
            replies.get(chatter),
            offers.get(chatter, OfferSums()),
            tips.get(chatter, 0.0),
            sla_seconds,
        )
        for chatter in chatters
    ]
    rows.sort(key=lambda row: (-row.revenue, row.chatter))
    return rows


def _chatter_row(
    chatter: str,
    name: str | None,
    sent: ChatterSent,
    replied: ReplyStats | None,
    offers: OfferSums,
    tips_amount: float,
    sla_seconds: float,
) -> ChatterRow:
    if replied is None or not replied.count:
        stats, reasons = no_reply_stats(0, sla_seconds)
    else:
        stats, reasons = msgspec.structs.replace(replied, unanswered=0), {}
    reasons = {f"reply_time.{key}": value for key, value in reasons.items()}
    _round_stats(stats)
    ppv_revenue = offers.revenue
    revenue = math.fsum([ppv_revenue, tips_amount])
    unlock_rate = offers.purchased / offers.offered * 100.0 if offers.offered else None
    if unlock_rate is None:
        reasons["unlock_rate"] = NO_PPV_OFFERED
    per_message = revenue / sent.messages_sent if sent.messages_sent else None
    if per_message is None:
        reasons["revenue_per_message"] = NO_MESSAGES_SENT
    return ChatterRow(
        chatter=chatter,
        name=name,
        messages_sent=sent.messages_sent,
        fans=sent.fans,
        replies=stats.count,
        reply_time=stats,
        ppv_offered=offers.offered,
        ppv_purchased=offers.purchased,
        ppv_revenue=round(ppv_revenue, 9),
        unlock_rate=_round(unlock_rate),
        tips_amount=round(tips_amount, 9),
        revenue=round(revenue, 9),
        revenue_per_message=_round(per_message),
        unavailable_reasons=reasons,
    )


def _round_stats(stats: ReplyStats) -> None:
    for field in ("mean_seconds", "median_seconds", "p90_seconds", "max_seconds"):
        setattr(stats, field, _round(getattr(stats, field)))
    stats.within_sla_percentage = _round(stats.within_sla_percentage)
