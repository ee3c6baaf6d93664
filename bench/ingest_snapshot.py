"""Snapshot ingest over the real WebSocket: time to ``ingest_ack`` and to fully enriched.

Generates a synthetic account (``ofca.synthetic``, default 100k messages / ~18 MB), starts
ofca on a throwaway Postgres database with Redis channels (or uses ``--url`` with
``--database-url`` to create keys), connects one dashboard, sends the ``cache_update`` from
an extension socket and reports, per run (each run a fresh account, so every message is
new): time to ``ingest_ack``, time until the dashboard's ``enrichment_result`` done, the
worst latency of an HTTP request sent every 10 ms while ingesting (from a separate process,
so this one's work does not count; how long the event loop was held), and the server's
peak RSS. ``--runs N`` prints the medians. ``--stalls`` runs the server with
``bench/loop_stalls.py``'s watchdog and also reports, per run, the longest event-loop stalls
from sending the snapshot to the ``analytics_update`` after it, and where they were.

    .venv/bin/python bench/ingest_snapshot.py --messages 100000 --runs 3
    .venv/bin/python bench/ingest_snapshot.py --messages 100000 --runs 3 --stalls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
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
from bench.loop_stalls import describe, read_stalls, stall_server
from ofca.synthetic import cache_update_frame, generate_account


async def _until(connection: websockets.ClientConnection, frame_type: str, **match: object) -> dict:
    while True:
        frame = json.loads(await connection.recv())
        if frame["type"] == "system_error":
            raise RuntimeError(f"server error: {frame['payload']}")
        if frame["type"] == frame_type and all(
            frame["payload"].get(k) == v for k, v in match.items()
        ):
            return frame


_PROBE = """
import sys, threading, time, httpx
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
worst = 0.0
with httpx.Client(base_url=sys.argv[1], timeout=30) as http:
    while not stop.is_set():
        began = time.perf_counter()
        http.get("/api/v1/schemas/wss")
        worst = max(worst, time.perf_counter() - began)
        time.sleep(0.01)
print(worst)
"""


class _Probe:
    """An HTTP request every 10 ms from a process of its own: in this one, the latency
    would include this process's own work (decoding the frames it receives)."""

    def __init__(self, http_url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _PROBE, http_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def worst_ms(self) -> float:
        """Stop probing; the worst latency seen, in ms."""
        out, _ = await asyncio.to_thread(self.process.communicate, "")
        return float(out.strip() or 0) * 1000


async def one_run(
    server: Server, database_url: str, frame: bytes, run: int, stall_log: str | None
) -> dict[str, float]:
    account_id = f"bench-{run}-{int(time.time())}"
    ext_key, dash_key = await make_account_keys(
        database_url, account_id, ["extension", "dashboard"]
    )
    base = f"{server.ws_url}/ws"
    async with (
        websockets.connect(f"{base}/extension/{account_id}?token={ext_key}", max_size=None) as ext,
        websockets.connect(f"{base}/frontend/{account_id}?token={dash_key}", max_size=None) as dash,
    ):
        await _until(ext, "connection_ack")
        await _until(dash, "full_sync_response")
        probe = _Probe(server.http_url)
        cpu_before = server.cpu_seconds() or 0.0
        began = time.perf_counter()
        began_wall = time.time()
        await ext.send(frame)
        ack = await _until(ext, "ingest_ack")
        acked = time.perf_counter() - began
        cpu_ack = (server.cpu_seconds() or 0.0) - cpu_before
        await _until(dash, "enrichment_result", done=True)
        enriched = time.perf_counter() - began
        enriched_wall = time.time()
        cpu_enriched = (server.cpu_seconds() or 0.0) - cpu_before
        worst_probe_ms = await probe.worst_ms()
        # The insight rows of the 2000 chats follow; the next run starts only after them
        # (else it would measure its ingest competing with this run's refresh).
        await _until(dash, "analytics_update")
        insights = time.perf_counter() - began
    payload = ack["payload"]
    assert payload["accepted"] > 0, payload
    stalls: dict[str, float] = {}
    if stall_log is not None:
        await asyncio.sleep(0.5)  # the watchdog writes a stall once the loop ticks again
        to_enriched = read_stalls(stall_log, began_wall, enriched_wall)
        after = read_stalls(stall_log, enriched_wall, time.time())
        print(f"run {run + 1} to enriched: {describe(to_enriched)}", flush=True)
        print(f"run {run + 1} enriched to insights: {describe(after)}", flush=True)
        stalls = {
            "stall_ms": max((s.ms for s in to_enriched), default=0.0),
            "stall_insights_ms": max((s.ms for s in after), default=0.0),
        }
    return {
        **stalls,
        "ack_s": acked,
        "enriched_s": enriched,
        "server_ingest_ms": payload["duration_ms"],
        "accepted": payload["accepted"],
        "worst_probe_ms": worst_probe_ms,
        "insights_s": insights,
        "cpu_ack_s": cpu_ack,
        "cpu_enriched_s": cpu_enriched,
        "peak_rss_mib": server.peak_rss_mib() or 0.0,
    }


async def bench(
    server: Server, database_url: str, frame: bytes, runs: int, stall_log: str | None = None
) -> None:
    results = []
    for run in range(runs):
        result = await one_run(server, database_url, frame, run, stall_log)
        results.append(result)
        print(
            f"run {run + 1}: ack {result['ack_s']:.2f} s "
            f"(server {result['server_ingest_ms']:.0f} ms), "
            f"enriched {result['enriched_s']:.2f} s, insights {result['insights_s']:.1f} s, "
            f"{result['accepted']:.0f} messages, worst "
            f"HTTP probe during ingest {result['worst_probe_ms']:.0f} ms, server CPU "
            f"{result['cpu_ack_s']:.1f} s to ack / {result['cpu_enriched_s']:.1f} s to enriched, "
            f"server peak RSS {result['peak_rss_mib']:.0f} MiB, load average "
            f"{os.getloadavg()[0]:.1f}",
            flush=True,
        )
    if runs > 1:
        print(
            f"median of {runs}: ack {statistics.median(r['ack_s'] for r in results):.2f} s, "
            f"enriched {statistics.median(r['enriched_s'] for r in results):.2f} s, insights "
            f"{statistics.median(r['insights_s'] for r in results):.1f} s, worst probe "
            f"{statistics.median(r['worst_probe_ms'] for r in results):.0f} ms, server CPU "
            f"{statistics.median(r['cpu_ack_s'] for r in results):.1f} s / "
            f"{statistics.median(r['cpu_enriched_s'] for r in results):.1f} s, peak RSS "
            f"{max(r['peak_rss_mib'] for r in results):.0f} MiB"
        )
        if stall_log is not None:
            print(
                "median longest loop stall: to enriched "
                f"{statistics.median(r['stall_ms'] for r in results):.0f} ms, enriched to "
                f"insights {statistics.median(r['stall_insights_ms'] for r in results):.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--url", default=None, help="a running ofca (http://host:port)")
    parser.add_argument("--database-url", default=None, help="its database (with --url)")
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    parser.add_argument(
        "--stalls", action="store_true", help="run the server with the loop-stall watchdog"
    )
    parser.add_argument("--stall-ms", type=float, default=20.0, help="log stalls over this")
    parser.add_argument("--stall-log", default=None, help="keep the stall log (JSON lines) here")
    args = parser.parse_args()

    account = generate_account(args.messages, seed=args.seed)
    frame = cache_update_frame(account)
    print(
        f"snapshot: {len(account.messages)} messages, {len(account.chats)} chats, "
        f"{len(frame) / 1e6:.1f} MB",
        flush=True,
    )
    if args.url:
        if not args.database_url:
            parser.error("--url needs --database-url (to create the bench account's keys)")
        ws_url = args.url.replace("http://", "ws://").replace("https://", "wss://")
        server = Server(args.url, ws_url, {})
        asyncio.run(bench(server, args.database_url, frame, args.runs))
        return
    with throwaway_database() as database_url:
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"ofcabench{int(time.time())}",
        }
        if not args.stalls:
            with ofca_server(env, quiet=not args.verbose) as server:
                asyncio.run(bench(server, database_url, frame, args.runs))
            return
        with tempfile.TemporaryDirectory() as folder:
            log = args.stall_log or f"{folder}/stalls.jsonl"
            with stall_server(
                env, log, threshold_ms=args.stall_ms, quiet=not args.verbose
            ) as server:
                asyncio.run(bench(server, database_url, frame, args.runs, log))


if __name__ == "__main__":
    main()
