"""Tip credits off the read model (m0016) answer what the lookup answers: the chatters
leaderboard and a chatter filter on revenue are the same with the refresh's rows as
without them, a tip the refresh has not reached yet is looked up, a new outbound message
before a tip moves its credit once its chat is refreshed, and m0016 fills the rows the
refresh keeps."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from piccolo.engine.base import Engine

from ofca.domain.metrics import Window
from ofca.domain.money import offer_sums
from ofca.insights.money import MoneyFilters, _offer_sums, chatters, money_events
from ofca.insights.refresh import refresh_chats
from ofca.insights.revenue import revenue
from ofca.persistence.migrations.m0016_tip_credits import fill_account
from ofca.persistence.tables import TipCreditRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

WINDOW = Window(at(0, days=2), at(0, days=9))
ONE_TIP = [
    Msg(chat="a", id="a1", at=at(0, days=3), dir="outbound", operator="1"),
    Msg(chat="a", id="a2", at=at(0, days=4), is_tip=True, price=10.0),
]
"""ext:1 sends, a day later the fan tips 10 (credited to ext:1)."""


def _account(seed: int) -> list[Msg]:
    """Chats of tips and sent messages from three operators (and nobody), some at the same
    instant as the tip, some gaps longer than the 24 h credit."""
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat in range(30):
        moment = at(0, days=rng.random() * 8)
        for n in range(rng.randint(2, 14)):
            step = rng.choice((0, 1, 30, 600, 1439, 1440, 1441, 3000))
            moment += timedelta(minutes=step)
            inbound = rng.random() < 0.5
            messages.append(
                Msg(
                    chat=f"c{chat:02d}",
                    id=f"c{chat:02d}-{rng.randint(0, 9)}{n:02d}",
                    at=moment,
                    dir="inbound" if inbound else "outbound",
                    is_tip=inbound and rng.random() < 0.5,
                    price=rng.choice((None, 5.0, 20.0)) if inbound else None,
                    operator=None if inbound else rng.choice((None, "1", "2", "3")),
                )
            )
    return messages


async def _answers(account_id: str, settings: Settings) -> list[Any]:
    answers: list[Any] = [await chatters(account_id, WINDOW, MoneyFilters(), settings)]
    for chatter in ("ext:1", "ext:2", "unassigned"):
        answers.append(
            await revenue(account_id, WINDOW, "UTC", "day", MoneyFilters(chatter=chatter), settings)
        )
    return msgspec.to_builtins(answers)  # type: ignore[no-any-return]


async def _credit_rows(account_id: str) -> list[dict[str, Any]]:
    rows = await TipCreditRow.select(
        TipCreditRow.chat_id,
        TipCreditRow.message_id,
        TipCreditRow.created_at,
        TipCreditRow.credit_chatter,
        TipCreditRow.credit_at,
    ).where(TipCreditRow.account_id == account_id)
    return sorted(rows, key=lambda row: str(row["message_id"]))


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_read_model_credits_what_the_lookup_credits(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    messages = _account(seed)
    await store(account_id, messages, settings)
    rows = await _credit_rows(account_id)
    assert len(rows) == sum(1 for m in messages if m.is_tip)
    credited = await _answers(account_id, settings)
    assert [a for a in credited[0]["chatters"] if a["tips_amount"]], "some tips are credited"

    # No rows (as before the refresh reaches the chats): every tip is looked up.
    await TipCreditRow.delete().where(TipCreditRow.account_id == account_id)
    assert await _answers(account_id, settings) == credited
    await refresh_chats(account_id, {m.chat for m in messages}, settings=settings)
    assert await _credit_rows(account_id) == rows

    # Half the chats refreshed, half not yet: both kinds of tips in one answer.
    half = sorted({m.chat for m in messages})[::2]
    await TipCreditRow.delete().where(
        (TipCreditRow.account_id == account_id) & TipCreditRow.chat_id.is_in(half)
    )
    assert await _answers(account_id, settings) == credited


async def test_a_new_message_before_a_tip_moves_its_credit(
    engine: object, account_id: str, settings: Settings
) -> None:
    await store(account_id, ONE_TIP, settings)
    first = await chatters(account_id, WINDOW, MoneyFilters(), settings)
    assert [(r.chatter, r.tips_amount) for r in first.chatters] == [("ext:1", 10.0)]
    # A message stored late (a snapshot's) lies between them: the tip is now ext:2's.
    await store(
        account_id,
        [Msg(chat="a", id="a0", at=at(0, days=3.5), dir="outbound", operator="2")],
        settings,
    )
    rows = await _credit_rows(account_id)
    assert [(r["message_id"], r["credit_chatter"]) for r in rows] == [("a2", "ext:2")]
    after = await chatters(account_id, WINDOW, MoneyFilters(), settings)
    assert {r.chatter: r.tips_amount for r in after.chatters} == {"ext:1": 0.0, "ext:2": 10.0}


async def test_m0016_fills_the_rows_the_refresh_keeps(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    messages = _account(3)
    await store(account_id, messages, settings, refresh=False)
    await fill_account(engine, account_id)
    filled = await _credit_rows(account_id)
    assert len(filled) > 10
    assert any(row["credit_chatter"] for row in filled)
    await refresh_chats(account_id, {m.chat for m in messages}, settings=settings)
    assert await _credit_rows(account_id) == filled


async def test_answers_read_the_refreshed_credit(
    engine: object, account_id: str, settings: Settings
) -> None:
    """The read model's row is what a tip is credited by (not the lookup done again)."""
    await store(account_id, ONE_TIP, settings)
    await TipCreditRow.update({TipCreditRow.credit_chatter: "ext:9"}).where(
        TipCreditRow.account_id == account_id
    )
    answer = await chatters(account_id, WINDOW, MoneyFilters(), settings)
    assert {r.chatter: r.tips_amount for r in answer.chatters} == {"ext:1": 0.0, "ext:9": 10.0}


async def test_offer_sums_in_sql_are_those_of_the_offers(
    engine: object, account_id: str, settings: Settings
) -> None:
    rng = random.Random(5)
    messages = [
        Msg(
            chat=f"c{n % 7}",
            id=f"o{n:03d}",
            at=at(0, days=rng.random() * 9),
            dir="outbound",
            price=rng.choice((None, 0.1, 0.2, 9.99, 49.99)),
            is_free=rng.random() < 0.1,
            is_opened=rng.random() < 0.5,
            operator=rng.choice((None, "1", "2")),
        )
        for n in range(200)
    ]
    await store(account_id, messages, settings)
    for f in (MoneyFilters(), MoneyFilters(chat_id="c3")):
        events = await money_events(account_id, WINDOW.start, WINDOW.end, f, None)
        expected = {k: msgspec.to_builtins(v) for k, v in offer_sums(events).items()}
        got = {
            k: msgspec.to_builtins(v) for k, v in (await _offer_sums(account_id, WINDOW, f)).items()
        }
        assert set(got) == set(expected) and len(got) == 3
        for chatter, sums in got.items():
            assert sums["offered"] == expected[chatter]["offered"]
            assert sums["purchased"] == expected[chatter]["purchased"]
            assert round(sums["revenue"], 9) == round(expected[chatter]["revenue"], 9)
