"""Sustained deltas (issue 8, part 4): stored and delivered rate, and extension-to-dashboard
latency, with 50 dashboards connected, at stepped rates; the knee is the highest rate with
p99 <= 25 ms and every stored delta delivered to every dashboard.

One ofca process (uvicorn) on a throwaway Postgres database with Redis channels under a
unique prefix (``--url`` targets running servers instead; ``--urls a,b`` spreads
dashboards over several). The account first gets a snapshot (``--seed-messages``, ~1 chat
per 50 messages); the deltas are new messages in those chats, ids carrying their send time
(CLOCK_MONOTONIC, shared by all processes of the machine), so each dashboard computes the
latency of every ``append_message`` it receives.

Load generator, sized not to be the bottleneck on 2 shared cores: this process sends
(``--senders`` extension sockets, open loop: frames go out on schedule whether or not the
server keeps up) and reads the ``ingest_ack`` s; ``--receiver-procs`` processes hold the
dashboards. Both use ``bench/_rawws.py`` (frames parsed straight from the TCP buffer, a few
µs each) instead of the ``websockets`` package (tens of µs per frame).

    .venv/bin/python bench/delta_throughput.py --rates 200,500,1000,2000 --seconds 5 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import multiprocessing
import os
import random
import statistics
import sys
import time
from array import array
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._rawws import OP_TEXT, RawWebSocket, connect

P99_TARGET_MS = 25.0
APPEND_PREFIX = b'{"type":"append_message"'
BATCH_PREFIX = b'{"type":"event_batch"'
ACK_PREFIX = b'{"type":"ingest_ack"'
ERROR_PREFIX = b'{"type":"system_error"'


class _Message(msgspec.Struct):
    id: int | str


class _AppendPayload(msgspec.Struct):
    message: _Message


class _Append(msgspec.Struct):
    payload: _AppendPayload


class _AckPayload(msgspec.Struct):
    accepted: int = 0
    duplicates: int = 0
    updated: int = 0
    rejected: int = 0


class _Ack(msgspec.Struct):
    payload: _AckPayload


class _ErrorPayload(msgspec.Struct):
    code: str | None = None


class _Error(msgspec.Struct):
    payload: _ErrorPayload


_append_decoder = msgspec.json.Decoder(_Append)


class _BatchPayload(msgspec.Struct):
    events: list[msgspec.Raw]


class _Batch(msgspec.Struct):
    payload: _BatchPayload


_batch_decoder = msgspec.json.Decoder(_Batch)
_ack_decoder = msgspec.json.Decoder(_Ack)
_error_decoder = msgspec.json.Decoder(_Error)
_encoder = msgspec.json.Encoder()


def _delta_id(tag: str, step: int, seq: int) -> str:
    return f"{tag}s{step}n{seq}t{time.monotonic_ns()}"


def _parse_id(message_id: str) -> tuple[int, int] | None:
    """(step, send time ns) of a bench delta id, else ``None``."""
    s = message_id.find("s")
    n = message_id.find("n", s)
    t = message_id.find("t", n)
    if s < 0 or n < 0 or t < 0:
        return None
    try:
        return int(message_id[s + 1 : n]), int(message_id[t + 1 :])
    except ValueError:
        return None


# --------------------------------------------------------------------------- receivers


class _StepStats:
    __slots__ = ("counts", "latencies_ms")

    def __init__(self, dashboards: int) -> None:
        self.counts = [0] * dashboards
        self.latencies_ms = array("d")


def _receiver_main(urls: list[str], control: Connection, deflate: bool = False) -> None:
    asyncio.run(_receiver(urls, control, deflate))


class _Dashboards:
    """The dashboards of one receiver process: latencies per step, and the control pipe."""

    def __init__(self, count: int, control: Connection) -> None:
        loop = asyncio.get_running_loop()
        self.count = count
        self.control = control
        self.steps: dict[int, _StepStats] = {}
        self.synced = [loop.create_future() for _ in range(count)]
        self.sockets: list[RawWebSocket] = []
        self.others = 0
        self.done = loop.create_future()

    def _on_append(self, index: int, payload: bytes | msgspec.Raw, received_ns: int) -> None:
        message_id = _append_decoder.decode(payload).payload.message.id
        parsed = _parse_id(message_id) if isinstance(message_id, str) else None
        if parsed is None:
            return
        step, sent_ns = parsed
        stats = self.steps.get(step)
        if stats is None:
            stats = self.steps[step] = _StepStats(self.count)
        stats.counts[index] += 1
        stats.latencies_ms.append((received_ns - sent_ns) / 1e6)

    def on_frame(self, index: int, opcode: int, payload: bytes, received_ns: int) -> None:
        if opcode != OP_TEXT:
            return
        if payload.startswith(APPEND_PREFIX):
            self._on_append(index, payload, received_ns)
        elif payload.startswith(BATCH_PREFIX):
            for event in _batch_decoder.decode(payload).payload.events:
                if memoryview(event)[: len(APPEND_PREFIX)] == APPEND_PREFIX:
                    self._on_append(index, event, received_ns)
        elif payload.startswith(b'{"type":"full_sync_response"'):
            if not self.synced[index].done():
                self.synced[index].set_result(None)
        else:
            self.others += 1

    def on_control(self) -> None:
        control = self.control
        while control.poll():
            command = control.recv()
            if command[0] == "stats":
                stats = self.steps.pop(command[1], None) or _StepStats(self.count)
                closed = sum(1 for s in self.sockets if s.closed.done())
                control.send((stats.counts, stats.latencies_ms.tobytes(), closed))
            elif command[0] == "peek":
                stats = self.steps.get(command[1])
                control.send(sum(stats.counts) if stats else 0)
            elif command[0] == "stop" and not self.done.done():
                self.done.set_result(None)


async def _receiver(urls: list[str], control: Connection, deflate: bool = False) -> None:
    """Hold dashboards ``urls``; answer ``("stats", step)`` and ``("stop",)`` on ``control``."""
    dashboards = _Dashboards(len(urls), control)
    for index, url in enumerate(urls):
        on_frame = functools.partial(dashboards.on_frame, index)
        dashboards.sockets.append(await connect(url, on_frame, deflate=deflate))
    await asyncio.wait_for(asyncio.gather(*dashboards.synced), 120)
    asyncio.get_running_loop().add_reader(control.fileno(), dashboards.on_control)
    control.send("ready")
    await dashboards.done
    for sock in dashboards.sockets:
        sock.close()


# --------------------------------------------------------------------------- senders


class _Sender:
    """Extension sockets sending deltas on schedule and counting the acks."""

    def __init__(self) -> None:
        self.sockets: list[RawWebSocket] = []
        self.acked = 0
        self.stored = 0
        self.stored_by_socket: list[int] = []
        self.sent_total = 0
        self.duplicates = 0
        self.errors: dict[str, int] = {}
        self.last_ack_ns = 0

    def on_frame(self, index: int, opcode: int, payload: bytes, received_ns: int) -> None:
        if opcode != OP_TEXT:
            return
        if payload.startswith(ACK_PREFIX):
            ack = _ack_decoder.decode(payload).payload
            self.acked += 1
            self.stored += ack.accepted + ack.updated
            self.stored_by_socket[index] += ack.accepted + ack.updated
            self.duplicates += ack.duplicates
            self.last_ack_ns = received_ns
        elif payload.startswith(ERROR_PREFIX):
            code = _error_decoder.decode(payload).payload.code or "?"
            self.errors[code] = self.errors.get(code, 0) + 1

    async def open(self, urls: list[str]) -> None:
        for index, url in enumerate(urls):
            self.stored_by_socket.append(0)
            self.sockets.append(
                await connect(url, lambda *a, i=index: self.on_frame(i, *a))  # type: ignore[misc]
            )
        await asyncio.sleep(0.5)  # connection_ack

    async def run_step(
        self, tag: str, step: int, rate: float, seconds: float, templates: list[dict]
    ) -> tuple[int, float]:
        """Send ``rate`` deltas/s for ``seconds``; returns (sent, actual send seconds)."""
        total = int(rate * seconds)
        sent = 0
        began = time.monotonic()
        sockets = self.sockets
        while sent < total:
            due = min(total, int((time.monotonic() - began) * rate) + 1)
            while sent < due:
                template = templates[sent % len(templates)]
                message = {
                    **template,
                    "id": _delta_id(tag, step, sent),
                    "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
                }
                frame = _encoder.encode(
                    {"type": "new_raw_message", "payload": {"message": message}}
                )
                sockets[sent % len(sockets)].send(frame)
                sent += 1
                self.sent_total += 1
            await asyncio.sleep(0.0005)
        return sent, time.monotonic() - began


# --------------------------------------------------------------------------- orchestration


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _machine_busy() -> tuple[float, float]:
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def _seed(ext_url: str, dash_url: str, messages: int, seed: int) -> list[dict]:
    """Send a snapshot and wait until its enrichment and insights are done (a dashboard's
    final REALTIME); returns delta templates (messages of its chats, ids removed)."""
    from ofca.synthetic import cache_update_frame, generate_account

    account = generate_account(messages, seed=seed)
    acked = asyncio.get_running_loop().create_future()
    ready = asyncio.get_running_loop().create_future()

    def on_frame(opcode: int, payload: bytes, _ns: int) -> None:
        if payload.startswith(ACK_PREFIX) and not acked.done():
            acked.set_result(payload)
        elif payload.startswith(ERROR_PREFIX) and not acked.done():
            acked.set_exception(RuntimeError(payload.decode()))

    def on_dashboard(opcode: int, payload: bytes, _ns: int) -> None:
        if b'"status":"REALTIME"' in payload and acked.done() and not ready.done():
            ready.set_result(None)

    dashboard = await connect(dash_url, on_dashboard)
    sock = await connect(ext_url, on_frame)
    sock.send(cache_update_frame(account))
    await asyncio.wait_for(acked, 120)
    await asyncio.wait_for(ready, 300)
    sock.close()
    dashboard.close()
    # Deltas spread over all chats, as many fans write at once (not one chat growing).
    templates = [
        {k: v for k, v in message.items() if k not in ("id", "changedAt")}
        for message in account.messages
    ]
    random.Random(seed).shuffle(templates)
    return templates[:5000]


async def _collect(
    receivers: list[Connection], step: int, expected: list[int], drain: float
) -> tuple[list[int], list[float], int]:
    """Wait until dashboard ``i`` has ``expected[i]`` frames of ``step`` (or ``drain`` s);
    returns the counts (in dashboard order), the sorted latencies, closed dashboards."""
    deadline = time.monotonic() + drain
    while time.monotonic() < deadline:
        seen = 0
        for control in receivers:
            control.send(("peek", step))
            seen += control.recv()
        if seen >= sum(expected):
            break
        await asyncio.sleep(0.2)
    counts = [0] * len(expected)
    latencies = array("d")
    closed = 0
    for part, control in enumerate(receivers):
        control.send(("stats", step))
        part_counts, part_latencies, part_closed = control.recv()
        for offset, count in enumerate(part_counts):
            counts[part + offset * len(receivers)] = count
        latencies.frombytes(part_latencies)
        closed += part_closed
    return counts, sorted(latencies), closed


async def _seed_accounts(
    args: argparse.Namespace,
    dash_urls: list[str],
    ext_urls: list[str],
    dash_socket: list[int],
    database_url: str | None,
) -> list[dict]:
    """Seed each account once (through its first extension socket); the delta templates."""
    seeded: set[str] = set()
    templates: list[dict] = []
    for index, url in enumerate(ext_urls):
        account_url = url.split("/ws/extension/", 1)[1]
        if account_url not in seeded:
            seeded.add(account_url)
            dash_url = dash_urls[dash_socket.index(index)]
            templates = await _seed(url, dash_url, args.seed_messages, args.seed)
    if database_url is not None:
        import asyncpg

        connection = await asyncpg.connect(database_url)
        try:
            await connection.execute("ANALYZE")
        finally:
            await connection.close()
    return templates


def _start_receivers(
    args: argparse.Namespace, dash_urls: list[str]
) -> tuple[list[Connection], list[Any]]:
    """The receiver processes holding the dashboards, once every dashboard is synced."""
    context = multiprocessing.get_context("spawn")
    receivers: list[Connection] = []
    processes = []
    for part in range(args.receiver_procs):
        urls = dash_urls[part :: args.receiver_procs]
        parent, child = context.Pipe()
        process = context.Process(
            target=_receiver_main,
            args=(urls, child, getattr(args, "deflate", False)),
            daemon=True,
        )
        process.start()
        receivers.append(parent)
        processes.append(process)
    for control in receivers:
        if not control.poll(180):
            raise RuntimeError("dashboards did not connect")
        assert control.recv() == "ready"
    return receivers, processes


def _expected(
    stored_by_socket: list[int], ext_urls: list[str], dash_socket: list[int]
) -> list[int]:
    """Deltas each dashboard should receive: everything stored for its account (two
    extension sockets of one account both reach all its dashboards)."""
    account_of = [u.split("/ws/extension/", 1)[1] for u in ext_urls]
    stored_by_account: dict[str, int] = {}
    for account, count in zip(account_of, stored_by_socket, strict=True):
        stored_by_account[account] = stored_by_account.get(account, 0) + count
    return [stored_by_account[account_of[socket]] for socket in dash_socket]


async def bench(
    args: argparse.Namespace,
    dash_urls: list[str],
    ext_urls: list[str],
    pid: Any,
    dash_socket: list[int] | None = None,
    database_url: str | None = None,
):
    """``dash_socket[i]``: the extension socket (in ``ext_urls``) of dashboard i's account.
    With ``database_url`` the database is analyzed after the seed, as autovacuum would do
    on a server that has been running for a while (a fresh database has no statistics and
    the planner guesses)."""
    dash_socket = dash_socket or [0] * len(dash_urls)
    templates = await _seed_accounts(args, dash_urls, ext_urls, dash_socket, database_url)
    await asyncio.sleep(args.settle)
    receivers, processes = _start_receivers(args, dash_urls)
    sender = _Sender()
    await sender.open(ext_urls)
    rows: dict[float, list[dict[str, float]]] = {}
    tag = f"b{os.getpid()}"
    step = 0
    try:
        for run in range(args.runs):
            failures = 0
            for rate in args.rates:
                step += 1
                # An overloaded previous step leaves a backlog: let it drain first, so its
                # acks and deliveries are not counted in this step.
                backlog_deadline = time.monotonic() + 120
                while sender.acked < sender.sent_total and time.monotonic() < backlog_deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
                stored_before, acked_before = sender.stored, sender.acked
                by_socket_before = list(sender.stored_by_socket)
                cpu_before = [_cpu_seconds(p) for p in pid]
                busy_before = _machine_busy()
                began_ns = time.monotonic_ns()
                sent, send_seconds = await sender.run_step(tag, step, rate, args.seconds, templates)
                ack_deadline = time.monotonic() + args.drain
                while sender.acked - acked_before < sent and time.monotonic() < ack_deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                stored = sender.stored - stored_before
                ack_seconds = max(1e-9, (sender.last_ack_ns - began_ns) / 1e9)
                cpu = [
                    (_cpu_seconds(p) - before) / ack_seconds
                    for p, before in zip(pid, cpu_before, strict=True)
                ]
                busy_after = _machine_busy()
                machine = (busy_after[0] - busy_before[0]) / max(1, busy_after[1] - busy_before[1])
                stored_by_socket = [
                    now - before
                    for now, before in zip(sender.stored_by_socket, by_socket_before, strict=True)
                ]
                expected = _expected(stored_by_socket, ext_urls, dash_socket)
                counts, latencies, closed = await _collect(receivers, step, expected, args.drain)
                delivered_all = (
                    all(c >= e for c, e in zip(counts, expected, strict=True))
                    and stored == sent
                    and closed == 0
                )
                row = {
                    "rate": rate,
                    "sent_per_s": sent / send_seconds,
                    "stored_per_s": stored / ack_seconds,
                    "stored": stored,
                    "sent": sent,
                    "delivered_per_dash_per_s": statistics.median(counts) / ack_seconds,
                    "delivered_pct": 100.0 * sum(counts) / max(1, sum(expected)),
                    "p50_ms": _percentile(latencies, 0.50),
                    "p99_ms": _percentile(latencies, 0.99),
                    "max_ms": latencies[-1] if latencies else float("nan"),
                    "closed": closed,
                    "server_cpu": sum(cpu),
                    "machine_busy": machine,
                    "ok": float(delivered_all and _percentile(latencies, 0.99) <= P99_TARGET_MS),
                }
                rows.setdefault(rate, []).append(row)
                print(
                    f"run {run + 1} rate {rate:>6.0f}/s: sent {row['sent_per_s']:7.0f}/s, stored "
                    f"{row['stored_per_s']:7.0f}/s ({stored}/{sent}), delivered "
                    f"{row['delivered_per_dash_per_s']:7.0f}/s per dashboard "
                    f"({row['delivered_pct']:.1f}%), p50 {row['p50_ms']:.1f} ms, p99 "
                    f"{row['p99_ms']:.1f} ms, max {row['max_ms']:.0f} ms, closed {closed}, "
                    f"server CPU {row['server_cpu']:.2f} cores, machine busy "
                    f"{100 * machine:.0f}% {'OK' if row['ok'] else 'MISS'}"
                    + (f" errors {sender.errors}" if sender.errors else ""),
                    flush=True,
                )
                if closed:
                    print("dashboards were closed (slow consumer); stopping", flush=True)
                    return rows
                failures = 0 if row["ok"] else failures + 1
                if failures >= args.stop_after_misses:
                    break
                await asyncio.sleep(args.pause)
    finally:
        for control in receivers:
            control.send(("stop",))
        for process in processes:
            process.join(timeout=5)
    return rows


def _report(rows: dict[float, list[dict[str, float]]]) -> None:
    print("\nmedians per rate (runs):")
    print(
        "| target/s | runs | stored/s | delivered/s per dashboard | delivered | p50 ms | "
        "p99 ms | server CPU | machine busy | met |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    knee = None
    for rate in sorted(rows):
        runs = rows[rate]

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(r[key] for r in runs)

        met = med("ok") >= 0.5
        if met:
            knee = rate
        print(
            f"| {rate:.0f} | {len(runs)} | {med('stored_per_s'):.0f} | "
            f"{med('delivered_per_dash_per_s'):.0f} | {med('delivered_pct'):.1f}% | "
            f"{med('p50_ms'):.1f} | {med('p99_ms'):.1f} | {med('server_cpu'):.2f} | "
            f"{100 * med('machine_busy'):.0f}% | {'yes' if met else 'no'} |"
        )
    print(f"\nknee (p99 <= {P99_TARGET_MS:.0f} ms, all delivered, median of runs): {knee}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="200,500,1000,2000,3000,5000,8000")
    parser.add_argument("--seconds", type=float, default=5.0, help="per step")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--dashboards", type=int, default=50)
    parser.add_argument("--senders", type=int, default=1, help="extension sockets per account")
    parser.add_argument("--accounts", type=int, default=1, help="dashboards split over them")
    parser.add_argument("--receiver-procs", type=int, default=2)
    parser.add_argument("--seed-messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drain", type=float, default=10.0, help="max wait after a step")
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--settle", type=float, default=3.0, help="wait after the snapshot")
    parser.add_argument("--stop-after-misses", type=int, default=2)
    parser.add_argument("--url", default=None, help="running ofca(s), comma-separated")
    parser.add_argument("--database-url", default=None, help="its database (with --url)")
    parser.add_argument("--ext-on", default="0", help="indexes of --url servers for senders")
    parser.add_argument(
        "--batch",
        action="store_true",
        help="dashboards ask for event_batch frames (?batch=1), as the web dashboard does",
    )
    parser.add_argument(
        "--deflate",
        action="store_true",
        help="dashboards negotiate permessage-deflate, as browsers do (the server then "
        "compresses every frame once per dashboard)",
    )
    parser.add_argument("--verbose", action="store_true", help="show the server's log")
    parser.add_argument("--server-log-level", default="WARNING")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    from bench._server import REDIS_URL, ofca_server, throwaway_database

    if args.url:
        if not args.database_url:
            parser.error("--url needs --database-url")
        bases = [u.replace("http://", "ws://") for u in args.url.split(",")]
        asyncio.run(_run(args, bases, args.database_url, [None]))
        return
    with throwaway_database() as database_url:
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"ofcadelta{os.getpid()}",
            "OFCA_WS_FRAMES_PER_MINUTE": "100000000",
            "OFCA_LOG_LEVEL": args.server_log_level,
        }
        with ofca_server(env, quiet=not args.verbose) as server:
            pid = server.process.pid if server.process else None
            print(f"server pid {pid}", flush=True)
            asyncio.run(_run(args, [server.ws_url], database_url, [pid]))


async def _run(
    args: argparse.Namespace, bases: list[str], database_url: str, pids: list[int | None]
) -> dict[float, list[dict[str, float]]]:
    from bench._server import make_account_keys

    ext_bases = [bases[int(i)] for i in args.ext_on.split(",")]
    dash_urls: list[str] = []
    dash_socket: list[int] = []
    ext_urls: list[str] = []
    for account in range(args.accounts):
        account_id = f"delta-{os.getpid()}-{int(time.time())}-{account}"
        ext_key, dash_key = await make_account_keys(
            database_url, account_id, ["extension", "dashboard"]
        )
        first_socket = len(ext_urls)
        for i in range(args.senders):
            # Account a's extension sockets start on server a (its "home" process).
            base = ext_bases[(account + i) % len(ext_bases)]
            ext_urls.append(f"{base}/ws/extension/{account_id}?token={ext_key}")
        per_account = args.dashboards // args.accounts
        for i in range(per_account):
            dash_urls.append(
                f"{bases[i % len(bases)]}/ws/frontend/{account_id}?token={dash_key}"
                + ("&batch=1" if args.batch else "")
            )
            dash_socket.append(first_socket)
    print(
        f"{os.cpu_count()} cores; {len(dash_urls)} dashboards of {args.accounts} account(s) on "
        f"{len(bases)} server(s) in {args.receiver_procs} receiver processes; "
        f"{len(ext_urls)} extension socket(s) on server(s) {args.ext_on}; "
        f"{args.seconds:.0f} s per step; dashboards {'batched' if args.batch else 'unbatched'}"
        f"{', permessage-deflate' if getattr(args, 'deflate', False) else ''}",
        flush=True,
    )
    rows = await bench(args, dash_urls, ext_urls, pids, dash_socket, database_url)
    _report(rows)
    return rows


if __name__ == "__main__":
    main()
