"""Each chatter's reply statistics, one chatter at a time on Postgres (m0018), are those
of the values read and computed in Python (as SQLite does): for windows and filters, with
runs whose reply has no stored chatter counted as ``unassigned``."""

from __future__ import annotations

import random
from datetime import timedelta

import msgspec
import pytest

from ofca.domain.metrics import Window
from ofca.insights.chatter_replies import _from_values, reply_times
from ofca.insights.money import MoneyFilters, _reply_times, chatters
from ofca.persistence.migrations.m0020_reply_topic_chatter import BACKFILL
from ofca.persistence.migrations.m0024_reply_buckets import fill as fill_buckets
from ofca.persistence.tables import ReplyBucketDayRow, ReplyRow, ReplyTopicRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio


def _account() -> list[Msg]:
    rng = random.Random(7)
    messages: list[Msg] = []
    for chat in range(25):
        moment = at(0, days=rng.random() * 6)
        for n in range(rng.randint(2, 20)):
            moment += timedelta(seconds=rng.choice((5, 61, 299, 300, 301, 900, 4000, 90_000)))
            outbound = rng.random() < 0.5
            messages.append(
                Msg(
                    chat=f"c{chat:02d}",
                    id=f"c{chat:02d}-{n:02d}",
                    at=moment,
                    dir="outbound" if outbound else "inbound",
                    operator=rng.choice((None, "1", "2", "3")) if outbound else None,
                    topics=("tips_gifts",) if rng.random() < 0.3 else (),
                )
            )
    return messages


def _rounded(stats: dict[str, object]) -> object:
    def walk(value: object) -> object:
        if isinstance(value, float):
            return round(value, 9)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(msgspec.to_builtins(stats))


async def test_per_chatter_statistics_equal_the_values(
    engine: object, account_id: str, settings: Settings
) -> None:
    await store(account_id, _account(), settings)
    # Runs answered before the chatter was stored (rows of an older ofca): unassigned.
    some = await ReplyRow.select(ReplyRow.id).where(
        (ReplyRow.account_id == account_id) & (ReplyRow.chatter == "ext:3")
    )
    assert some
    await ReplyRow.update({ReplyRow.chatter: None}).where(
        ReplyRow.id.is_in([r["id"] for r in some[::2]])
    )
    # As m0024 counted such rows: under unassigned.
    await ReplyBucketDayRow.delete().where(ReplyBucketDayRow.account_id == account_id)
    await fill_buckets(engine, account_id)  # type: ignore[arg-type]
    windows = (Window(at(0), at(0, days=8)), Window(at(300, days=1), at(0, days=4)))
    filters = (MoneyFilters(), MoneyFilters(topic="tips_gifts"), MoneyFilters(chat_id="c03"))
    seen = set()
    for window in windows:
        for f in filters:
            where = (
                "FROM ofca_reply r WHERE r.account_id = {} AND r.first_inbound_at >= {} "
                "AND r.first_inbound_at < {} AND r.reply_seconds IS NOT NULL"
            )
            params: list[object] = [account_id, window.start, window.end]
            if f.chat_id:
                where += " AND r.chat_id = {}"
                params.append(f.chat_id)
            if f.topic:
                where += (
                    " AND EXISTS (SELECT 1 FROM ofca_session_topic ft WHERE ft.account_id = "
                    "r.account_id AND ft.chat_id = r.chat_id AND ft.start_at = "
                    "r.session_start_at AND ft.topic = {})"
                )
                params.append(f.topic)
            filtered = f != MoneyFilters()
            got = await reply_times(account_id, where, params, 300.0, filtered=filtered)
            assert _rounded(got) == _rounded(
                await reply_times(account_id, where, params, 300.0, filtered=not filtered)
            )
            assert _rounded(got) == _rounded(await _from_values(where, params, 300.0))
            seen |= set(got)
    assert {"ext:1", "ext:2", "ext:3", "unassigned"} <= seen
    board = await chatters(account_id, windows[0], MoneyFilters(), settings)
    replies = {row.chatter: row.replies for row in board.chatters}
    assert sum(replies.values()) == await ReplyRow.count().where(
        (ReplyRow.account_id == account_id)
        & (ReplyRow.reply_seconds.is_not_null())
        & (ReplyRow.first_inbound_at >= windows[0].start)
        & (ReplyRow.first_inbound_at < windows[0].end)
    )


async def test_a_topics_statistics_come_from_its_reply_copies(
    engine: object, account_id: str, settings: Settings
) -> None:
    """With a topic, the leaderboard reads the runs filed under it (``ofca_reply_topic``
    with the reply's chatter, m0020): the same statistics as every run tested against
    the topic's sessions, with and without a chat, also after m0020's backfill."""
    await store(account_id, _account(), settings)
    windows = (Window(at(0), at(0, days=8)), Window(at(300, days=1), at(0, days=4)))

    async def both(window: Window, chat_id: str | None) -> tuple[object, object]:
        where = (
            "FROM ofca_reply r WHERE r.account_id = {} AND r.first_inbound_at >= {} "
            "AND r.first_inbound_at < {} AND r.reply_seconds IS NOT NULL"
        )
        params: list[object] = [account_id, window.start, window.end]
        if chat_id:
            where += " AND r.chat_id = {}"
            params.append(chat_id)
        where += (
            " AND EXISTS (SELECT 1 FROM ofca_session_topic ft WHERE ft.account_id = "
            "r.account_id AND ft.chat_id = r.chat_id AND ft.start_at = "
            "r.session_start_at AND ft.topic = {})"
        )
        params.append("tips_gifts")
        filters = MoneyFilters(topic="tips_gifts", chat_id=chat_id)
        copies = await _reply_times(account_id, window, filters, 300.0)
        tested = await reply_times(account_id, where, params, 300.0, filtered=True)
        return _rounded(copies), _rounded(tested)

    cases = [(w, c) for w in windows for c in (None, "c03", "c10")]
    seen: set[str] = set()
    for window, chat_id in cases:
        copies, tested = await both(window, chat_id)
        assert copies == tested, (window, chat_id)
        seen |= set(copies)  # type: ignore[arg-type]
    assert {"ext:1", "ext:2", "ext:3"} <= seen
    await ReplyTopicRow.update({ReplyTopicRow.chatter: None}).where(
        ReplyTopicRow.account_id == account_id
    )
    await ReplyTopicRow.raw(BACKFILL)
    for window, chat_id in cases:
        copies, tested = await both(window, chat_id)
        assert copies == tested, ("backfilled", window, chat_id)
