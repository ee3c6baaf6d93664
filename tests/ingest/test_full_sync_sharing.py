"""Full syncs are shared: dashboards asking while a build runs share the next build, and a
dashboard never gets a build that started before it asked (it would miss a change committed
just before it subscribed, which is not sent to it live either)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ofca.conversations import full_sync as conversations
from ofca.conversations.full_sync import FullSyncs
from ofca.domain.wss import FullSyncPayload, FullSyncResponse
from ofca.synthetic import cache_update_frame, generate_account, new_raw_message_frame
from tests.ingest.wsclient import Socket, open_socket
from tests.support.server import LiveServer, live_server


class _FakeBuilds:
    """Stands in for ``conversations._build``: each build reports the store's version when
    it started, and waits until the test lets it finish."""

    def __init__(self) -> None:
        self.version = 0
        self.started: list[int] = []
        self.release = asyncio.Event()
        self.fail_next = False

    async def __call__(self, account_id: str, analytics: Any, *_: Any) -> FullSyncResponse:
        version = self.version
        self.started.append(version)
        fail, self.fail_next = self.fail_next, False
        await self.release.wait()
        if fail:
            raise RuntimeError("storage gone")
        return FullSyncResponse(
            payload=FullSyncPayload(conversations=[], analytics=None, excluded_messages=version)
        )


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FakeBuilds]:
    fake = _FakeBuilds()
    monkeypatch.setattr(conversations, "_build", fake)
    yield fake
    fake.release.set()


async def _started(builds: _FakeBuilds, count: int) -> None:
    for _ in range(100):
        if len(builds.started) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} builds did not start: {builds.started}")


async def _no_analytics(account_id: str) -> None:
    return None


async def test_callers_during_a_build_share_the_next_one_which_sees_their_change(
    builds: _FakeBuilds,
) -> None:
    syncs = FullSyncs(_no_analytics)
    first = asyncio.create_task(syncs.full_sync("acct-share"))
    await _started(builds, 1)
    builds.version = 1  # a change committed while the first build runs...
    # ...then dashboards subscribe and ask: they must not get the running build.
    later = [asyncio.create_task(syncs.full_sync("acct-share")) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert builds.started == [0]  # one build at a time
    builds.release.set()
    assert (await first).payload.excluded_messages == 0
    results = await asyncio.gather(*later)
    assert [r.payload.excluded_messages for r in results] == [1, 1, 1]
    assert builds.started == [0, 1]  # one more build for all three
    assert results[0] is results[1] is results[2]


async def test_a_cancelled_caller_and_a_failed_build_leave_the_others_served(
    builds: _FakeBuilds,
) -> None:
    syncs = FullSyncs(_no_analytics)
    builds.fail_next = True
    failing = asyncio.create_task(syncs.full_sync("acct-fail"))
    await _started(builds, 1)
    gone = asyncio.create_task(syncs.full_sync("acct-fail"))
    waiting = asyncio.create_task(syncs.full_sync("acct-fail"))
    await asyncio.sleep(0.01)
    gone.cancel()
    builds.release.set()
    with pytest.raises(RuntimeError, match="storage gone"):
        await failing
    assert (await waiting).payload.excluded_messages == 0
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    assert builds.started == [0, 0]
    assert syncs._builds == {}  # nothing left behind


# --------------------------------------------------------------------------- live server


@pytest.fixture(scope="module")
def server(backend_env: dict[str, str]) -> Iterator[LiveServer]:
    with live_server(backend_env) as running:
        yield running


def _url(server: LiveServer, kind: str, account_id: str, key: str) -> str:
    return f"{server.ws_url}/ws/{kind}/{account_id}?token={key}"


def _delta(message_id: int, chat_id: int) -> bytes:
    return new_raw_message_frame(
        {
            "id": message_id,
            "chat_id": chat_id,
            "text": f"message {message_id}",
            "createdAt": "2030-01-01T12:00:00Z",
            "is_inbound": True,
        }
    )


def _message_ids(sync: dict[str, Any]) -> set[str]:
    return {m["id"] for node in sync["payload"]["conversations"] for m in node["messages"]}


async def test_each_dashboard_sync_holds_every_change_committed_before_it_connected(
    server: LiveServer, make_key: Any, account_id: str
) -> None:
    ext_key = await make_key(account_id, "extension")
    dash_key = await make_key(account_id, "dashboard")
    account = generate_account(300, seed=5, fans=6)
    chat_id = int(account.chats[0]["withUser"]["id"])
    dash_url = _url(server, "frontend", account_id, dash_key)
    async with open_socket(_url(server, "extension", account_id, ext_key)) as extension:
        await extension.until("connection_ack")
        await extension.send(cache_update_frame(account))
        await extension.until("ingest_ack", within=60)
        async with contextlib.AsyncExitStack() as stack:
            # Dashboards connect one after another while earlier ones' builds run; before
            # each connects, a delta is stored (acked). Its sync must hold every delta so far.
            dashboards: list[Socket] = []
            for index in range(8):
                await extension.send(_delta(9_300_000 + index, chat_id))
                await extension.until("ingest_ack")
                dashboards.append(await stack.enter_async_context(open_socket(dash_url)))
            for index, dashboard in enumerate(dashboards):
                await dashboard.until("connection_ack")
                sync = await dashboard.until("full_sync_response", within=60)
                expected = {str(9_300_000 + i) for i in range(index + 1)}
                assert expected <= _message_ids(sync), index
            # And a crowd connecting at once all get the full picture.
            crowd = [await stack.enter_async_context(open_socket(dash_url)) for _ in range(12)]
            syncs = await asyncio.gather(
                *(socket.until("full_sync_response", within=60) for socket in crowd)
            )
            views = {json.dumps(sorted(_message_ids(sync))) for sync in syncs}
            assert len(views) == 1  # one view of the data for all
            assert {str(9_300_000 + i) for i in range(8)} <= _message_ids(syncs[0])
