"""The conversations API: filters and pagination at their limits, summaries, cursors."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import KeyMaker
from tests.sources.helpers import auth, post_webhook
from tests.sources.payloads import webhook_body


def _line(minute: int, speaker: str, content: str, message_id: str) -> dict[str, str]:
    return {
        "timestamp": f"2024-03-01T12:{minute:02d}:00Z",
        "speaker": speaker,
        "content": content,
        "messageId": message_id,
    }


async def _seed_chats(client: httpx.AsyncClient, key: str, count: int) -> None:
    for index in range(count):
        body = webhook_body(
            conversation_id=f"c{index:03d}",
            transcript=[_line(index % 60, "user", f"hello number {index}", "m1")],
        )
        body["emailId"] = f"fan{index:03d}@example.com"
        response = await post_webhook(client, key, body)
        assert response.status_code == 200, response.text


async def test_pagination_limits(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "owner")
    await _seed_chats(client, key, 101)
    url = "/api/v1/conversations"

    one = (await client.get(url, params={"limit": 1}, headers=auth(key))).json()
    assert (one["total"], one["page"], one["limit"], len(one["items"])) == (101, 1, 1, 1)

    full = (await client.get(url, params={"limit": 100}, headers=auth(key))).json()
    assert len(full["items"]) == 100
    rest = (await client.get(url, params={"limit": 100, "page": 2}, headers=auth(key))).json()
    assert len(rest["items"]) == 1
    ids = [item["chat_id"] for item in full["items"] + rest["items"]]
    assert len(set(ids)) == 101  # pages neither overlap nor skip

    beyond = (await client.get(url, params={"limit": 100, "page": 3}, headers=auth(key))).json()
    assert (beyond["total"], beyond["items"]) == (101, [])

    default = (await client.get(url, headers=auth(key))).json()
    assert default["limit"] == 20 and len(default["items"]) == 20

    for bad in ({"limit": 101}, {"limit": 0}, {"page": 0}, {"page": "x"}):
        response = await client.get(url, params=bad, headers=auth(key))
        assert response.status_code == 400, bad
        assert {error["key"] for error in response.json()["errors"]} == set(bad)


async def _seed_mixed(client: httpx.AsyncClient, key: str) -> None:
    """Three chats: open (fan waits), answered, and one with a tip topic and odd chars."""
    bodies = [
        webhook_body(
            "open1",
            [
                _line(0, "agent", "Hey there", "a"),
                _line(1, "user", "Where is my VIDEO?", "b"),
            ],
        ),
        webhook_body(
            "answered1",
            [
                _line(5, "user", "hello", "a"),
                _line(6, "agent", "hi! 50% off today", "b"),
            ],
        ),
        webhook_body(
            "tipper",
            [
                _line(10, "user", "sent you a tip!", "a"),
                _line(11, "agent", "thank you so much", "b"),
                _line(12, "user", "under_score here", "c"),
            ],
        ),
    ]
    for body, email in zip(bodies, ["Ann@x.io", "bob@x.io", "Zoë_tips@x.io"], strict=True):
        body["emailId"] = email
        assert (await post_webhook(client, key, body)).status_code == 200


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"webhook:open1", "webhook:answered1", "webhook:tipper"}),
        ({"status": "open"}, {"webhook:open1", "webhook:tipper"}),
        ({"status": "answered"}, {"webhook:answered1"}),
        ({"topic": "tips_gifts"}, {"webhook:tipper"}),
        ({"topic": "no_such_topic"}, set()),
        ({"fan": "ANN"}, {"webhook:open1"}),
        ({"fan": "_tips"}, {"webhook:tipper"}),
        ({"fan": "%"}, set()),  # a LIKE wildcard is searched literally
        ({"q": "video"}, {"webhook:open1"}),
        ({"q": "50%"}, {"webhook:answered1"}),
        ({"q": "t_y"}, set()),  # "_" is literal too (as a wildcard it would match "t y")
        ({"q": "R_SC"}, {"webhook:tipper"}),
        ({"q": "nothing like this"}, set()),
        ({"start": "2024-03-01T12:05:00Z", "end": "2024-03-01T12:06:00Z"}, {"webhook:answered1"}),
        ({"start": "2024-03-01T12:12:00Z"}, {"webhook:tipper"}),
        ({"end": "2024-03-01T12:00:00Z"}, set()),  # half-open: 12:00 itself is excluded
        ({"status": "open", "q": "tip"}, {"webhook:tipper"}),
        # With a window, a topic means a session starting in it has the topic (as Insights):
        ({"topic": "tips_gifts", "start": "2024-03-01T12:10:00Z"}, {"webhook:tipper"}),
        # the tipper's session started at 12:10, before this window (a message is in it):
        ({"topic": "tips_gifts", "start": "2024-03-01T12:11:00Z"}, set()),
        ({"topic": "tips_gifts", "end": "2024-03-01T12:10:00Z"}, set()),
    ],
)
async def test_filters(
    client: httpx.AsyncClient,
    account_id: str,
    make_key: KeyMaker,
    params: dict[str, str],
    expected: set[str],
) -> None:
    key = await make_key(account_id, "dashboard")
    await _seed_mixed(client, await make_key(account_id, "integration"))
    body = (await client.get("/api/v1/conversations", params=params, headers=auth(key))).json()
    assert {item["chat_id"] for item in body["items"]} == expected
    assert body["total"] == len(expected)


async def test_list_orders_by_latest_activity_and_rejects_bad_windows(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "owner")
    await _seed_mixed(client, key)
    body = (await client.get("/api/v1/conversations", headers=auth(key))).json()
    assert [item["chat_id"] for item in body["items"]] == [
        "webhook:tipper",
        "webhook:answered1",
        "webhook:open1",
    ]
    bad = await client.get(
        "/api/v1/conversations",
        params={"start": "2024-03-02T00:00:00Z", "end": "2024-03-01T00:00:00Z"},
        headers=auth(key),
    )
    assert bad.status_code == 422
    assert "start must be before end" in bad.json()["detail"]
    # An unknown status is a 422 naming it (issue 18; it was a generic 400 before).
    unknown = await client.get(
        "/api/v1/conversations", params={"status": "closed"}, headers=auth(key)
    )
    assert unknown.status_code == 422
    assert [error["key"] for error in unknown.json()["errors"]] == ["status"]
    assert "'closed'" in unknown.json()["detail"]


async def test_detail_summary(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "owner")
    await _seed_mixed(client, key)
    detail = (await client.get("/api/v1/conversations/webhook:tipper", headers=auth(key))).json()
    assert detail["status"] == "open"
    assert detail["first_message"]["text"] == "sent you a tip!"
    assert detail["last_message"]["text"] == "under_score here"
    assert detail["message_counts"] == {
        "total": 3,
        "inbound": 2,
        "outbound": 1,
        "unknown": 0,
        "excluded": 0,
    }
    assert detail["open_reply_wait"]["since"].startswith("2024-03-01T12:12:00")
    assert detail["open_reply_wait"]["waiting_seconds"] > 0
    [session] = detail["sessions"]
    assert (session["message_count"], session["turns"], session["duration_seconds"]) == (3, 2, 120)
    assert session["silence_seconds"] == 0  # gaps of 60 s are under the 120 s threshold
    assert session["silence_percentage"] == 0
    assert detail["reply_count"] == 1
    assert "tips_gifts" in detail["topics"]
    assert detail["sentiment_score"] is not None
    missing = await client.get("/api/v1/conversations/webhook:nope", headers=auth(key))
    assert missing.status_code == 404


async def test_message_pages_with_cursor(
    client: httpx.AsyncClient, account_id: str, make_key: KeyMaker
) -> None:
    key = await make_key(account_id, "owner")
    transcript = [_line(minute, "user", f"line {minute}", f"m{minute:02d}") for minute in range(5)]
    # Two lines at the same instant: ordered by id, never lost between pages.
    transcript.append(_line(4, "agent", "same time", "m99"))
    transcript.append({**_line(0, "user", "no usable time", "zz"), "timestamp": "garbage"})
    await post_webhook(client, key, webhook_body("paged", transcript))
    url = "/api/v1/conversations/webhook:paged/messages"
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(url, params=params, headers=auth(key))).json()
        pages += 1
        seen.extend(item["text"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 4
    assert seen == [
        "line 0",
        "line 1",
        "line 2",
        "line 3",
        "line 4",
        "same time",
        "no usable time",  # untimed messages come last
    ]
    everything = (await client.get(url, params={"limit": 100}, headers=auth(key))).json()
    assert everything["next_cursor"] is None and len(everything["items"]) == 7
    assert everything["items"][0]["topics"] == [] or isinstance(
        everything["items"][0]["topics"], list
    )
    bad = await client.get(url, params={"cursor": "not-a-cursor"}, headers=auth(key))
    assert bad.status_code == 422
    assert (await client.get(url, params={"limit": 101}, headers=auth(key))).status_code == 400
    detail = (await client.get("/api/v1/conversations/webhook:paged", headers=auth(key))).json()
    assert detail["message_counts"]["excluded"] == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/conversations", "/api/v1/export/messages", "/api/v1/export/conversations"]
)
@pytest.mark.parametrize(
    "params",
    [
        {"start": "0001-01-01T00:00:00+01:00"},  # no instant in UTC
        {"end": "9999-12-31T23:59:59-01:00"},
        {"start": "not a date"},
    ],
)
async def test_out_of_range_times_are_client_errors_before_any_stream(
    client: httpx.AsyncClient,
    account_id: str,
    make_key: KeyMaker,
    path: str,
    params: dict[str, str],
) -> None:
    key = await make_key(account_id, "owner")
    await post_webhook(client, key, webhook_body())
    response = await client.get(path, params=params, headers=auth(key))
    assert response.status_code in (400, 422), response.text
    assert set(response.json()["errors"][0]) >= {"key", "message"}
    edge = await client.get(
        path,
        params={"start": "0001-01-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"},
        headers=auth(key),
    )
    assert edge.status_code == 200
