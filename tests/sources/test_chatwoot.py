"""Chatwoot webhooks: token auth, message and conversation events, edits, duplicates."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import httpx
import msgspec

from tests.conftest import KeyMaker
from tests.sources.helpers import auth
from tests.sources.payloads import chatwoot_conversation_created, chatwoot_message_created


async def _token(client: httpx.AsyncClient, account_id: str, owner: str) -> str:
    response = await client.post(
        f"/api/v1/accounts/{account_id}/chatwoot-token", headers=auth(owner)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["webhook_path"] == f"/api/v1/integrations/chatwoot/{account_id}"
    return body["token"]


async def _send(
    client: httpx.AsyncClient, account_id: str, token: str, event: dict[str, Any], **kw: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/integrations/chatwoot/{account_id}",
        params={"token": token},
        json=event,
        **kw,
    )


async def test_message_events_become_chat_lines(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    token = await _token(client, account_id, owner)
    first = await _send(client, account_id, token, chatwoot_message_created())
    assert first.status_code == 200, first.text
    assert first.json() == {
        "status": "processed",
        "event": "message_created",
        "accepted": 1,
        "updated": 0,
        "duplicates": 0,
        "ignored": 0,
        "chat_id": "chatwoot:207",
    }
    reply = chatwoot_message_created(
        message_id=655,
        message_type="outgoing",
        content="Yes I do! Tell me what you would like",
        created_at="2024-01-15T10:32:00.000Z",
    )
    # The token may come as a header instead of the query.
    second = await client.post(
        f"/api/v1/integrations/chatwoot/{account_id}",
        json=reply,
        headers={"X-Chatwoot-Token": token},
    )
    assert second.json()["accepted"] == 1

    detail = (await client.get("/api/v1/conversations/chatwoot:207", headers=auth(owner))).json()
    assert detail["source"] == "chatwoot"
    assert detail["fan"] == {
        "id": "chatwoot:contact:4",
        "name": "Jamie Fan",
        "username": "fan@example.com",
        "avatar": None,
    }
    assert detail["message_counts"]["inbound"] == 1
    assert detail["message_counts"]["outbound"] == 1
    assert detail["status"] == "answered"
    assert detail["reply_count"] == 1
    assert detail["open_reply_wait"] is None
    assert len(detail["sessions"]) == 1
    assert detail["sessions"][0]["duration_seconds"] == 120.0
    assert "content_requests" in detail["topics"]

    response_time = await client.get(
        "/api/v1/insights/response-time",
        params={"start": "2024-01-15T00:00:00Z", "end": "2024-01-16T00:00:00Z"},
        headers=auth(owner),
    )
    assert response_time.status_code == 200, response_time.text
    reply = response_time.json()["reply_time"]
    assert (reply["count"], reply["mean_seconds"], reply["unanswered"]) == (1, 120.0, 0)


async def test_redelivery_is_a_duplicate_and_an_update_is_an_edit(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    token = await _token(client, account_id, owner)
    await _send(client, account_id, token, chatwoot_message_created())
    again = (await _send(client, account_id, token, chatwoot_message_created())).json()
    assert (again["status"], again["duplicates"], again["accepted"]) == ("duplicate", 1, 0)

    edited = chatwoot_message_created(
        content="Hi, I hate waiting. Do you do custom videos?", event="message_updated"
    )
    update = (await _send(client, account_id, token, edited)).json()
    assert (update["status"], update["updated"]) == ("processed", 1)
    page = (
        await client.get("/api/v1/conversations/chatwoot:207/messages", headers=auth(owner))
    ).json()
    [message] = page["items"]
    assert message["text"] == "Hi, I hate waiting. Do you do custom videos?"
    assert message["sentiment"] < 0.5  # re-enriched


async def test_notes_activity_and_unknown_events_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    token = await _token(client, account_id, owner)
    note = chatwoot_message_created(message_id=900, private=True, message_type="outgoing")
    activity = chatwoot_message_created(message_id=901, message_type="activity")
    for event in (note, activity):
        response = await _send(client, account_id, token, event)
        assert response.status_code == 200
        assert response.json()["status"] == "ignored"
    for unknown in (
        {"event": "contact_created", "id": 4, "name": "Jamie Fan"},
        {"event": "webwidget_triggered", "id": 4, "event_info": {}},
    ):
        response = await _send(client, account_id, token, unknown)
        assert response.status_code == 200
        assert response.json() == {
            "status": "ignored",
            "event": unknown["event"],
            "accepted": 0,
            "updated": 0,
            "duplicates": 0,
            "ignored": 0,
            "chat_id": None,
        }
    detail = await client.get("/api/v1/conversations/chatwoot:207", headers=auth(owner))
    # The note's conversation is known (the chat row), with no chat lines in it.
    assert detail.json()["message_counts"]["total"] == 0
    assert detail.json()["status"] == "none"
    listing = (await client.get("/api/v1/conversations", headers=auth(owner))).json()
    assert [(i["chat_id"], i["status"]) for i in listing["items"]] == [("chatwoot:207", "none")]
    for status in ("open", "answered"):
        filtered = await client.get(
            "/api/v1/conversations", params={"status": status}, headers=auth(owner)
        )
        assert filtered.json()["total"] == 0


async def test_conversation_events_upsert_chat_and_nested_messages(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    token = await _token(client, account_id, owner)
    created = (await _send(client, account_id, token, chatwoot_conversation_created())).json()
    assert (created["accepted"], created["ignored"]) == (2, 2)
    status_changed = chatwoot_conversation_created(event="conversation_status_changed")
    status_changed["status"] = "resolved"
    again = (await _send(client, account_id, token, status_changed)).json()
    assert (again["accepted"], again["duplicates"]) == (0, 2)
    listing = (
        await client.get("/api/v1/conversations", params={"fan": "JAMIE"}, headers=auth(owner))
    ).json()
    assert [item["chat_id"] for item in listing["items"]] == ["chatwoot:208"]
    assert listing["items"][0]["first_message_at"].startswith("2024-01-15T10:21:00")


async def test_token_is_per_account_hashed_and_rotatable(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    other = f"{account_id}-b"
    owner_b = await make_key(other, "owner")
    token_b = await _token(client, other, owner_b)
    url = f"/api/v1/integrations/chatwoot/{account_id}"
    event = chatwoot_message_created()
    assert (await client.post(url, json=event)).status_code == 401
    assert (await client.post(url, params={"token": "nope"}, json=event)).status_code == 401
    # B's token does not open A's endpoint, even before A has a token.
    assert (await client.post(url, params={"token": token_b}, json=event)).status_code == 401
    token = await _token(client, account_id, owner)
    assert (await client.post(url, params={"token": token}, json=event)).status_code == 200
    rotated = await _token(client, account_id, owner)
    assert (await client.post(url, params={"token": token}, json=event)).status_code == 401
    assert (await client.post(url, params={"token": rotated}, json=event)).status_code == 200
    # Only the owner (re)generates tokens, and only for their own account.
    dashboard = await make_key(account_id, "dashboard")
    denied = await client.post(
        f"/api/v1/accounts/{account_id}/chatwoot-token", headers=auth(dashboard)
    )
    assert denied.status_code == 403
    cross = await client.post(
        f"/api/v1/accounts/{account_id}/chatwoot-token", headers=auth(owner_b)
    )
    assert cross.status_code == 403
    # A's data did not leak into B.
    assert (await client.get("/api/v1/conversations", headers=auth(owner_b))).json()["total"] == 0


async def test_malformed_event_is_rejected_clearly(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    token = await _token(client, account_id, owner)
    url = f"/api/v1/integrations/chatwoot/{account_id}"
    response = await client.post(url, params={"token": token}, content=b"{not json")
    assert response.status_code in (400, 422)
    missing_event = await client.post(url, params={"token": token}, json={"id": 1})
    assert missing_event.status_code in (400, 422)
    assert "event" in missing_event.json()["detail"]


def _chatwoot_signed(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Timestamp": str(timestamp),
        "X-Chatwoot-Signature": f"sha256={digest.hexdigest()}",
        "X-Chatwoot-Delivery": "3f2c7d1e-0000-4000-8000-000000000001",
    }


async def test_signatures_required_once_the_signing_secret_is_stored(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    url = f"/api/v1/accounts/{account_id}/chatwoot-token/signing-secret"
    early = await client.put(url, json={"secret": "cw-secret-123"}, headers=auth(owner))
    assert early.status_code == 409  # no token yet
    token = await _token(client, account_id, owner)
    dashboard = await make_key(account_id, "dashboard")
    denied = await client.put(url, json={"secret": "cw-secret-123"}, headers=auth(dashboard))
    assert denied.status_code == 403
    stored = await client.put(url, json={"secret": "cw-secret-123"}, headers=auth(owner))
    assert stored.json() == {"signatures_required": True}

    endpoint = f"/api/v1/integrations/chatwoot/{account_id}?token={token}"
    body = msgspec.json.encode(chatwoot_message_created())
    now = int(time.time())
    unsigned = await client.post(endpoint, content=body)
    assert unsigned.status_code == 401
    wrong = await client.post(
        endpoint, content=body, headers=_chatwoot_signed("other-secret", body, now)
    )
    assert wrong.status_code == 401
    stale = await client.post(
        endpoint, content=body, headers=_chatwoot_signed("cw-secret-123", body, now - 600)
    )
    assert stale.status_code == 401
    tampered_headers = _chatwoot_signed("cw-secret-123", body, now)
    tampered = await client.post(endpoint, content=body + b" ", headers=tampered_headers)
    assert tampered.status_code == 401
    good = await client.post(
        endpoint, content=body, headers=_chatwoot_signed("cw-secret-123", body, now)
    )
    assert good.status_code == 200 and good.json()["accepted"] == 1
    # Rotating the token keeps the signing requirement; clearing the secret drops it.
    token = await _token(client, account_id, owner)
    endpoint = f"/api/v1/integrations/chatwoot/{account_id}?token={token}"
    assert (await client.post(endpoint, content=body)).status_code == 401
    cleared = await client.put(url, json={"secret": None}, headers=auth(owner))
    assert cleared.json() == {"signatures_required": False}
    assert (await client.post(endpoint, content=body)).status_code == 200
