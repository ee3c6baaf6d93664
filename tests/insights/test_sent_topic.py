"""Each chatter's sent messages and fans with a topic (``ofca_sent_topic``, m0021: whole
hours from the rows, partial hours from the messages) are those counted over the sent
messages tested against the topic's sessions, for windows with and without whole hours,
with a chat filter, and after m0021 filled the rows from the stored messages."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from ofca.domain.metrics import Window
from ofca.insights.money import MoneyFilters, _sent, sent_from_messages
from ofca.persistence.migrations.m0021_sent_topic import fill_account
from ofca.persistence.sql import database
from ofca.persistence.tables import SentTopicRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio


def _account(seed: int) -> list[Msg]:
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat in range(20):
        moment = at(0, days=rng.random() * 4)
        for n in range(rng.randint(3, 30)):
            moment += timedelta(seconds=rng.choice((5, 200, 1000, 1900, 3700, 7300, 90_000)))
            outbound = rng.random() < 0.55
            messages.append(
                Msg(
                    chat=f"c{chat:02d}",
                    id=f"c{chat:02d}-{n:02d}",
                    at=moment,
                    dir="outbound" if outbound else "inbound",
                    operator=rng.choice((None, "1", "2")) if outbound else None,
                    topics=rng.choice((("tips_gifts",), ("tips_gifts", "greeting"), ())),
                )
            )
    return messages


WINDOWS = (
    Window(at(0), at(0, days=6)),
    Window(at(17.5, days=1), at(41.25, days=3)),  # partial hours at both ends
    Window(at(10, days=2), at(50, days=2)),  # inside one hour
    Window(at(0, days=1), at(0, days=2)),  # whole hours only
)


async def _compare(account_id: str) -> int:
    compared = 0
    for window in WINDOWS:
        for chat_id in (None, "c04", "c13"):
            filters = MoneyFilters(topic="tips_gifts", chat_id=chat_id)
            expected = await sent_from_messages(account_id, window, filters)
            assert await _sent(account_id, window, filters) == expected, (window, chat_id)
            compared += sum(s.messages_sent for s in expected.values())
    return compared


@pytest.mark.parametrize("seed", [1, 2])
async def test_sent_in_a_topic_is_counted_from_the_messages(
    engine: object, account_id: str, settings: Settings, seed: int
) -> None:
    await store(account_id, _account(seed), settings)
    assert await _compare(account_id) > 100
    # A chatter's fans over the whole window, not summed per hour or per end.
    every = await _sent(account_id, WINDOWS[1], MoneyFilters(topic="tips_gifts"))
    assert any(s.fans < s.messages_sent for s in every.values())
    assert {"ext:1", "ext:2", "unassigned"} <= set(every)

    derived = await SentTopicRow.select().where(SentTopicRow.account_id == account_id)
    await SentTopicRow.delete().where(SentTopicRow.account_id == account_id)
    await fill_account(database(), account_id)
    filled = await SentTopicRow.select().where(SentTopicRow.account_id == account_id)

    def summed(rows: list[dict]) -> dict[tuple, int]:
        # The refresh writes a row per session hour; two sessions may share an hour.
        sums: dict[tuple, int] = {}
        for row in rows:
            key = (row["topic"], row["chatter"], row["chat_id"], row["hour_start"])
            sums[key] = sums.get(key, 0) + row["messages"]
        return sums

    assert summed(filled) == summed(derived)
    assert len(derived) > len(summed(derived)), "two sessions in one hour"
    assert await _compare(account_id) > 100
