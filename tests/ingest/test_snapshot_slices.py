"""Snapshot ingest does its work in slices (so it never holds the event loop for long); the
results are the same: a resent snapshot larger than one lookup chunk still tells new, edited
and unchanged messages apart, and the pause of cyclic garbage collection always ends."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ofca import loop
from ofca.ingest import store as ingest_sql
from ofca.persistence.tables import MessageRow
from ofca.synthetic import SyntheticAccount, cache_update_frame, generate_account
from tests.ingest.wsclient import open_socket
from tests.support.server import LiveServer, live_server


def test_gc_pause_holds_nest_and_each_is_released_once() -> None:
    assert gc.isenabled()
    first = loop.GcPause().hold()
    second = loop.GcPause().hold()
    assert not gc.isenabled()
    first.release()
    first.release()  # a second release of the same hold changes nothing
    assert not gc.isenabled()
    second.release()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # young objects were moved, not left frozen


async def test_free_empties_lists_and_dicts_in_slices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loop, "FREE_CHUNK", 3)
    items = list(range(10))
    mapping = {n: str(n) for n in range(10)}
    kept = items
    await loop.free(items)
    await loop.free(mapping)
    assert kept == [] and mapping == {}


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _frame(account: SyntheticAccount, messages: list[dict]) -> bytes:
    return cache_update_frame(SyntheticAccount(chats=account.chats, messages=messages))


async def test_resent_large_snapshot_finds_new_edited_and_unchanged_rows(
    server: LiveServer, make_key, account_id: str
) -> None:
    assert ingest_sql.LOOKUP_CHUNK < 12_000  # the resend spans several lookups
    key = await make_key(account_id, "extension")
    account = generate_account(13_000, seed=17, fans=120)
    first, later = account.messages[:12_000], account.messages[12_000:]
    edited = {12, 5_000, 10_001, 11_999}
    resend = [
        {**m, "text": f"{m.get('text') or ''} (edited)"} if i in edited else m
        for i, m in enumerate(first)
    ] + later
    async with open_socket(f"{server.ws_url}/ws/extension/{account_id}?token={key}") as socket:
        await socket.until("connection_ack")
        await socket.send(_frame(account, first))
        ack = (await socket.until("ingest_ack", within=60))["payload"]
        assert (ack["accepted"], ack["updated"], ack["duplicates"]) == (12_000, 0, 0)
        await socket.send(_frame(account, resend))
        ack = (await socket.until("ingest_ack", within=60))["payload"]
    assert (ack["accepted"], ack["updated"], ack["duplicates"]) == (1_000, 4, 12_000 - 4)
    versions = await MessageRow.select(MessageRow.message_id, MessageRow.version).where(
        (MessageRow.account_id == account_id) & (MessageRow.version > 1)
    )
    assert sorted(row["message_id"] for row in versions) == sorted(
        str(first[i]["id"]) for i in edited
    )
    assert await MessageRow.count().where(MessageRow.account_id == account_id) == 13_000
