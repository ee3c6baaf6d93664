"""Revenue summed by Postgres per bucket (``insights.revenue._grouped``) and the chatters'
tips summed per chatter (``insights.money._tip_amounts``) answer what the money messages
summed in Python answer (``_in_python``, SQLite's way): random accounts of
tips (some without an amount), PPV offers (free, bought, not), three chatters and nobody,
every filter, buckets of hours in a half-hour zone, days and weeks."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest

from ofca.domain.metrics import Granularity, Window, bucket_starts
from ofca.domain.money import RevenueSums, RevenueTrendPoint, revenue_of, tip_amounts
from ofca.insights.money import MoneyFilters, _tip_amounts, money_events
from ofca.insights.revenue import _grouped, _in_python, revenue
from ofca.insights.windows import is_postgres
from ofca.persistence.tables import SessionTopicRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

WINDOW = Window(at(0, days=5), at(0, days=10))


def _account(seed: int) -> list[Msg]:
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat in range(25):
        moment = at(0, days=rng.random() * 9)
        for n in range(rng.randint(2, 16)):
            moment += timedelta(minutes=rng.choice((0, 7, 29, 30, 31, 600, 1441, 2900)))
            inbound = rng.random() < 0.5
            priced = rng.random() < 0.6
            messages.append(
                Msg(
                    chat=f"c{chat:02d}",
                    id=f"c{chat:02d}-{n:02d}",
                    at=moment,
                    dir="inbound" if inbound else "outbound",
                    text=rng.choice(("hello", "thanks for the tip", "new pics for you")),
                    is_tip=inbound and rng.random() < 0.6,
                    price=rng.choice((None, 0.0, 4.99, 12.5, 30.0)) if priced else None,
                    is_free=not inbound and rng.random() < 0.15,
                    is_opened=not inbound and rng.random() < 0.5,
                    operator=None if inbound else rng.choice((None, "1", "2", "3")),
                )
            )
    return messages


FILTERS = [
    MoneyFilters(),
    MoneyFilters(chat_id="c03"),
    MoneyFilters(chatter="ext:1"),
    MoneyFilters(chatter="ext:3", chat_id="c07"),
    MoneyFilters(chatter="unassigned"),
    MoneyFilters(topic="tips_gifts"),
    MoneyFilters(topic="tips_gifts", chatter="ext:2"),
]
BUCKETS: list[tuple[str, Granularity]] = [
    ("UTC", "day"),
    ("Asia/Kolkata", "hour"),
    ("America/New_York", "week"),
]


def _answer(sums: tuple[RevenueSums, RevenueSums, list[RevenueTrendPoint]]) -> object:
    current, before, trend = sums
    return msgspec.to_builtins([revenue_of(current, 3, 20.0), revenue_of(before, 3, 20.0), trend])


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_grouped_revenue_is_the_messages_revenue(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    if not is_postgres():
        pytest.skip("the grouped statements are Postgres'; SQLite answers in Python")
    await store(account_id, _account(seed), settings)
    hours = settings.tip_credit_hours
    some_money = False
    for filters in FILTERS:
        for zone, granularity in BUCKETS:
            starts = bucket_starts(WINDOW, ZoneInfo(zone), granularity)
            grouped = await _grouped(account_id, WINDOW, starts, filters, hours)
            in_python = await _in_python(account_id, WINDOW, starts, filters, settings)
            # Sums of prices differ in their last bits by the order they were added in;
            # the answers round to 9 decimals, and those must be equal.
            assert _answer(grouped) == _answer(in_python), (filters, zone)
            some_money = some_money or grouped[0].tips_amount > 0 < grouped[1].ppv_revenue
    assert some_money, "the accounts hold tips and sales in both windows"


@pytest.mark.parametrize("seed", [4, 5])
async def test_tips_summed_per_chatter_are_the_tips_events(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    """The chatters' tips as Postgres sums them per credited chatter equal the tips'
    events credited one by one, with each filter."""
    if not is_postgres():
        pytest.skip("the grouped statement is Postgres'; SQLite sums the events")
    await store(account_id, _account(seed), settings)
    hours = settings.tip_credit_hours
    for filters in FILTERS:
        summed = await _tip_amounts(account_id, WINDOW, filters, hours)
        events = await money_events(
            account_id, WINDOW.start, WINDOW.end, filters, hours, tips_only=True
        )
        expected = tip_amounts(events)
        if filters.chatter is not None:
            # The events are narrowed to those the chatter may hold; the sums are not
            # (the leaderboard keeps the chatter's row).
            summed = {k: v for k, v in summed.items() if k == filters.chatter}
            expected = {k: v for k, v in expected.items() if k == filters.chatter}
        assert {k: round(v, 9) for k, v in summed.items()} == {
            k: round(v, 9) for k, v in expected.items()
        }, filters
        if filters == MoneyFilters():
            assert len(expected) >= 3, "tips credited to several chatters and to nobody"


async def test_a_chatter_filter_counts_its_tips_within_the_credit_hours(
    engine: object, account_id: str, settings: Settings
) -> None:
    """Tips 24 h and 24 h + 1 s after the chatter's message: the first is theirs, the
    second nobody's (the edge of ``OFCA_TIP_CREDIT_HOURS``), on either path."""
    await store(
        account_id,
        [
            Msg(chat="a", id="a1", at=at(0, days=6), dir="outbound", operator="1"),
            Msg(chat="a", id="a2", at=at(0, days=7), is_tip=True, price=10.0),
            Msg(chat="b", id="b1", at=at(0, days=6), dir="outbound", operator="1"),
            Msg(chat="b", id="b2", at=at(0, days=7, seconds=1), is_tip=True, price=4.0),
        ],
        settings,
    )
    answers = {}
    for chatter in ("ext:1", "unassigned"):
        filters = MoneyFilters(chatter=chatter)
        body = await revenue(account_id, WINDOW, "UTC", "day", filters, settings)
        answers[chatter] = (body.current.tips_amount, body.current.paying_fans)
    assert answers == {"ext:1": (10.0, 1), "unassigned": (4.0, 1)}


@pytest.mark.parametrize("seed", [6, 7])
async def test_the_topic_filter_keeps_the_money_of_the_topics_sessions(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    """A topic keeps the money messages lying in one of its sessions (start and end
    included), as the session-topic rows say, whichever window and chat filter: the
    fenced, range-bounded subquery of ``money_scope`` against a plain reading."""
    await store(account_id, _account(seed), settings)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for row in await SessionTopicRow.select(
        SessionTopicRow.chat_id, SessionTopicRow.start_at, SessionTopicRow.end_at
    ).where((SessionTopicRow.account_id == account_id) & (SessionTopicRow.topic == "tips_gifts")):
        spans.setdefault(row["chat_id"], []).append((row["start_at"], row["end_at"]))
    everything = await money_events(account_id, None, WINDOW.end, MoneyFilters(), None)
    # A start inside the longest topic session: its money before the start is left out.
    longest = max(
        (span for chat_spans in spans.values() for span in chat_spans),
        key=lambda span: span[1] - span[0],
    )
    inside = longest[0] + (longest[1] - longest[0]) / 2
    crossing = 0
    for start in (WINDOW.start, inside, None):
        for chat in (None, "c04", "c11"):
            kept = await money_events(
                account_id, start, WINDOW.end, MoneyFilters(topic="tips_gifts", chat_id=chat), None
            )
            expected = {
                e.message_id
                for e in everything
                if (start is None or e.at >= start)
                and (chat is None or e.chat_id == chat)
                and any(s <= e.at <= end for s, end in spans.get(e.chat_id, ()))
            }
            assert {e.message_id for e in kept} == expected, (start, chat)
        crossing += sum(
            1
            for chat_spans in spans.values()
            for s, end in chat_spans
            if start is not None and s < start <= end
        )
    assert len({e.message_id for e in everything}) > 50
    assert crossing > 0, "a topic session crosses a window's start"
