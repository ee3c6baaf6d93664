"""The chat tally (m0026, Postgres): after every kind of write (a snapshot's COPY, its
enrichment, deltas, an unlock, an edit re-enriched, erasure) and before and after the
refresh folds it, each chat's tally equals counting its messages, which is what the
conversation node used to do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ofca.persistence.chat_tally import fold_chat_tallies
from ofca.persistence.sql import fetch_rows
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.backends import BACKEND
from tests.support.server import LiveServer, live_server

pytestmark = pytest.mark.skipif(
    BACKEND != "postgres", reason="the tally is kept by Postgres triggers; SQLite counts"
)

_COUNTED = (
    "SELECT chat_id, count(*) AS messages, "
    "avg(CASE WHEN direction = 'inbound' THEN sentiment END) AS fan_sentiment, "
    "coalesce(sum(CASE WHEN price > 0 AND created_at IS NOT NULL AND ((direction = 'inbound' "
    "AND is_tip) OR (direction = 'outbound' AND NOT is_tip AND NOT is_free AND is_opened)) "
    "THEN price END), 0) AS spend FROM ofca_message WHERE account_id = {} GROUP BY chat_id"
)
_TALLIED = (
    "SELECT chat_id, sum(messages) AS messages, "
    "sum(fan_sentiment_sum) / NULLIF(sum(fan_sentiment_count), 0) AS fan_sentiment, "
    "sum(spend) AS spend, count(*) AS parts FROM ofca_chat_tally WHERE account_id = {} "
    "GROUP BY chat_id HAVING sum(messages) <> 0"
)


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 9)


async def _tallies(account_id: str) -> tuple[dict[str, tuple[Any, ...]], dict[str, int]]:
    """Per chat (counted, tallied) as (messages, fan sentiment, spend), and the tally's rows
    per chat."""
    counted = {
        row["chat_id"]: (row["messages"], _rounded(row["fan_sentiment"]), _rounded(row["spend"]))
        for row in await fetch_rows(_COUNTED, account_id)
    }
    rows = await fetch_rows(_TALLIED, account_id)
    tallied = {
        row["chat_id"]: (row["messages"], _rounded(row["fan_sentiment"]), _rounded(row["spend"]))
        for row in rows
    }
    assert tallied == counted
    return counted, {row["chat_id"]: row["parts"] for row in rows}


async def test_the_tally_follows_every_write_and_its_fold(
    server, make_key, account_id, engine
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    account = generate_account(400, seed=5, fans=5)
    ext_url = f"{server.ws_url}/ws/extension/{account_id}?token={ext_key}"
    dash_url = f"{server.ws_url}/ws/frontend/{account_id}?token={dash_key}"
    offer = next(m for m in account.messages if m.get("price") and m.get("isOpened") is False)
    chat = offer["chat_id"]
    soon = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    async with open_socket(ext_url) as extension, open_socket(dash_url) as dashboard:
        await extension.until("connection_ack")
        await dashboard.until("full_sync_response")
        await extension.send(cache_update_frame(account))
        await extension.until("ingest_ack", within=60)
        await dashboard.until("enrichment_result", done=True, within=60)
        await dashboard.until("system_status", status="REALTIME", within=60)
        counted, parts = await _tallies(account_id)
        assert sum(n for n, _, _ in counted.values()) == len(account.messages)
        assert set(parts.values()) == {1}  # the snapshot's refresh folded every chat

        frames = [
            {"id": 9_000_001, "chat_id": chat, "text": "love it, thank you so much",
             "createdAt": soon, "fromUser": {"id": chat}},
            {"id": 9_000_002, "chat_id": chat, "createdAt": soon, "fromUser": {"id": chat},
             "isTip": True, "price": 12.5},
            {**offer, "isOpened": True},  # the unlock: an edit of the stored offer
        ]  # fmt: skip
        for frame in frames:
            await extension.send(new_raw_message_frame(frame))
            await extension.until("ingest_ack")
        # An edit of the fan's line changes its text, so it is enriched again.
        await extension.send(
            new_raw_message_frame({**frames[0], "text": "this is awful, I hate it"})
        )
        await extension.until("ingest_ack")
        event = await dashboard.until("append_message", within=30, edited=True)
        before = counted[str(chat)]
        after, _ = await _tallies(account_id)
        assert after[str(chat)][0] == before[0] + 2
        assert after[str(chat)][2] == round(before[2] + 12.5 + offer["price"], 9)
        node = event["payload"]["conversation"]
        if node["chat_id"] == str(chat):
            assert node["message_count"] == after[str(chat)][0]

    chats = sorted(counted)
    await fold_chat_tallies(account_id, chats)
    folded, parts = await _tallies(account_id)
    assert set(parts.values()) == {1}
    assert folded == after

    await fetch_rows(
        "DELETE FROM ofca_message WHERE account_id = {} AND chat_id = {}", account_id, str(chat)
    )
    erased, _ = await _tallies(account_id)
    assert str(chat) not in erased
    await fold_chat_tallies(account_id, chats)
    rows = await fetch_rows(
        "SELECT count(*) AS n FROM ofca_chat_tally WHERE account_id = {} AND chat_id = {}",
        account_id,
        str(chat),
    )
    assert rows[0]["n"] == 0  # an erased chat keeps no tally row
