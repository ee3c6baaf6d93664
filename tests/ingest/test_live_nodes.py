"""``append_message`` nodes and batched delivery on real sockets: a live node carries the
chat's current summary (the same values as the chat's node in a full sync) and only the
messages the change brought; ``?batch=1`` dashboards get runs of events as ``event_batch``
in the same order as everyone else; a topic change made elsewhere is honoured by the next
delta even though this process had cached the older rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from ofca.conversations.full_sync import conversation_nodes
from ofca.conversations.live_nodes import live_nodes
from ofca.conversations.queries import conversation_detail
from ofca.persistence.tables import CustomTopic, MessageRow, TopicSet
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _url(server: LiveServer, kind: str, account_id: str, key: str, query: str = "") -> str:
    return f"{server.ws_url}/ws/{kind}/{account_id}?token={key}{query}"


def _delta(message_id: int, chat_id: int, text: str, at: str, *, inbound: bool = True) -> bytes:
    return new_raw_message_frame(
        {
            "id": message_id,
            "chat_id": chat_id,
            "text": text,
            "createdAt": at,
            "is_inbound": inbound,
        }
    )


def _summary(node: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in node.items() if key != "messages"}


def _summary_of(node: Any) -> dict[str, Any]:
    return _summary(msgspec.to_builtins(node))


async def _seeded(server: LiveServer, make_key: Any, account_id: str) -> tuple[str, str, Any]:
    """An account with a stored, enriched snapshot whose insight rows are ready."""
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    account = generate_account(240, seed=21, fans=6)
    async with (
        open_socket(_url(server, "extension", account_id, ext_key)) as extension,
        open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard,
    ):
        await extension.until("connection_ack")
        await dashboard.until("full_sync_response")
        await extension.send(cache_update_frame(account))
        await extension.until("ingest_ack", within=60)
        await dashboard.until("enrichment_result", done=True, within=60)
        await dashboard.until("system_status", status="REALTIME", within=60)
    return ext_key, dash_key, account


async def test_live_nodes_summarize_chats_as_the_full_sync_does(
    server, make_key, account_id, engine
) -> None:
    _, dash_key, account = await _seeded(server, make_key, account_id)
    chat_ids = sorted({str(m["chat_id"]) for m in account.messages})
    live = await live_nodes(engine, account_id, chat_ids)
    assert sorted(live) == chat_ids
    synced = await conversation_nodes(account_id, chat_ids)
    for chat_id in chat_ids:
        assert live[chat_id].messages == []
        assert _summary_of(live[chat_id]) == _summary_of(synced[chat_id])
    # The read models are there (sessions, topics), so the comparison compared something.
    assert all(node.session is not None and node.topics for node in live.values())
    # And the same as a dashboard's full sync over the wire.
    async with open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard:
        sync = await dashboard.until("full_sync_response")
    wire = {n["chat_id"]: _summary(n) for n in sync["payload"]["conversations"]}
    for chat_id in chat_ids:
        assert wire[chat_id] == json.loads(msgspec.json.encode(_summary_of(live[chat_id])))


async def test_node_summaries_are_what_the_chat_detail_derives(
    server, make_key, account_id, engine, settings
) -> None:
    """Nodes (live and full sync) come from one statement; this holds it to the REST detail,
    which derives the same values from the chat's messages with the metrics oracle."""
    await _seeded(server, make_key, account_id)
    chat_ids = sorted(
        {
            row["chat_id"]
            for row in await MessageRow.select(MessageRow.chat_id).where(
                MessageRow.account_id == account_id
            )
        }
    )
    nodes = await live_nodes(engine, account_id, chat_ids)
    assert sorted(nodes) == chat_ids
    for chat_id in chat_ids:
        node, detail = nodes[chat_id], await conversation_detail(account_id, chat_id, settings)
        assert detail is not None
        assert node.fan == detail.fan
        assert node.message_count == detail.message_counts.total
        assert detail.message_counts.excluded == 0  # so the last message is the last timed one
        assert node.last_message == detail.last_message
        assert node.last_message is not None
        assert node.last_activity_at == node.last_message.created_at
        assert node.sentiment_score == pytest.approx(detail.sentiment_score, abs=1e-8)
        wait = detail.open_reply_wait
        assert node.unanswered_since == (None if wait is None else wait.since)
        latest = detail.sessions[-1]
        assert node.session is not None
        assert (
            node.session.start_at,
            node.session.end_at,
            node.session.message_count,
            node.session.turns,
            node.session.topics,
        ) == (latest.start_at, latest.end_at, latest.message_count, latest.turns, latest.topics)
        for field in ("duration_seconds", "silence_seconds", "silence_percentage"):
            assert getattr(node.session, field) == pytest.approx(getattr(latest, field))
        assert node.session.sentiment_score == pytest.approx(latest.sentiment_score, abs=1e-8)
        assert node.topics == sorted({topic for s in detail.sessions for topic in s.topics})
    # Something was waiting and something had topics: the comparisons compared something.
    assert any(node.unanswered_since is not None for node in nodes.values())
    assert any(node.topics for node in nodes.values())


async def test_append_message_node_is_the_chat_now_with_only_the_changed_message(
    server, make_key, account_id
) -> None:
    ext_key, dash_key, account = await _seeded(server, make_key, account_id)
    chat_id = int(account.chats[0]["withUser"]["id"])
    stored = await MessageRow.count().where(
        (MessageRow.account_id == account_id) & (MessageRow.chat_id == str(chat_id))
    )
    async with (
        open_socket(_url(server, "extension", account_id, ext_key)) as extension,
        open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard,
    ):
        await extension.until("connection_ack")
        before = await dashboard.until("full_sync_response")
        node_before = next(
            n for n in before["payload"]["conversations"] if n["chat_id"] == str(chat_id)
        )
        at = "2030-01-01T10:00:00Z"  # after everything generated: the chat's last message
        await extension.send(_delta(9_100_001, chat_id, "you are amazing, thank you!", at))
        append = (await dashboard.until("append_message"))["payload"]
        node = append["conversation"]
        assert append["edited"] is False
        assert append["message"]["id"] == "9100001"
        assert [m["id"] for m in node["messages"]] == ["9100001"]
        assert node["message_count"] == stored + 1 == node_before["message_count"] + 1
        assert node["last_message"]["id"] == "9100001"
        assert node["last_activity_at"] == "2030-01-01T10:00:00Z"
        assert node["fan"] == node_before["fan"]
        assert node["sentiment_score"] != node_before["sentiment_score"]  # a glowing message

        # An edit: same id, other text. Updated in place, counted once.
        await extension.send(_delta(9_100_001, chat_id, "you are awful", at))
        edit = (await dashboard.until("append_message"))["payload"]
        assert edit["edited"] is True
        assert edit["conversation"]["message_count"] == stored + 1
        assert [m["text"] for m in edit["conversation"]["messages"]] == ["you are awful"]
        assert edit["conversation"]["last_message"]["text"] == "you are awful"
        assert edit["message"]["sentiment"] < append["message"]["sentiment"]

        # A chat no snapshot brought: its node knows only the delta.
        await extension.send(_delta(9_100_002, 424_242, "hi", at))
        new_chat = (await dashboard.until("append_message"))["payload"]["conversation"]
        assert new_chat["chat_id"] == "424242"
        assert new_chat["fan"]["id"] == "424242"
        assert new_chat["message_count"] == 1
        assert new_chat["session"] is None  # its insight rows come with the refresh


async def _frames(socket: Socket, count: int, within: float = 30.0) -> list[dict[str, Any]]:
    """``append_message`` payloads in the order received, batched or not."""
    appends: list[dict[str, Any]] = []
    batches = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(appends) < count:
        frame = await socket.next(max(0.1, deadline - loop.time()))
        events = [frame]
        if frame["type"] == "event_batch":
            batches += 1
            assert len(frame["payload"]["events"]) > 1  # a lone event comes as itself
            events = frame["payload"]["events"]
        appends += [e["payload"] for e in events if e["type"] == "append_message"]
    socket.seen.append({"type": "_batches", "count": batches})
    return appends


async def test_batching_dashboards_get_the_same_events_in_fewer_frames(
    server, make_key, account_id
) -> None:
    ext_key, dash_key, account = await _seeded(server, make_key, account_id)
    chats = [int(chat["withUser"]["id"]) for chat in account.chats]
    count = 60
    async with (
        open_socket(_url(server, "extension", account_id, ext_key)) as extension,
        open_socket(_url(server, "frontend", account_id, dash_key)) as plain,
        open_socket(_url(server, "frontend", account_id, dash_key, "&batch=1")) as batched,
    ):
        await extension.until("connection_ack")
        await plain.until("full_sync_response")
        await batched.until("full_sync_response")
        # Sent back to back: they queue up on the server and are stored as runs.
        frames = [
            _delta(9_200_000 + i, chats[i % len(chats)], f"message {i}", "2030-02-01T10:00:00Z")
            for i in range(count)
        ]
        await asyncio.gather(*(extension.connection.send(f) for f in frames))
        plain_appends = await _frames(plain, count)
        batched_appends = await _frames(batched, count)
    sent = [str(9_200_000 + i) for i in range(count)]
    assert [a["message"]["id"] for a in plain_appends] == sent
    assert [a["message"]["id"] for a in batched_appends] == sent
    assert plain_appends == batched_appends
    assert batched.seen[-1]["count"] >= 1  # at least one run came as one frame
    assert plain.seen[-1]["count"] == 0  # never to a socket that did not ask
    # Each node holds its own message only, even when its chat got several in one run.
    for append in plain_appends:
        assert append["conversation"]["messages"] == [append["message"]]
    counts = [a["conversation"]["message_count"] for a in plain_appends]
    assert len(set(counts)) > 1  # the nodes are each chat's summary, not one copy


async def test_a_bad_batch_value_is_reported_and_events_still_come(
    server, make_key, account_id
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    async with (
        open_socket(_url(server, "extension", account_id, ext_key)) as extension,
        open_socket(_url(server, "frontend", account_id, dash_key, "&batch=maybe")) as dash,
    ):
        await extension.until("connection_ack")
        error = await dash.until("system_error")
        assert error["payload"]["code"] == "validation_error"
        assert "batch" in error["payload"]["detail"]
        await extension.send(_delta(9_300_001, 77, "hello", "2030-03-01T10:00:00Z"))
        append = await dash.until("append_message")
        assert append["payload"]["message"]["id"] == "9300001"


async def test_a_topic_added_by_another_process_tags_the_next_delta(
    server, make_key, account_id
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    async with (
        open_socket(_url(server, "extension", account_id, ext_key)) as extension,
        open_socket(_url(server, "frontend", account_id, dash_key)) as dashboard,
    ):
        await extension.until("connection_ack")
        await dashboard.until("full_sync_response")
        # The server caches this account's topic rules (version 0: built-ins only).
        await extension.send(_delta(9_400_001, 55, "do you like unicorns", "2030-04-01T10:00Z"))
        first = await dashboard.until("append_message")
        assert "unicorns" not in first["payload"]["message"]["topics"]
        # Another process adds a topic: the rule and the version bump, committed together.
        now = datetime.now(UTC)
        await CustomTopic(
            account_id=account_id,
            topic_id="unicorns",
            label="Unicorns",
            keywords=json.dumps(["unicorns"]),
            created_at=now,
            updated_at=now,
        ).save()
        await TopicSet(account_id=account_id, version=1, updated_at=now).save()

        await extension.send(_delta(9_400_002, 55, "I love unicorns", "2030-04-01T10:01Z"))
        second = await dashboard.until("append_message")
        assert "unicorns" in second["payload"]["message"]["topics"]
    row = (
        await MessageRow.select(MessageRow.topics)
        .where((MessageRow.account_id == account_id) & (MessageRow.message_id == "9400002"))
        .first()
    )
    topics = row["topics"]
    assert "unicorns" in (json.loads(topics) if isinstance(topics, str) else topics)
