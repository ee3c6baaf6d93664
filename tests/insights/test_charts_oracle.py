"""The chart endpoints and the sessions summary equal their pure oracles
(``ofca.domain.trends``) to 1e-6 on the seeded random data set of ``test_oracle``, over
windows with edges inside hours, zones with DST and half-hour offsets, every granularity
and the filters."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.domain.metrics import (
    Direction,
    Granularity,
    ReplyRun,
    SessionStats,
    Window,
    runs_in_sessions,
)
from ofca.domain.trends import activity_heatmap, reply_time_trend, sessions_summary, volume_trend
from tests.insights.test_oracle import (
    WINDOWS,
    Oracle,
    _get,
    _json,
    _parse,
    assert_close,
    filters,
    loaded,
)

pytestmark = pytest.mark.asyncio

__all__ = ["loaded"]  # the fixture, imported for its use here

ZONES = ("UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York")
GRANULARITIES: tuple[Granularity, ...] = ("hour", "day", "week")


def _kept_runs(oracle: Oracle, topic: str | None, chat: str | None) -> list[ReplyRun]:
    runs = [r for r in oracle.runs if chat is None or r.chat_id == chat]
    if topic is not None:
        runs = runs_in_sessions(runs, oracle.kept(topic, chat))
    return runs


def _kept_messages(
    oracle: Oracle, topic: str | None, chat: str | None
) -> list[tuple[Any, Direction]]:
    """Messages of the chat filter; with a topic, those inside a session having it."""
    spans = {(s.chat_id, s.start_at, s.end_at) for s in oracle.kept(topic, chat)}
    kept = []
    for chat_id, points in oracle.chats.items():
        if chat is not None and chat_id != chat:
            continue
        for p in points:
            if topic is not None and not any(
                c == chat_id and a <= p.created_at <= b for c, a, b in spans
            ):
                continue
            kept.append((p.created_at, p.direction))
    return kept


def _sessions(oracle: Oracle, topic: str | None, chat: str | None) -> list[SessionStats]:
    return oracle.kept(topic, chat)


async def test_charts_match_the_oracle(
    client: AsyncTestClient[Litestar], loaded: tuple[dict[str, str], Oracle]
) -> None:
    headers, oracle = loaded
    checked = 0
    for start, end in WINDOWS:
        window = Window(_parse(start), _parse(end))
        for tz_name in ZONES:
            tz = ZoneInfo(tz_name)
            for topic, chat in filters():
                messages = _kept_messages(oracle, topic, chat)
                params = {"start": start, "end": end, "timezone": tz_name}
                params |= {"topic": topic, "chat_id": chat}
                heatmap = await _get(client, "activity-heatmap", headers, **params)
                inbound = [at for at, direction in messages if direction == "inbound"]
                assert heatmap["cells"] == _json(activity_heatmap(inbound, window, tz))
                for granularity in GRANULARITIES:
                    params["granularity"] = granularity
                    body = await _get(client, "volume-trend", headers, **params)
                    assert body["trend"] == _json(volume_trend(messages, window, tz, granularity))
                    body = await _get(client, "reply-time-trend", headers, **params)
                    expected = reply_time_trend(
                        _kept_runs(oracle, topic, chat), window, tz, granularity, oracle.sla
                    )
                    assert_close(body["trend"], _json(expected))
                    body = await _get(client, "sessions", headers, **params)
                    total, size, minutes, rows, reasons = sessions_summary(
                        _sessions(oracle, topic, chat), window, tz, granularity
                    )
                    assert_close(
                        {k: body[k] for k in ("total_sessions", "avg_messages_per_session")},
                        {"total_sessions": total, "avg_messages_per_session": size},
                    )
                    assert_close(body["avg_duration_minutes"], minutes)
                    assert body["by_date"] == _json(rows)
                    assert body["unavailable_reasons"] == reasons
                    checked += 1
    assert checked == len(WINDOWS) * len(ZONES) * 4 * len(GRANULARITIES)
