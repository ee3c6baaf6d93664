"""``ofca push`` and the reference client against a real server: snapshot files, account
and messages exports land whole and once, refusals are resent exactly, bad input and bad
keys fail clearly."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from ofca.client import AuthenticationFailed, ExtensionClient
from ofca.client.push import PushOptions, push_file
from ofca.persistence.tables import ChatRow, MessageRow
from ofca.synthetic import cache_update_frame, generate_account
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


async def _stored(account_id: str) -> dict[str, tuple[str, str | None]]:
    rows = (
        await MessageRow.select(MessageRow.message_id, MessageRow.chat_id, MessageRow.raw)
        .where(MessageRow.account_id == account_id)
        .run()
    )
    return {row["message_id"]: (row["chat_id"], row["raw"]) for row in rows}


async def _get(url: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as http:
        return await http.get(url, headers={"Authorization": f"Bearer {key}"})


def _cli(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ofca.cli", "push", *args, "--url", server.http_url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OFCA_LOG_LEVEL": "WARNING"},
    )


async def test_push_snapshot_file_in_chunks(server, make_key, account_id, tmp_path) -> None:
    key = await make_key(account_id, "extension")
    account = generate_account(1200, seed=21, fans=12)
    path = tmp_path / "snapshot.json"
    path.write_bytes(cache_update_frame(account))

    result = _cli(
        server, str(path), "--key", key, "--account", account_id, "--chunk-bytes", "65536"
    )

    assert result.returncode == 0, result.stderr
    assert "100.0%" in result.stderr and "frames" in result.stderr
    stored = await _stored(account_id)
    assert set(stored) == {str(m["id"]) for m in account.messages}
    again = _cli(
        server,
        str(path),
        "--key",
        key,
        "--account",
        account_id,
        "--chunk-bytes",
        "65536",
        "--no-progress",
    )
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 updated" in again.stderr
    assert await _stored(account_id) == stored


async def test_account_export_pushed_to_another_account(
    server, make_key, account_id, tmp_path
) -> None:
    source_key = await make_key(account_id, "owner")
    target = f"{account_id}-copy"
    target_key = await make_key(target, "extension")
    account = generate_account(600, seed=22, fans=7)
    async with ExtensionClient(server.http_url, source_key, account_id) as client:
        await client.send_whole_snapshot(account.chats, account.messages)
        await client.drain()
    export = await _get(f"{server.http_url}/api/v1/accounts/{account_id}/export", source_key)
    assert export.status_code == 200
    path = tmp_path / "account.ndjson"
    path.write_bytes(export.content)
    err = io.StringIO()

    status = await push_file(
        PushOptions(path, server.http_url, target_key, account=target, progress=False), err
    )

    assert status == 0, err.getvalue()
    assert await _stored(target) == await _stored(account_id)  # the raw JSON byte for byte


async def test_messages_export_pushed_as_deltas(server, make_key, account_id, tmp_path) -> None:
    owner = await make_key(account_id, "owner")
    target = f"{account_id}-deltas"
    target_key = await make_key(target, "owner")
    account = generate_account(120, seed=23, fans=4)
    async with ExtensionClient(server.http_url, owner, account_id) as client:
        await client.send_whole_snapshot(account.chats, account.messages)
        await client.drain()
    export = await _get(f"{server.http_url}/api/v1/export/messages", owner)
    path = tmp_path / "messages.ndjson"
    path.write_bytes(export.content)
    # The key reaches one account only: push finds it without --account.
    result = _cli(server, str(path), "--key", target_key, "--no-progress")

    assert result.returncode == 0, result.stderr
    assert "(deltas)" in result.stderr
    source, copied = await _stored(account_id), await _stored(target)
    assert {mid: chat for mid, (chat, _) in copied.items()} == {
        mid: chat for mid, (chat, _) in source.items()
    }


async def test_snapshot_file_as_deltas_sends_its_chats_first(
    server, make_key, account_id, tmp_path
) -> None:
    key = await make_key(account_id, "extension")
    account = generate_account(40, seed=25, fans=3)
    path = tmp_path / "snapshot.json"
    path.write_bytes(cache_update_frame(account))

    result = _cli(server, str(path), "--key", key, "--account", account_id, "--as", "deltas")

    assert result.returncode == 0, result.stderr
    assert "(deltas)" in result.stderr
    names = await ChatRow.select(ChatRow.chat_id, ChatRow.fan_name).where(
        ChatRow.account_id == account_id
    )
    assert {row["chat_id"]: row["fan_name"] for row in names} == {
        str(chat["withUser"]["id"]): chat["withUser"]["name"] for chat in account.chats
    }
    assert set(await _stored(account_id)) == {str(m["id"]) for m in account.messages}


async def test_bad_file_and_bad_key(server, make_key, account_id, tmp_path) -> None:
    key = await make_key(account_id, "extension")
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"message_id": "1", "chat_id": "c"}\n{oops\n')
    result = _cli(server, str(bad), "--key", key, "--account", account_id)
    assert result.returncode == 2
    assert "line 2: not a JSON object" in result.stderr

    good = tmp_path / "good.json"
    good.write_bytes(cache_update_frame(generate_account(10, seed=1, fans=1)))
    result = _cli(server, str(good), "--key", "ofca_not-a-key", "--account", account_id)
    assert result.returncode == 3
    assert "missing or invalid credentials" in result.stderr
    assert "ofca_not-a-key" not in result.stderr
    with pytest.raises(AuthenticationFailed):
        async with ExtensionClient(server.http_url, key, f"{account_id}-other"):
            pass


@pytest.mark.slow
async def test_refused_frames_are_resent_exactly(backend_env, make_key, account_id) -> None:
    """Over the frame limit, the server refuses; the client sends each refused frame again
    (and nothing else twice), and every message is stored exactly once."""
    key = await make_key(account_id, "extension")
    account = generate_account(400, seed=24, fans=6)
    env = {**backend_env, "OFCA_WS_FRAMES_PER_MINUTE": "300"}
    with live_server(env) as limited:
        async with ExtensionClient(limited.http_url, key, account_id, stream="burst") as client:
            for message in account.messages:
                await client.send_delta(message)
            await client.drain()
    stats = client.stats
    assert stats.refusals["rate_limited"] > 0
    assert stats.transmissions == (
        stats.frames + sum(stats.refusals.values()) + stats.caused_refusals
    )
    assert stats.failures == []
    assert stats.accepted + stats.updated + stats.duplicates == len(account.messages)
    stored = await _stored(account_id)
    assert set(stored) == {str(m["id"]) for m in account.messages}
    rows = await MessageRow.count().where(MessageRow.account_id == account_id)
    assert rows == len({m["id"] for m in account.messages})
    assert (
        json.loads(stored[str(account.messages[0]["id"])][1] or "{}")["id"]
        == (account.messages[0]["id"])
    )
