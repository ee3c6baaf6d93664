"""``refresh_chats`` keeps the hourly/daily rollups equal to the rows they summarize, also
when several refreshes of the same chats race (they serialize on the account lock)."""

from __future__ import annotations

import asyncio

import pytest

from ofca.insights.refresh import refresh_chats
from ofca.persistence.tables import SessionRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio


async def _scalar(sql: str, *params: object) -> float:
    rows = await SessionRow.raw(sql, *params)
    return float(next(iter(rows[0].values())) or 0)


async def _assert_rollups_match(account_id: str) -> None:
    sessions = await _scalar("SELECT count(*) FROM ofca_session WHERE account_id = {}", account_id)
    assert sessions > 0
    for table in ("ofca_session_hour", "ofca_session_day"):
        rolled = await _scalar(
            f"SELECT sum(sessions) FROM {table} WHERE account_id = {{}} AND topic = ''",
            account_id,
        )
        assert rolled == sessions, table
        topic_rows = await _scalar(
            "SELECT count(*) FROM ofca_session_topic WHERE account_id = {}", account_id
        )
        rolled_topics = await _scalar(
            f"SELECT sum(sessions) FROM {table} WHERE account_id = {{}} AND topic <> ''",
            account_id,
        )
        assert rolled_topics == topic_rows, table
        duration = await _scalar(
            "SELECT sum(duration_seconds) FROM ofca_session WHERE account_id = {}", account_id
        )
        rolled_duration = await _scalar(
            f"SELECT sum(duration) FROM {table} WHERE account_id = {{}} AND topic = ''",
            account_id,
        )
        assert rolled_duration == pytest.approx(duration, abs=1e-6)
    messages = await _scalar(
        "SELECT count(*) FROM ofca_message WHERE account_id = {} AND created_at IS NOT NULL",
        account_id,
    )
    assert (
        await _scalar(
            "SELECT sum(messages) FROM ofca_activity_hour WHERE account_id = {}", account_id
        )
        == messages
    )


async def test_racing_refreshes_keep_rollups_exact(
    engine: object, account_id: str, settings: Settings
) -> None:
    messages = [
        Msg(
            chat=f"c{i % 4}",
            id=f"m{i}",
            at=at(i * 7, days=i % 3),
            dir="inbound" if i % 3 else "outbound",
            sentiment=(i % 8) / 8,
            topics=("greeting",) if i % 2 else ("tips_gifts", "small_talk"),
        )
        for i in range(60)
    ]
    await store(account_id, messages, settings)
    await _assert_rollups_match(account_id)
    chats = [f"c{i}" for i in range(4)]
    await asyncio.gather(
        *(refresh_chats(account_id, chats[i % 3 :], settings=settings) for i in range(6))
    )
    await _assert_rollups_match(account_id)
    # A late message in one chat, then everything refreshed again.
    await store(
        account_id, [Msg(chat="c1", id="late", at=at(3), dir="inbound", topics=())], settings
    )
    await refresh_chats(account_id, chats, settings=settings)
    await _assert_rollups_match(account_id)
