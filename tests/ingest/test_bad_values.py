"""Values the database would refuse, on a real server (issue 16 items 1 and 6).

One bad message never costs the good ones: 20 valid deltas and one carrying a value the
database refuses (a NUL character in its text; ``mediaCount`` 2**31, beyond Postgres'
int32 column), sent back to back so they queue up as one run, are answered with 20 acks
and one rejection, and the 20 are stored. Refusing is not a bug of ours: no
``internal_error``, and nothing a client could fix is answered as retryable. A snapshot
carrying such messages stores the others and names the bad ones in ``rejected_items``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from piccolo.engine.base import Engine

from ofca.ingest import deltas
from ofca.persistence.tables import ChatRow, MessageRow
from ofca.settings import Settings
from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.support.inprocess import served_app
from tests.support.server import LiveServer, live_server

BAD_VALUES: dict[str, dict[str, Any]] = {
    "nul_text": {"text": "hello\x00world"},
    "media_count_int32": {"mediaCount": 2**31},
    "nul_sender": {"fromUser": {"id": "fan\x00x"}},
    "nul_message_id": {"id": "m\x00"},
}


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _message(message_id: int | str, **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "chat_id": 7,
        "text": f"hi {message_id}",
        "createdAt": "2026-01-02T10:00:00Z",
        "is_inbound": True,
        **extra,
    }


async def _answers(socket: Socket, count: int) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    while len(answers) < count:
        frame = await socket.next(within=30)
        if frame["type"] in ("ingest_ack", "system_error"):
            answers.append(frame)
    return answers


async def _stored(account_id: str) -> set[str]:
    rows = (
        await MessageRow.select(MessageRow.message_id)
        .where(MessageRow.account_id == account_id)
        .run()
    )
    return {row["message_id"] for row in rows}


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
async def test_one_bad_delta_in_a_run_costs_only_itself(
    server: LiveServer, make_key, account_id: str, bad: str
) -> None:
    key = await make_key(account_id, "extension")
    good = [_message(1000 + index) for index in range(20)]
    bad_message = {**_message(999), **BAD_VALUES[bad]}
    frames = [new_raw_message_frame(m) for m in good[:10]]
    frames.append(new_raw_message_frame(bad_message))
    frames += [new_raw_message_frame(m) for m in good[10:]]
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
    async with open_socket(url) as socket:
        await socket.until("connection_ack")
        await asyncio.gather(*(socket.connection.send(frame) for frame in frames))
        answers = await _answers(socket, len(frames))

    codes = [a["payload"].get("code") for a in answers if a["type"] == "system_error"]
    assert "internal_error" not in codes, answers
    assert not [a for a in answers if a["type"] == "system_error" and a["payload"]["retryable"]]
    acks = [a["payload"] for a in answers if a["type"] == "ingest_ack"]
    assert sum(ack["accepted"] for ack in acks) == 20, answers
    assert sum(ack["rejected"] for ack in acks) + len(codes) == 1, answers
    # The answers keep the frames' order: the bad one is the 11th.
    eleventh = answers[10]
    if eleventh["type"] == "ingest_ack":
        assert eleventh["payload"]["rejected"] == 1
        assert eleventh["payload"]["rejected_items"][0]["reason"]
    else:
        assert eleventh["payload"]["code"] == "validation_error"
    assert await _stored(account_id) == {str(m["id"]) for m in good}


async def test_snapshot_rejects_only_the_messages_the_database_would_refuse(
    server: LiveServer, make_key, account_id: str
) -> None:
    key = await make_key(account_id, "extension")
    chats = [
        {"withUser": {"id": 7, "name": "Fan seven"}},
        {"withUser": {"id": 8, "name": "Bad\x00name"}},
    ]
    messages = [_message(2000 + index) for index in range(10)]
    for index, values in enumerate(BAD_VALUES.values()):
        messages.append({**_message(3000 + index), **values})
    messages.append({**_message(4000), "chat_id": 8})  # of the chat whose name is refused
    frame = {"type": "cache_update", "payload": {"chats": chats, "messages": messages}}
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
    async with open_socket(url) as socket:
        await socket.until("connection_ack")
        await socket.send(frame)
        answer = (await _answers(socket, 1))[0]
    assert answer["type"] == "ingest_ack", answer
    payload = answer["payload"]
    assert payload["accepted"] == 10
    assert payload["rejected"] == len(BAD_VALUES) + 1
    assert all(item["reason"] for item in payload["rejected_items"])
    assert await _stored(account_id) == {str(2000 + index) for index in range(10)}
    chat_ids = await ChatRow.select(ChatRow.chat_id).where(ChatRow.account_id == account_id).run()
    assert {row["chat_id"] for row in chat_ids} == {"7"}


async def test_a_time_beyond_the_calendar_is_stored_as_unusable(
    server: LiveServer, make_key, account_id: str
) -> None:
    """``0001-01-01T00:00:00+01:00`` is a year-0 instant in UTC: not a usable time, so the
    message is stored and excluded from metrics, like any other unusable time."""
    key = await make_key(account_id, "extension")
    frames = [
        new_raw_message_frame(_message(1)),
        new_raw_message_frame(_message(2, createdAt="0001-01-01T00:00:00+01:00")),
        new_raw_message_frame(_message(3, changedAt="9999-12-31T23:59:59-01:00")),
    ]
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
    async with open_socket(url) as socket:
        await socket.until("connection_ack")
        await asyncio.gather(*(socket.connection.send(frame) for frame in frames))
        answers = await _answers(socket, len(frames))
    assert [a["type"] for a in answers] == ["ingest_ack"] * 3, answers
    assert sum(a["payload"]["accepted"] for a in answers) == 3
    rows = (
        await MessageRow.select(MessageRow.message_id, MessageRow.created_at)
        .where(MessageRow.account_id == account_id)
        .run()
    )
    times = {row["message_id"]: row["created_at"] for row in rows}
    assert times["2"] is None and times["1"] is not None


async def test_a_value_the_checks_miss_costs_only_its_own_delta(
    settings: Settings, engine: Engine, make_key, account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's fallback: with the checks of ``domain.storable`` switched off, the database
    itself refuses ``mediaCount`` 2**63 (int32 on Postgres, int64 on SQLite); the run is
    then written message by message and only that delta is refused."""
    monkeypatch.setattr(deltas, "message_refusal", lambda message: None)
    key = await make_key(account_id, "extension")
    good = [_message(5000 + index) for index in range(20)]
    frames = [new_raw_message_frame(m) for m in good[:10]]
    frames.append(new_raw_message_frame(_message(5999, mediaCount=2**63)))
    frames += [new_raw_message_frame(m) for m in good[10:]]
    with served_app(settings, engine) as served:
        url = f"{served.ws_url}/ws/extension/{account_id}?token={key}"
        async with open_socket(url) as socket:
            await socket.until("connection_ack")
            await asyncio.gather(*(socket.connection.send(frame) for frame in frames))
            answers = await _answers(socket, len(frames))
    assert [a["type"] for a in answers] == ["ingest_ack"] * 21, answers
    assert [a["payload"]["accepted"] for a in answers] == [1] * 10 + [0] + [1] * 10
    assert answers[10]["payload"]["rejected_items"] == [
        {"message_id": "5999", "reason": "refused_by_storage"}
    ]
    assert await _stored(account_id) == {str(m["id"]) for m in good}
