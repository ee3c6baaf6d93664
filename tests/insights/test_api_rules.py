"""Scoping (403 for another account), parameter validation (422) and topic CRUD with
re-tagging of stored messages."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from ofca.domain.taxonomy import DEFAULT_TOPICS
from ofca.persistence.tables import MessageRow
from ofca.settings import Settings
from tests.insights.support import Msg, at, store

pytestmark = pytest.mark.asyncio

ENDPOINTS = ("topics", "sentiment-trend", "response-time", "overview")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_another_accounts_key_gets_403(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any
) -> None:
    await make_key(account_id, "owner")
    other_key = await make_key(f"{account_id}-other", "owner")
    for endpoint in ENDPOINTS:
        response = await client.get(
            f"/api/v1/insights/{endpoint}",
            params={"account_id": account_id},
            headers=bearer(other_key),
        )
        assert response.status_code == 403, endpoint
        assert set(response.json()) >= {"detail", "status_code", "timestamp"}
    for method, path in (
        ("GET", "/api/v1/topics"),
        ("POST", "/api/v1/topics"),
        ("PUT", "/api/v1/topics/roses"),
        ("DELETE", "/api/v1/topics/roses"),
    ):
        body = {"id": "roses", "label": "Roses", "keywords": ["rose"]}
        response = await client.request(
            method,
            path,
            params={"account_id": account_id},
            headers=bearer(other_key),
            json=body if method in ("POST", "PUT") else None,
        )
        assert response.status_code == 403, (method, path)


async def test_missing_credentials_get_401(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/api/v1/insights/overview")).status_code == 401


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-01T00:00:00Z"}, "start", "before"),
        ({"start": "2026-03-02T00:00:00Z", "end": "2026-03-02T00:00:00Z"}, "start", "before"),
        ({"start": "yesterday"}, "start", "ISO 8601"),
        ({"end": "2026-13-45"}, "end", "ISO 8601"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"granularity": "month"}, "granularity", "hour, day, week"),
        (
            {"start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "granularity": "hour"},
            "granularity",
            "too many buckets",
        ),
    ],
)
async def test_bad_parameters_are_422(
    client: AsyncTestClient[Litestar],
    account_id: str,
    make_key: Any,
    params: dict[str, str],
    field: str,
    fragment: str,
) -> None:
    key = await make_key(account_id, "dashboard")
    response = await client.get(
        "/api/v1/insights/sentiment-trend", params=params, headers=bearer(key)
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert fragment in body["detail"]
    assert body["status_code"] == 422 and "timestamp" in body
    assert body["errors"][0]["key"] == field


async def test_window_params_apply_to_every_endpoint(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any
) -> None:
    key = await make_key(account_id, "integration")
    for endpoint in ENDPOINTS:
        for params in (
            {"start": "2026-03-02T00:00:00+05:00", "end": "not a date"},
            {"timezone": "Europe/Nowhere"},
            {"granularity": "fortnight"},
        ):
            response = await client.get(
                f"/api/v1/insights/{endpoint}", params=params, headers=bearer(key)
            )
            assert response.status_code == 422, (endpoint, params)
    # Naive means UTC; the window is echoed in UTC.
    response = await client.get(
        "/api/v1/insights/overview",
        params={"start": "2026-03-02T00:00:00", "end": "2026-03-02T05:00:00+05:00"},
        headers=bearer(key),
    )
    assert response.status_code == 422  # end is 00:00 UTC, equal to start
    response = await client.get(
        "/api/v1/insights/overview",
        params={"start": "2026-03-02T00:00:00", "end": "2026-03-02T06:00:00+05:00"},
        headers=bearer(key),
    )
    assert response.json()["window"] == {
        "start": "2026-03-02T00:00:00Z",
        "end": "2026-03-02T01:00:00Z",
    }


async def test_default_window_is_30_days_ending_now(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any
) -> None:
    key = await make_key(account_id, "owner")
    body = (await client.get("/api/v1/insights/sentiment-trend", headers=bearer(key))).json()
    assert body["granularity"] == "day" and body["timezone"] == "UTC"
    assert len(body["trend"]) in (30, 31)
    assert all(point["sentiment_score"] is None for point in body["trend"])


# --------------------------------------------------------------------------- topics


async def _topics_of(account_id: str) -> dict[str, list[str]]:
    rows = await MessageRow.select(MessageRow.message_id, MessageRow.topics).where(
        MessageRow.account_id == account_id
    )
    return {row["message_id"]: row["topics"] for row in rows}


async def test_topic_crud_retags_messages_and_insights_follow(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any, settings: Settings
) -> None:
    headers = bearer(await make_key(account_id, "owner"))
    await store(
        account_id,
        [
            Msg(chat="a", id="1", at=at(0), dir="inbound", text="<p>Red ROSES for you 🌹</p>"),
            Msg(chat="a", id="2", at=at(1), dir="outbound", text="a rose, thanks"),
            Msg(chat="b", id="3", at=at(0), dir="inbound", text="roseate"),
        ],
        settings,
    )
    listed = (await client.get("/api/v1/topics", headers=headers)).json()["topics"]
    assert [t["id"] for t in listed] == [rule.id for rule in DEFAULT_TOPICS]
    assert all(t["builtin"] and t["keywords"] for t in listed)

    created = await client.post(
        "/api/v1/topics",
        headers=headers,
        json={"id": "roses", "label": "Roses", "keywords": ["rose", "roses", "🌹", "ROSE"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["retag"] == "done"
    assert created.json()["topic"]["keywords"] == ["rose", "roses", "🌹"]  # case-folded dupes
    tags = await _topics_of(account_id)
    assert "roses" in tags["1"] and "roses" in tags["2"] and "roses" not in tags["3"]

    window = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    rows = (await client.get("/api/v1/insights/topics", headers=headers, params=window)).json()
    roses = next(row for row in rows["topics"] if row["topic"] == "roses")
    assert (roses["volume"], roses["label"]) == (1, "Roses")  # chat a's one session

    replaced = await client.put(
        "/api/v1/topics/roses",
        headers=headers,
        json={"label": "Roses & co", "keywords": ["roseate"]},
    )
    assert replaced.status_code == 200, replaced.text
    tags = await _topics_of(account_id)
    assert "roses" not in tags["1"] and "roses" in tags["3"]
    rows = (await client.get("/api/v1/insights/topics", headers=headers, params=window)).json()
    roses = next(row for row in rows["topics"] if row["topic"] == "roses")
    assert roses["label"] == "Roses & co" and roses["volume"] == 1

    listed = (await client.get("/api/v1/topics", headers=headers)).json()["topics"]
    assert listed[-1]["id"] == "roses" and listed[-1]["builtin"] is False

    deleted = await client.delete("/api/v1/topics/roses", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert all("roses" not in topics for topics in (await _topics_of(account_id)).values())
    rows = (await client.get("/api/v1/insights/topics", headers=headers, params=window)).json()
    assert all(row["topic"] != "roses" for row in rows["topics"])


async def test_topic_validation_and_conflicts(
    client: AsyncTestClient[Litestar], account_id: str, make_key: Any
) -> None:
    headers = bearer(await make_key(account_id, "owner"))
    cases = [
        ({"id": "greeting", "label": "Hi", "keywords": ["yo"]}, 409, "built-in"),
        ({"id": "Bad Id", "label": "x", "keywords": ["x"]}, 422, "topic id"),
        ({"id": "ok", "label": " ", "keywords": ["x"]}, 422, "label"),
        ({"id": "ok", "label": "x", "keywords": []}, 422, "keyword"),
        ({"id": "ok", "label": "x", "keywords": ["  "]}, 422, "blank"),
        ({"label": "x", "keywords": ["x"]}, 422, "id is required"),
    ]
    for body, status, fragment in cases:
        response = await client.post("/api/v1/topics", headers=headers, json=body)
        assert response.status_code == status, (body, response.text)
        assert fragment in response.json()["detail"], response.text
    body = {"id": "ok", "label": "OK", "keywords": ["ok"]}
    assert (await client.post("/api/v1/topics", headers=headers, json=body)).status_code == 201
    again = await client.post("/api/v1/topics", headers=headers, json=body)
    assert again.status_code == 409 and "exists" in again.json()["detail"]
    put_builtin = await client.put("/api/v1/topics/greeting", headers=headers, json=body)
    assert put_builtin.status_code == 409
    missing = await client.put(
        "/api/v1/topics/nope", headers=headers, json={"label": "x", "keywords": ["x"]}
    )
    assert missing.status_code == 404
    assert (await client.delete("/api/v1/topics/nope", headers=headers)).status_code == 404
    # A read-only key may list but not change topics.
    dashboard = bearer(await make_key(account_id, "dashboard"))
    assert (await client.get("/api/v1/topics", headers=dashboard)).status_code == 200
    body = {"id": "other", "label": "x", "keywords": ["x"]}
    assert (await client.post("/api/v1/topics", headers=dashboard, json=body)).status_code == 403


async def test_large_accounts_are_retagged_in_the_background(
    client: AsyncTestClient[Litestar],
    account_id: str,
    make_key: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from ofca.insights import topics

    monkeypatch.setattr(topics, "RETAG_INLINE_LIMIT", 0)  # every account counts as large
    headers = bearer(await make_key(account_id, "owner"))
    await store(
        account_id, [Msg(chat="a", id="1", at=at(0), dir="inbound", text="a rose")], settings
    )
    created = await client.post(
        "/api/v1/topics", headers=headers, json={"id": "roses", "label": "R", "keywords": ["rose"]}
    )
    assert created.status_code == 201 and created.json()["retag"] == "scheduled"
    for _ in range(200):
        if "roses" in (await _topics_of(account_id))["1"]:
            break
        await asyncio.sleep(0.05)
    assert "roses" in (await _topics_of(account_id))["1"]
    window = {"start": "2026-03-02T00:00:00Z", "end": "2026-03-03T00:00:00Z"}
    for _ in range(200):  # the chat's sessions are refreshed after the messages
        body = await client.get("/api/v1/insights/topics", headers=headers, params=window)
        if any(row["topic"] == "roses" for row in body.json()["topics"]):
            break
        await asyncio.sleep(0.05)
    assert any(row["topic"] == "roses" for row in body.json()["topics"])
