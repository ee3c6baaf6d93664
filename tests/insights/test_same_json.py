"""SQLite and Postgres answer with identical JSON: both runs compare the endpoints' bodies
for the hand-made conversation to one committed file (``expected_api.json``).

Regenerate after an intended change with ``OFCA_UPDATE_EXPECTED=1`` (then review the diff).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.settings import Settings
from tests.insights.support import store
from tests.insights.test_hand_computed import conversation

pytestmark = pytest.mark.asyncio

EXPECTED = Path(__file__).with_name("expected_api.json")
DAY = {"start": "2026-03-02T12:00:00Z", "end": "2026-03-03T12:00:00Z"}
REQUESTS: list[tuple[str, dict[str, str]]] = [
    ("topics", DAY),
    ("topics", {**DAY, "topic": "greeting"}),
    ("response-time", DAY),
    ("response-time", {**DAY, "chat_id": "a"}),
    ("response-time", {**DAY, "topic": "tips_gifts"}),
    ("sentiment-trend", {**DAY, "granularity": "hour", "timezone": "Asia/Kolkata"}),
    ("sentiment-trend", {**DAY, "granularity": "day", "timezone": "America/New_York"}),
    ("sentiment-trend", {**DAY, "granularity": "week", "topic": "greeting"}),
    ("overview", DAY),
    ("overview", {"start": "2026-03-02T12:03:00+01:00", "end": "2026-03-02T14:00:00Z"}),
    ("reply-time-trend", {**DAY, "granularity": "hour", "timezone": "Asia/Kolkata"}),
    ("reply-time-trend", {**DAY, "topic": "tips_gifts"}),
    ("reply-time-trend", {**DAY, "chat_id": "a", "granularity": "week"}),
    ("volume-trend", {**DAY, "granularity": "hour", "timezone": "Europe/Berlin"}),
    ("volume-trend", {**DAY, "chat_id": "a"}),
    ("volume-trend", {**DAY, "topic": "greeting", "timezone": "Asia/Kolkata"}),
    ("activity-heatmap", {**DAY, "timezone": "America/New_York"}),
    ("activity-heatmap", {**DAY, "topic": "greeting"}),
    ("sessions", {**DAY, "granularity": "hour"}),
    ("sessions", {**DAY, "granularity": "week", "topic": "greeting", "timezone": "Asia/Kolkata"}),
    ("sessions", {"start": "2026-03-02T12:03:00+01:00", "end": "2026-03-02T14:00:00Z"}),
]


async def test_endpoints_give_the_committed_json(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any, settings: Settings
) -> None:
    key = await make_key(account_id, "owner")
    await store(account_id, conversation(), settings)
    bodies: dict[str, Any] = {}
    for path, params in REQUESTS:
        response = await client.get(
            f"/api/v1/insights/{path}", params=params, headers={"X-API-Key": key}
        )
        assert response.status_code == 200, response.text
        bodies[f"{path} {json.dumps(params, sort_keys=True)}"] = response.json()
    if os.environ.get("OFCA_UPDATE_EXPECTED"):
        EXPECTED.write_text(json.dumps(bodies, indent=1, sort_keys=True) + "\n")
    expected = json.loads(EXPECTED.read_text())
    for name, body in bodies.items():
        assert body == expected[name], name
    assert set(bodies) == set(expected)
