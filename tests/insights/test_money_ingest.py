"""Money on ingest (docs/metrics.md, "Money"): ``isFree``, ``isOpened`` and the extension's
``operator`` are stored; a message with a malformed money field is rejected alone, with
its reason in ``ingest_ack.rejected_items``; an unlock arrives as an edit; m0010 fills
the new columns of rows stored before it from their raw JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from ofca.persistence.migrations.m0010_money_chatters import PG_BACKFILL, SQLITE_BACKFILL
from ofca.persistence.sql import database
from ofca.persistence.tables import MessageRow
from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _url(server: LiveServer, account_id: str, key: str) -> str:
    return f"{server.ws_url}/ws/extension/{account_id}?token={key}"


async def _money(account_id: str) -> dict[str, dict[str, Any]]:
    rows = await MessageRow.select(
        MessageRow.message_id,
        MessageRow.is_tip,
        MessageRow.price,
        MessageRow.is_free,
        MessageRow.is_opened,
        MessageRow.operator_id,
        MessageRow.operator_name,
    ).where(MessageRow.account_id == account_id)
    return {row.pop("message_id"): row for row in rows}


OFFER = {
    "id": 1,
    "chat_id": 11,
    "text": "new set",
    "createdAt": "2026-01-01T10:00:00Z",
    "fromUser": {"id": 500},
    "price": 10,
    "isFree": False,
    "operator": {"id": 7, "name": "Ann"},
}
TIP = {"id": 5, "chat_id": 11, "createdAt": "2026-01-01T10:05:00Z", "fromUser": {"id": 11},
       "isTip": True, "price": 4.5}  # fmt: skip


async def test_bad_money_fields_are_rejected_item_by_item(server, make_key, account_id) -> None:
    key = await make_key(account_id, "extension")
    frame = {
        "type": "cache_update",
        "payload": {
            "chats": [{"withUser": {"id": 11, "name": "Fan"}}],
            "messages": [
                OFFER,
                {**OFFER, "id": 2, "price": -1},
                {**OFFER, "id": 3, "price": "5"},
                {**OFFER, "id": 4, "isOpened": "yes"},
                TIP,
                {**TIP, "id": 6, "isTip": 1},
                {**OFFER, "id": 8, "price": True},
            ],
        },
    }
    async with open_socket(_url(server, account_id, key)) as socket:
        await socket.next()
        await socket.send(frame)
        ack = (await socket.until("ingest_ack"))["payload"]
        assert (ack["accepted"], ack["rejected"]) == (2, 5)
        reasons = {item["message_id"]: item["reason"] for item in ack["rejected_items"]}
        assert reasons == {
            "2": "invalid_money: price must be a number >= 0, not -1",
            "3": "invalid_money: price must be a number, not str",
            "4": "invalid_money: isOpened must be true or false, not str",
            "6": "invalid_money: isTip must be true or false, not int",
            "8": "invalid_money: price must be a number, not bool",
        }
        stored = await _money(account_id)
        assert set(stored) == {"1", "5"}
        assert stored["1"] == {
            "is_tip": False,
            "price": 10.0,
            "is_free": False,
            "is_opened": False,
            "operator_id": "7",
            "operator_name": "Ann",
        }
        assert stored["5"]["is_tip"] is True and stored["5"]["price"] == 4.5
        assert stored["5"]["operator_id"] is None

        # A delta with a malformed flag: an ack rejecting it, never a system_error.
        await socket.send(new_raw_message_frame({**TIP, "id": 9, "isFree": "no"}))
        delta = (await socket.until("ingest_ack"))["payload"]
        assert (delta["accepted"], delta["rejected"]) == (0, 1)
        assert delta["rejected_items"] == [
            {"message_id": "9", "reason": "invalid_money: isFree must be true or false, not str"}
        ]

        # The unlock: the offer again with isOpened true is an edit of the stored row.
        await socket.send(new_raw_message_frame({**OFFER, "isOpened": True}))
        unlock = (await socket.until("ingest_ack"))["payload"]
        assert (unlock["accepted"], unlock["updated"]) == (0, 1)
        assert (await _money(account_id))["1"]["is_opened"] is True


async def test_m0010_fills_the_columns_from_raw(account_id: str, settings: Any) -> None:
    now = datetime.now(UTC)
    raws = {
        "r1": {"id": "r1", "isFree": False, "isOpened": True, "operator": {"id": 42, "name": "Bo"}},
        "r2": {"id": "r2", "isFree": True, "price": 3, "operator": "not an object"},
        "r3": {"id": "r3", "text": "nothing about money"},
    }
    await MessageRow.insert(
        *(
            MessageRow(
                account_id=account_id,
                message_id=mid,
                chat_id="c",
                direction="outbound",
                created_at=now,
                raw=msgspec.json.encode(raw).decode(),
                content_hash=mid,
                ingested_at=now,
            )
            for mid, raw in raws.items()
        )
    ).run()
    engine = database()
    await engine.run_ddl(PG_BACKFILL if settings.is_postgres else SQLITE_BACKFILL)
    stored = await _money(account_id)
    assert {mid: (r["is_free"], r["is_opened"]) for mid, r in stored.items()} == {
        "r1": (False, True),
        "r2": (True, False),
        "r3": (False, False),
    }
    assert (stored["r1"]["operator_id"], stored["r1"]["operator_name"]) == ("42", "Bo")
    assert stored["r2"]["operator_id"] is None


async def test_an_unlock_reaches_dashboards_live(server, make_key, account_id) -> None:
    """The unlock (an edit with isOpened true) comes as an edited append_message whose node
    has the fan's new lifetime spend and tier, then an analytics_update with the revenue."""
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    offer = {**OFFER, "createdAt": hour_ago, "price": 80}
    tip = {**TIP, "createdAt": hour_ago, "price": 25}
    snapshot = {
        "type": "cache_update",
        "payload": {"chats": [{"withUser": {"id": 11, "name": "Fan"}}], "messages": [offer, tip]},
    }
    async with (
        open_socket(_url(server, account_id, ext_key)) as extension,
        open_socket(f"{server.ws_url}/ws/frontend/{account_id}?token={dash_key}") as dashboard,
    ):
        await extension.next()
        await dashboard.until("full_sync_response")
        await extension.send(snapshot)
        await extension.until("ingest_ack")
        synced = await dashboard.until("full_sync_response", within=30)
        (node,) = synced["payload"]["conversations"]
        assert (node["lifetime_spend"], node["tier"]) == (25.0, "spender")

        await extension.send(new_raw_message_frame({**offer, "isOpened": True}))
        await extension.until("ingest_ack")
        event = await dashboard.until("append_message", within=30)
        assert event["payload"]["edited"] is True
        assert event["payload"]["message"]["is_opened"] is True
        node = event["payload"]["conversation"]
        assert (node["lifetime_spend"], node["tier"]) == (105.0, "whale")
        update = await dashboard.until("analytics_update", within=30)
        revenue = update["payload"]["revenue"]
        # The snapshot's own update (its refresh follows its enrichment, off the loop) may
        # still be on its way: it can only show the state before the unlock.
        while revenue["gross"] == 25.0:
            assert (revenue["ppv_purchased"], revenue["tips_amount"]) == (0, 25.0)
            revenue = (await dashboard.until("analytics_update", within=30))["payload"]["revenue"]
        assert (revenue["gross"], revenue["ppv_purchased"], revenue["tips_amount"]) == (
            105.0, 1, 25.0,
        )  # fmt: skip
        assert revenue["net"] == 84.0  # fee 20 %
