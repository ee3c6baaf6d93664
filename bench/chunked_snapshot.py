"""A snapshot in chunks vs in one frame, over the real socket with the reference client.

Generates a synthetic account (``ofca.synthetic``, default 100k messages / ~18 MB) and
sends it to ofca (Postgres + Redis, a throwaway database) with ``ofca.client`` on a
stream (protocol v2), either as one ``cache_update`` frame or as a chunked snapshot of
``--chunk-bytes`` chunks (default 1 MiB). Each measurement gets a fresh server process
(its peak RSS is that measurement's) running under ``bench/loop_stalls.py``'s watchdog,
and a fresh account (every message is new). Reported per measurement: time from the
first frame sent to the last ``ingest_ack`` (all committed), the server's peak RSS at
that moment and once enrichment and insights are done, and the longest event-loop stall
from the first frame to the last ack, and from there to the ``analytics_update`` (the
enrichment and insights work, the same for both). The two modes alternate, the order
swapped every run; ``--runs N`` prints the medians.

    .venv/bin/python bench/chunked_snapshot.py --messages 100000 --runs 3
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
from pathlib import Path

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import REDIS_URL, Server, make_account_keys, throwaway_database
from bench.loop_stalls import describe, read_stalls, stall_server
from ofca.client import ExtensionClient
from ofca.client.frames import encode_item
from ofca.synthetic import generate_account

MODES = ("single", "chunked")


async def _until(connection: websockets.ClientConnection, frame_type: str, **match: object) -> dict:
    while True:
        frame = json.loads(await connection.recv())
        if frame["type"] == frame_type and all(
            frame["payload"].get(k) == v for k, v in match.items()
        ):
            return frame


async def one_run(
    server: Server,
    database_url: str,
    items: tuple[list[bytes], list[bytes]],
    mode: str,
    chunk_bytes: int,
    stall_log: str,
) -> dict[str, float]:
    account_id = f"bench-{mode}-{time.time_ns()}"
    ext_key, dash_key = await make_account_keys(
        database_url, account_id, ["extension", "dashboard"]
    )
    chats, messages = items
    dash_url = f"{server.ws_url}/ws/frontend/{account_id}?token={dash_key}"
    async with (
        websockets.connect(dash_url, max_size=None) as dash,
        ExtensionClient(server.http_url, ext_key, account_id, stream="bench") as client,
    ):
        await _until(dash, "full_sync_response")
        plan = client.plan_snapshot(chats, messages, chunk_bytes=chunk_bytes)
        frames = 1 if mode == "single" else len(plan.chunks)
        began = time.perf_counter()
        began_wall = time.time()
        if mode == "single":
            await client.send_whole_snapshot(chats, messages)
        else:
            await client.send_snapshot(plan)
        await client.drain()
        acked = time.perf_counter() - began
        acked_wall = time.time()
        rss_ack = server.peak_rss_mib() or 0.0
        last = client.last_ack
        assert last is not None and last.accepted == len(messages), last
        assert client.stats.failures == [] and client.stats.resends == 0, client.stats
        await _until(dash, "enrichment_result", done=True)
        await _until(dash, "analytics_update")
        done = time.perf_counter() - began
    await asyncio.sleep(0.5)  # the watchdog writes a stall once the loop ticks again
    to_ack = read_stalls(stall_log, began_wall, acked_wall)
    after = read_stalls(stall_log, acked_wall, time.time())
    print(f"  {mode} to last ack: {describe(to_ack)}", flush=True)
    print(f"  {mode} last ack to insights: {describe(after)}", flush=True)
    return {
        "frames": frames,
        "ack_s": acked,
        "insights_s": done,
        "rss_ack_mib": rss_ack,
        "rss_mib": server.peak_rss_mib() or 0.0,
        "stall_ms": max((s.ms for s in to_ack), default=0.0),
        "stall_after_ms": max((s.ms for s in after), default=0.0),
    }


def _measure(
    env: dict[str, str],
    database_url: str,
    items: tuple[list[bytes], list[bytes]],
    mode: str,
    chunk_bytes: int,
    verbose: bool,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        log = f"{folder}/stalls.jsonl"
        with stall_server(env, log, quiet=not verbose) as server:
            return asyncio.run(one_run(server, database_url, items, mode, chunk_bytes, log))


def _line(mode: str, result: dict[str, float]) -> str:
    return (
        f"{mode:>7}: {result['frames']:.0f} frames, last ack {result['ack_s']:.2f} s, "
        f"insights {result['insights_s']:.1f} s, peak RSS {result['rss_ack_mib']:.0f} MiB at "
        f"the ack / {result['rss_mib']:.0f} MiB, longest stall {result['stall_ms']:.0f} ms "
        f"to the ack / {result['stall_after_ms']:.0f} ms after, load average "
        f"{os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--chunk-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    args = parser.parse_args()

    account = generate_account(args.messages, seed=args.seed)
    items = (
        [encode_item(chat) for chat in account.chats],
        [encode_item(message) for message in account.messages],
    )
    size = sum(map(len, items[0])) + sum(map(len, items[1]))
    print(
        f"snapshot: {len(items[1])} messages, {len(items[0])} chats, {size / 1e6:.1f} MB of "
        f"items; chunks of {args.chunk_bytes} bytes",
        flush=True,
    )
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    with throwaway_database() as database_url:
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"ofcabench{int(time.time())}",
        }
        for run in range(args.runs):
            print(f"run {run + 1}", flush=True)
            for mode in MODES if run % 2 == 0 else MODES[::-1]:
                result = _measure(env, database_url, items, mode, args.chunk_bytes, args.verbose)
                results[mode].append(result)
                print(_line(mode, result), flush=True)
    if args.runs > 1:
        print(f"medians of {args.runs} runs (peak RSS: the largest)")
        for mode in MODES:
            runs = results[mode]
            median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            median["rss_ack_mib"] = max(r["rss_ack_mib"] for r in runs)
            median["rss_mib"] = max(r["rss_mib"] for r in runs)
            print(_line(mode, median))


if __name__ == "__main__":
    main()
