"""Insight refresh (``ofca.insights.projector.refresh_chats``): time and longest event-loop stall.

Loads synthetic, already enriched messages (``bench/insights_load.py``'s generator: default
100k messages in 2000 chats) into a throwaway Postgres database with COPY, or a SQLite
file with ``--sqlite``, then refreshes every chat in batches of each ``--batches`` size (25
is what ingest does after a snapshot; deltas refresh whatever a burst touched), ``--runs``
times, on uvloop with ``bench/loop_stalls.py``'s watchdog on the loop. Reports per batch
size: the time for all chats, per batch, and the longest stalls with their origin. The
first pass (rows created) is a warm-up; the measured ones replace existing rows, as ingest
does.

    .venv/bin/python bench/refresh_stalls.py --messages 100000 --chats 2000 --batches 25,500
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.insights_load import ACCOUNT, ADMIN_URL, COLUMNS, generate, with_database
from bench.loop_stalls import Watchdog, describe
from ofca.insights.refresh import refresh_chats
from ofca.persistence.engine import close_engine, open_engine
from ofca.persistence.migrate import migrate
from ofca.settings import Settings, load_settings


async def _load(settings: Settings, rows: list[tuple], sqlite: bool) -> None:
    if not sqlite:
        connection = await asyncpg.connect(settings.database_url)
        try:
            await connection.copy_records_to_table("ofca_message", records=rows, columns=COLUMNS)
        finally:
            await connection.close()
        return
    import sqlite3

    import piccolo.engine.sqlite  # noqa: F401  (registers the adapters ofca's rows are stored with)

    path = settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        connection.executemany(
            f"INSERT INTO ofca_message ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in COLUMNS)})",
            rows,
        )


async def _measure(settings: Settings, args: argparse.Namespace, chat_ids: list[str]) -> None:
    engine = await open_engine(settings)
    try:
        for size in (int(s) for s in args.batches.split(",")):
            totals: list[float] = []
            per_batch: list[float] = []
            longest: list[float] = []
            for run in range(args.runs + 1):
                with Watchdog(None, args.stall_ms) as dog:
                    began = time.perf_counter()
                    for start in range(0, len(chat_ids), size):
                        batch_began = time.perf_counter()
                        await refresh_chats(
                            ACCOUNT, chat_ids[start : start + size], settings=settings
                        )
                        per_batch.append(time.perf_counter() - batch_began)
                    took = time.perf_counter() - began
                    await asyncio.sleep(0.05)  # let the watchdog record a stall at the end
                if run == 0:
                    per_batch.clear()
                    continue  # warm-up: rows created, caches filled
                totals.append(took)
                longest.append(max((s.ms for s in dog.stalls), default=0.0))
                print(
                    f"batches of {size}: {len(chat_ids)} chats in {took:.2f} s; load average "
                    f"{os.getloadavg()[0]:.1f}\n  {describe(dog.stalls)}",
                    flush=True,
                )
            print(
                f"== batches of {size}, median of {args.runs}: all chats "
                f"{statistics.median(totals):.2f} s, per batch median "
                f"{statistics.median(per_batch) * 1000:.0f} ms, longest stall "
                f"{statistics.median(longest):.0f} ms (max {max(longest):.0f} ms)\n",
                flush=True,
            )
    finally:
        await close_engine(engine)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--batches", default="25,500", help="chats per refresh_chats call")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stall-ms", type=float, default=20.0)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of Postgres")
    args = parser.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    rows = generate(args.messages, args.chats, now)
    chat_ids = sorted({row[2] for row in rows})
    with tempfile.TemporaryDirectory() as folder:
        if args.sqlite:
            url, admin, name = f"sqlite:///{folder}/bench.sqlite", None, ""
        else:
            name = f"ofca_bench_refresh_{secrets.token_hex(4)}"
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'CREATE DATABASE "{name}"')
            url = with_database(ADMIN_URL, name)
        try:
            settings = load_settings({"OFCA_DATABASE_URL": url}, dotenv=None)
            engine = await open_engine(settings)
            await migrate(engine)
            await close_engine(engine)
            await _load(settings, rows, args.sqlite)
            del rows
            print(
                f"{args.messages} messages in {len(chat_ids)} chats on "
                f"{'SQLite' if args.sqlite else 'Postgres'}",
                flush=True,
            )
            await _measure(settings, args, chat_ids)
        finally:
            if admin is not None:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
