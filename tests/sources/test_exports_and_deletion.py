"""Streaming exports, and deletion of a chat or an account from every read path."""

from __future__ import annotations

import csv
import io
import json
import re

import httpx

from ofca.conversations.exports import SESSION_COLUMNS, account_tables
from ofca.persistence.sql import raw_sql
from ofca.persistence.tables import MessageRow
from tests.conftest import KeyMaker
from tests.sources.helpers import auth, post_webhook
from tests.sources.payloads import chatwoot_message_created, webhook_body


def _two_session_transcript() -> list[dict[str, str]]:
    """Session 1: 10:00-10:04 with one 3-minute silence; session 2 starts 2 h later."""
    return [
        {
            "timestamp": "2024-01-15T10:00:00Z",
            "speaker": "user",
            "content": "hi, I love it",
            "messageId": "1",
        },
        {
            "timestamp": "2024-01-15T10:01:00Z",
            "speaker": "agent",
            "content": "thanks babe",
            "messageId": "2",
        },
        {
            "timestamp": "2024-01-15T10:04:00Z",
            "speaker": "user",
            "content": "sending a tip",
            "messageId": "3",
        },
        {
            "timestamp": "2024-01-15T12:04:00Z",
            "speaker": "user",
            "content": "you there?",
            "messageId": "4",
        },
    ]


async def test_export_sessions_csv_and_ndjson(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "dashboard")
    writer = await make_key(account_id, "integration")
    await post_webhook(client, writer, webhook_body("exp", _two_session_transcript()))
    await post_webhook(client, writer, webhook_body("other"))

    response = await client.get(
        "/api/v1/export/conversations", params={"format": "csv"}, headers=auth(key)
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-type"].count("charset") == 1
    assert re.fullmatch(
        r'attachment; filename="conversations-\d{8}T\d{6}Z\.csv"',
        response.headers["content-disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert tuple(rows[0].keys()) == SESSION_COLUMNS
    mine = [row for row in rows if row["chat_id"] == "webhook:exp"]
    assert len(rows) == 3 and len(mine) == 2
    first, second = mine
    assert first["start_at"] == "2024-01-15T10:00:00Z" and first["end_at"] == "2024-01-15T10:04:00Z"
    assert float(first["duration_seconds"]) == 240
    assert (
        float(first["silence_seconds"]) == 180
    )  # 10:01 -> 10:04 is >= 120 s; 10:00 -> 10:01 is not
    assert float(first["silence_percentage"]) == 75
    assert int(first["turns"]) == 2
    assert (int(first["inbound_count"]), int(first["outbound_count"])) == (2, 1)
    assert "tips_gifts" in first["topics"].split(";")
    assert second["silence_percentage"] == ""  # one message: undefined, not 0
    assert float(second["duration_seconds"]) == 0

    ndjson = await client.get(
        "/api/v1/export/conversations",
        params={"format": "ndjson", "topic": "tips_gifts"},
        headers=auth(key),
    )
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in ndjson.text.splitlines()]
    # The topic filter keeps only the sessions having the topic.
    assert [(r["chat_id"], r["session_index"]) for r in records] == [("webhook:exp", 0)]
    assert records[0]["silence_percentage"] == 75
    assert records[0]["sentiment_score"] is not None
    assert records[0]["fan_name"] == "user@example.com"

    windowed = await client.get(
        "/api/v1/export/conversations",
        params={"format": "ndjson", "start": "2024-01-15T11:00:00Z"},
        headers=auth(key),
    )
    assert [json.loads(line)["start_at"] for line in windowed.text.splitlines()] == [
        "2024-01-15T12:04:00Z"
    ]
    bad = await client.get(
        "/api/v1/export/conversations", params={"format": "xlsx"}, headers=auth(key)
    )
    # Issue 17: a bad format is a 422 naming the parameter, like the other parameters.
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["key"] == "format"
    assert "csv" in bad.json()["detail"]


async def test_export_messages_with_enrichment(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "owner")
    await post_webhook(client, key, webhook_body("exp", _two_session_transcript()))
    response = await client.get("/api/v1/export/messages", params={"q": "TIP"}, headers=auth(key))
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["message_id"] for line in lines] == ["webhook:exp:3"]
    assert lines[0]["topics"] and lines[0]["sentiment"] is not None
    assert lines[0]["source"] == "webhook" and lines[0]["direction"] == "inbound"
    everything = await client.get("/api/v1/export/messages", headers=auth(key))
    assert len(everything.text.splitlines()) == 4
    empty = await client.get("/api/v1/export/messages", params={"fan": "nobody"}, headers=auth(key))
    assert empty.status_code == 200 and empty.text == ""


async def _count(table: str, account_id: str) -> int:
    rows = await raw_sql(
        f"SELECT COUNT(*) AS n FROM {table} WHERE account_id = {{}}", account_id
    ).run()
    return int(rows[0]["n"])


async def test_delete_conversation_removes_it_from_every_read_path(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    dashboard = await make_key(account_id, "dashboard")
    await post_webhook(client, owner, webhook_body("gone", _two_session_transcript()))
    await post_webhook(client, owner, webhook_body("kept"))
    assert await _count("ofca_session", account_id) == 3  # insights read models exist

    url = "/api/v1/conversations/webhook:gone"
    assert (await client.delete(url, headers=auth(dashboard))).status_code == 403
    deleted = await client.delete(url, headers=auth(owner))
    assert deleted.status_code == 200
    assert deleted.json() == {"status": "success", "deleted_messages": 4}
    assert (await client.delete(url, headers=auth(owner))).status_code == 404

    assert (await client.get(url, headers=auth(owner))).status_code == 404
    assert (await client.get(f"{url}/messages", headers=auth(owner))).status_code == 404
    listing = (await client.get("/api/v1/conversations", headers=auth(owner))).json()
    assert [item["chat_id"] for item in listing["items"]] == ["webhook:kept"]
    export = await client.get("/api/v1/export/messages", headers=auth(owner))
    assert "webhook:gone" not in export.text
    sessions = await client.get(
        "/api/v1/export/conversations", params={"format": "ndjson"}, headers=auth(owner)
    )
    assert "webhook:gone" not in sessions.text
    # Insights read models follow.
    assert await _count("ofca_session", account_id) == 1
    rows = await raw_sql(
        "SELECT COUNT(*) AS n FROM ofca_reply WHERE account_id = {} AND chat_id = {}",
        account_id,
        "webhook:gone",
    ).run()
    assert rows[0]["n"] == 0
    overview = await client.get(
        "/api/v1/insights/overview",
        params={"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"},
        headers=auth(owner),
    )
    assert overview.status_code == 200, overview.text
    assert overview.json()["current"]["messages"] == 3  # the kept chat only
    assert overview.json()["current"]["sessions"] == 1


async def test_account_export_and_deletion(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    owner = await make_key(account_id, "owner")
    dashboard = await make_key(account_id, "dashboard")
    other = f"{account_id}-b"
    owner_b = await make_key(other, "owner")
    await post_webhook(client, owner, webhook_body("mine", _two_session_transcript()))
    await post_webhook(client, owner_b, webhook_body("theirs"))
    token = (
        await client.post(f"/api/v1/accounts/{account_id}/chatwoot-token", headers=auth(owner))
    ).json()["token"]
    await client.post(
        f"/api/v1/integrations/chatwoot/{account_id}",
        params={"token": token},
        json=chatwoot_message_created(),
    )

    export_url = f"/api/v1/accounts/{account_id}/export"
    assert (await client.get(export_url, headers=auth(dashboard))).status_code == 403
    assert (await client.get(export_url, headers=auth(owner_b))).status_code == 403
    export = await client.get(export_url, headers=auth(owner))
    assert export.status_code == 200
    lines = [json.loads(line) for line in export.text.splitlines()]
    tables = {line["table"] for line in lines}
    assert {"ofca_account", "ofca_chat", "ofca_message", "ofca_api_key", "ofca_session"} <= tables
    assert sum(1 for line in lines if line["table"] == "ofca_message") == 5
    assert all(line["row"]["account_id"] == account_id for line in lines)
    [chat] = [
        line["row"]
        for line in lines
        if line["table"] == "ofca_chat" and line["row"]["chat_id"] == "webhook:mine"
    ]
    assert json.loads(chat["raw"])["origin"]["accountId"] == "acc123"
    text = export.text
    assert "key_hash" not in text and "token_hash" not in text and token not in text

    delete_url = f"/api/v1/accounts/{account_id}"
    assert (await client.delete(delete_url, headers=auth(dashboard))).status_code == 403
    assert (await client.delete(delete_url, headers=auth(owner_b))).status_code == 403
    deleted = await client.delete(delete_url, headers=auth(owner))
    assert deleted.status_code == 200
    body = deleted.json()
    assert body["status"] == "deleted"
    assert body["deleted_rows"]["ofca_message"] == 5
    for table in account_tables():
        assert await _count(table._meta.tablename, account_id) == 0, table._meta.tablename
    # Its keys are gone with it; the other account is untouched.
    assert (await client.get("/api/v1/conversations", headers=auth(owner))).status_code == 401
    remaining = await MessageRow.count().where(MessageRow.account_id == other)
    assert remaining == 3
    assert (await client.get("/api/v1/conversations", headers=auth(owner_b))).json()["total"] == 1
