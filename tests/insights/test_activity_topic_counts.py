"""Migration m0008 rebuilds ``ofca_activity_topic`` (now with message counts, every hour of
a topic's sessions) from the other read models: the rebuilt rows equal what a refresh
derives, so an upgraded database answers as a fresh one."""

from __future__ import annotations

from typing import Any

import pytest

from ofca.persistence.migrations.m0008_activity_topic_counts import REBUILD
from ofca.persistence.sql import raw_sql
from ofca.settings import Settings
from tests.insights.support import store
from tests.insights.test_oracle import dataset

pytestmark = pytest.mark.asyncio

COLUMNS = "topic, chat_id, hour_start, sentiment_sum, sentiment_count, messages, inbound, outbound"


async def _rows(account_id: str) -> list[tuple[Any, ...]]:
    rows = await raw_sql(
        f"SELECT {COLUMNS} FROM ofca_activity_topic WHERE account_id = {{}} "
        "ORDER BY topic, chat_id, hour_start, sentiment_count, messages",
        account_id,
    ).run()
    return [tuple(row.values()) for row in rows]


async def test_rebuilt_rows_equal_the_refreshed_ones(
    engine: object, account_id: str, settings: Settings
) -> None:
    await store(account_id, dataset(), settings)
    refreshed = await _rows(account_id)
    assert refreshed and any(row[4] == 0 for row in refreshed)  # unscored hours are kept
    assert sum(row[5] for row in refreshed) > sum(row[6] for row in refreshed) > 0
    await raw_sql("DELETE FROM ofca_activity_topic WHERE account_id = {}", account_id).run()
    await raw_sql(REBUILD + " WHERE a.account_id = {}", account_id).run()
    assert await _rows(account_id) == refreshed
