"""Dashboards' full sync under load: N dashboards connecting at once, and a resync of all.

Starts ofca (uvicorn on uvloop, on a throwaway Postgres database, Redis channels) with the
event-loop stall watchdog of ``bench/loop_stalls.py``, stores a synthetic account through
the extension socket (default 100k messages in 2000 chats, so a full sync carries the 500
highest-priority conversations with 50 messages each) and waits for its insights. Then, per
run:

- **connect**: N dashboards open their sockets at once; the time until each has its
  ``full_sync_response`` (every dashboard builds its own, by design);
- **resync**: the extension sends a one-message ``cache_update``; the time until every
  dashboard has the full sync that follows the ack (the account's dashboards share it);

and, for each, the longest event-loop stalls in that period and where they were. Dashboards
negotiate permessage-deflate as browsers do (``--no-compression`` to compare).

    .venv/bin/python bench/full_sync.py --dashboards 50 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import REDIS_URL, Server, make_account_keys, throwaway_database
from bench.loop_stalls import Stall, describe, read_stalls, stall_server
from ofca.synthetic import cache_update_frame, generate_account

_FULL_SYNC = b'"full_sync_response"'


class Dashboard:
    """One dashboard socket that notes when each full sync arrives (no JSON parsing: the
    bench shares the machine with the server)."""

    def __init__(self, socket: websockets.ClientConnection) -> None:
        self.socket = socket
        self.syncs: list[tuple[float, int]] = []
        """(arrival, perf_counter; frame size in bytes) of each full sync."""
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for frame in self.socket:
                data = frame.encode() if isinstance(frame, str) else frame
                if _FULL_SYNC in data[:80]:
                    self.syncs.append((time.perf_counter(), len(data)))
                    self.changed.set()
        except websockets.ConnectionClosed:
            pass

    async def sync_after(self, count: int) -> float:
        """Arrival time of this dashboard's full sync number ``count + 1``."""
        while len(self.syncs) <= count:
            self.changed.clear()
            await self.changed.wait()
        return self.syncs[count][0]

    async def close(self) -> None:
        await self.socket.close()
        await self.reader


async def _connect(url: str, compression: Literal["deflate"] | None) -> Dashboard:
    socket = await websockets.connect(url, max_size=None, compression=compression, open_timeout=60)
    return Dashboard(socket)


def _one_message_snapshot(chat: dict[str, Any], message_id: int) -> bytes:
    fan = chat["withUser"]["id"]
    message = {
        "id": message_id,
        "chat_id": fan,
        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fromUser": {"id": fan},
        "text": "are you there?",
    }
    return json.dumps(
        {"type": "cache_update", "payload": {"chats": [chat], "messages": [message]}}
    ).encode()


async def _until(socket: websockets.ClientConnection, match: Callable[[dict], bool]) -> dict:
    while True:
        frame = json.loads(await socket.recv())
        if frame["type"] == "system_error":
            raise RuntimeError(f"server error: {frame['payload']}")
        if match(frame):
            return frame


def _stalls(log: str, since: float) -> list[Stall]:
    return read_stalls(log, since, time.time())


async def bench(server: Server, database_url: str, args: argparse.Namespace, log: str) -> None:
    account_id = f"bench-sync-{int(time.time())}"
    ext_key, dash_key = await make_account_keys(
        database_url, account_id, ["extension", "dashboard"]
    )
    account = generate_account(args.messages, seed=args.seed)
    base = f"{server.ws_url}/ws"
    dash_url = f"{base}/frontend/{account_id}?token={dash_key}"
    compression: Literal["deflate"] | None = None if args.no_compression else "deflate"
    async with websockets.connect(
        f"{base}/extension/{account_id}?token={ext_key}", max_size=None
    ) as extension:
        await _until(extension, lambda f: f["type"] == "connection_ack")
        async with websockets.connect(dash_url, max_size=None) as watcher:
            await extension.send(cache_update_frame(account))
            await _until(extension, lambda f: f["type"] == "ingest_ack")
            await _until(watcher, lambda f: f["type"] == "analytics_update")
        print(
            f"stored {args.messages} messages in {len(account.chats)} chats; load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
        await asyncio.sleep(2)
        results: list[dict[str, float]] = []
        for run in range(args.runs):
            began_wall, began = time.time(), time.perf_counter()
            dashboards = await asyncio.gather(
                *(_connect(dash_url, compression) for _ in range(args.dashboards))
            )
            arrivals = [await d.sync_after(0) - began for d in dashboards]
            await asyncio.sleep(0.3)
            connect_stalls = _stalls(log, began_wall)
            size = dashboards[0].syncs[0][1]

            began_wall, began = time.time(), time.perf_counter()
            await extension.send(_one_message_snapshot(account.chats[run], 9_000_000_000 + run))
            await _until(extension, lambda f: f["type"] == "ingest_ack")
            resync = [await d.sync_after(1) - began for d in dashboards]
            await asyncio.sleep(0.3)
            resync_stalls = _stalls(log, began_wall)
            # The account's insights and a second resync follow; let them pass.
            for dashboard in dashboards:
                await dashboard.sync_after(2)
            await asyncio.gather(*(d.close() for d in dashboards))
            result = {
                "connect_first": min(arrivals),
                "connect_median": statistics.median(arrivals),
                "connect_all": max(arrivals),
                "connect_stall": max((s.ms for s in connect_stalls), default=0.0),
                "resync_all": max(resync),
                "resync_stall": max((s.ms for s in resync_stalls), default=0.0),
            }
            results.append(result)
            print(
                f"run {run + 1}: {args.dashboards} dashboards connect: first full sync "
                f"{result['connect_first']:.2f} s, median {result['connect_median']:.2f} s, all "
                f"{result['connect_all']:.2f} s ({size / 1e6:.1f} MB each); resync of all "
                f"{result['resync_all']:.2f} s; server peak RSS {server.peak_rss_mib() or 0:.0f} "
                f"MiB; load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            print(f"  connect: {describe(connect_stalls)}", flush=True)
            print(f"  resync: {describe(resync_stalls)}", flush=True)
            await asyncio.sleep(2)
    if args.runs > 1:
        keys = results[0].keys()
        medians = {key: statistics.median(r[key] for r in results) for key in keys}
        print(
            f"median of {args.runs}: connect first {medians['connect_first']:.2f} s, median "
            f"{medians['connect_median']:.2f} s, all {medians['connect_all']:.2f} s, longest "
            f"stall {medians['connect_stall']:.0f} ms; resync all {medians['resync_all']:.2f} s, "
            f"longest stall {medians['resync_stall']:.0f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-compression", action="store_true", help="dashboards without deflate")
    parser.add_argument("--stall-ms", type=float, default=20.0, help="log stalls over this")
    parser.add_argument("--stall-log", default=None, help="keep the stall log (JSON lines) here")
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    args = parser.parse_args()
    with throwaway_database() as database_url, tempfile.TemporaryDirectory() as folder:
        log = args.stall_log or f"{folder}/stalls.jsonl"
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"ofcabench{int(time.time())}",
            "OFCA_REST_RATE_LIMIT_PER_MINUTE": "1000000",
            "OFCA_IP_RATE_LIMIT_PER_MINUTE": "1000000",
        }
        with stall_server(env, log, threshold_ms=args.stall_ms, quiet=not args.verbose) as server:
            asyncio.run(bench(server, database_url, args, log))


if __name__ == "__main__":
    main()
