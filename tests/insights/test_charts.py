"""The charts over time and the sessions summary on the hand-made conversation of
``test_hand_computed`` (its docstring works out the sessions and replies), every expected
value worked out by hand in the comments; DST cases on their own small data sets.

Messages of that conversation (T0 = Mon 2026-03-02 12:00 UTC):
  a: m1 12:00 in | m2 12:01 out | m3 12:04 unknown | m4 12:05 in | m5 12:35 out | m6 13:06 in
  b: b1 12:00 in | b2 12:50 out | b3 12:52 unknown
  c: c1 12:00:00 in | c2 12:01:59 out | c3 12:03:59 in
  d: d1 10:00 in (before the window) | dx without a usable time
Sessions starting in the window: S1 a 12:00 (m1-m5, 2100 s), S2 a 13:06 (m6, 0 s),
SB1 b 12:00 (b1, 0 s), SB2 b 12:50 (b2-b3, 120 s), C1 c 12:00 (c1-c3, 239 s).
Replies: [m1] 60 s, [m4] 1800 s, [m6] unanswered, [b1] 3000 s, [c1] 119 s, [c3] unanswered.
Topics: tips_gifts sessions S1 and SB1.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.settings import Settings
from tests.insights.support import Msg, store
from tests.insights.test_hand_computed import DAY, conversation

pytestmark = pytest.mark.asyncio

Client = AsyncTestClient[Litestar]
NO_REPLY_REASONS = {
    "median_seconds": "no_replies",
    "p90_seconds": "no_replies",
    "within_sla_percentage": "no_replies",
}
CUT = {"start": "2026-03-02T12:02:00Z", "end": "2026-03-02T13:10:00Z"}


@pytest.fixture
async def owner(account_id: str, make_key: Any, settings: Settings) -> dict[str, str]:
    key = await make_key(account_id, "owner")
    await store(account_id, conversation(), settings)
    return {"Authorization": f"Bearer {key}"}


async def get(client: Client, path: str, headers: dict, **params: Any) -> Any:
    response = await client.get(f"/api/v1/insights/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def volumes(body: Any) -> list[tuple[int, int, int]]:
    return [(p["messages"], p["inbound_messages"], p["outbound_messages"]) for p in body["trend"]]


def nonzero_cells(body: Any) -> dict[tuple[int, int], int]:
    return {
        (c["weekday"], c["hour"]): c["inbound_messages"]
        for c in body["cells"]
        if c["inbound_messages"]
    }


# --------------------------------------------------------------------------- volume


async def test_volume_trend(client: Client, owner: dict) -> None:
    day = await get(client, "volume-trend", owner, **DAY)
    assert set(day) == {"trend", "granularity", "timezone", "window"}
    assert (day["granularity"], day["timezone"]) == ("day", "UTC")
    assert day["window"] == {"start": "2026-03-02T12:00:00Z", "end": "2026-03-03T12:00:00Z"}
    assert [p["date"] for p in day["trend"]] == ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]
    # 12 timed messages in the window (d1 lies before it, dx has no time): 6 in, 4 out,
    # m3 and b3 unknown; the empty Mar 3 bucket is listed with zeros.
    assert volumes(day) == [(12, 6, 4), (0, 0, 0)]
    hour = await get(client, "volume-trend", owner, granularity="hour", **DAY)
    assert len(hour["trend"]) == 24
    # 12:00: everything but m6 (11 messages: in m1 m4 b1 c1 c3, out m2 m5 b2 c2); 13:00: m6
    assert volumes(hour)[:3] == [(11, 5, 4), (1, 1, 0), (0, 0, 0)]
    assert sum(p["messages"] for p in hour["trend"]) == 12
    # Edges inside hours: [12:02, 13:10) keeps m3 m4 m5 b2 b3 c3 (c2 at 12:01:59 is out).
    cut = await get(client, "volume-trend", owner, granularity="hour", **CUT)
    assert volumes(cut) == [(6, 2, 2), (1, 1, 0)]


async def test_volume_trend_filters_and_half_hour_zone(client: Client, owner: dict) -> None:
    # tips_gifts: the messages of S1 (m1-m5) and SB1 (b1)
    topic = await get(client, "volume-trend", owner, topic="tips_gifts", **DAY)
    assert volumes(topic) == [(6, 3, 2), (0, 0, 0)]
    chat = await get(client, "volume-trend", owner, chat_id="c", **DAY)
    assert volumes(chat) == [(3, 2, 1), (0, 0, 0)]
    both = await get(client, "volume-trend", owner, chat_id="b", topic="tips_gifts", **DAY)
    assert volumes(both) == [(1, 1, 0), (0, 0, 0)]
    # Asia/Kolkata (+05:30): local hours start at hh:30 UTC. [11:30Z, 12:30Z) = 17:00 IST
    # holds m1-m4, b1, c1-c3 (8: in m1 m4 b1 c1 c3, out m2 c2); [12:30Z, 13:30Z) holds
    # m5, b2, b3, m6 (4: in m6, out m5 b2). 24 h from 12:00Z touch 25 local hours.
    kolkata = await get(
        client, "volume-trend", owner, granularity="hour", timezone="Asia/Kolkata", **DAY
    )
    assert len(kolkata["trend"]) == 25
    assert kolkata["trend"][0]["date"] == "2026-03-02T17:00:00+05:30"
    assert volumes(kolkata)[:3] == [(8, 5, 2), (4, 1, 2), (0, 0, 0)]


async def test_volume_trend_across_a_dst_fall_back(
    client: Client, account_id: str, make_key: Any, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {await make_key(account_id, 'owner')}"}
    # Berlin falls back on Sun 2026-10-25 at 03:00 CEST -> 02:00 CET (01:00Z): 25 hours.
    await store(
        account_id,
        [
            Msg(chat="x", id="1", at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC), dir="inbound"),
            Msg(chat="x", id="2", at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC), dir="outbound"),
            Msg(chat="y", id="3", at=datetime(2026, 10, 25, 22, 30, tzinfo=UTC), dir="inbound"),
            Msg(chat="y", id="4", at=datetime(2026, 10, 25, 23, 30, tzinfo=UTC), dir="unknown"),
        ],
        settings,
    )
    window = {"start": "2026-10-24T00:00:00+02:00", "end": "2026-10-27T00:00:00+01:00"}
    days = await get(
        client, "volume-trend", headers, timezone="Europe/Berlin", granularity="day", **window
    )
    assert [p["date"] for p in days["trend"]] == [
        "2026-10-24T00:00:00+02:00",
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    ]
    # 02:30 CEST, 02:30 CET and 23:30 CET are Sunday; 23:30Z is Monday 00:30 CET.
    assert volumes(days) == [(0, 0, 0), (3, 2, 1), (1, 0, 0)]
    hours = await get(
        client,
        "volume-trend",
        headers,
        timezone="Europe/Berlin",
        granularity="hour",
        start="2026-10-25T00:00:00+02:00",
        end="2026-10-26T00:00:00+01:00",
    )
    assert len(hours["trend"]) == 25  # 02:00 twice
    assert [p["date"] for p in hours["trend"][2:4]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert volumes(hours)[2:4] == [(1, 1, 0), (1, 0, 1)]
    assert volumes(hours)[24] == (1, 1, 0)  # 23:00 CET, the 25th hour
    assert sum(p["messages"] for p in hours["trend"]) == 3


# --------------------------------------------------------------------------- heatmap


async def test_activity_heatmap(client: Client, owner: dict) -> None:
    body = await get(client, "activity-heatmap", owner, **DAY)
    assert set(body) == {"cells", "timezone", "window"}
    assert len(body["cells"]) == 168
    assert [(c["weekday"], c["hour"]) for c in body["cells"][:2]] == [(0, 0), (0, 1)]
    assert (body["cells"][-1]["weekday"], body["cells"][-1]["hour"]) == (6, 23)
    # Monday: m1 m4 b1 c1 c3 at 12 h, m6 at 13 h (outbound and unknown messages never count)
    assert nonzero_cells(body) == {(0, 12): 5, (0, 13): 1}
    # In Kolkata 12:00-12:29Z is 17:30-17:59 and m6 (13:06Z) is 18:36.
    kolkata = await get(client, "activity-heatmap", owner, timezone="Asia/Kolkata", **DAY)
    assert nonzero_cells(kolkata) == {(0, 17): 5, (0, 18): 1}
    topic = await get(client, "activity-heatmap", owner, topic="tips_gifts", **DAY)
    assert nonzero_cells(topic) == {(0, 12): 3}  # m1, m4, b1
    chat = await get(client, "activity-heatmap", owner, chat_id="a", **DAY)
    assert nonzero_cells(chat) == {(0, 12): 2, (0, 13): 1}
    cut = await get(client, "activity-heatmap", owner, **CUT)
    assert nonzero_cells(cut) == {(0, 12): 2, (0, 13): 1}  # m4, c3; m6
    empty = await get(
        client, "activity-heatmap", owner, start="2025-01-01T00:00:00Z", end="2025-01-02T00:00:00Z"
    )
    assert len(empty["cells"]) == 168 and nonzero_cells(empty) == {}


async def test_activity_heatmap_follows_local_time_across_dst(
    client: Client, account_id: str, make_key: Any, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {await make_key(account_id, 'owner')}"}
    await store(
        account_id,
        [
            # Spring forward, Sun 2026-03-29: 00:59Z = 01:59 CET, 01:30Z = 03:30 CEST (02:xx
            # does not exist that night).
            Msg(chat="s", id="1", at=datetime(2026, 3, 29, 0, 59, tzinfo=UTC)),
            Msg(chat="s", id="2", at=datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
            # Fall back, Sun 2026-10-25: 00:30Z = 02:30 CEST and 01:30Z = 02:30 CET.
            Msg(chat="f", id="3", at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
            Msg(chat="f", id="4", at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
            Msg(chat="f", id="5", at=datetime(2026, 10, 25, 1, 45, tzinfo=UTC), dir="outbound"),
        ],
        settings,
    )
    body = await get(
        client,
        "activity-heatmap",
        headers,
        timezone="Europe/Berlin",
        start="2026-03-01T00:00:00Z",
        end="2026-11-01T00:00:00Z",
    )
    assert nonzero_cells(body) == {(6, 1): 1, (6, 3): 1, (6, 2): 2}
    utc = await get(
        client,
        "activity-heatmap",
        headers,
        start="2026-03-01T00:00:00Z",
        end="2026-11-01T00:00:00Z",
    )
    assert nonzero_cells(utc) == {(6, 0): 2, (6, 1): 2}


# --------------------------------------------------------------------------- reply trend


async def test_reply_time_trend(client: Client, owner: dict) -> None:
    day = await get(client, "reply-time-trend", owner, **DAY)
    assert set(day) == {"trend", "granularity", "timezone", "sla_seconds", "window"}
    assert (day["granularity"], day["timezone"], day["sla_seconds"]) == ("day", "UTC", 300)
    first, second = day["trend"]
    # Mar 2: 60, 119, 1800, 3000 -> median (119 + 1800) / 2; inclusive p90 at position
    # 0.9 * 3 = 2.7 -> 1800 + 0.7 * 1200 = 2640; 60 and 119 within 300 s; [m6], [c3] wait.
    assert first == {
        "date": "2026-03-02T00:00:00Z",
        "count": 4,
        "median_seconds": 959.5,
        "p90_seconds": 2640.0,
        "within_sla_percentage": 50.0,
        "unanswered": 2,
        "unavailable_reasons": {},
    }
    assert second == {
        "date": "2026-03-03T00:00:00Z",
        "count": 0,
        "median_seconds": None,
        "p90_seconds": None,
        "within_sla_percentage": None,
        "unanswered": 0,
        "unavailable_reasons": NO_REPLY_REASONS,
    }
    hour = await get(client, "reply-time-trend", owner, granularity="hour", **DAY)
    assert len(hour["trend"]) == 24
    # 12:00 holds every answered run and [c3]; 13:00 only the unanswered [m6]
    assert (hour["trend"][0]["count"], hour["trend"][0]["unanswered"]) == (4, 1)
    assert hour["trend"][1]["count"] == 0 and hour["trend"][1]["unanswered"] == 1
    assert hour["trend"][1]["unavailable_reasons"] == NO_REPLY_REASONS


async def test_reply_time_trend_filters(client: Client, owner: dict) -> None:
    # tips_gifts: runs in S1 ([m1] 60, [m4] 1800) and SB1 ([b1] 3000): median 1800; p90 at
    # 0.9 * 2 = 1.8 -> 1800 + 0.8 * 1200 = 2760; one of three within the SLA.
    topic = (await get(client, "reply-time-trend", owner, topic="tips_gifts", **DAY))["trend"][0]
    assert (topic["count"], topic["median_seconds"], topic["p90_seconds"]) == (3, 1800, 2760)
    assert topic["within_sla_percentage"] == pytest.approx(100 / 3, abs=1e-9)
    assert topic["unanswered"] == 0
    chat = (await get(client, "reply-time-trend", owner, chat_id="c", **DAY))["trend"][0]
    # one reply of 119 s: median and p90 are the value itself
    assert (chat["count"], chat["median_seconds"], chat["p90_seconds"]) == (1, 119, 119)
    assert (chat["within_sla_percentage"], chat["unanswered"]) == (100, 1)
    # [12:02, 13:10): runs starting at or after 12:02: [m4] 1800, [c3] (12:03:59), [m6]
    cut = await get(client, "reply-time-trend", owner, granularity="hour", **CUT)
    assert [(p["count"], p["unanswered"]) for p in cut["trend"]] == [(1, 1), (0, 1)]
    assert cut["trend"][0]["median_seconds"] == 1800
    kolkata = await get(
        client, "reply-time-trend", owner, granularity="hour", timezone="Asia/Kolkata", **DAY
    )
    assert [(p["count"], p["unanswered"]) for p in kolkata["trend"][:2]] == [(4, 1), (0, 1)]


async def test_reply_time_trend_in_the_repeated_hour(
    client: Client, account_id: str, make_key: Any, settings: Settings
) -> None:
    headers = {"Authorization": f"Bearer {await make_key(account_id, 'owner')}"}
    await store(
        account_id,
        [
            # 02:30 CEST, answered after 120 s; 02:30 CET, answered after 600 s
            Msg(chat="p", id="1", at=datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
            Msg(chat="p", id="2", at=datetime(2026, 10, 25, 0, 32, tzinfo=UTC), dir="outbound"),
            Msg(chat="q", id="3", at=datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
            Msg(chat="q", id="4", at=datetime(2026, 10, 25, 1, 40, tzinfo=UTC), dir="outbound"),
        ],
        settings,
    )
    berlin = {"timezone": "Europe/Berlin", "start": "2026-10-25T00:00:00+02:00"}
    hours = await get(
        client,
        "reply-time-trend",
        headers,
        granularity="hour",
        end="2026-10-26T00:00:00+01:00",
        **berlin,
    )
    assert len(hours["trend"]) == 25
    assert [(p["date"], p["median_seconds"]) for p in hours["trend"][2:4]] == [
        ("2026-10-25T02:00:00+02:00", 120),
        ("2026-10-25T02:00:00+01:00", 600),
    ]
    day = await get(client, "reply-time-trend", headers, end="2026-10-26T00:00:00+01:00", **berlin)
    [point] = day["trend"]
    # 120 and 600: median 360, p90 = 120 + 0.9 * 480 = 552, one of two within 300 s
    assert (point["count"], point["median_seconds"], point["p90_seconds"]) == (2, 360, 552)
    assert point["within_sla_percentage"] == 50


# --------------------------------------------------------------------------- sessions


async def test_sessions_summary(client: Client, owner: dict) -> None:
    body = await get(client, "sessions", owner, **DAY)
    assert set(body) == {
        "total_sessions",
        "avg_messages_per_session",
        "avg_duration_minutes",
        "by_date",
        "unavailable_reasons",
        "granularity",
        "timezone",
        "window",
    }
    assert body["total_sessions"] == 5
    assert body["avg_messages_per_session"] == pytest.approx(12 / 5)  # 5 + 1 + 1 + 2 + 3
    # (2100 + 0 + 0 + 120 + 239) s / 5 / 60
    assert body["avg_duration_minutes"] == pytest.approx(2459 / 300, abs=1e-9)
    assert body["unavailable_reasons"] == {}
    assert body["by_date"] == [
        {"date": "2026-03-02T00:00:00Z", "sessions": 5, "messages": 12},
        {"date": "2026-03-03T00:00:00Z", "sessions": 0, "messages": 0},
    ]
    hour = await get(client, "sessions", owner, granularity="hour", **DAY)
    # 12:00: S1, SB1, SB2, C1 (5 + 1 + 2 + 3 messages); 13:00: S2
    assert [(r["sessions"], r["messages"]) for r in hour["by_date"][:3]] == [
        (4, 11),
        (1, 1),
        (0, 0),
    ]


async def test_sessions_summary_counts_each_sessions_messages_in_its_bucket(
    client: Client, owner: dict
) -> None:
    # Kolkata hours [11:30Z, 12:30Z) and [12:30Z, 13:30Z): S1 starts in the first and keeps
    # all 5 messages there, m5 (12:35) included, although the volume trend counts m5 in
    # the second bucket: S1 + SB1 + C1 = 9 messages, then SB2 + S2 = 3.
    body = await get(client, "sessions", owner, granularity="hour", timezone="Asia/Kolkata", **DAY)
    assert [(r["sessions"], r["messages"]) for r in body["by_date"][:3]] == [(3, 9), (2, 3), (0, 0)]
    assert body["total_sessions"] == 5


async def test_sessions_summary_filters_and_empty(client: Client, owner: dict) -> None:
    topic = await get(client, "sessions", owner, topic="tips_gifts", **DAY)  # S1, SB1
    assert topic["total_sessions"] == 2
    assert topic["avg_messages_per_session"] == 3
    assert topic["avg_duration_minutes"] == pytest.approx(2100 / 2 / 60)
    chat = await get(client, "sessions", owner, chat_id="a", **DAY)  # S1, S2
    assert (chat["total_sessions"], chat["avg_messages_per_session"]) == (2, 3)
    assert chat["by_date"][0] == {"date": "2026-03-02T00:00:00Z", "sessions": 2, "messages": 6}
    # [12:02, 13:10): SB2 (12:50, 120 s) and S2 (13:06, 0 s)
    cut = await get(client, "sessions", owner, granularity="hour", **CUT)
    assert [(r["sessions"], r["messages"]) for r in cut["by_date"]] == [(1, 2), (1, 1)]
    assert cut["avg_duration_minutes"] == 1
    empty = await get(
        client, "sessions", owner, start="2025-01-01T00:00:00Z", end="2025-01-02T00:00:00Z"
    )
    assert empty["total_sessions"] == 0
    assert empty["avg_messages_per_session"] is None and empty["avg_duration_minutes"] is None
    assert empty["unavailable_reasons"] == {
        "avg_messages_per_session": "no_sessions",
        "avg_duration_minutes": "no_sessions",
    }
    assert empty["by_date"] == [{"date": "2025-01-01T00:00:00Z", "sessions": 0, "messages": 0}]


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    "path", ["reply-time-trend", "volume-trend", "activity-heatmap", "sessions"]
)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "start"),
        ({"end": "2026-13-45"}, "end"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"granularity": "month"}, "granularity"),
        ({"time_range": "8w"}, "time_range"),
        ({"time_range": "400d"}, "time_range"),
        ({"time_range": "7d", "start": "2026-03-01T00:00:00Z"}, "time_range"),
    ],
)
async def test_bad_parameters_are_422_naming_them(
    client: Client, owner: dict, path: str, params: dict[str, str], field: str
) -> None:
    response = await client.get(f"/api/v1/insights/{path}", params=params, headers=owner)
    assert response.status_code == 422, response.text
    assert [error["key"] for error in response.json()["errors"]] == [field]


async def test_too_many_buckets(client: Client, owner: dict) -> None:
    years = {"start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    for path in ("reply-time-trend", "volume-trend", "sessions"):
        response = await client.get(
            f"/api/v1/insights/{path}", params={**years, "granularity": "hour"}, headers=owner
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["key"] == "granularity"
    heatmap = await client.get("/api/v1/insights/activity-heatmap", params=years, headers=owner)
    assert heatmap.status_code == 422
    assert heatmap.json()["errors"][0]["key"] == "start"
    assert "hours" in heatmap.json()["detail"]
