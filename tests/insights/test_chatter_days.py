"""Each chatter's sent messages and fans off the chatter days (m0017) are what the sent
messages say, for windows cut anywhere (whole days, partial days, less than a day), read
from the chatter days or their day totals (m0023), after a whole refresh, after tail
refreshes of new messages (a new day, the same day, another chatter), and m0017 and m0023
fill the rows the refresh keeps."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from piccolo.engine.base import Engine

from ofca.domain.metrics import Window
from ofca.insights.money import MoneyFilters, sent_from_messages
from ofca.insights.refresh import refresh_chats
from ofca.insights.sent import sent_from_days
from ofca.persistence.migrations.m0017_chatter_days import fill_account
from ofca.persistence.migrations.m0023_chatter_day_totals import fill as fill_totals
from ofca.persistence.tables import ChatterDayRow, ChatterDayTotalRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

WINDOWS = (
    Window(at(0, days=1), at(0, days=12)),  # noon to noon: partial days at both ends
    Window(at(-720, days=2), at(-720, days=9)),  # whole UTC days only
    Window(at(37, days=3), at(0, days=3, seconds=90_001)),  # a day and a bit
    Window(at(0, days=4), at(300, days=4)),  # no whole day
    Window(at(0, days=-30), at(0, days=30)),  # everything
)


def _messages(seed: int, chats: int, start_day: float, prefix: str) -> list[Msg]:
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat in range(chats):
        moment = at(0, days=start_day + rng.random() * 3)
        for n in range(rng.randint(1, 25)):
            moment += timedelta(minutes=rng.choice((1, 20, 200, 700, 1500, 4000)))
            outbound = rng.random() < 0.6
            messages.append(
                Msg(
                    chat=f"c{chat:02d}",
                    id=f"{prefix}{chat:02d}-{n:02d}",
                    at=moment,
                    dir="outbound" if outbound else "inbound",
                    operator=rng.choice((None, "1", "2")) if outbound else None,
                )
            )
    return messages


async def _rows(account_id: str) -> list[dict[str, Any]]:
    rows = await ChatterDayRow.select(
        ChatterDayRow.chatter,
        ChatterDayRow.chat_id,
        ChatterDayRow.day_start,
        ChatterDayRow.previous_day,
        ChatterDayRow.messages,
    ).where(ChatterDayRow.account_id == account_id)
    return sorted(rows, key=lambda r: (r["chat_id"], r["chatter"], r["day_start"]))


async def _assert_days_answer_as_messages(account_id: str) -> None:
    for window in WINDOWS:
        expected = await sent_from_messages(account_id, window, MoneyFilters())
        for by_totals in (False, True):
            answer = await sent_from_days(account_id, window, by_totals=by_totals)
            if answer is None:
                assert window.end - window.start < timedelta(days=2), window
                continue
            assert answer == expected, (window, by_totals)
    total = await sent_from_days(account_id, WINDOWS[-1])
    assert total and sum(s.messages_sent for s in total.values()) > 50


async def test_chatter_days_answer_as_the_messages(
    engine: object, account_id: str, settings: Settings
) -> None:
    first = _messages(1, 12, 0, "a")
    await store(account_id, first, settings)
    await _assert_days_answer_as_messages(account_id)
    whole = await _rows(account_id)
    assert any(r["previous_day"] is not None for r in whole)

    # New messages after each chat's last: tail refreshes from the earliest new one.
    later = [
        Msg(chat=m.chat, id=f"b{m.id}", at=m.at + timedelta(days=6), dir=m.dir, operator=m.operator)
        for m in _messages(2, 12, 0, "x")
        if m.at is not None
    ]
    last = {m.chat: max(x.at for x in first if x.chat == m.chat and x.at) for m in later}
    later = [m for m in later if m.at is not None and m.at > last[m.chat]]
    assert later
    await store(account_id, later, settings, refresh=False)
    since = {}
    for m in later:
        assert m.at is not None
        since[m.chat] = min(m.at, since.get(m.chat, m.at))
    await refresh_chats(account_id, since, settings=settings, since=since)
    tails = await _rows(account_id)
    await refresh_chats(account_id, {m.chat for m in first}, settings=settings)
    assert tails == await _rows(account_id)
    await _assert_days_answer_as_messages(account_id)


async def _totals(account_id: str) -> list[tuple[Any, ...]]:
    rows = await ChatterDayTotalRow.select(
        ChatterDayTotalRow.chatter,
        ChatterDayTotalRow.day_start,
        ChatterDayTotalRow.chats,
        ChatterDayTotalRow.messages,
        ChatterDayTotalRow.followed,
    ).where(ChatterDayTotalRow.account_id == account_id)
    return sorted(
        (r["chatter"], r["day_start"], r["chats"], r["messages"], r["followed"])
        for r in rows
        if r["chats"] or r["messages"] or r["followed"]
    )


async def test_m0023_fills_the_totals_the_refresh_keeps(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    messages = _messages(4, 10, 0, "a")
    await store(account_id, messages, settings)
    # Tail refreshes of later messages, then a whole refresh: totals kept by delta.
    later = [
        Msg(chat=m.chat, id=f"b{m.id}", at=m.at + timedelta(days=9), dir=m.dir, operator=m.operator)
        for m in _messages(5, 10, 0, "y")
        if m.at is not None
    ]
    await store(account_id, later, settings)
    await refresh_chats(account_id, {m.chat for m in messages[:40]}, settings=settings)
    kept = await _totals(account_id)
    assert len(kept) > 10
    assert any(row[4] for row in kept), "no chatter day follows another"
    await ChatterDayTotalRow.delete().where(ChatterDayTotalRow.account_id == account_id)
    await fill_totals(engine, account_id)
    assert await _totals(account_id) == kept


async def test_m0017_fills_the_rows_the_refresh_keeps(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    messages = _messages(3, 10, 0, "a")
    await store(account_id, messages, settings, refresh=False)
    await fill_account(engine, account_id)
    filled = await _rows(account_id)
    assert len(filled) > 10
    await refresh_chats(account_id, {m.chat for m in messages}, settings=settings)
    assert await _rows(account_id) == filled
