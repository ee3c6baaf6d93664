"""The durable enrichment queue (issue 16 item 2): a snapshot's messages are stored before
they are enriched, and nothing may leave them unenriched for good.

- one text whose enrichment fails, or whose enriched value the database refuses, costs
  only its own message: the others of the snapshot get their text, sentiment and topics;
- a snapshot whose enrichment job failed is enriched when it is resent (all duplicates);
- a server killed after a snapshot's commit, before its enrichment was written: after a
  restart, the server's sweeper enriches every message.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest
from piccolo.engine.base import Engine

from ofca.domain.enrichment import Enrichment, TopicMatcher
from ofca.ingest import enrich as enrich_module
from ofca.ingest.snapshot import wait_enriched
from ofca.persistence.tables import MessageRow
from ofca.settings import Settings
from ofca.synthetic import cache_update_frame, generate_account
from tests.ingest.wsclient import open_socket
from tests.support.backends import BACKEND
from tests.support.inprocess import ServedApp, served_app
from tests.support.server import live_server

BAD_TEXT = "this one breaks the enricher"


def _snapshot(count: int) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {
            "id": 100 + n,
            "chat_id": 7,
            "text": f"thanks so much, love it {n}",
            "createdAt": "2026-01-02T10:00:00Z",
            "is_inbound": True,
        }
        for n in range(count)
    ]
    messages.append({**messages[0], "id": 99, "text": BAD_TEXT})
    return {
        "type": "cache_update",
        "payload": {"chats": [{"withUser": {"id": 7, "name": "Fan"}}], "messages": messages},
    }


async def _rows(account_id: str) -> dict[str, dict[str, Any]]:
    rows = (
        await MessageRow.select(
            MessageRow.message_id, MessageRow.text, MessageRow.sentiment, MessageRow.enriched
        )
        .where(MessageRow.account_id == account_id)
        .run()
    )
    return {row["message_id"]: row for row in rows}


async def _send_snapshot(served: ServedApp, account_id: str, key: str, frame: Any) -> Any:
    """The snapshot's ack, once the server's background enrichment of it is over."""
    async with open_socket(f"{served.ws_url}/ws/extension/{account_id}?token={key}") as socket:
        await socket.until("connection_ack")
        await socket.send(frame)
        ack = (await socket.until("ingest_ack", within=60))["payload"]
    await served.run(wait_enriched())
    return ack


async def _settled(account_id: str) -> bool:
    return not await MessageRow.exists().where(
        (MessageRow.account_id == account_id) & (MessageRow.enriched == False)  # noqa: E712
    )


@pytest.mark.parametrize("failure", ["raises", "refused_value"])
async def test_one_bad_enrichment_costs_only_its_own_message(
    settings: Settings,
    engine: Engine,
    make_key,
    account_id: str,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    """``raises``: enriching the text raises. ``refused_value``: its enrichment carries a
    NUL character, which Postgres refuses (the batch's write falls back to row by row)."""
    real = enrich_module.enrich

    def enrich(raw_text: str | None, matcher: TopicMatcher) -> Enrichment:
        if raw_text == BAD_TEXT:
            if failure == "raises":
                raise ValueError("enricher bug")
            return Enrichment(text="bad\x00text", sentiment=0.0, topics=())
        return real(raw_text, matcher)

    monkeypatch.setattr(enrich_module, "enrich", enrich)
    key = await make_key(account_id, "extension")
    with served_app(settings, engine) as served:
        ack = await _send_snapshot(served, account_id, key, _snapshot(30))
        assert ack["accepted"] == 31
    rows = await _rows(account_id)
    others = [row for message_id, row in rows.items() if message_id != "99"]
    assert len(others) == 30
    assert all(row["enriched"] and row["text"] and row["sentiment"] for row in others), others
    bad = rows["99"]
    assert bad["enriched"] is True
    if failure == "raises" or BACKEND == "postgres":
        assert bad["text"] is None


async def test_a_resent_snapshot_enriches_what_is_still_unenriched(
    settings: Settings,
    engine: Engine,
    make_key,
    account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(self: Any) -> Any:
        raise RuntimeError("enrichment job failed")

    key = await make_key(account_id, "extension")
    frame = _snapshot(20)
    with monkeypatch.context() as patched:
        patched.setattr(enrich_module.SpeculativeEnrichment, "results", broken)
        with served_app(settings, engine) as served:
            assert (await _send_snapshot(served, account_id, key, frame))["accepted"] == 21
    rows = await _rows(account_id)
    assert not any(row["enriched"] for row in rows.values())  # the job failed

    with served_app(settings, engine) as served:
        ack = await _send_snapshot(served, account_id, key, frame)
        assert (ack["accepted"], ack["duplicates"]) == (0, 21)
    rows = await _rows(account_id)
    assert all(row["enriched"] and row["text"] for row in rows.values()), rows


async def test_a_crash_after_the_commit_leaves_nothing_unenriched_for_good(
    backend_env: dict[str, str], make_key, account_id: str
) -> None:
    env = {**backend_env, "OFCA_REFRESH_SWEEP_SECONDS": "1"}
    key = await make_key(account_id, "extension")
    account = generate_account(20_000, seed=5)
    with live_server(env) as server:
        url = f"{server.ws_url}/ws/extension/{account_id}?token={key}"
        async with open_socket(url) as socket:
            await socket.until("connection_ack")
            await socket.send(cache_update_frame(account))
            ack = (await socket.until("ingest_ack", within=120))["payload"]
            os.kill(server.process.pid, signal.SIGKILL)  # committed, enrichment under way
            server.process.wait(timeout=10)
    assert ack["accepted"] == len(account.messages)
    unenriched = await MessageRow.count().where(
        (MessageRow.account_id == account_id) & (MessageRow.enriched == False)  # noqa: E712
    )
    assert unenriched > 0, "the kill came after the enrichment: nothing to recover"

    with live_server(env):  # restarted: its sweeper finds what the killed one left
        deadline = asyncio.get_running_loop().time() + 120
        while not await _settled(account_id):
            assert asyncio.get_running_loop().time() < deadline, "still unenriched"
            await asyncio.sleep(0.5)
    texts = await MessageRow.count().where(
        (MessageRow.account_id == account_id) & MessageRow.text.is_not_null()
    )
    assert texts > 0.9 * len(account.messages)
