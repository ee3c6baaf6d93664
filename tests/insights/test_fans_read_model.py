"""The fans list off the spend read model (m0015) answers exactly what the messages say:
the same rows, order, tiers and waiting sums as the list computed from the messages, for
every tier and limit, after edits (a late unlock) and once a chat's money is gone."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from piccolo.engine.base import Engine

from ofca.domain.metrics import Window
from ofca.domain.money import Tier
from ofca.insights.money import fans, fans_from_messages
from ofca.insights.refresh import refresh_chats
from ofca.insights.spend import ranked_fans
from ofca.persistence.migrations.m0015_chat_spend import fill_account
from ofca.persistence.tables import ChatSpendRow, MessageRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

PRICES = (0.1, 0.2, 0.3, 5.0, 9.99, 20.0, 49.99, 100.0)
"""0.1 + 0.2 is not 0.3 in floating point: equal spends must still tie."""


def _account(seed: int) -> list[Msg]:
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat in range(40):
        moment = at(0, days=rng.random() * 20)
        for n in range(rng.randint(1, 12)):
            moment += timedelta(minutes=rng.choice((1, 5, 30, 300, 3000)))
            inbound = rng.random() < 0.55
            money = rng.random()
            messages.append(
                Msg(
                    chat=f"c{chat:02d}",
                    id=f"c{chat:02d}-{n}",
                    at=moment,
                    dir="inbound" if inbound else "outbound",
                    is_tip=inbound and money < 0.25,
                    price=rng.choice(PRICES)
                    if money < 0.25 or (not inbound and money < 0.5)
                    else None,
                    is_opened=not inbound and rng.random() < 0.6,
                )
            )
    # Two chats that spend exactly the same, reached by different sums.
    messages += [
        Msg(chat="t1", id="t1-a", at=at(5), is_tip=True, price=0.1),
        Msg(chat="t1", id="t1-b", at=at(6), is_tip=True, price=0.2),
        Msg(chat="t0", id="t0-a", at=at(7), is_tip=True, price=0.3),
    ]
    return messages


def _as_dict(response: object) -> dict[str, object]:
    return msgspec.to_builtins(response)  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", [1, 2])
async def test_the_read_model_lists_what_the_messages_say(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    await store(account_id, _account(seed), settings)
    end = at(0, days=80)
    tiers: list[Tier | None] = [None, "whale", "spender", "free"]
    for window in (Window(at(0, days=10), end), Window(at(0, days=-1), end)):
        for tier in tiers:
            for limit in (1, 3, 50):
                ranked = await ranked_fans(account_id, window, settings, tier, limit)
                assert ranked is not None  # no message at or after the window's end
                expected = await fans_from_messages(account_id, window, settings, tier, limit)
                assert _as_dict(ranked) == _as_dict(expected), (tier, limit)
    everyone = await ranked_fans(account_id, Window(at(0, days=10), end), settings, None, 500)
    assert everyone is not None
    ties = [row.chat_id for row in everyone.fans if row.chat_id in ("t0", "t1")]
    assert ties == ["t0", "t1"]  # 0.3 == 0.1 + 0.2 once rounded: by chat id

    # A late unlock and an erased chat: the next refresh of each chat brings the list along.
    offer = (
        await MessageRow.select(MessageRow.message_id, MessageRow.chat_id)
        .where(
            (MessageRow.account_id == account_id)
            & (MessageRow.direction == "outbound")
            & (MessageRow.price > 0)
            & (MessageRow.is_opened == False)  # noqa: E712
        )
        .first()
    )
    assert offer is not None
    await MessageRow.update({MessageRow.is_opened: True}).where(
        (MessageRow.account_id == account_id) & (MessageRow.message_id == offer["message_id"])
    )
    await MessageRow.delete().where(
        (MessageRow.account_id == account_id) & (MessageRow.chat_id == "t0")
    )
    await refresh_chats(account_id, [offer["chat_id"], "t0"], settings=settings)
    assert not await ChatSpendRow.exists().where(
        (ChatSpendRow.account_id == account_id) & (ChatSpendRow.chat_id == "t0")
    )
    window = Window(at(0, days=10), end)
    ranked = await ranked_fans(account_id, window, settings, None, 50)
    expected = await fans_from_messages(account_id, window, settings, None, 50)
    assert _as_dict(ranked) == _as_dict(expected)


async def test_an_earlier_instant_is_answered_from_the_messages(
    engine: object, account_id: str, settings: Settings
) -> None:
    messages = [
        Msg(chat="a", id="a1", at=at(0)),
        Msg(chat="a", id="a2", at=at(10), dir="outbound", price=20.0, is_opened=True),
        Msg(chat="b", id="b1", at=at(5), is_tip=True, price=5.0),
        Msg(chat="b", id="b2", at=at(60), dir="outbound"),
    ]
    await store(account_id, messages, settings)
    for end, answers in ((at(61), True), (at(60), False), (at(10), False), (at(6), False)):
        # At or before b2 b's wait was still open; at or before a2 its sale not yet made.
        window = Window(at(-60), end)
        ranked = await ranked_fans(account_id, window, settings, None, 50)
        assert (ranked is not None) == answers, end
        expected = await fans_from_messages(account_id, window, settings, None, 50)
        assert _as_dict(await fans(account_id, window, settings, None, 50)) == _as_dict(expected)


async def test_m0015_fills_the_spend_of_chats_stored_before_it(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    """The migration's rows for messages stored before it are the rows the refresh keeps."""
    await store(account_id, _account(4), settings, refresh=False)
    assert not await ChatSpendRow.exists().where(ChatSpendRow.account_id == account_id)
    await fill_account(engine, account_id)
    filled = await _spend_rows(account_id)
    assert len(filled) > 10
    chats = sorted({m.chat for m in _account(4)})
    await refresh_chats(account_id, chats, settings=settings)
    assert await _spend_rows(account_id) == filled


async def _spend_rows(account_id: str) -> list[dict[str, object]]:
    rows = await ChatSpendRow.select(
        ChatSpendRow.chat_id,
        ChatSpendRow.lifetime_spend,
        ChatSpendRow.tips_amount,
        ChatSpendRow.ppv_revenue,
        ChatSpendRow.last_paid_at,
    ).where(ChatSpendRow.account_id == account_id)
    return sorted(rows, key=lambda row: str(row["chat_id"]))
