"""Version order on a real server (issue 16 item 6): a message version never replaces a
newer one. ``changedAt`` decides: a version whose ``changedAt`` is older than (or equal
to) the stored one's, or missing while the stored one has it, is answered as a
duplicate and changes nothing; a newer one is an edit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ofca.persistence.tables import MessageRow
from ofca.synthetic import new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.support.server import LiveServer, live_server

T0 = "2026-01-02T10:00:00Z"
T1 = "2026-01-02T10:05:00Z"
T2 = "2026-01-02T10:09:00Z"


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _version(text: str, changed_at: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": 42,
        "chat_id": 7,
        "text": text,
        "createdAt": T0,
        "is_inbound": True,
    }
    if changed_at is not None:
        message["changedAt"] = changed_at
    return message


async def _ack(socket: Socket, message: dict[str, Any]) -> dict[str, Any]:
    await socket.send(new_raw_message_frame(message))
    return (await socket.until("ingest_ack"))["payload"]


async def _row(account_id: str) -> dict[str, Any]:
    [row] = (
        await MessageRow.select(MessageRow.raw, MessageRow.version)
        .where(MessageRow.account_id == account_id)
        .run()
    )
    return row


def _kind(ack: dict[str, Any]) -> str:
    return next(k for k in ("accepted", "updated", "duplicates", "rejected") if ack[k])


@pytest.mark.parametrize(
    ("first_changed", "late_changed"),
    [(None, None), (T0, T0), (T0, None), (None, T0)],
    ids=["v1-without-changedAt", "v1-with-changedAt", "late-copy-without", "late-older"],
)
async def test_a_late_resend_never_reverts_an_edit(
    server: LiveServer, make_key, account_id: str, first_changed, late_changed
) -> None:
    key = await make_key(account_id, "extension")
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
    async with open_socket(url) as socket:
        await socket.until("connection_ack")
        assert _kind(await _ack(socket, _version("v1", first_changed))) == "accepted"
        assert _kind(await _ack(socket, _version("v2", T1))) == "updated"
        late = "v1" if late_changed == first_changed else "v1 late"
        assert _kind(await _ack(socket, _version(late, late_changed))) == "duplicates"
        row = await _row(account_id)
        assert '"v2"' in row["raw"] and row["version"] == 2
        # A newer version is still an edit.
        assert _kind(await _ack(socket, _version("v3", T2))) == "updated"
        # The same changedAt with other content keeps what is stored.
        assert _kind(await _ack(socket, _version("v3 again", T2))) == "duplicates"
    row = await _row(account_id)
    assert '"v3"' in row["raw"] and row["version"] == 3


@pytest.mark.parametrize("others", [0, 1200], ids=["small", "staged"])
async def test_a_snapshot_never_reverts_an_edit(
    server: LiveServer, make_key, account_id: str, others: int
) -> None:
    """``others``: more messages in the snapshot; over 1,000 Postgres stages the frame and
    tells edits from duplicates by a lookup first (``ingest.store``)."""
    key = await make_key(account_id, "extension")
    url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
    chats = [{"withUser": {"id": 7, "name": "Fan"}}]
    async with open_socket(url) as socket:
        await socket.until("connection_ack")
        assert _kind(await _ack(socket, _version("v1", T0))) == "accepted"
        assert _kind(await _ack(socket, _version("v2", T1))) == "updated"
        messages = [_version("v1", T0)]
        messages += [{**_version(f"other {n}", T0), "id": 100_000 + n} for n in range(others)]
        await socket.send(
            {"type": "cache_update", "payload": {"chats": chats, "messages": messages}}
        )
        ack = (await socket.until("ingest_ack"))["payload"]
    assert (ack["accepted"], ack["updated"], ack["duplicates"]) == (others, 0, 1)
    [row] = (
        await MessageRow.select(MessageRow.raw, MessageRow.version)
        .where((MessageRow.account_id == account_id) & (MessageRow.message_id == "42"))
        .run()
    )
    assert '"v2"' in row["raw"] and row["version"] == 2
