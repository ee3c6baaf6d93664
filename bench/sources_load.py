"""Sources and the conversations API under load, on a throwaway Postgres database + Redis.

1. Webhook ingestion: ``--webhooks`` seed-004 transcripts of ``--lines`` lines each, sent
   by ``--concurrency`` clients to a live ofca (uvicorn, one worker); prints requests/s,
   lines/s and latency p50/p95, then the same bodies again (all duplicates).
2. Conversations API at scale: ``--chats`` chats of ``--per-chat`` messages loaded with
   COPY (read models built with ``refresh_chats``), then p50/p95 of the list with each
   filter, a summary, a message page, and the time and server peak RSS of streaming the
   whole session export (CSV) and message export (NDJSON).

    .venv/bin/python bench/sources_load.py --webhooks 300 --lines 20 --chats 20000 --per-chat 25

Measured 2026-11-22 on the shared dev machine (Postgres 15, Redis 7, one uvicorn worker;
other test runs in parallel, load average 3-4, so treat these as upper bounds):

- webhooks, 20-line transcripts, 8 concurrent clients, one account: 26-27 req/s (~520
  lines/s), p50 ~290 ms, p95 ~450 ms (every line stored, enriched, its chat's insights
  refreshed, one ``append_message`` per line); re-sending them (all duplicates): 41-104
  req/s. One account's writes are serialized (ingest's per-account lock).
- 20,000 chats x 25 messages (500k): list default p50 147 ms, ``fan=`` 26 ms,
  ``status=open`` 452 ms, ``q=`` 516 ms, ``topic=`` 412 ms (the last three evaluate a
  per-chat probe or a LIKE scan over the account's messages: no trigram index);
  summary 3 ms; message page 3 ms; session export (CSV, 21 MB) 8 s; message export
  (NDJSON, 153 MB) 7 s; server peak RSS 91 MiB during both exports (streamed).
  At load average 9 the same run was about 2x slower.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import REDIS_URL, make_account_keys, ofca_server, throwaway_database
from ofca.domain.taxonomy import DEFAULT_TOPICS
from ofca.insights.refresh import refresh_chats
from ofca.persistence.engine import close_engine, open_engine
from ofca.settings import load_settings

ACCOUNT = "bench-sources"
TOPIC_IDS = [rule.id for rule in DEFAULT_TOPICS]
TEXTS = ["hey babe", "<p>send me a pic?</p>", "how much is the ppv", "thanks for the tip", "ok"]
MESSAGE_COLUMNS = (
    "account_id",
    "message_id",
    "chat_id",
    "direction",
    "created_at",
    "text",
    "raw",
    "content_hash",
    "source",
    "sentiment",
    "topics",
    "enriched",
    "ingested_at",
    "version",
)
CHAT_COLUMNS = (
    "account_id",
    "chat_id",
    "fan_id",
    "fan_name",
    "fan_username",
    "source",
    "created_at",
    "updated_at",
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def transcript_body(index: int, lines: int) -> dict:
    start = datetime(2024, 1, 15, 10, tzinfo=UTC) + timedelta(hours=index)
    return {
        "emailId": f"fan{index}@example.com",
        "accountId": "bench",
        "conversationId": f"bench_{index}",
        "transcript": [
            {
                "timestamp": (start + timedelta(seconds=40 * line)).isoformat(),
                "speaker": "user" if line % 2 == 0 else "agent",
                "content": TEXTS[line % len(TEXTS)] + f" #{line}",
                "messageId": f"m{line}",
            }
            for line in range(lines)
        ],
        "metadata": {
            "agentId": "agent_1",
            "duration": 40 * lines,
            "messageCount": lines,
            "platform": "web",
            "userAgent": "bench",
        },
    }


async def send_webhooks(base_url: str, key: str, bodies: list[dict], concurrency: int) -> None:
    queue: asyncio.Queue[dict] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    timings: list[float] = []
    statuses: dict[str, int] = {}

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            began = time.perf_counter()
            response = await client.post(
                "/api/v1/webhook/conversation",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
            )
            timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, response.text
            status = response.json()["data"]["status"]
            statuses[status] = statuses.get(status, 0) + 1

    began = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    took = time.perf_counter() - began
    lines = sum(len(body["transcript"]) for body in bodies)
    print(
        f"  {len(bodies)} webhooks ({lines} lines) in {took:.1f} s: "
        f"{len(bodies) / took:.0f} req/s, {lines / took:,.0f} lines/s, "
        f"p50 {percentile(timings, 0.5):.0f} ms, p95 {percentile(timings, 0.95):.0f} ms, "
        f"statuses {statuses}",
        flush=True,
    )


def generate(chats: int, per_chat: int, now: datetime) -> tuple[list[tuple], list[tuple]]:
    rng = random.Random(7)
    chat_rows: list[tuple] = []
    message_rows: list[tuple] = []
    for chat_index in range(chats):
        chat_id = f"chat{chat_index:06d}"
        chat_rows.append(
            (ACCOUNT, chat_id, f"fan{chat_index}", f"Fan Number {chat_index}",
             f"fan_{chat_index}", "onlyfans", now, now)
        )  # fmt: skip
        moment = now - timedelta(days=rng.random() * 90)
        direction = "inbound"
        for index in range(per_chat):
            moment += timedelta(seconds=rng.choice((10, 45, 90, 130, 300, 3600)))
            direction = "outbound" if direction == "inbound" and rng.random() < 0.7 else "inbound"
            topics = rng.sample(TOPIC_IDS, rng.choice((0, 1, 1, 2)))
            message_rows.append(
                (ACCOUNT, f"{chat_id}-{index:04d}", chat_id, direction, moment,
                 rng.choice(TEXTS), "{}", secrets.token_hex(8), "onlyfans", rng.random(),
                 '["' + '","'.join(sorted(topics)) + '"]' if topics else "[]", True, now, 1)
            )  # fmt: skip
    return chat_rows, message_rows


async def load(database_url: str, chats: int, per_chat: int, read_models: bool) -> None:
    now = datetime.now(UTC)
    chat_rows, message_rows = generate(chats, per_chat, now)
    connection = await asyncpg.connect(database_url)
    try:
        began = time.perf_counter()
        await connection.copy_records_to_table("ofca_chat", records=chat_rows, columns=CHAT_COLUMNS)
        await connection.copy_records_to_table(
            "ofca_message", records=message_rows, columns=MESSAGE_COLUMNS
        )
        await connection.execute("VACUUM ANALYZE ofca_message")
        await connection.execute("VACUUM ANALYZE ofca_chat")
        print(f"  COPY {len(message_rows):,} messages: {time.perf_counter() - began:.1f} s")
    finally:
        await connection.close()
    if not read_models:
        return  # the conversations API and exports do not read them
    settings = load_settings({"OFCA_DATABASE_URL": database_url}, dotenv=None)
    engine = await open_engine(settings)
    try:
        began = time.perf_counter()
        ids = [row[1] for row in chat_rows]
        for index in range(0, len(ids), 500):
            await refresh_chats(ACCOUNT, ids[index : index + 500], settings=settings)
        print(f"  read models: {time.perf_counter() - began:.1f} s")
    finally:
        await close_engine(engine)


async def measure_api(base_url: str, key: str, requests: int) -> None:
    cases = [
        ("list default", "/api/v1/conversations", {}),
        ("list status=open", "/api/v1/conversations", {"status": "open"}),
        ("list fan=number 1234", "/api/v1/conversations", {"fan": "number 1234"}),
        ("list q=ppv", "/api/v1/conversations", {"q": "ppv"}),
        ("list topic=tips_gifts", "/api/v1/conversations", {"topic": "tips_gifts"}),
        ("list page=50 limit=100", "/api/v1/conversations", {"page": 50, "limit": 100}),
        ("summary", "/api/v1/conversations/chat000042", {}),
        ("messages page", "/api/v1/conversations/chat000042/messages", {"limit": 50}),
    ]
    headers = {"Authorization": f"Bearer {key}"}
    print(f"\n  {'request':<28} {'p50 ms':>8} {'p95 ms':>8}")
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as client:
        for label, path, params in cases:
            timings: list[float] = []
            for attempt in range(requests + 2):
                began = time.perf_counter()
                response = await client.get(path, params=params, headers=headers)
                if attempt >= 2:  # warm-up
                    timings.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, response.text
            print(f"  {label:<28} {percentile(timings, 0.5):8.1f} {percentile(timings, 0.95):8.1f}")
        for label, path, params in (
            ("export sessions csv", "/api/v1/export/conversations", {"format": "csv"}),
            ("export messages ndjson", "/api/v1/export/messages", {}),
        ):
            began = time.perf_counter()
            size = 0
            async with client.stream("GET", path, params=params, headers=headers) as response:
                assert response.status_code == 200
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
            print(f"  {label:<28} {time.perf_counter() - began:6.1f} s, {size / 1e6:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--chats", type=int, default=20000)
    parser.add_argument("--per-chat", type=int, default=25)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument(
        "--read-models", action="store_true", help="also build the insights read models (slow)"
    )
    args = parser.parse_args()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with throwaway_database() as database_url:
        env = {
            "OFCA_DATABASE_URL": database_url,
            "OFCA_REDIS_URL": REDIS_URL,
            "OFCA_CHANNEL_PREFIX": f"bench{secrets.token_hex(3)}",
            "OFCA_REST_RATE_LIMIT_PER_MINUTE": "10000000",
            "OFCA_IP_RATE_LIMIT_PER_MINUTE": "10000000",
        }
        with ofca_server(env) as server:
            [key] = asyncio.run(make_account_keys(database_url, ACCOUNT, ["owner"]))
            print("webhook ingestion:")
            bodies = [transcript_body(index, args.lines) for index in range(args.webhooks)]
            asyncio.run(send_webhooks(server.http_url, key, bodies, args.concurrency))
            print("same bodies again (duplicates):")
            asyncio.run(send_webhooks(server.http_url, key, bodies, args.concurrency))
            print(f"conversations API, {args.chats:,} chats x {args.per_chat} messages:")
            asyncio.run(load(database_url, args.chats, args.per_chat, args.read_models))
            asyncio.run(measure_api(server.http_url, key, args.requests))
            print(f"  server peak RSS: {server.peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
