"""Revenue, fans, chatters and topic revenue on a hand-made account; every expected value is
worked out by hand below (docs/metrics.md defaults: fee 20 %, whale 100, tip credit 24 h,
SLA 300 s, session gap 30 min). T = 2026-03-02 12:00 UTC (a Monday).

Window W = [T, T+3d), previous window P = [T-3d, T).

f1: o1 T-2h out offer 50 (ext:7 "Ann"; unlocked late) | i1 T in (greeting) |
    o2 T+1m out offer 30 opened (ext:7 "Annie") | t1 T+10m in tip 25 | o3 T+11m out offer
    20 not opened (command of user Uma)
    sessions: S0 = [o1] (in P), S1 = [i1, o2, t1, o3] (in W, greeting)
f2: i2 T+60m in | t2 T+61m in tip without amount (tips_gifts) | o4 T+70m out (nobody:
    unassigned) | o5 T+71m out offer 10 opened (command of Uma); one session S2
f3: o6 T+2h out (ext:8 "Cy") | t3 T+26h in tip 5 (exactly 24 h later: credited to ext:8)
f4: o7 T+3h out (ext:8) | t4 T+27h+1s in tip 7 (24 h + 1 s: unassigned)
f5: t5 T+3d-300s in tip 40 (no outbound before: unassigned); waits exactly 300 s at W's end

Sessions in W: S1, S2, f3 x2, f4 x2, f5 = 7; in P: S0 = 1.
W's money: tips t1 25, t2 -, t3 5, t4 7, t5 40 -> 5 tips, 77, 1 without amount;
offers o2 (bought 30), o3, o5 (bought 10) -> 3 offered, 2 bought, 40.
gross 117, net 93.6, unlock 66.666666667 %, average purchase 20, paying fans 5
(f1..f5), per paying fan 23.4, per session 117 / 7 = 16.714285714.
Chatters in W: ext:7 sent o2, replied to [i1] (60 s), sold 30, tip t1 25 -> 55;
unassigned sent o4, replied to [i2, t2] (600 s), tips t2, t4, t5 -> 47;
Uma sent o3, o5 (2 fans), replied to [t1] (60 s), offered 2, sold 1 (10) -> 10;
ext:8 sent o6, o7 (2 fans), tip t3 -> 5. 55 + 47 + 10 + 5 = 117 = gross.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.insights.refresh import refresh_chats
from ofca.persistence.tables import ChatRow, CommandRow, MessageRow, User
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

W = {"start": "2026-03-02T12:00:00Z", "end": "2026-03-05T12:00:00Z"}
HOUR = 60.0


def account_messages(uma_command: str) -> list[Msg]:
    none: tuple[str, ...] = ()
    return [
        Msg(chat="f1", id="o1", at=at(-120), dir="outbound", topics=none, price=50,
            operator="7", operator_name="Ann"),
        Msg(chat="f1", id="i1", at=at(0), dir="inbound", topics=("greeting",)),
        Msg(chat="f1", id="o2", at=at(1), dir="outbound", topics=none, price=30,
            is_opened=True, operator="7", operator_name="Annie"),
        Msg(chat="f1", id="t1", at=at(10), dir="inbound", topics=none, is_tip=True, price=25),
        Msg(chat="f1", id="o3", at=at(11), dir="outbound", topics=none, price=20,
            command_id=f"{uma_command}-3"),
        Msg(chat="f2", id="i2", at=at(60), dir="inbound", topics=none),
        Msg(chat="f2", id="t2", at=at(61), dir="inbound", topics=("tips_gifts",), is_tip=True),
        Msg(chat="f2", id="o4", at=at(70), dir="outbound", topics=none),
        Msg(chat="f2", id="o5", at=at(71), dir="outbound", topics=none, price=10,
            is_opened=True, command_id=f"{uma_command}-5"),
        # A free priced message and an inbound "price" are no offers.
        Msg(chat="f2", id="o5free", at=at(72), dir="outbound", topics=none, price=99,
            is_free=True, command_id=None),
        Msg(chat="f3", id="o6", at=at(2 * HOUR), dir="outbound", topics=none, operator="8",
            operator_name="Cy"),
        Msg(chat="f3", id="t3", at=at(26 * HOUR), dir="inbound", topics=none, is_tip=True,
            price=5),
        Msg(chat="f4", id="o7", at=at(3 * HOUR), dir="outbound", topics=none, operator="8"),
        Msg(chat="f4", id="t4", at=at(27 * HOUR, seconds=1), dir="inbound", topics=none,
            is_tip=True, price=7),
        Msg(chat="f5", id="t5", at=at(days=3, seconds=-300), dir="inbound", topics=none,
            is_tip=True, price=40),
        Msg(chat="f5", id="notime", at=None, dir="inbound", topics=none, is_tip=True, price=1000),
    ]  # fmt: skip


@pytest.fixture
async def owner(account_id: str, make_key: Any, settings: Settings) -> dict[str, str]:
    key = await make_key(account_id, "owner")
    uma = f"u-{account_id}"[:40]
    now = datetime.now(UTC)
    await User(
        user_id=uma, email=f"{uma}@example.com", name="Uma", password_hash="x", created_at=now
    ).save()
    command = f"cmd-{account_id}"
    for suffix, chat in (("3", "f1"), ("5", "f2")):
        await CommandRow(
            command_id=f"{command}-{suffix}",
            account_id=account_id,
            chat_id=chat,
            text_hash="",
            created_at=now,
            issued_by=f"user:{uma}",
        ).save()
    for chat in ("f1", "f2", "f3", "f4", "f5"):
        named = chat == "f1"
        await ChatRow(
            account_id=account_id,
            chat_id=chat,
            fan_id=f"10{chat}",
            fan_name="Big Spender" if named else None,
            fan_username="bigspender" if named else None,
            created_at=now,
            updated_at=now,
        ).save()
    await store(account_id, account_messages(command), settings)
    return {"Authorization": f"Bearer {key}", "uma": f"user:{uma}", "account_id": account_id}


async def get(client: AsyncTestClient[Litestar], path: str, headers: dict, **params: Any) -> Any:
    auth = {"Authorization": headers["Authorization"]}
    response = await client.get(f"/api/v1/insights/{path}", headers=auth, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_revenue_window_previous_and_trend(
    client: AsyncTestClient[Litestar], owner: dict, account_id: str
) -> None:
    body = await get(client, "revenue", owner, **W)
    assert body["current"] == {
        "gross": 117.0,
        "net": 93.6,
        "tips": 5,
        "tips_amount": 77.0,
        "tips_without_amount": 1,
        "ppv_offered": 3,
        "ppv_purchased": 2,
        "ppv_revenue": 40.0,
        "unlock_rate": 66.666666667,
        "average_purchase": 20.0,
        "paying_fans": 5,
        "revenue_per_paying_fan": 23.4,
        "revenue_per_session": 16.714285714,
        "unavailable_reasons": {},
    }
    # o1 (offered in P) is not unlocked yet: offered, nothing bought.
    assert body["previous"] == {
        "gross": 0.0,
        "net": 0.0,
        "tips": 0,
        "tips_amount": 0.0,
        "tips_without_amount": 0,
        "ppv_offered": 1,
        "ppv_purchased": 0,
        "ppv_revenue": 0.0,
        "unlock_rate": 0.0,
        "average_purchase": None,
        "paying_fans": 0,
        "revenue_per_paying_fan": None,
        "revenue_per_session": 0.0,
        "unavailable_reasons": {
            "average_purchase": "no_ppv_purchased",
            "revenue_per_paying_fan": "no_paying_fans",
        },
    }
    # Day buckets (UTC) overlapping W: Mar 2 .. Mar 5, every one present.
    assert [
        (p["date"][:10], p["gross"], p["tips_amount"], p["ppv_revenue"], p["ppv_offered"],
         p["ppv_purchased"])
        for p in body["trend"]
    ] == [
        ("2026-03-02", 65.0, 25.0, 40.0, 3, 2),
        ("2026-03-03", 12.0, 12.0, 0.0, 0, 0),
        ("2026-03-04", 0.0, 0.0, 0.0, 0, 0),
        ("2026-03-05", 40.0, 40.0, 0.0, 0, 0),
    ]  # fmt: skip

    # The late unlock: an edit of o1 with isOpened true. The sale counts at the offer's
    # time (in P), not when it was unlocked; W does not move.
    await MessageRow.update({MessageRow.is_opened: True}).where(
        (MessageRow.account_id == account_id) & (MessageRow.message_id == "o1")
    )
    after = await get(client, "revenue", owner, **W)
    assert after["current"] == body["current"]
    previous = after["previous"]
    assert (previous["ppv_purchased"], previous["ppv_revenue"], previous["gross"]) == (
        1,
        50.0,
        50.0,
    )
    assert (previous["net"], previous["unlock_rate"], previous["average_purchase"]) == (
        40.0,
        100.0,
        50.0,
    )
    assert (previous["paying_fans"], previous["revenue_per_session"]) == (1, 50.0)  # S0
    assert previous["unavailable_reasons"] == {}


async def test_revenue_filters(client: AsyncTestClient[Litestar], owner: dict) -> None:
    # ext:7: o2 bought (30) and t1 credited (25); sessions where ext:7 sent: S1.
    ann = (await get(client, "revenue", owner, **W, chatter="ext:7"))["current"]
    assert (ann["gross"], ann["tips_amount"], ann["ppv_revenue"], ann["ppv_offered"]) == (
        55.0, 25.0, 30.0, 1,
    )  # fmt: skip
    assert (ann["paying_fans"], ann["revenue_per_session"], ann["net"]) == (1, 55.0, 44.0)
    # Uma: o3 and o5 offered, o5 bought; sessions S1 and S2.
    uma = (await get(client, "revenue", owner, **W, chatter=owner["uma"]))["current"]
    assert (uma["ppv_offered"], uma["ppv_purchased"], uma["unlock_rate"]) == (2, 1, 50.0)
    assert (uma["gross"], uma["tips"], uma["revenue_per_session"]) == (10.0, 0, 5.0)
    # unassigned: t2 (no amount), t4 (24 h + 1 s after o7) and t5.
    nobody = (await get(client, "revenue", owner, **W, chatter="unassigned"))["current"]
    assert (nobody["tips"], nobody["tips_amount"], nobody["tips_without_amount"]) == (3, 47.0, 1)
    assert nobody["unavailable_reasons"]["unlock_rate"] == "no_ppv_offered"
    # chat f2: t2 without amount, o5 bought; one session.
    f2 = (await get(client, "revenue", owner, **W, chat_id="f2"))["current"]
    assert (f2["tips"], f2["tips_amount"], f2["tips_without_amount"], f2["gross"]) == (
        1, 0.0, 1, 10.0,
    )  # fmt: skip
    assert f2["revenue_per_session"] == 10.0
    # topic greeting: the money of S1 (o2 30, t1 25; o3 offered), one session.
    greeting = (await get(client, "revenue", owner, **W, topic="greeting"))["current"]
    assert (greeting["gross"], greeting["ppv_offered"], greeting["revenue_per_session"]) == (
        55.0, 2, 55.0,
    )  # fmt: skip


async def test_topic_rows_gain_revenue(client: AsyncTestClient[Litestar], owner: dict) -> None:
    rows = {r["topic"]: r for r in (await get(client, "topics", owner, **W))["topics"]}
    assert (rows["greeting"]["revenue"], rows["greeting"]["revenue_per_session"]) == (55.0, 55.0)
    # S2: o5 bought (10); t2 has no amount.
    assert (rows["tips_gifts"]["revenue"], rows["tips_gifts"]["revenue_per_session"]) == (
        10.0, 10.0,
    )  # fmt: skip


async def test_chatters(client: AsyncTestClient[Litestar], owner: dict) -> None:
    body = await get(client, "chatters", owner, **W)
    rows = body["chatters"]
    assert [(r["chatter"], r["name"], r["revenue"]) for r in rows] == [
        ("ext:7", "Annie", 55.0),  # the latest name seen for operator 7
        ("unassigned", None, 47.0),
        (owner["uma"], "Uma", 10.0),
        ("ext:8", "Cy", 5.0),
    ]
    assert sum(r["revenue"] for r in rows) == 117.0  # = the window's gross
    ann, nobody, uma, cy = rows
    assert (ann["messages_sent"], ann["fans"], ann["replies"]) == (1, 1, 1)
    assert ann["reply_time"]["median_seconds"] == 60.0
    assert (ann["ppv_offered"], ann["ppv_purchased"], ann["ppv_revenue"]) == (1, 1, 30.0)
    assert (ann["tips_amount"], ann["unlock_rate"], ann["revenue_per_message"]) == (
        25.0, 100.0, 55.0,
    )  # fmt: skip
    # o4 and o5free (a free priced message is no offer) were sent by nobody known.
    assert (nobody["messages_sent"], nobody["replies"], nobody["tips_amount"]) == (2, 1, 47.0)
    assert nobody["revenue_per_message"] == 23.5
    assert nobody["reply_time"]["mean_seconds"] == 600.0
    assert nobody["reply_time"]["within_sla_percentage"] == 0.0
    assert nobody["unavailable_reasons"] == {"unlock_rate": "no_ppv_offered"}
    assert (uma["messages_sent"], uma["fans"], uma["replies"], uma["unlock_rate"]) == (
        2, 2, 1, 50.0,
    )  # fmt: skip
    assert uma["revenue_per_message"] == 5.0
    assert (cy["messages_sent"], cy["fans"], cy["replies"], cy["revenue_per_message"]) == (
        2, 2, 0, 2.5,
    )  # fmt: skip
    assert cy["reply_time"]["count"] == 0 and cy["reply_time"]["median_seconds"] is None
    assert cy["unavailable_reasons"]["reply_time.median_seconds"] == "no_replies"

    only = await get(client, "chatters", owner, **W, chatter="ext:8")
    assert [r["chatter"] for r in only["chatters"]] == ["ext:8"]
    chat = await get(client, "chatters", owner, **W, chat_id="f1")
    assert [(r["chatter"], r["revenue"]) for r in chat["chatters"]] == [
        ("ext:7", 55.0),
        (owner["uma"], 0.0),
    ]


async def test_fans_and_spend_waiting(client: AsyncTestClient[Litestar], owner: dict) -> None:
    await MessageRow.update({MessageRow.is_opened: True}).where(
        (MessageRow.account_id == owner["account_id"]) & (MessageRow.message_id == "o1")
    )  # the late unlock of o1 (offered in P): lifetime spend, not window spend
    # As an edit through ingest would: the chat's read models (its spend) follow.
    await refresh_chats(owner["account_id"], ["f1"])
    body = await get(client, "fans", owner, **W)
    assert body["as_of"].startswith("2026-03-05T12:00:00")
    rows = body["fans"]
    assert [(r["chat_id"], r["lifetime_spend"], r["window_spend"], r["tier"]) for r in rows] == [
        ("f1", 105.0, 55.0, "whale"),  # o1 50 + o2 30 + t1 25 >= 100
        ("f5", 40.0, 40.0, "spender"),
        ("f2", 10.0, 10.0, "spender"),
        ("f4", 7.0, 7.0, "spender"),
        ("f3", 5.0, 5.0, "spender"),
    ]
    f1 = rows[0]
    assert f1["fan"] == {"name": "Big Spender", "username": "bigspender"}
    assert (f1["tips_amount"], f1["ppv_revenue"], f1["waiting_seconds"]) == (25.0, 80.0, None)
    assert f1["last_paid_at"].startswith("2026-03-02T12:10:00")  # t1
    waiting = {r["chat_id"]: r["waiting_seconds"] for r in rows}
    assert waiting == {"f1": None, "f5": 300.0, "f2": None, "f4": 161999.0, "f3": 165600.0}
    # f5 waits exactly the SLA: not over it. f3 and f4 are.
    assert (body["spend_waiting"], body["fans_waiting"]) == (12.0, 2)

    whales = await get(client, "fans", owner, **W, tier="whale")
    assert [r["chat_id"] for r in whales["fans"]] == ["f1"]
    assert (whales["spend_waiting"], whales["fans_waiting"]) == (0.0, 0)
    free = await get(client, "fans", owner, **W, tier="free")
    assert (free["fans"], free["spend_waiting"], free["fans_waiting"]) == ([], 0.0, 0)
    spenders = await get(client, "fans", owner, **W, tier="spender")
    assert (spenders["spend_waiting"], spenders["fans_waiting"]) == (12.0, 2)
    top = await get(client, "fans", owner, **W, limit="2")
    assert [r["chat_id"] for r in top["fans"]] == ["f1", "f5"]
    assert (top["spend_waiting"], top["fans_waiting"]) == (12.0, 2)  # before the limit


async def test_fans_as_they_stood(client: AsyncTestClient[Litestar], owner: dict) -> None:
    # At T+65m f2 has waited exactly 300 s (since i2); o5 (T+71m) is not bought yet.
    early = await get(
        client, "fans", owner, start="2026-03-02T00:00:00Z", end="2026-03-02T13:05:00Z"
    )
    assert [(r["chat_id"], r["lifetime_spend"], r["waiting_seconds"]) for r in early["fans"]] == [
        ("f1", 55.0, None),
        ("f2", 0.0, 300.0),
    ]
    assert (early["spend_waiting"], early["fans_waiting"]) == (0.0, 0)
    later = await get(
        client, "fans", owner, start="2026-03-02T00:00:00Z", end="2026-03-02T13:05:01Z"
    )
    assert [r["waiting_seconds"] for r in later["fans"]] == [None, 301.0]
    assert (later["spend_waiting"], later["fans_waiting"]) == (0.0, 1)  # f2 pays nothing yet
    assert [r["tier"] for r in later["fans"]] == ["spender", "free"]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("revenue", {"granularity": "minute"}, "granularity"),
        ("revenue", {"start": "yesterday"}, "start"),
        ("revenue", {"time_range": "7d", "start": "2026-03-01T00:00:00Z"}, "time_range"),
        ("chatters", {"timezone": "Mars/Base"}, "timezone"),
        ("fans", {"tier": "dolphin"}, "tier"),
        ("fans", {"limit": "501"}, "limit"),
        ("fans", {"limit": "0"}, "limit"),
    ],
)
async def test_bad_parameters_are_422_naming_them(
    client: AsyncTestClient[Litestar], owner: dict, path: str, params: dict, name: str
) -> None:
    response = await client.get(
        f"/api/v1/insights/{path}",
        headers={"Authorization": owner["Authorization"]},
        params=params,
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["key"] == name


EXPECTED = Path(__file__).with_name("expected_money.json")
SAME_JSON: list[tuple[str, dict[str, str]]] = [
    ("revenue", W),
    ("revenue", {**W, "granularity": "hour", "timezone": "Asia/Kolkata"}),
    ("revenue", {**W, "granularity": "week", "chatter": "ext:8"}),
    ("revenue", {**W, "topic": "tips_gifts"}),
    ("fans", W),
    ("fans", {**W, "tier": "spender", "limit": "3"}),
    ("chatters", W),
    ("chatters", {**W, "topic": "greeting"}),
    ("topics", W),
]


async def test_money_endpoints_give_the_committed_json(
    client: AsyncTestClient[Litestar], owner: dict
) -> None:
    """SQLite and Postgres answer identically: both compare to one committed file
    (regenerate with ``OFCA_UPDATE_EXPECTED=1``, then review the diff)."""
    bodies: dict[str, Any] = {}
    for path, params in SAME_JSON:
        body = await get(client, path, owner, **params)
        text = json.dumps(body, sort_keys=True).replace(owner["uma"], "user:uma")
        bodies[f"{path} {json.dumps(params, sort_keys=True)}"] = json.loads(text)
    if os.environ.get("OFCA_UPDATE_EXPECTED"):
        EXPECTED.write_text(json.dumps(bodies, indent=1, sort_keys=True) + "\n")
    expected = json.loads(EXPECTED.read_text())
    for name, body in bodies.items():
        assert body == expected[name], name
    assert set(bodies) == set(expected)


async def test_chatters_export(client: AsyncTestClient[Litestar], owner: dict) -> None:
    auth = {"Authorization": owner["Authorization"]}
    response = await client.get("/api/v1/export/chatters", headers=auth, params={**W})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0][:5] == ["chatter", "name", "messages_sent", "fans", "replies"]
    assert [(line[0], line[14]) for line in lines[1:]] == [
        ("ext:7", "55.0"),
        ("unassigned", "47.0"),
        (owner["uma"], "10.0"),
        ("ext:8", "5.0"),
    ]
    assert lines[4][5] == ""  # ext:8 replied to nobody: no mean
    ndjson = await client.get(
        "/api/v1/export/chatters",
        headers=auth,
        params={**W, "format": "ndjson", "chatter": "ext:8"},
    )
    rows = [json.loads(line) for line in ndjson.text.splitlines()]
    assert [(r["chatter"], r["tips_amount"], r["messages_sent"]) for r in rows] == [
        ("ext:8", 5.0, 2)
    ]
    bad = await client.get("/api/v1/export/chatters", headers=auth, params={"format": "xlsx"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["key"] == "format"


async def test_sessions_export_gains_revenue(
    client: AsyncTestClient[Litestar], owner: dict
) -> None:
    response = await client.get(
        "/api/v1/export/conversations",
        headers={"Authorization": owner["Authorization"]},
        params={"format": "ndjson", "start": "2026-02-20T00:00:00Z", "end": "2026-03-06T00:00:00Z"},
    )
    assert response.status_code == 200, response.text
    revenue = {
        (r["chat_id"], r["start_at"][:16]): r["revenue"]
        for r in map(json.loads, response.text.splitlines())
    }
    assert revenue == {
        ("f1", "2026-03-02T10:00"): 0.0,  # S0: o1 not unlocked
        ("f1", "2026-03-02T12:00"): 55.0,  # S1: o2 30 + t1 25 (o3 not bought)
        ("f2", "2026-03-02T13:00"): 10.0,  # S2: o5 (t2 has no amount, o5free is free)
        ("f3", "2026-03-02T14:00"): 0.0,
        ("f3", "2026-03-03T14:00"): 5.0,
        ("f4", "2026-03-02T15:00"): 0.0,
        ("f4", "2026-03-03T15:00"): 7.0,
        ("f5", "2026-03-05T11:55"): 40.0,
    }
