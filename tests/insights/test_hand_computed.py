"""Insights endpoints on small hand-made conversations; every expected value is worked out
by hand in the comments (METRICS.md defaults: gap 30 min, silence 120 s, SLA 300 s).

Chat "a":  m1 0:00 in .75 | m2 0:01 out | m3 0:04 unknown | m4 0:05 in .25 | m5 0:35 out
           (gap 30 min exactly: same session) | m6 1:06 in .5 (gap 31 min: new session)
  S1 = m1..m5: duration 2100 s; gaps 60, 180, 60, 1800 -> silence 180 + 1800 = 1980 s,
       94.2857142857 %; directions in,out,in,out (unknown skipped) -> 4 runs -> 3 turns;
       sentiment (.75 + .25) / 2 = .5; topics greeting (m1) + tips_gifts (m4)
  S2 = m6: duration 0, silence null, 0 turns, sentiment .5, topic greeting
  replies: [m1] -> m2 60 s, [m4] -> m5 1800 s, [m6] unanswered
Chat "b":  b1 0:00 in .625 tips_gifts | b2 0:50 out | b3 0:52 unknown
  SB1 = b1 (duration 0); SB2 = b2, b3: duration 120, gap 120 >= 120 -> 100 %, 0 turns
  reply [b1] -> b2 = 3000 s, across the session boundary
Chat "c":  c1 0:00 in 1.0 greeting | c2 +119 s out | c3 +239 s in .75
  C1: duration 239; gap 119 < 120 no silence, gap 120 silence -> 120/239 = 50.2092050209 %;
      in,out,in -> 2 turns; sentiment (1 + .75)/2 = .875
  replies: [c1] -> c2 119 s, [c3] unanswered
Chat "d":  d1 at -2 h (previous window) in .5 tips_gifts
"""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.domain.taxonomy import DEFAULT_TOPICS
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

DAY = {"start": "2026-03-02T12:00:00Z", "end": "2026-03-03T12:00:00Z"}


def conversation() -> list[Msg]:
    return [
        Msg(chat="a", id="m1", at=at(0), dir="inbound", sentiment=0.75, topics=("greeting",)),
        Msg(chat="a", id="m2", at=at(1), dir="outbound", topics=()),
        Msg(chat="a", id="m3", at=at(4), dir="unknown", topics=()),
        Msg(chat="a", id="m4", at=at(5), dir="inbound", sentiment=0.25, topics=("tips_gifts",)),
        Msg(chat="a", id="m5", at=at(35), dir="outbound", topics=()),
        Msg(chat="a", id="m6", at=at(66), dir="inbound", sentiment=0.5, topics=("greeting",)),
        Msg(chat="b", id="b1", at=at(0), dir="inbound", sentiment=0.625, topics=("tips_gifts",)),
        Msg(chat="b", id="b2", at=at(50), dir="outbound", topics=()),
        Msg(chat="b", id="b3", at=at(52), dir="unknown", topics=()),
        Msg(chat="c", id="c1", at=at(0), dir="inbound", sentiment=1.0, topics=("greeting",)),
        Msg(chat="c", id="c2", at=at(seconds=119), dir="outbound", topics=()),
        Msg(chat="c", id="c3", at=at(seconds=239), dir="inbound", sentiment=0.75, topics=()),
        Msg(chat="d", id="d1", at=at(-120), dir="inbound", sentiment=0.5, topics=("tips_gifts",)),
        Msg(chat="d", id="dx", at=None, dir="inbound", topics=()),  # no usable time
    ]


@pytest.fixture
async def owner(account_id: str, make_key: Any, settings: Settings) -> dict[str, str]:
    key = await make_key(account_id, "owner")
    await store(account_id, conversation(), settings)
    return {"Authorization": f"Bearer {key}"}


async def get(client: AsyncTestClient[Litestar], path: str, headers: dict, **params: Any) -> Any:
    response = await client.get(f"/api/v1/insights/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_response_time(client: AsyncTestClient[Litestar], owner: dict) -> None:
    body = await get(client, "response-time", owner, **DAY)
    assert body["sessions"] == 5  # S1, S2, SB1, SB2, C1
    # (2100 + 0 + 0 + 120 + 239) / 5 = 491.8 s
    assert body["average_handling_time_minutes"] == pytest.approx(491.8 / 60, abs=1e-9)
    # defined: S1, SB2, C1
    silence = (1980 / 2100 * 100 + 100 + 120 / 239 * 100) / 3
    assert body["silence_percentage"] == pytest.approx(silence, abs=1e-9)
    assert body["turns"] == pytest.approx((3 + 0 + 0 + 0 + 2) / 5)
    reply = body["reply_time"]
    # answered: 60, 1800, 3000, 119; unanswered: [m6], [c3]
    assert reply["count"] == 4
    assert reply["unanswered"] == 2
    assert reply["mean_seconds"] == pytest.approx(4979 / 4)
    assert reply["median_seconds"] == pytest.approx((119 + 1800) / 2)
    # inclusive p90 of 60,119,1800,3000: position .9 * 3 = 2.7 -> 1800 + .7 * 1200 = 2640
    assert reply["p90_seconds"] == pytest.approx(2640)
    assert reply["max_seconds"] == 3000
    assert reply["within_sla_percentage"] == pytest.approx(50.0)
    assert reply["sla_seconds"] == 300
    assert body["unavailable_reasons"] == {}


async def test_response_time_filters(client: AsyncTestClient[Litestar], owner: dict) -> None:
    chat = await get(client, "response-time", owner, chat_id="c", **DAY)
    assert chat["sessions"] == 1
    assert chat["silence_percentage"] == pytest.approx(120 / 239 * 100)
    assert chat["reply_time"]["count"] == 1 and chat["reply_time"]["unanswered"] == 1
    # tips_gifts sessions: S1 and SB1; their replies: [m1] 60, [m4] 1800 (S1), [b1] 3000 (SB1)
    topic = await get(client, "response-time", owner, topic="tips_gifts", **DAY)
    assert topic["sessions"] == 2
    assert topic["average_handling_time_minutes"] == pytest.approx(2100 / 2 / 60)
    assert topic["turns"] == pytest.approx(1.5)
    assert topic["reply_time"]["count"] == 3
    assert topic["reply_time"]["median_seconds"] == pytest.approx(1800)
    assert topic["reply_time"]["unanswered"] == 0


async def test_topics(client: AsyncTestClient[Litestar], owner: dict) -> None:
    body = await get(client, "topics", owner, **DAY)
    assert body["window"] == {"start": "2026-03-02T12:00:00Z", "end": "2026-03-03T12:00:00Z"}
    assert body["previous_window"]["start"] == "2026-03-01T12:00:00Z"
    rows = {row["topic"]: row for row in body["topics"]}
    assert [row["topic"] for row in body["topics"]] == ["greeting", "tips_gifts"]
    greeting = rows["greeting"]  # S1, S2, C1
    assert greeting["volume"] == 3
    assert greeting["percentage_of_total"] == pytest.approx(60.0)
    assert greeting["trend"] is None
    assert greeting["unavailable_reasons"] == {"trend": "no_previous_volume"}
    assert greeting["average_handling_time_minutes"] == pytest.approx((2100 + 239) / 3 / 60)
    assert greeting["silence_percentage"] == pytest.approx((1980 / 21 + 12000 / 239) / 2)
    assert greeting["turns"] == pytest.approx(5 / 3)
    assert greeting["sentiment_score"] == pytest.approx((0.5 + 0.5 + 0.875) / 3)
    tips = rows["tips_gifts"]  # S1, SB1; previous window: d1's session
    assert tips["volume"] == 2 and tips["previous_volume"] == 1
    assert tips["percentage_of_total"] == pytest.approx(40.0)
    assert tips["trend"] == pytest.approx(100.0)
    assert tips["average_handling_time_minutes"] == pytest.approx(17.5)
    assert tips["silence_percentage"] == pytest.approx(1980 / 21)
    assert tips["sentiment_score"] == pytest.approx((0.5 + 0.625) / 2)
    labels = {rule.id: rule.label for rule in DEFAULT_TOPICS}
    assert (greeting["label"], tips["label"]) == (labels["greeting"], labels["tips_gifts"])


async def test_sentiment_trend(client: AsyncTestClient[Litestar], owner: dict) -> None:
    day = await get(client, "sentiment-trend", owner, **DAY)
    assert day["granularity"] == "day" and day["timezone"] == "UTC"
    # UTC days overlapping [Mar 2 12:00, Mar 3 12:00): Mar 2 and Mar 3
    assert [p["date"] for p in day["trend"]] == ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"]
    # inbound scored in the window: .75 .25 .5 .625 1.0 .75 (d1 is before the window)
    assert day["trend"][0]["message_count"] == 6
    assert day["trend"][0]["sentiment_score"] == pytest.approx(3.875 / 6)
    assert day["trend"][1] == {
        "date": "2026-03-03T00:00:00Z",
        "sentiment_score": None,
        "message_count": 0,
    }
    hour = await get(client, "sentiment-trend", owner, granularity="hour", **DAY)
    assert len(hour["trend"]) == 24
    # 12:00-13:00: m1 .75, m4 .25, b1 .625, c1 1.0, c3 .75; 13:00: m6 .5
    assert hour["trend"][0]["message_count"] == 5
    assert hour["trend"][0]["sentiment_score"] == pytest.approx(3.375 / 5)
    assert hour["trend"][1]["message_count"] == 1
    assert hour["trend"][1]["sentiment_score"] == pytest.approx(0.5)
    # A window cut inside hours reads the edges from messages: [12:02, 13:10)
    cut = await get(
        client,
        "sentiment-trend",
        owner,
        start="2026-03-02T12:02:00Z",
        end="2026-03-02T13:10:00Z",
        granularity="hour",
    )
    # 12:02-13:00: m4 .25, c3 .75 (12:03:59); 13:00-13:10: m6 .5
    assert [p["message_count"] for p in cut["trend"]] == [2, 1]
    assert cut["trend"][0]["sentiment_score"] == pytest.approx(0.5)
    topic = await get(client, "sentiment-trend", owner, topic="tips_gifts", **DAY)
    # inbound of S1 (m1 .75, m4 .25) and SB1 (b1 .625)
    assert topic["trend"][0]["message_count"] == 3
    assert topic["trend"][0]["sentiment_score"] == pytest.approx(1.625 / 3)


async def test_overview(client: AsyncTestClient[Litestar], owner: dict) -> None:
    body = await get(client, "overview", owner, **DAY)
    current = body["current"]
    assert current["sessions"] == 5
    assert current["messages"] == 12  # a 6, b 3, c 3
    assert current["inbound_messages"] == 6
    assert current["outbound_messages"] == 4  # m3 and b3 are unknown: only in messages
    assert current["active_fans"] == 3
    assert current["new_fans"] == 3
    assert current["average_messages_per_session"] == pytest.approx(12 / 5)
    assert current["excluded_messages"] == 1
    previous = body["previous"]  # d1 only
    assert (previous["sessions"], previous["messages"], previous["new_fans"]) == (1, 1, 1)
    assert previous["active_fans"] == 1
    empty = await get(
        client, "overview", owner, start="2025-01-01T00:00:00Z", end="2025-01-02T00:00:00Z"
    )
    assert empty["current"]["sessions"] == 0
    assert empty["current"]["average_messages_per_session"] is None
    assert empty["current"]["unavailable_reasons"] == {
        "average_messages_per_session": "no_sessions"
    }


async def test_empty_window_is_null_with_reasons(
    client: AsyncTestClient[Litestar], owner: dict
) -> None:
    body = await get(
        client, "response-time", owner, start="2025-01-01T00:00:00Z", end="2025-01-02T00:00:00Z"
    )
    assert body["sessions"] == 0
    for name in ("average_handling_time_minutes", "silence_percentage", "turns"):
        assert body[name] is None
        assert body["unavailable_reasons"][name] == "no_sessions"
    assert body["reply_time"]["count"] == 0
    assert body["reply_time"]["median_seconds"] is None
    assert body["unavailable_reasons"]["reply_time.median_seconds"] == "no_replies"
    topics = await get(
        client, "topics", owner, start="2025-01-01T00:00:00Z", end="2025-01-02T00:00:00Z"
    )
    assert topics["topics"] == []


async def test_late_message_recomputes_its_chat(
    client: AsyncTestClient[Litestar], owner: dict, account_id: str, settings: Settings
) -> None:
    # A late, out-of-order inbound message at 0:20 in chat "a": the run [m4] becomes
    # [m4, x1], still answered by m5 after 1800 s; S1's gaps become 60,180,60,900,900,
    # so silence stays 1980 s of 2100.
    await store(
        account_id,
        [Msg(chat="a", id="x1", at=at(20), dir="inbound", sentiment=0.5, topics=())],
        settings,
    )
    body = await get(client, "overview", owner, **DAY)
    assert body["current"]["messages"] == 13
    assert body["current"]["sessions"] == 5
    chat = await get(client, "response-time", owner, chat_id="a", **DAY)
    assert chat["reply_time"]["count"] == 2
    assert chat["silence_percentage"] == pytest.approx(1980 / 2100 * 100)
    # A message far later in chat "c" opens a new session there only.
    await store(
        account_id,
        [Msg(chat="c", id="c9", at=at(0, days=0.5), dir="outbound", topics=())],
        settings,
    )
    assert (await get(client, "overview", owner, **DAY))["current"]["sessions"] == 6


async def test_dst_and_week_buckets(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any, settings: Settings
) -> None:
    from datetime import UTC, datetime

    headers = {"Authorization": f"Bearer {await make_key(account_id, 'owner')}"}
    # Berlin springs forward on Sun 2026-03-29 at 02:00 local (01:00Z): that day has 23 h.
    late_saturday = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # Sun 00:30 +01:00
    late_sunday = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)  # Sun 23:30 +02:00
    monday = datetime(2026, 3, 29, 22, 30, tzinfo=UTC)  # Mon 00:30 +02:00
    await store(
        account_id,
        [
            Msg(chat="x", id="1", at=late_saturday, sentiment=0.25, topics=()),
            Msg(chat="y", id="2", at=late_sunday, sentiment=0.75, topics=()),
            Msg(chat="z", id="3", at=monday, sentiment=1.0, topics=()),
        ],
        settings,
    )
    window = {"start": "2026-03-28T00:00:00+01:00", "end": "2026-03-31T00:00:00+02:00"}
    days = await get(
        client, "sentiment-trend", headers, timezone="Europe/Berlin", granularity="day", **window
    )
    assert [p["date"] for p in days["trend"]] == [
        "2026-03-28T00:00:00+01:00",
        "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
    ]
    # Both Sunday messages (00:30 +01:00 and 23:30 +02:00) fall in the 23-hour Sunday.
    assert [p["message_count"] for p in days["trend"]] == [0, 2, 1]
    assert days["trend"][1]["sentiment_score"] == pytest.approx(0.5)
    # In UTC the window [Mar 27 23:00Z, Mar 30 22:00Z) overlaps four days; the first
    # message is still Saturday and the Monday one is Sunday 22:30Z.
    utc = await get(client, "sentiment-trend", headers, granularity="day", **window)
    assert [p["message_count"] for p in utc["trend"]] == [0, 1, 2, 0]
    hours = await get(
        client,
        "sentiment-trend",
        headers,
        timezone="Europe/Berlin",
        granularity="hour",
        start="2026-03-29T00:00:00+01:00",
        end="2026-03-30T00:00:00+02:00",
    )
    assert len(hours["trend"]) == 23  # 02:00-03:00 does not exist that day
    assert hours["trend"][2]["date"] == "2026-03-29T03:00:00+02:00"
    assert [p["message_count"] for p in hours["trend"]].count(1) == 2
    # Weeks start Monday 00:00 local: the Sunday messages are in the week of Mon Mar 23.
    weeks = await get(
        client, "sentiment-trend", headers, timezone="Europe/Berlin", granularity="week", **window
    )
    assert [p["date"] for p in weeks["trend"]] == [
        "2026-03-23T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00",
    ]
    assert [p["message_count"] for p in weeks["trend"]] == [2, 1]


async def test_analytics_snapshot_is_the_default_window(
    client: AsyncTestClient[Litestar], owner: dict, account_id: str, settings: Settings
) -> None:
    from datetime import UTC, datetime

    import msgspec

    from ofca.insights.queries import analytics_snapshot

    now = datetime(2026, 3, 20, tzinfo=UTC)
    snapshot = await analytics_snapshot(account_id, settings, now=now)
    assert snapshot.computed_at == now
    assert snapshot.overview.window.start == datetime(2026, 2, 18, tzinfo=UTC)
    assert snapshot.overview.current.sessions == 6  # S1, S2, SB1, SB2, C1 and d1's
    assert snapshot.response_time.reply_time.count == 4
    assert [row.topic for row in snapshot.topics.topics] == ["greeting", "tips_gifts"]
    assert len(snapshot.sentiment_trend.trend) == 30
    assert sum(p.message_count for p in snapshot.sentiment_trend.trend) == 7
    # The same numbers as the REST answer for that window.
    body = await get(
        client, "response-time", owner, start="2026-02-18T00:00:00Z", end="2026-03-20T00:00:00Z"
    )
    assert body == msgspec.to_builtins(snapshot.response_time)
