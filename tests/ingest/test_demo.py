"""``ofca demo`` ingests a synthetic account through the ingest service: stored, enriched,
insight rows refreshed, and it prints working keys."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from ofca.persistence.keys import resolve_api_key
from ofca.persistence.tables import ChatRow, MessageRow, SessionRow
from ofca.synthetic import generate_account


async def test_ofca_demo_loads_an_enriched_account(backend_env, engine, account_id) -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ofca.cli", "demo", "--account", account_id, "--messages", "600"],
        env={**os.environ, **backend_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"demo account {account_id}" in result.stdout
    keys = re.findall(r"(ofca_[A-Za-z0-9_-]{20,})", result.stdout)
    assert len(keys) == 2
    roles = []
    for key in keys:
        info = await resolve_api_key(key)
        assert info is not None and info.account_id == account_id
        roles.append(info.role)
    assert roles == ["dashboard", "owner"]

    assert await MessageRow.count().where(MessageRow.account_id == account_id) == 600
    assert not await MessageRow.exists().where(
        (MessageRow.account_id == account_id) & (MessageRow.enriched == False)  # noqa: E712
    )
    assert await ChatRow.count().where(ChatRow.account_id == account_id) == 12
    assert await SessionRow.count().where(SessionRow.account_id == account_id) > 12


def test_synthetic_account_is_seeded_and_realistic() -> None:
    first = generate_account(2000, seed=9, edits=5, duplicates=5)
    again = generate_account(2000, seed=9, edits=5, duplicates=5, now=None)
    assert len(first.messages) == 2000
    assert [m["id"] for m in first.messages] == [m["id"] for m in again.messages]
    assert [m.get("text") for m in first.messages] == [m.get("text") for m in again.messages]
    assert len({m["chat_id"] for m in first.messages}) == len(first.chats) == 40
    inbound = [m for m in first.messages if m["fromUser"]["id"] == m["chat_id"]]
    assert 0.3 < len(inbound) / 2000 < 0.8
    assert any(m.get("isTip") and m.get("price") for m in first.messages)
    assert any(m.get("isFree") is False and m.get("price") for m in first.messages)
    assert any("<p>" in (m.get("text") or "") for m in first.messages)
    assert len(first.edits) == 5 and len(first.duplicates) == 5
    assert all(e["text"].endswith("(edited)") for e in first.edits)


def test_synthetic_account_reads_like_an_inbox_with_recent_activity() -> None:
    """Names and lines a person would believe, new fans in the last 30 days, recent chats."""
    now = datetime.now(UTC)
    account = generate_account(5000, seed=7, now=now)
    names = [chat["withUser"]["name"] for chat in account.chats]
    assert len(set(names)) > len(names) * 0.6  # varied, not ten "Alex B."
    assert not any(re.search(r"says hi \d+", m.get("text") or "") for m in account.messages)
    first_at: dict[int, datetime] = {}
    last_at: dict[int, datetime] = {}
    for message in account.messages:
        at = datetime.fromisoformat(message["createdAt"].replace("Z", "+00:00"))
        first_at[message["chat_id"]] = min(at, first_at.get(message["chat_id"], at))
        last_at[message["chat_id"]] = max(at, last_at.get(message["chat_id"], at))
    new_fans = [at for at in first_at.values() if at >= now - timedelta(days=30)]
    assert len(new_fans) >= 10
    assert sum(1 for at in last_at.values() if at >= now - timedelta(days=2)) >= 5
    # The creator answers what the fan asked about (a pricing question gets a price).
    assert any("$50" in (m.get("text") or "") for m in account.messages)
