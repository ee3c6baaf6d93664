"""Insights latency at scale: 1M messages / 20k chats in a throwaway Postgres database.

Loads synthetic, already enriched messages with COPY, builds the read models with
``refresh_chats`` (as ingest does, in batches of chats), VACUUM ANALYZEs, then times every
insights endpoint against a live ofca (uvicorn, one worker, on this database; requests
over HTTP from this process, one at a time) for a 30-day window (the default: 30 days
ending now) and a 90-day window, and prints p50/p95 per endpoint. ``--in-process`` uses
litestar's AsyncTestClient instead (app in a thread of this process: slower, GIL-bound).

    .venv/bin/python bench/insights_load.py --messages 1000000 --chats 20000 --requests 200

Messages span the 180 days ending now. About 3 % of fan messages are tips and 5 % of the
creator's are PPV offers (45 % of them unlocked); outbound messages carry one of three
operators (chatters) by shift. ``--keep`` leaves the database for inspection.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

# Appended: an installed ofca (or PYTHONPATH) wins, an uninstalled checkout still works.
sys.path.append(str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from litestar.testing import AsyncTestClient

from bench._server import ofca_server
from ofca.app import create_app
from ofca.domain.money import message_chatter
from ofca.domain.taxonomy import DEFAULT_TOPICS
from ofca.insights.refresh import refresh_chats
from ofca.persistence.accounts import ensure_account
from ofca.persistence.engine import close_engine, open_engine
from ofca.persistence.keys import create_api_key
from ofca.persistence.migrate import migrate
from ofca.settings import Settings, load_settings

ADMIN_URL = os.environ.get("OFCA_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
ACCOUNT = "bench-insights"
SPAN_DAYS = 180
TOPIC_IDS = [rule.id for rule in DEFAULT_TOPICS]
TEXTS = ["hey babe", "<p>send me a pic?</p>", "how much is the ppv", "thanks for the tip", "ok"]
COLUMNS = (
    "account_id",
    "message_id",
    "chat_id",
    "direction",
    "created_at",
    "text",
    "raw",
    "content_hash",
    "sentiment",
    "topics",
    "enriched",
    "ingested_at",
    "version",
    "is_tip",
    "price",
    "is_free",
    "is_opened",
    "operator_id",
    "operator_name",
    "chatter",
)
CHATTERS = (("1", "Alex"), ("2", "Sam"), ("3", "Jo"))
"""Operators on eight-hour shifts; one outbound message in ten has none (unassigned)."""


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def generate(messages: int, chats: int, now: datetime, seed: int = 1) -> list[tuple]:
    """Chats of sessions: bursts of messages 10 s - 10 min apart, 2-10 per session."""
    rng = random.Random(seed)
    rows: list[tuple] = []
    per_chat = [messages // chats] * chats
    for index in range(messages - sum(per_chat)):
        per_chat[index % chats] += 1
    start = now - timedelta(days=SPAN_DAYS)
    # Sessions last at most 10 x 600 s: starting them 2 h before now at the latest keeps
    # every message in the past, as a real account's are.
    span = SPAN_DAYS * 86400 - 7200
    for chat_index, count in enumerate(per_chat):
        chat_id = f"chat{chat_index:06d}"
        made = 0
        while made < count:
            moment = start + timedelta(seconds=rng.random() * span)
            direction = "inbound"
            for _ in range(min(rng.randint(2, 10), count - made)):
                moment += timedelta(seconds=rng.choice((10, 45, 90, 130, 300, 600)))
                roll = rng.random()
                direction = (
                    "unknown"
                    if roll < 0.03
                    else ("outbound" if direction == "inbound" and roll < 0.7 else "inbound")
                )
                has_text = rng.random() > 0.1
                topics = rng.sample(TOPIC_IDS, rng.choice((0, 0, 1, 1, 2))) if has_text else []
                money = rng.random()
                is_tip = direction == "inbound" and money < 0.03
                offer = direction == "outbound" and money < 0.05
                price = rng.choice((5.0, 9.99, 20.0, 49.99)) if is_tip or offer else None
                operator = (
                    CHATTERS[moment.hour // 8]
                    if direction == "outbound" and rng.random() < 0.9
                    else (None, None)
                )
                rows.append(
                    (
                        ACCOUNT,
                        f"{chat_id}-{made:04d}",
                        chat_id,
                        direction,
                        moment,
                        rng.choice(TEXTS) if has_text else None,
                        "{}",
                        secrets.token_hex(8),
                        rng.random() if has_text else None,
                        '["' + '","'.join(sorted(topics)) + '"]' if topics else "[]",
                        True,
                        now,
                        1,
                        is_tip,
                        price,
                        not offer,
                        offer and rng.random() < 0.45,
                        *operator,
                        message_chatter(direction, None, operator[0]),
                    )
                )
                made += 1
    return rows


async def load(settings: Settings, args: argparse.Namespace, now: datetime) -> None:
    began = time.perf_counter()
    rows = generate(args.messages, args.chats, now)
    print(f"generated {len(rows)} messages in {time.perf_counter() - began:.1f} s", flush=True)
    connection = await asyncpg.connect(settings.database_url)
    try:
        began = time.perf_counter()
        await connection.copy_records_to_table("ofca_message", records=rows, columns=COLUMNS)
        print(f"COPY ofca_message: {time.perf_counter() - began:.1f} s", flush=True)
    finally:
        await connection.close()
    chat_ids = sorted({row[2] for row in rows})
    del rows
    began = time.perf_counter()
    for index in range(0, len(chat_ids), args.refresh_batch):
        await refresh_chats(
            ACCOUNT, chat_ids[index : index + args.refresh_batch], settings=settings
        )
    took = time.perf_counter() - began
    print(
        f"refresh_chats: {len(chat_ids)} chats in batches of {args.refresh_batch}: {took:.1f} s "
        f"({args.messages / took:,.0f} messages/s)",
        flush=True,
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def backend_pids(database: str) -> list[int]:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 "
            "AND backend_type = 'client backend'",
            database,
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def measure(
    base_url: str | None,
    settings: Settings,
    key: str,
    args: argparse.Namespace,
    now: datetime,
    server_pid: int | None = None,
    database: str = "",
) -> None:
    """Sequential requests, one at a time, per endpoint and window. With a live server,
    also the CPU time per request of the ofca process plus its Postgres backends
    (parallel query workers not included): a figure the box's load does not inflate."""
    end = now.isoformat()
    windows = {
        "30d": {},  # the default window: the 30 days ending now
        "90d": {"start": (now - timedelta(days=90)).isoformat(), "end": end},
    }
    cases = [
        ("topics", {}),
        ("sentiment-trend", {}),
        ("sentiment-trend", {"granularity": "hour", "timezone": "Europe/Berlin"}),
        ("response-time", {}),
        ("overview", {}),
        ("response-time", {"topic": "tips_gifts"}),
        ("sentiment-trend", {"topic": "tips_gifts"}),
        ("topics", {"chat_id": "chat000042"}),
        ("reply-time-trend", {}),
        ("reply-time-trend", {"granularity": "hour", "timezone": "Europe/Berlin"}),
        ("reply-time-trend", {"topic": "tips_gifts"}),
        ("volume-trend", {}),
        ("volume-trend", {"granularity": "hour", "timezone": "Europe/Berlin"}),
        ("volume-trend", {"granularity": "hour", "timezone": "Asia/Kolkata"}),
        ("volume-trend", {"topic": "tips_gifts"}),
        ("activity-heatmap", {}),
        ("activity-heatmap", {"timezone": "Asia/Kolkata"}),
        ("activity-heatmap", {"topic": "tips_gifts"}),
        ("sessions", {}),
        ("sessions", {"granularity": "hour", "timezone": "Europe/Berlin"}),
        ("sessions", {"topic": "tips_gifts"}),
        ("volume-trend", {"chat_id": "chat000042"}),
        ("revenue", {}),
        ("revenue", {"chatter": "ext:2"}),
        ("revenue", {"topic": "tips_gifts"}),
        ("fans", {}),
        ("fans", {"tier": "whale"}),
        ("chatters", {}),
        ("chatters", {"topic": "tips_gifts"}),
        ("topics", {"topic": "tips_gifts"}),
    ]
    if args.only:
        cases = [case for case in cases if case[0] in args.only]
    if base_url is None:
        client_context = AsyncTestClient(app=create_app(settings, run_migrations=False))
    else:
        client_context = httpx.AsyncClient(base_url=base_url, timeout=60)
    print(f"\nload average before: {os.getloadavg()[0]:.2f} (1 min, {os.cpu_count()} CPUs)")
    print(f"{'endpoint':<60} {'window':>6} {'p50 ms':>8} {'p95 ms':>8} {'CPU ms':>7}")
    async with client_context as client:
        logging.getLogger("httpx").setLevel(logging.WARNING)
        headers = {"Authorization": f"Bearer {key}"}
        for path, extra in cases:
            for window_name, window in windows.items():
                params = {**window, **extra}
                for _ in range(5):
                    response = await client.get(
                        f"/api/v1/insights/{path}", params=params, headers=headers
                    )
                    assert response.status_code == 200, response.text
                pids = [] if server_pid is None else [server_pid, *await backend_pids(database)]
                cpu_before = cpu_seconds(pids)
                timings: list[float] = []
                for _ in range(args.requests):
                    began = time.perf_counter()
                    response = await client.get(
                        f"/api/v1/insights/{path}", params=params, headers=headers
                    )
                    timings.append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 200
                label = path + (
                    " " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
                )
                cpu_ms = (cpu_seconds(pids) - cpu_before) * 1000 / args.requests
                print(
                    f"{label:<60} {window_name:>6} {percentile(timings, 0.5):8.1f} "
                    f"{percentile(timings, 0.95):8.1f} {cpu_ms if pids else float('nan'):7.1f}",
                    flush=True,
                )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--refresh-batch", type=int, default=1000)
    parser.add_argument("--database", help="reuse this already loaded database (skip loading)")
    parser.add_argument("--keep", action="store_true", help="do not drop the database")
    parser.add_argument(
        "--only", nargs="+", metavar="ENDPOINT", help="measure these endpoints only (e.g. sessions)"
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="litestar AsyncTestClient instead of a live uvicorn server (one worker)",
    )
    args = parser.parse_args()

    name = args.database or f"ofca_bench_insights_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    if not args.database:
        await admin.execute(f'CREATE DATABASE "{name}"')
    env = {
        "OFCA_DATABASE_URL": with_database(ADMIN_URL, name),
        "OFCA_REST_RATE_LIMIT_PER_MINUTE": "100000000",
        "OFCA_IP_RATE_LIMIT_PER_MINUTE": "100000000",
        "OFCA_LOG_LEVEL": "WARNING",
    }
    settings = load_settings(env, dotenv=None)
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        engine = await open_engine(settings)
        await migrate(engine)
        if not args.database:
            await load(settings, args, now)
            began = time.perf_counter()
            await engine.run_ddl("VACUUM ANALYZE")
            print(f"VACUUM ANALYZE: {time.perf_counter() - began:.1f} s", flush=True)
        await ensure_account(ACCOUNT)
        _, key = await create_api_key(account_id=ACCOUNT, role="owner", name="bench")
        await close_engine(engine)
        if args.in_process:
            await measure(None, settings, key, args, now)
        else:
            with ofca_server(env) as server:
                pid = server.process.pid if server.process is not None else None
                await measure(server.http_url, settings, key, args, now, pid, name)
    finally:
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
