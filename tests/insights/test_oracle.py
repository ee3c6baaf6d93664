"""The SQL insights equal the pure domain functions (the oracle of METRICS.md) to 1e-6 on
a seeded random data set, over many windows, time zones, granularities and filters.

Sentiments are multiples of 1/64 so that they are stored exactly in every column type.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.domain.aggregates import (
    overview_values,
    reply_stats,
    sentiment_trend,
    summarize_sessions,
    topic_rows,
)
from ofca.domain.enrichment import DEFAULT_MATCHER
from ofca.domain.metrics import (
    MessagePoint,
    ReplyRun,
    SessionStats,
    Window,
    chat_analysis,
    runs_in_sessions,
    runs_in_window,
    sessions_in_window,
)
from ofca.settings import Settings
from tests.insights.support import Msg, points_of, store

pytestmark = pytest.mark.asyncio

START = datetime(2026, 3, 25, 0, 0, tzinfo=UTC)  # spans the Europe DST change of Mar 29
TOPICS = ("greeting", "tips_gifts", "pricing_ppv", "small_talk")


def dataset(seed: int = 7) -> list[Msg]:
    rng = random.Random(seed)
    messages: list[Msg] = []
    for chat_index in range(9):
        chat = f"chat{chat_index}"
        moment = START + timedelta(minutes=rng.randrange(0, 6 * 24 * 60))
        for index in range(rng.randrange(5, 40)):
            moment += timedelta(
                seconds=rng.choice([0, 30, 119, 120, 121, 600, 1800, 1801, 3600, 7200, 86400 * 1.5])
                + rng.randrange(0, 90) * rng.choice([0, 1])
            )
            has_text = rng.random() > 0.15
            messages.append(
                Msg(
                    chat=chat,
                    id=f"{chat}-{index:03d}",
                    at=moment,
                    dir=rng.choice(["inbound", "inbound", "outbound", "outbound", "unknown"]),
                    text="hey there" if has_text else None,
                    sentiment=rng.randrange(0, 65) / 64 if has_text else None,
                    topics=tuple(sorted(rng.sample(TOPICS, rng.randrange(0, 3)))),
                )
            )
    messages.append(Msg(chat="chat0", id="untimed", at=None, dir="inbound"))
    return messages


WINDOWS = [
    ("2026-03-25T00:00:00Z", "2026-04-01T00:00:00Z"),
    ("2026-03-27T00:00:00+01:00", "2026-03-30T00:00:00+02:00"),
    ("2026-03-26T05:17:23.5Z", "2026-03-29T18:42:00Z"),  # edges inside hours
    ("2026-03-28T10:10:00Z", "2026-03-28T10:50:00Z"),  # inside one hour
    ("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z"),  # empty
]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def assert_close(actual: Any, expected: Any, path: str = "$") -> None:
    if isinstance(expected, float) and isinstance(actual, int | float):
        assert actual == pytest.approx(expected, abs=1e-6), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (path, actual, expected)
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (path, actual)
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, (path, actual, expected)


def _json(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))


class Oracle:
    def __init__(self, chats: dict[str, list[MessagePoint]], settings: Settings) -> None:
        self.chats = chats
        self.gap = timedelta(minutes=settings.session_gap_minutes)
        self.sla = settings.reply_sla_seconds
        self.sessions: list[SessionStats] = []
        self.runs: list[ReplyRun] = []
        for chat_id, points in chats.items():
            sessions, runs = chat_analysis(
                chat_id, points, self.gap, timedelta(seconds=settings.silence_threshold_seconds)
            )
            self.sessions += sessions
            self.runs += runs

    def kept(self, topic: str | None, chat: str | None) -> list[SessionStats]:
        return [
            s
            for s in self.sessions
            if (chat is None or s.chat_id == chat) and (topic is None or topic in s.topics)
        ]

    def response_time(self, window: Window, topic: str | None, chat: str | None) -> dict:
        kept = self.kept(topic, chat)
        aggregate = summarize_sessions(sessions_in_window(kept, window))
        runs = runs_in_window(self.runs, window)
        if chat is not None:
            runs = [r for r in runs if r.chat_id == chat]
        if topic is not None:
            runs = runs_in_sessions(runs, kept)
        stats, reply_reasons = reply_stats(runs, self.sla)
        reasons = {k: v for k, v in aggregate.unavailable_reasons.items() if k != "sentiment_score"}
        reasons.update({f"reply_time.{k}": v for k, v in reply_reasons.items()})
        return {
            "average_handling_time_minutes": aggregate.average_handling_time_minutes,
            "silence_percentage": aggregate.silence_percentage,
            "turns": aggregate.turns,
            "sessions": aggregate.sessions,
            "reply_time": _json(stats),
            "unavailable_reasons": reasons,
        }

    def topics(self, window: Window, topic: str | None, chat: str | None) -> list:
        kept = self.kept(topic, chat)
        rows = topic_rows(
            sessions_in_window(kept, window),
            sessions_in_window(kept, window.previous()),
            DEFAULT_MATCHER.labels,
        )
        return _json(rows)

    def trend(self, window: Window, tz: str, granularity: str, topic: str | None, chat: str | None):
        kept = self.kept(topic, chat)
        spans = {(s.chat_id, s.start_at, s.end_at) for s in kept}
        samples = []
        for chat_id, points in self.chats.items():
            if chat is not None and chat_id != chat:
                continue
            for p in points:
                if p.direction != "inbound" or p.sentiment is None:
                    continue
                if topic is not None and not any(
                    c == chat_id and a <= p.created_at <= b for c, a, b in spans
                ):
                    continue
                samples.append((p.created_at, p.sentiment))
        return _json(sentiment_trend(samples, window, ZoneInfo(tz), granularity))  # type: ignore[arg-type]

    def overview(self, window: Window) -> dict:
        values = _json(overview_values(self.chats.items(), window, self.gap))
        values["excluded_messages"] = 1
        return values


@pytest.fixture
async def loaded(
    account_id: str, make_key: Any, settings: Settings
) -> tuple[dict[str, str], Oracle]:
    key = await make_key(account_id, "owner")
    messages = dataset()
    # Two refreshes of the same chats: the second replaces rows, so the hourly rollups go
    # through the subtract-old / add-new path, as with a late message at ingest.
    await store(account_id, messages[::2], settings)
    await store(account_id, messages[1::2], settings)
    return {"Authorization": f"Bearer {key}"}, Oracle(
        points_of(messages, DEFAULT_MATCHER), settings
    )


def filters() -> Iterator[tuple[str | None, str | None]]:
    yield None, None
    yield "tips_gifts", None
    yield None, "chat3"
    yield "greeting", "chat1"


async def _get(client: AsyncTestClient[Litestar], path: str, headers: dict, **params: Any) -> Any:
    params = {k: v for k, v in params.items() if v is not None}
    response = await client.get(f"/api/v1/insights/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_sessions_replies_topics_match_the_oracle(
    client: AsyncTestClient[Litestar], loaded: tuple[dict[str, str], Oracle]
) -> None:
    headers, oracle = loaded
    assert len(oracle.sessions) > 30 and len(oracle.runs) > 30  # the data set is not trivial
    for start, end in WINDOWS:
        window = Window(_parse(start), _parse(end))
        for topic, chat in filters():
            params = {"start": start, "end": end, "topic": topic, "chat_id": chat}
            body = await _get(client, "response-time", headers, **params)
            body.pop("window")
            assert_close(body, oracle.response_time(window, topic, chat))
            body = await _get(client, "topics", headers, **params)
            assert_close(body["topics"], oracle.topics(window, topic, chat))


async def test_sentiment_trend_matches_the_oracle(
    client: AsyncTestClient[Litestar], loaded: tuple[dict[str, str], Oracle]
) -> None:
    headers, oracle = loaded
    for start, end in WINDOWS[:4]:
        window = Window(_parse(start), _parse(end))
        for tz in ("UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"):
            for granularity in ("hour", "day", "week"):
                for topic, chat in filters():
                    body = await _get(
                        client,
                        "sentiment-trend",
                        headers,
                        start=start,
                        end=end,
                        timezone=tz,
                        granularity=granularity,
                        topic=topic,
                        chat_id=chat,
                    )
                    assert_close(body["trend"], oracle.trend(window, tz, granularity, topic, chat))


async def test_overview_matches_the_oracle(
    client: AsyncTestClient[Litestar], loaded: tuple[dict[str, str], Oracle]
) -> None:
    headers, oracle = loaded
    for start, end in WINDOWS:
        window = Window(_parse(start), _parse(end))
        body = await _get(client, "overview", headers, start=start, end=end)
        assert_close(body["current"], oracle.overview(window))
        assert_close(body["previous"], oracle.overview(window.previous()))
