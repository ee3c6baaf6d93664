"""Each chatter's reply statistics off the reply-time buckets (m0024) equal the sorted
runs' (``percentile_cont`` over every answered run of the window), for windows cut
anywhere, SLAs on and between bucket bounds, replies exactly on bounds, runs without a
stored chatter, after tail refreshes; and m0024 fills the buckets the refresh keeps."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from piccolo.engine.base import Engine

from ofca.domain.aggregates import REPLY_BUCKET_BOUNDS, ReplyStats
from ofca.domain.metrics import Window
from ofca.insights.chatter_replies import reply_times
from ofca.insights.refresh import refresh_chats
from ofca.insights.reply_buckets import bucketed_reply_times
from ofca.insights.windows import is_postgres
from ofca.persistence.migrations.m0024_reply_buckets import fill
from ofca.persistence.tables import MessageRow, ReplyBucketDayRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

WINDOWS = (
    Window(at(0, days=1), at(0, days=12)),  # partial days at both ends
    Window(at(-720, days=2), at(-720, days=9)),  # whole UTC days only
    Window(at(37, days=3), at(0, days=4, seconds=43_201)),  # a whole day and a bit
    Window(at(0, days=-30), at(0, days=30)),  # everything
)
SLAS = (300.0, REPLY_BUCKET_BOUNDS[40], 2.0, 0.5)
# Reply delays in seconds: bucket bounds themselves (1, 2, 4, 2 ** 0.25 ...), just
# under them, and spread values, so percentiles fall on and across bucket edges.
DELAYS = (0, 1, 2, 4, 8, 60, 61, 119, 120, 240, 300, 301, 900, 3599, 7200, 86_400)


def _messages(seed: int, prefix: str, start_day: float) -> list[Msg]:
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat in range(10):
        moment = at(0, days=start_day + rng.random() * 3)
        for n in range(rng.randint(4, 30)):
            moment += timedelta(minutes=rng.choice((1, 30, 240, 700, 1500)))
            messages.append(
                Msg(chat=f"c{chat}", id=f"{prefix}{chat}-{n}i", at=moment, dir="inbound")
            )
            if rng.random() < 0.85:
                moment += timedelta(seconds=rng.choice(DELAYS) + rng.choice((0, 0, 0.25)))
                messages.append(
                    Msg(
                        chat=f"c{chat}",
                        id=f"{prefix}{chat}-{n}o",
                        at=moment,
                        dir="outbound",
                        operator=rng.choice((None, "1", "2", "3")),
                    )
                )
    return messages


def _close(a: ReplyStats, b: ReplyStats) -> bool:
    """Equal, the mean to 9 decimals (its seconds were summed in another order)."""
    return a == b or (
        round(a.mean_seconds or 0.0, 9) == round(b.mean_seconds or 0.0, 9)
        and a.count == b.count
        and (a.median_seconds, a.p90_seconds, a.max_seconds)
        == (b.median_seconds, b.p90_seconds, b.max_seconds)
        and a.within_sla_percentage == b.within_sla_percentage
    )


async def _assert_buckets_answer_as_runs(account_id: str) -> int:
    compared = 0
    for window in WINDOWS:
        where = (
            "FROM ofca_reply r WHERE r.account_id = {} AND r.first_inbound_at >= {} "
            "AND r.first_inbound_at < {} AND r.reply_seconds IS NOT NULL"
        )
        for sla in SLAS:
            sorted_runs = await reply_times(
                account_id, where, [account_id, window.start, window.end], sla, filtered=False
            )
            bucketed = await bucketed_reply_times(account_id, window, sla)
            assert bucketed is not None, window
            assert bucketed.keys() == sorted_runs.keys(), (window, sla)
            for chatter, stats in sorted_runs.items():
                assert _close(bucketed[chatter], stats), (window, sla, chatter)
                compared += 1
    return compared


async def test_buckets_answer_as_the_sorted_runs(
    engine: object, account_id: str, settings: Settings
) -> None:
    if not is_postgres():
        pytest.skip("Postgres reads the buckets; SQLite sorts the window's values")
    first = _messages(1, "a", 0)
    await store(account_id, first, settings)
    # Runs whose reply has no stored chatter (rows from before chatters were kept).
    await MessageRow.update({MessageRow.chatter: None}).where(
        (MessageRow.account_id == account_id) & MessageRow.message_id.like("a1-%")
    )
    await refresh_chats(account_id, {m.chat for m in first}, settings=settings)
    assert await _assert_buckets_answer_as_runs(account_id) > 30

    later = [
        Msg(chat=m.chat, id=f"b{m.id}", at=m.at + timedelta(days=5), dir=m.dir, operator=m.operator)
        for m in _messages(2, "x", 0)
        if m.at is not None
    ]
    await store(account_id, later, settings)  # tail refreshes
    await _assert_buckets_answer_as_runs(account_id)


async def _buckets(account_id: str) -> list[tuple[Any, ...]]:
    rows = await ReplyBucketDayRow.select().where(ReplyBucketDayRow.account_id == account_id)
    return sorted(
        (r["chatter"], str(r["day_start"]), r["bucket"], r["answered"], r["micros"])
        for r in rows
        if r["answered"]
    )


async def test_m0024_fills_the_buckets_the_refresh_keeps(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    await store(account_id, _messages(3, "a", 0), settings)
    await store(account_id, _messages(4, "b", 4), settings)
    kept = await _buckets(account_id)
    assert len(kept) > 20
    assert len({row[2] for row in kept}) > 8, "replies in many buckets"
    await ReplyBucketDayRow.delete().where(ReplyBucketDayRow.account_id == account_id)
    await fill(engine, account_id)
    assert await _buckets(account_id) == kept
