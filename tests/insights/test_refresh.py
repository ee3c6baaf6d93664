"""``refresh_chats`` keeps the hourly/daily rollups equal to the rows they summarize, also
when several refreshes of the same chats race (they serialize on the account lock)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from piccolo.engine.base import Engine

from ofca.insights.projector import QUARTER_COLUMNS
from ofca.insights.refresh import refresh_chats
from ofca.persistence.migrations.m0021_rollup_revenue import fill as fill_revenue
from ofca.persistence.migrations.m0022_topic_pairs import fill as fill_pairs
from ofca.persistence.migrations.m0025_activity_quarters import fill as fill_quarters
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
    pairs = await _scalar(
        "SELECT count(*) FROM ofca_session_topic s JOIN ofca_session_topic f "
        "ON f.account_id = s.account_id AND f.chat_id = s.chat_id AND f.start_at = s.start_at "
        "WHERE s.account_id = {}",
        account_id,
    )
    for table in ("ofca_topic_pair_hour", "ofca_topic_pair_day"):
        rolled = await _scalar(
            f"SELECT sum(sessions) FROM {table} WHERE account_id = {{}}", account_id
        )
        assert rolled == pairs, table
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


async def test_m0021_m0022_fill_the_rollups_the_refresh_keeps(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    messages = [
        Msg(
            chat=f"c{i % 5}",
            id=f"m{i}",
            at=at(i * 37),
            dir="inbound" if i % 3 else "outbound",
            sentiment=0.25 * (i % 4),
            topics=(("greeting",), ("tips_gifts", "small_talk"), ())[i % 3],
            is_tip=i % 7 == 1,
            price=(4.99, 12.5, None)[i % 3] if i % 7 in (1, 2) else None,
            is_opened=i % 2 == 0,
        )
        for i in range(120)
    ]
    await store(account_id, messages, settings)
    kept = await _rollup_rows(account_id, PAIR_TABLES)
    assert len(kept) > 10
    assert any(float(row[-1]) for row in kept), "no pair earned anything"
    for table in PAIR_TABLES:
        await SessionRow.raw(f"DELETE FROM {table} WHERE account_id = {{}}", account_id)
    await fill_pairs(engine, account_id)
    assert await _rollup_rows(account_id, PAIR_TABLES) == kept

    rolled = await _rollup_rows(account_id, SESSION_TABLES)
    assert sum(float(row[-1]) for row in rolled) > 0
    for table in SESSION_TABLES:
        await SessionRow.raw(f"UPDATE {table} SET revenue = 0 WHERE account_id = {{}}", account_id)
    await fill_revenue(engine, account_id)
    assert await _rollup_rows(account_id, SESSION_TABLES) == rolled


PAIR_TABLES = ("ofca_topic_pair_hour", "ofca_topic_pair_day")
SESSION_TABLES = ("ofca_session_hour", "ofca_session_day")


async def _rollup_rows(account_id: str, tables: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Rows of the rollups (the ones that hold sessions), revenue last."""
    found: list[tuple[Any, ...]] = []
    for table in tables:
        rows = await SessionRow.raw(f"SELECT * FROM {table} WHERE account_id = {{}}", account_id)
        found += sorted(
            (
                table,
                *(
                    round(v, 6) if isinstance(v, float) else str(v)
                    for k, v in row.items()
                    if k != "id"
                ),
            )
            for row in rows
            if row["sessions"]
        )
    return found


async def test_m0025_fills_the_quarter_counts_the_refresh_keeps(
    engine: Engine[Any], account_id: str, settings: Settings
) -> None:
    messages = [
        Msg(
            chat=f"c{i % 4}",
            id=f"q{i}",
            at=at(i * 7.5),
            dir=("inbound", "outbound", "unknown")[i % 3],
            topics=(),
        )
        for i in range(90)
    ]
    await store(account_id, messages, settings)
    tables = ("ofca_activity", "ofca_activity_hour")

    async def rows() -> list[tuple[Any, ...]]:
        found: list[tuple[Any, ...]] = []
        for table in tables:
            for row in await SessionRow.raw(
                f"SELECT * FROM {table} WHERE account_id = {{}}", account_id
            ):
                found.append((table, *(str(v) if k != "id" else 0 for k, v in sorted(row.items()))))
        return sorted(found)

    kept = await rows()
    early = await SessionRow.raw(
        "SELECT sum(messages_15), sum(inbound_30), sum(outbound_45), sum(messages) "
        "FROM ofca_activity_hour WHERE account_id = {}",
        account_id,
    )
    assert min(int(v) for v in early[0].values()) > 0
    for table in tables:
        await SessionRow.raw(
            f"UPDATE {table} SET "
            + ", ".join(f"{c} = 0" for c in QUARTER_COLUMNS)
            + " WHERE account_id = {}",
            account_id,
        )
    await fill_quarters(engine, account_id)
    assert await rows() == kept
