"""Seed 004's conversation webhook: storage, idempotency, signatures, scoping."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import KeyMaker
from tests.sources.helpers import auth, post_webhook
from tests.sources.payloads import webhook_body

Client = httpx.AsyncClient


async def test_webhook_stores_transcript_and_answers_in_seed_shape(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "integration")
    response = await post_webhook(client, key, webhook_body())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Conversation data received successfully"
    data = body["data"]
    assert data["conversationId"] == "conv_abc123"
    assert data["status"] == "processed"
    assert data["webhookId"].startswith("webhook_")
    assert data["processedAt"].endswith("Z") or "+" in data["processedAt"]
    assert data["accepted"] == 3

    reader = await make_key(account_id, "dashboard")
    listing = (await client.get("/api/v1/conversations", headers=auth(reader))).json()
    assert listing["total"] == 1
    [item] = listing["items"]
    assert item["chat_id"] == "webhook:conv_abc123"
    assert item["source"] == "webhook"
    assert item["fan"]["name"] == "user@example.com"
    assert (item["message_count"], item["inbound_count"], item["outbound_count"]) == (3, 2, 1)
    assert item["status"] == "open"  # the transcript ends with the user

    messages = (
        await client.get("/api/v1/conversations/webhook:conv_abc123/messages", headers=auth(reader))
    ).json()
    texts = [m["text"] for m in messages["items"]]
    assert texts[0] == "Hello, I need help with my subscription"
    assert [m["direction"] for m in messages["items"]] == ["inbound", "outbound", "inbound"]
    # Enriched like the extension's messages.
    assert all(m["enriched"] for m in messages["items"])
    assert messages["items"][2]["sentiment"] > 0.5

    # The same insights as extension data.
    window = {"start": "2024-01-15T00:00:00Z", "end": "2024-01-16T00:00:00Z"}
    overview = await client.get("/api/v1/insights/overview", params=window, headers=auth(reader))
    assert overview.status_code == 200, overview.text
    current = overview.json()["current"]
    assert (current["sessions"], current["messages"]) == (1, 3)
    assert (current["inbound_messages"], current["outbound_messages"]) == (2, 1)
    assert (current["active_fans"], current["new_fans"]) == (1, 1)
    topics = (
        await client.get("/api/v1/insights/topics", params=window, headers=auth(reader))
    ).json()["topics"]
    assert "subscription_renewal" in {row["topic"] for row in topics}


async def test_webhook_is_idempotent_and_reports_duplicates(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "integration")
    assert (await post_webhook(client, key, webhook_body())).status_code == 200
    again = (await post_webhook(client, key, webhook_body())).json()
    assert again["data"]["status"] == "duplicate"
    assert again["data"]["accepted"] == 0
    assert again["data"]["duplicates"] == 3
    assert sorted(again["data"]["duplicateMessageIds"]) == [
        "webhook:conv_abc123:msg_123",
        "webhook:conv_abc123:msg_124",
        "webhook:conv_abc123:msg_125",
    ]
    # A later delivery with one more line adds only that line.
    longer = webhook_body()
    longer["transcript"].append(
        {
            "timestamp": "2024-01-15T10:34:00Z",
            "speaker": "agent",
            "content": "You are welcome!",
            "messageId": "msg_126",
        }
    )
    third = (await post_webhook(client, key, longer)).json()["data"]
    assert (third["accepted"], third["duplicates"]) == (1, 3)
    detail = (
        await client.get("/api/v1/conversations/webhook:conv_abc123", headers=auth(key))
    ).json()
    assert detail["message_counts"]["total"] == 4
    assert detail["status"] == "answered"


async def test_webhook_signature_required_once_a_secret_is_set(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    integration = await make_key(account_id, "integration")
    set_secret = await client.put(
        f"/api/v1/accounts/{account_id}/webhook-secret", headers=auth(owner)
    )
    assert set_secret.status_code == 200, set_secret.text
    secret = set_secret.json()["secret"]
    assert len(secret) >= 32

    missing = await post_webhook(client, integration, webhook_body())
    assert missing.status_code == 401
    wrong = await post_webhook(client, integration, webhook_body(), secret="not-the-secret-at-all")
    assert wrong.status_code == 401
    malformed = await post_webhook(client, integration, webhook_body(), signature="md5=abc")
    assert malformed.status_code == 401
    good = await post_webhook(client, integration, webhook_body(), secret=secret)
    assert good.status_code == 200
    assert good.json()["data"]["accepted"] == 3

    # Only the owner manages the secret.
    denied = await client.put(
        f"/api/v1/accounts/{account_id}/webhook-secret", headers=auth(integration)
    )
    assert denied.status_code == 403
    cleared = await client.delete(
        f"/api/v1/accounts/{account_id}/webhook-secret", headers=auth(owner)
    )
    assert cleared.status_code == 204
    assert (await post_webhook(client, integration, webhook_body("conv_2"))).status_code == 200


async def test_empty_transcript_registers_the_conversation(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "integration")
    response = (await post_webhook(client, key, webhook_body("empty", transcript=[]))).json()
    assert response["data"]["status"] == "processed"
    assert (response["data"]["accepted"], response["data"]["duplicates"]) == (0, 0)
    detail = await client.get("/api/v1/conversations/webhook:empty", headers=auth(key))
    assert detail.status_code == 200
    assert detail.json()["message_counts"]["total"] == 0


async def test_webhook_rejects_bad_bodies_and_bad_keys(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "integration")
    body = webhook_body()
    body["transcript"][0].pop("messageId")
    response = await post_webhook(client, key, body)
    assert response.status_code in (400, 422)
    assert "messageId" in response.json()["detail"]
    no_key = await client.post("/api/v1/webhook/conversation", json=webhook_body())
    assert no_key.status_code == 401
    extension = await make_key(account_id, "extension")
    assert (await post_webhook(client, extension, webhook_body())).status_code == 403


async def test_webhook_data_belongs_to_the_keys_account_only(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    other = f"{account_id}-b"
    key_a = await make_key(account_id, "integration")
    key_b = await make_key(other, "owner")
    await post_webhook(client, key_a, webhook_body())
    # B sees nothing of A, and cannot name A's account.
    assert (await client.get("/api/v1/conversations", headers=auth(key_b))).json()["total"] == 0
    chat = "/api/v1/conversations/webhook:conv_abc123"
    assert (await client.get(chat, headers=auth(key_b))).status_code == 404
    assert (await client.get(f"{chat}/messages", headers=auth(key_b))).status_code == 404
    assert (await client.delete(chat, headers=auth(key_b))).status_code == 404
    forbidden = await client.get(
        "/api/v1/conversations", params={"account_id": account_id}, headers=auth(key_b)
    )
    assert forbidden.status_code == 403
    # The same conversation id sent by B is B's own chat.
    await post_webhook(client, key_b, webhook_body())
    assert (await client.get("/api/v1/conversations", headers=auth(key_b))).json()["total"] == 1
    detail_a = (await client.get(chat, headers=auth(key_a))).json()
    assert detail_a["message_counts"]["total"] == 3


async def test_concurrent_identical_deliveries_store_once(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "integration")
    responses = await asyncio.gather(*(post_webhook(client, key, webhook_body()) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    accepted = sorted(r.json()["data"]["accepted"] for r in responses)
    assert accepted == [0, 0, 0, 3]
    detail = (
        await client.get("/api/v1/conversations/webhook:conv_abc123", headers=auth(key))
    ).json()
    assert detail["message_counts"]["total"] == 3


async def test_exports_hold_only_the_callers_account(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    key_a = await make_key(account_id, "owner")
    key_b = await make_key(f"{account_id}-b", "owner")
    await post_webhook(client, key_a, webhook_body("only-a"))
    for path in ("/api/v1/export/messages", "/api/v1/export/conversations"):
        mine = await client.get(path, params={"format": "ndjson"}, headers=auth(key_a))
        theirs = await client.get(path, params={"format": "ndjson"}, headers=auth(key_b))
        assert "webhook:only-a" in mine.text
        assert theirs.status_code == 200 and "webhook:only-a" not in theirs.text
        named = await client.get(
            path, params={"format": "ndjson", "account_id": account_id}, headers=auth(key_b)
        )
        assert named.status_code == 403


async def test_webhook_with_a_value_the_database_refuses_is_a_422(
    client: Client, account_id: str, make_key: KeyMaker
) -> None:
    """A NUL character (Postgres text cannot hold it) is a 422 naming the message, on
    either engine, not a 500; nothing of the transcript is stored."""
    key = await make_key(account_id, "integration")
    body = webhook_body(
        "conv_nul",
        [
            {
                "timestamp": "2024-01-15T10:30:00Z",
                "speaker": "user",
                "content": "hi",
                "messageId": "m1",
            },
            {
                "timestamp": "2024-01-15T10:31:00Z",
                "speaker": "agent",
                "content": "a\x00b",
                "messageId": "m2",
            },
        ],
    )
    response = await post_webhook(client, key, body)
    assert response.status_code == 422, response.text
    assert "nul_character" in response.json()["detail"]
    reader = await make_key(account_id, "dashboard")
    listing = (await client.get("/api/v1/conversations", headers=auth(reader))).json()
    assert listing["total"] == 0
