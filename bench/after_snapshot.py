"""Live deltas right after a big snapshot (issue 19): the account agencies actually have.

A 100,000-message snapshot of 400 chats (~250 messages each, ~29.5 MB: long chats with the
best fans) goes over the extension socket; then ``--dashboards`` dashboards connect
(``?batch=1``, as the web dashboard does) and wait for their full sync; then the extension
sends ``--wave`` new messages at ``--rate``/s into ``--wave-chats`` of those chats (the
busiest ones), ``--waves`` times, new message ids each time. ``--wait-after-ack S`` starts
the dashboards S seconds after the ack instead of at once (the snapshot's enrichment and
insight refresh then compete less with the waves).

Printed per run and as medians: snapshot ack and fully enriched (from sending it), full
syncs of every dashboard, each wave's p50/p99 from a delta's send to its
``append_message`` at a dashboard, delivery, and the server's own share (CPU per delta
during the waves, and the store time it reports in each ack, ``duration_ms``) so a result
does not depend on how busy the box is; the server's peak RSS.

    .venv/bin/python bench/after_snapshot.py --runs 3
    .venv/bin/python bench/after_snapshot.py --runs 3 --wait-after-ack 25
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rawws import OP_TEXT, connect
from bench._server import REDIS_URL, Server, make_account_keys, ofca_server, throwaway_database
from bench.delta_throughput import (
    ACK_PREFIX,
    ERROR_PREFIX,
    _collect,
    _cpu_seconds,
    _machine_busy,
    _percentile,
    _receiver_main,
    _Sender,
)
from bench.generate import write_account

TARGET_P99_MS = 25.0
TIMELINE = False
"""``--verbose``: print each phase's wall-clock time, to line up with the server's log."""


def _mark(event: str) -> None:
    if TIMELINE:
        print(f"{time.time():.3f} {event}", file=sys.stderr, flush=True)


class _AckPayload(msgspec.Struct):
    accepted: int = 0
    duration_ms: float | None = None


class _Ack(msgspec.Struct):
    payload: _AckPayload


_ack = msgspec.json.Decoder(_Ack)


async def _snapshot(
    ext_url: str, dash_url: str, frame: bytes
) -> tuple[float, asyncio.Future[float], Any]:
    """Send the snapshot; returns seconds to its ack and a future of seconds to enriched
    (a watching dashboard's ``enrichment_result`` done), plus the watcher to close."""
    loop = asyncio.get_running_loop()
    acked: asyncio.Future[float] = loop.create_future()
    enriched: asyncio.Future[float] = loop.create_future()
    began = time.perf_counter()

    def on_ext(opcode: int, payload: bytes, _ns: int) -> None:
        if payload.startswith(ACK_PREFIX) and not acked.done():
            if _ack.decode(payload).payload.accepted <= 0:
                acked.set_exception(RuntimeError("snapshot stored nothing"))
            else:
                acked.set_result(time.perf_counter() - began)
        elif payload.startswith(ERROR_PREFIX) and not acked.done():
            acked.set_exception(RuntimeError(payload.decode()))

    def on_watch(opcode: int, payload: bytes, _ns: int) -> None:
        if (
            opcode == OP_TEXT
            and b'"type":"enrichment_result"' in payload[:40]
            and b'"done":true' in payload
            and not enriched.done()
        ):
            enriched.set_result(time.perf_counter() - began)
            _mark("enriched")

    watcher = await connect(dash_url, on_watch)
    extension = await connect(ext_url, on_ext)
    await asyncio.sleep(0.3)  # connection_ack, the watcher's full sync
    began = time.perf_counter()
    _mark("snapshot sent")
    extension.send(frame)
    ack_s = await asyncio.wait_for(acked, 300)
    _mark("snapshot acked")
    extension.close()
    return ack_s, enriched, watcher


def _templates(account: Any, chats: int) -> list[dict]:
    """Delta templates in the ``chats`` busiest chats (the best fans), alternating."""
    sizes: dict[str, int] = {}
    for message in account.messages:
        sizes[message["chat_id"]] = sizes.get(message["chat_id"], 0) + 1
    busiest = sorted(sizes, key=lambda c: (-sizes[c], c))[:chats]
    last: dict[str, dict] = {}
    for message in account.messages:
        if message["chat_id"] in busiest and message.get("text"):
            last[message["chat_id"]] = message
    return [
        {k: v for k, v in last[chat].items() if k not in ("id", "changedAt")}
        for chat in busiest
        if chat in last
    ]


async def one_run(server: Server, database_url: str, args: argparse.Namespace, run: int) -> dict:
    account_id = f"after-{run}-{os.getpid()}-{int(time.time())}"
    ext_key, dash_key = await make_account_keys(
        database_url, account_id, ["extension", "dashboard"]
    )
    ext_url = f"{server.ws_url}/ws/extension/{account_id}?token={ext_key}"
    dash_url = f"{server.ws_url}/ws/frontend/{account_id}?token={dash_key}&batch=1"
    ack_s, enriched, watcher = await _snapshot(ext_url, dash_url, args.frame)
    if args.wait_after_ack:
        await asyncio.sleep(args.wait_after_ack)

    context = multiprocessing.get_context("spawn")
    receivers: list[Connection] = []
    processes = []
    syncs_began = time.perf_counter()
    for part in range(args.receiver_procs):
        urls = [dash_url] * len(range(part, args.dashboards, args.receiver_procs))
        parent, child = context.Pipe()
        process = context.Process(target=_receiver_main, args=(urls, child), daemon=True)
        process.start()
        receivers.append(parent)
        processes.append(process)
    for control in receivers:
        if not control.poll(300):
            raise RuntimeError("dashboards did not get their full sync")
        assert control.recv() == "ready"
    syncs_s = time.perf_counter() - syncs_began

    sender = _Sender()
    durations: list[float] = []
    original = sender.on_frame

    def on_frame(index: int, opcode: int, payload: bytes, received_ns: int) -> None:
        original(index, opcode, payload, received_ns)
        if payload.startswith(ACK_PREFIX):
            duration = _ack.decode(payload).payload.duration_ms
            if duration is not None:
                durations.append(duration)

    sender.on_frame = on_frame  # type: ignore[method-assign]
    await sender.open([ext_url])
    templates = _templates(args.account, args.wave_chats)
    waves = []
    try:
        for wave in range(1, args.waves + 1):
            acked_before, stored_before = sender.acked, sender.stored
            cpu_before = _cpu_seconds(server.process.pid if server.process else None)
            busy_before = _machine_busy()
            durations.clear()
            _mark(f"wave {wave} starts")
            sent, _ = await sender.run_step(
                f"w{run}", wave, args.rate, args.wave / args.rate, templates
            )
            deadline = time.monotonic() + 60
            while sender.acked - acked_before < sent and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            _mark(f"wave {wave} acked")
            stored = sender.stored - stored_before
            cpu = _cpu_seconds(server.process.pid if server.process else None) - cpu_before
            busy_after = _machine_busy()
            expected = [stored] * args.dashboards
            counts, latencies, closed = await _collect(receivers, wave, expected, 30.0)
            waves.append(
                {
                    "p50_ms": _percentile(latencies, 0.50),
                    "p99_ms": _percentile(latencies, 0.99),
                    "delivered_pct": 100.0 * sum(counts) / max(1, sum(expected)),
                    "stored": stored,
                    "sent": sent,
                    "closed": closed,
                    "cpu_ms_per_delta": 1000 * cpu / max(1, sent),
                    "store_ms_median": statistics.median(durations) if durations else float("nan"),
                    "machine_busy": (busy_after[0] - busy_before[0])
                    / max(1, busy_after[1] - busy_before[1]),
                    "errors": dict(sender.errors),
                }
            )
            await asyncio.sleep(1.0)
    finally:
        for control in receivers:
            control.send(("stop",))
        for process in processes:
            process.join(timeout=5)
        for sock in sender.sockets:
            sock.close()
    enriched_s = await asyncio.wait_for(enriched, 300)
    watcher.close()
    return {
        "ack_s": ack_s,
        "enriched_s": enriched_s,
        "syncs_s": syncs_s,
        "waves": waves,
        "peak_rss_mib": server.peak_rss_mib() or 0.0,
    }


def _print_run(run: int, result: dict) -> None:
    waves = "; ".join(
        f"wave {i} p50 {w['p50_ms']:.1f} / p99 {w['p99_ms']:.1f} ms, delivered "
        f"{w['delivered_pct']:.1f}% ({w['stored']}/{w['sent']} stored), "
        f"{w['cpu_ms_per_delta']:.2f} ms server CPU per delta, "
        f"store {w['store_ms_median']:.1f} ms, "
        f"machine busy {100 * w['machine_busy']:.0f}%"
        + (f", errors {w['errors']}" if w["errors"] else "")
        for i, w in enumerate(result["waves"], 1)
    )
    print(
        f"run {run}: ack {result['ack_s']:.2f} s, enriched {result['enriched_s']:.2f} s, "
        f"full syncs {result['syncs_s']:.1f} s; {waves}; "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB",
        flush=True,
    )


def _print_medians(results: list[dict]) -> None:
    def med(values: list[float]) -> float:
        return statistics.median(values)

    print(
        f"\nmedians of {len(results)}: ack {med([r['ack_s'] for r in results]):.2f} s, "
        f"enriched {med([r['enriched_s'] for r in results]):.2f} s, full syncs "
        f"{med([r['syncs_s'] for r in results]):.1f} s, peak RSS "
        f"{max(r['peak_rss_mib'] for r in results):.0f} MiB (max)"
    )
    for index in range(len(results[0]["waves"])):
        waves = [r["waves"][index] for r in results]
        p99 = med([w["p99_ms"] for w in waves])
        each = ", ".join(f"{w['p99_ms']:.1f}" for w in waves)
        print(
            f"wave {index + 1}: p50 {med([w['p50_ms'] for w in waves]):.1f} ms, p99 {p99:.1f} ms "
            f"({each}), delivered "
            f"{med([w['delivered_pct'] for w in waves]):.1f}%, server CPU "
            f"{med([w['cpu_ms_per_delta'] for w in waves]):.2f} ms per delta, store "
            f"{med([w['store_ms_median'] for w in waves]):.1f} ms; p99 <= {TARGET_P99_MS:.0f} ms: "
            f"{'yes' if p99 <= TARGET_P99_MS else 'no'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=400)
    parser.add_argument("--text-words", type=int, default=23, help="~29.5 MB at 100k messages")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--receiver-procs", type=int, default=2)
    parser.add_argument("--wave", type=int, default=1000, help="new messages per wave")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--wave-chats", type=int, default=50)
    parser.add_argument("--wait-after-ack", type=float, default=0.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the server's log and each phase's wall-clock time",
    )
    args = parser.parse_args()
    global TIMELINE
    TIMELINE = args.verbose

    with tempfile.TemporaryDirectory() as scratch:
        began = time.perf_counter()
        account, frame = write_account(
            messages=args.messages,
            seed=args.seed,
            fans=args.chats,
            deltas=0,
            edits=0,
            duplicates=0,
            text_words=args.text_words,
            out=Path(scratch),
        )
    args.account, args.frame = account, frame
    print(
        f"{os.cpu_count()} cores; snapshot of {len(account.messages)} messages in "
        f"{len(account.chats)} chats, {len(frame) / 1e6:.1f} MB (made in "
        f"{time.perf_counter() - began:.1f} s); {args.dashboards} dashboards (?batch=1); "
        f"{args.waves} waves of {args.wave} at {args.rate:.0f}/s into {args.wave_chats} chats; "
        f"dashboards {args.wait_after_ack:.0f} s after the ack",
        flush=True,
    )
    results = []
    with throwaway_database() as database_url:
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"ofcaafter{os.getpid()}",
            "OFCA_WS_FRAMES_PER_MINUTE": "100000000",
        }
        for run in range(1, args.runs + 1):
            # A fresh server per run: peak RSS and caches belong to that run alone.
            with ofca_server(env, quiet=not args.verbose) as server:
                result = asyncio.run(one_run(server, database_url, args, run))
            _print_run(run, result)
            results.append(result)
    _print_medians(results)


if __name__ == "__main__":
    main()
