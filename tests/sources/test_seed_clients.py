"""The seeds' clients, called exactly as their documents show them (paths, parameters,
field names): seed 004's conversation webhook and its conversation lookups and list
filters, seed 003's dashboards asking with ``time_range``, seed 002's session analytics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest

from ofca.persistence.tables import ChatRow
from ofca.settings import Settings
from tests.conftest import KeyMaker
from tests.insights.support import Msg, store
from tests.sources.helpers import auth, post_webhook
from tests.sources.payloads import webhook_body

Client = httpx.AsyncClient

SEED_004_BODY: dict[str, Any] = {
    "emailId": "user@example.com",
    "accountId": "acc123",
    "conversationId": "conv_abc123",
    "transcript": [
        {
            "timestamp": "2024-01-15T10:30:00Z",
            "speaker": "user",
            "content": "Hello, I need help",
            "messageId": "msg_123",
        }
    ],
    "metadata": {
        "sessionId": "sess_456",
        "agentId": "agent_01jxn7fwb2eyq8p6k4m3en4xtm",
        "duration": 300,
        "messageCount": 10,
        "platform": "web",
        "userAgent": "Mozilla/5.0...",
    },
}
"""Seed 004's request body, verbatim."""

SEED_004_FIELDS = {
    "conversationId",
    "emailId",
    "accountId",
    "status",
    "startTime",
    "endTime",
    "duration",
    "messageCount",
    "processedAt",
}


def _line(at: datetime, speaker: str, content: str, message_id: str) -> dict[str, str]:
    return {
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "speaker": speaker,
        "content": content,
        "messageId": message_id,
    }


def _transcript(
    conversation_id: str, email: str, account: str, lines: list[dict[str, str]]
) -> dict[str, Any]:
    body = webhook_body(conversation_id, lines)
    body["emailId"], body["accountId"] = email, account
    return body


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------- seed 004


async def test_seed_004_client_checks_its_conversation_by_its_id(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "integration")
    before = datetime.now(UTC)
    posted = await client.post(
        "/api/v1/webhook/conversation",
        json=SEED_004_BODY,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert posted.status_code == 200, posted.text
    assert posted.json()["data"]["conversationId"] == "conv_abc123"
    response = await client.get(
        "/api/v1/conversations/conv_abc123", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= SEED_004_FIELDS
    assert {name: body[name] for name in SEED_004_FIELDS - {"processedAt"}} == {
        "conversationId": "conv_abc123",
        "emailId": "user@example.com",
        "accountId": "acc123",
        "status": "completed",  # a transcript is a finished conversation
        "startTime": "2024-01-15T10:30:00Z",
        "endTime": "2024-01-15T10:30:00Z",
        "duration": 300,  # metadata.duration as sent
        "messageCount": 1,  # the lines stored (the sender's metadata claimed 10)
    }
    assert before <= _parse(body["processedAt"]) <= datetime.now(UTC)
    # ofca's own fields stay.
    assert body["chat_id"] == "webhook:conv_abc123" and body["source"] == "webhook"
    assert body["message_counts"]["total"] == 1 and body["open_reply_wait"] is not None
    # processedAt is the first receipt: a re-delivery later does not move it.
    assert (await post_webhook(client, key, SEED_004_BODY)).json()["data"]["status"] == "duplicate"
    again = (await client.get("/api/v1/conversations/conv_abc123", headers=auth(key))).json()
    assert again["processedAt"] == body["processedAt"]
    # By ofca's chat id: the same conversation, status as who spoke last (the fan).
    by_chat = (
        await client.get("/api/v1/conversations/webhook:conv_abc123", headers=auth(key))
    ).json()
    assert by_chat["status"] == "open"
    assert {k: by_chat[k] for k in SEED_004_FIELDS - {"status"}} == {
        k: body[k] for k in SEED_004_FIELDS - {"status"}
    }
    messages = await client.get("/api/v1/conversations/conv_abc123/messages", headers=auth(key))
    assert messages.status_code == 200
    assert [m["text"] for m in messages.json()["items"]] == ["Hello, I need help"]


async def test_seed_004_duration_falls_back_to_the_messages(
    client: Client, account_id: str, make_key: KeyMaker, settings: Settings
) -> None:
    key = await make_key(account_id, "owner")
    t0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    stored_before = datetime.now(UTC)
    await store(
        account_id,
        [
            Msg(chat="of-1", id="1", at=t0, dir="inbound"),
            Msg(chat="of-1", id="2", at=t0 + timedelta(seconds=95), dir="outbound"),
            Msg(chat="of-1", id="3", at=None, dir="inbound"),
        ],
        settings,
    )
    body = (await client.get("/api/v1/conversations/of-1", headers=auth(key))).json()
    # A chat of another source: its id, no transcript ids, the seed's status words.
    assert {k: body[k] for k in SEED_004_FIELDS - {"processedAt"}} == {
        "conversationId": "of-1",
        "emailId": None,
        "accountId": None,
        "status": "answered",
        "startTime": "2026-03-02T12:00:00Z",
        "endTime": "2026-03-02T12:01:35Z",
        "duration": 95.0,  # end - start, without a transcript's metadata
        "messageCount": 3,  # the untimed message is stored, so counted
    }
    assert stored_before <= _parse(body["processedAt"]) <= datetime.now(UTC)


async def test_seed_004_client_deletes_by_conversation_id_in_its_account_only(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    other = await make_key(f"{account_id}-b", "owner")
    assert (await post_webhook(client, owner, webhook_body("conv_del"))).status_code == 200
    for path in ("/api/v1/conversations/conv_del", "/api/v1/conversations/conv_del/messages"):
        assert (await client.get(path, headers=auth(other))).status_code == 404
    assert (
        await client.delete("/api/v1/conversations/conv_del", headers=auth(other))
    ).status_code == 404
    assert (
        await client.get("/api/v1/conversations/conv_none", headers=auth(owner))
    ).status_code == 404
    deleted = await client.delete("/api/v1/conversations/conv_del", headers=auth(owner))
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "success", "deleted_messages": 3}
    assert (
        await client.get("/api/v1/conversations/conv_del", headers=auth(owner))
    ).status_code == 404


async def _seed_list(client: Client, key: str, settings: Settings, account_id: str) -> None:
    """Transcripts of two senders' accounts and e-mails, plus one chat of another source;
    times relative to now for time_range."""
    now = datetime.now(UTC).replace(microsecond=0)
    bodies = [
        _transcript(
            "t-ann-1",
            "ann@example.com",
            "acc123",
            [_line(now - timedelta(days=1), "user", "hi, about my order", "a")],
        ),
        _transcript(
            "t-ann-2",
            "ann@example.com",
            "acc999",
            [
                _line(now - timedelta(days=10), "user", "order again", "a"),
                _line(now - timedelta(days=10, seconds=-60), "agent", "sure", "b"),
            ],
        ),
        _transcript(
            "t-bob",
            "bob@example.com",
            "acc123",
            [_line(now - timedelta(days=40), "user", "hello there", "a")],
        ),
    ]
    for body in bodies:
        assert (await post_webhook(client, key, body)).status_code == 200
    await store(
        account_id,
        [Msg(chat="of-fan", id="of-1", at=now - timedelta(days=2), dir="inbound", text="order")],
        settings,
    )
    await ChatRow(
        account_id=account_id, chat_id="of-fan", fan_name="Olivia", created_at=now, updated_at=now
    ).save()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"webhook:t-ann-1", "webhook:t-ann-2", "webhook:t-bob", "of-fan"}),
        ({"email_id": "ann@example.com"}, {"webhook:t-ann-1", "webhook:t-ann-2"}),
        ({"email_id": "ANN@example.com"}, set()),  # as sent: exact
        ({"account_id": "acc123"}, {"webhook:t-ann-1", "webhook:t-bob"}),
        ({"account_id": "acc123", "email_id": "bob@example.com"}, {"webhook:t-bob"}),
        ({"status": "completed"}, {"webhook:t-ann-1", "webhook:t-ann-2", "webhook:t-bob"}),
        ({"status": "open"}, {"webhook:t-ann-1", "webhook:t-bob", "of-fan"}),
        ({"status": "answered"}, {"webhook:t-ann-2"}),
        ({"status": "completed", "q": "order"}, {"webhook:t-ann-1", "webhook:t-ann-2"}),
        ({"status": "completed", "account_id": "acc999"}, {"webhook:t-ann-2"}),
        ({"time_range": "7d"}, {"webhook:t-ann-1", "of-fan"}),
        ({"time_range": "30d"}, {"webhook:t-ann-1", "webhook:t-ann-2", "of-fan"}),
        ({"time_range": "90d", "email_id": "bob@example.com"}, {"webhook:t-bob"}),
        ({"page": "1", "limit": "2", "status": "completed"}, 2),
    ],
)
async def test_seed_004_list_filters(
    client: Client,
    account_id: str,
    make_key: KeyMaker,
    settings: Settings,
    params: dict[str, str],
    expected: set[str] | int,
) -> None:
    key = await make_key(account_id, "integration")
    await _seed_list(client, key, settings, account_id)
    response = await client.get("/api/v1/conversations", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    if isinstance(expected, int):
        assert len(body["items"]) == expected and body["total"] == 3
        return
    assert {item["chat_id"] for item in body["items"]} == expected
    assert body["total"] == len(expected)


async def test_seed_004_list_account_id_and_bad_values(
    client: Client, account_id: str, make_key: KeyMaker, settings: Settings
) -> None:
    key = await make_key(account_id, "integration")
    await _seed_list(client, key, settings, account_id)
    url = "/api/v1/conversations"
    # account_id naming the key's own ofca account scopes as before: every chat.
    own = await client.get(url, params={"account_id": account_id}, headers=auth(key))
    assert own.json()["total"] == 4
    # A value that is neither this key's account nor any transcript's accountId is 403,
    # as another account is, so nothing is learnt about other accounts.
    unknown = await client.get(url, params={"account_id": "acc-nobody"}, headers=auth(key))
    assert unknown.status_code == 403
    other = await make_key(f"{account_id}-b", "owner")
    assert (
        await client.get(url, params={"account_id": "acc123"}, headers=auth(other))
    ).status_code == 403
    for params, field in (
        ({"status": "closed"}, "status"),
        ({"status": "COMPLETED"}, "status"),
        ({"time_range": "7"}, "time_range"),
        ({"time_range": "0d"}, "time_range"),
        ({"time_range": "7d", "start": "2026-01-01T00:00:00Z"}, "time_range"),
    ):
        response = await client.get(url, params=params, headers=auth(key))
        assert response.status_code == 422, params
        body = response.json()
        assert [error["key"] for error in body["errors"]] == [field]
        assert set(body) >= {"detail", "status_code", "timestamp"}


async def test_seed_004_filters_reach_the_exports(
    client: Client, account_id: str, make_key: KeyMaker, settings: Settings
) -> None:
    key = await make_key(account_id, "owner")
    await _seed_list(client, key, settings, account_id)
    messages = await client.get(
        "/api/v1/export/messages",
        params={"email_id": "ann@example.com", "time_range": "7d"},
        headers=auth(key),
    )
    assert messages.status_code == 200
    rows = [msgspec.json.decode(line) for line in messages.text.splitlines() if line]
    assert {row["chat_id"] for row in rows} == {"webhook:t-ann-1"}
    sessions = await client.get(
        "/api/v1/export/conversations",
        params={"format": "ndjson", "status": "completed", "account_id": "acc123"},
        headers=auth(key),
    )
    chats = {msgspec.json.decode(line)["chat_id"] for line in sessions.text.splitlines() if line}
    assert chats == {"webhook:t-ann-1", "webhook:t-bob"}
    for params in ({"time_range": "week"}, {"status": "closed"}):
        bad = await client.get("/api/v1/export/messages", params=params, headers=auth(key))
        assert bad.status_code == 422
        assert [error["key"] for error in bad.json()["errors"]] == list(params)


# --------------------------------------------------------------------------- seed 003


INSIGHTS = (
    "topics",
    "sentiment-trend",
    "response-time",
    "overview",
    "reply-time-trend",
    "volume-trend",
    "activity-heatmap",
    "sessions",
)


async def test_seed_003_dashboards_ask_with_time_range(
    client: Client, account_id: str, make_key: KeyMaker, settings: Settings
) -> None:
    key = await make_key(account_id, "dashboard")
    now = datetime.now(UTC)
    # One fan message 1, 10 and 40 days ago (each its own chat).
    await store(
        account_id,
        [
            Msg(chat=f"c{days}", id=f"m{days}", at=now - timedelta(days=days), dir="inbound")
            for days in (1, 10, 40)
        ],
        settings,
    )
    for time_range, days, messages in (("7d", 7, 1), ("30d", 30, 2), ("90d", 90, 3)):
        for path in INSIGHTS:
            response = await client.get(
                f"/api/v1/insights/{path}", params={"time_range": time_range}, headers=auth(key)
            )
            assert response.status_code == 200, (path, response.text)
            window = response.json()["window"]
            start, end = _parse(window["start"]), _parse(window["end"])
            assert end - start == timedelta(days=days), path
            assert now - timedelta(seconds=5) <= end <= datetime.now(UTC), path
        overview = await client.get(
            "/api/v1/insights/overview", params={"time_range": time_range}, headers=auth(key)
        )
        assert overview.json()["current"]["messages"] == messages
        assert overview.json()["current"]["inbound_messages"] == messages
    bad = await client.get(
        "/api/v1/insights/overview",
        params={"time_range": "30d", "end": "2026-01-01T00:00:00Z"},
        headers=auth(key),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["key"] == "time_range"
    too_long = await client.get(
        "/api/v1/insights/topics", params={"time_range": "367d"}, headers=auth(key)
    )
    assert too_long.status_code == 422 and "366d" in too_long.json()["detail"]
    longest = await client.get(
        "/api/v1/insights/overview", params={"time_range": "366d"}, headers=auth(key)
    )
    assert longest.status_code == 200


# --------------------------------------------------------------------------- seed 002


async def test_seed_002_session_analytics(
    client: Client, account_id: str, make_key: KeyMaker, settings: Settings
) -> None:
    key = await make_key(account_id, "dashboard")
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    # Two sessions on one UTC day: 3 messages over 10 minutes, and one single message.
    await store(
        account_id,
        [
            Msg(chat="s", id="1", at=day + timedelta(hours=9), dir="inbound"),
            Msg(chat="s", id="2", at=day + timedelta(hours=9, minutes=4), dir="outbound"),
            Msg(chat="s", id="3", at=day + timedelta(hours=9, minutes=10), dir="inbound"),
            Msg(chat="t", id="4", at=day + timedelta(hours=15), dir="inbound"),
        ],
        settings,
    )
    response = await client.get(
        "/api/v1/insights/sessions", params={"time_range": "7d"}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total_sessions"] == 2
    assert body["avg_messages_per_session"] == 2  # (3 + 1) / 2
    assert body["avg_duration_minutes"] == 5  # (600 s + 0 s) / 2 / 60
    # 7 days ending now touch 8 UTC days; the sessions' day holds both.
    assert len(body["by_date"]) == 8
    assert all(set(row) == {"date", "sessions", "messages"} for row in body["by_date"])
    busy = [row for row in body["by_date"] if row["sessions"]]
    assert busy == [{"date": day.isoformat().replace("+00:00", "Z"), "sessions": 2, "messages": 4}]
    default = await client.get("/api/v1/insights/sessions", headers=auth(key))
    assert default.json()["total_sessions"] == 2  # the default 30 days
