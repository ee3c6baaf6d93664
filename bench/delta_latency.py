"""Extension-to-dashboard latency of deltas, with many dashboards connected.

Starts ofca on a throwaway Postgres database with Redis channels (or uses ``--url`` with
``--database-url``), loads a small synthetic inbox, connects ``--dashboards`` dashboards
(default 50) and one extension, then sends ``new_raw_message`` deltas at ``--rate`` per
second (default 200) for ``--seconds``. Latency is from just before the extension sends a
delta to the moment a dashboard has received its ``append_message``; every dashboard's
reception counts. Prints p50/p99/max, deliveries and deltas acknowledged.

Dashboards only look for the message id in each frame (no full JSON parse), so the client,
which shares the machine with the server, stays cheap.

    .venv/bin/python bench/delta_latency.py --dashboards 50 --rate 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import (
    REDIS_URL,
    Server,
    make_account_keys,
    ofca_server,
    throwaway_database,
)
from ofca.synthetic import cache_update_frame, generate_account

_MESSAGE_ID = re.compile(rb'"message":\{"id":"(\d+)"')
_FIRST_ID = 9_100_000_000


async def _wait_type(connection: websockets.ClientConnection, frame_type: str) -> dict:
    while True:
        frame = json.loads(await connection.recv())
        if frame["type"] == frame_type:
            return frame


async def _dashboard(
    connection: websockets.ClientConnection, sent: dict[int, float], latencies: list[float]
) -> None:
    try:
        async for raw in connection:
            data = raw if isinstance(raw, bytes) else raw.encode()
            if not data.startswith(b'{"type":"append_message"'):
                continue
            now = time.perf_counter()
            match = _MESSAGE_ID.search(data)
            if match is not None:
                began = sent.get(int(match.group(1)))
                if began is not None:
                    latencies.append(now - began)
    except websockets.ConnectionClosed:
        return


async def bench(server: Server, database_url: str, args: argparse.Namespace) -> None:
    account_id = f"latency-{int(time.time())}"
    ext_key, dash_key = await make_account_keys(
        database_url, account_id, ["extension", "dashboard"]
    )
    base = f"{server.ws_url}/ws"
    account = generate_account(args.preload, seed=3, fans=max(1, args.preload // 50))
    chat_ids = [chat["withUser"]["id"] for chat in account.chats]
    async with websockets.connect(
        f"{base}/extension/{account_id}?token={ext_key}", max_size=None
    ) as extension:
        await _wait_type(extension, "connection_ack")
        await extension.send(cache_update_frame(account))
        await _wait_type(extension, "ingest_ack")
        await asyncio.sleep(args.settle)  # let the snapshot's enrichment finish first

        dashboards = []
        for _ in range(args.dashboards):
            connection = await websockets.connect(
                f"{base}/frontend/{account_id}?token={dash_key}", max_size=None
            )
            await _wait_type(connection, "full_sync_response")
            dashboards.append(connection)
        sent: dict[int, float] = {}
        latencies: list[float] = []
        readers = [asyncio.create_task(_dashboard(c, sent, latencies)) for c in dashboards]

        acks = 0

        async def read_acks() -> None:
            nonlocal acks
            async for raw in extension:
                if '"ingest_ack"' in (raw if isinstance(raw, str) else raw.decode()):
                    acks += 1

        ack_reader = asyncio.create_task(read_acks())
        cpu_before = server.cpu_seconds() or 0.0
        total = int(args.rate * args.seconds)
        interval = 1.0 / args.rate
        start = time.perf_counter()
        for index in range(total):
            target = start + index * interval
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            message_id = _FIRST_ID + index
            frame = {
                "type": "new_raw_message",
                "payload": {
                    "message": {
                        "id": message_id,
                        "chat_id": chat_ids[index % len(chat_ids)],
                        "text": f"delta {index}: are you online tonight? 😘",
                        "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "is_inbound": index % 3 != 0,
                    }
                },
            }
            sent[message_id] = time.perf_counter()
            await extension.send(json.dumps(frame))
        sending = time.perf_counter() - start
        await asyncio.sleep(args.drain)
        cpu = (server.cpu_seconds() or 0.0) - cpu_before
        for connection in dashboards:
            await connection.close()
        for task in (*readers, ack_reader):
            task.cancel()
    expected = total * args.dashboards
    ordered = sorted(latencies)
    if not ordered:
        print("no deliveries measured")
        return
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"{args.dashboards} dashboards, {total} deltas at {total / sending:.0f}/s over "
        f"{sending:.1f} s: {acks} acked, {len(ordered)}/{expected} deliveries; latency p50 "
        f"{p50:.1f} ms, p99 {p99:.1f} ms, max {ordered[-1] * 1000:.1f} ms; server CPU "
        f"{cpu:.1f} s, peak RSS {server.peak_rss_mib() or 0:.0f} MiB, load average "
        f"{os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0, help="deltas per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--preload", type=int, default=2000, help="messages loaded first")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after the preload")
    parser.add_argument("--drain", type=float, default=3.0, help="seconds to wait at the end")
    parser.add_argument("--url", default=None, help="a running ofca (http://host:port)")
    parser.add_argument("--database-url", default=None, help="its database (with --url)")
    args = parser.parse_args()
    if args.url:
        if not args.database_url:
            parser.error("--url needs --database-url (to create the bench account's keys)")
        ws_url = args.url.replace("http://", "ws://").replace("https://", "wss://")
        asyncio.run(bench(Server(args.url, ws_url, {}), args.database_url, args))
        return
    with throwaway_database() as database_url:
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"ofcabench{int(time.time())}",
        }
        with ofca_server(env) as server:
            asyncio.run(bench(server, database_url, args))


if __name__ == "__main__":
    main()
