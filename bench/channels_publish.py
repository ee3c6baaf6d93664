"""The live-channels path alone: events published through the Channels plugin on Redis
pub/sub, received back and handed to local subscribers (as one ofca process with N
dashboards sees it). Reports CPU time per event (this process: publish, Redis round trips,
fan-out) and publish-to-subscriber latency, at fixed rates.

CPU time is what to compare on a shared machine: wall-clock latency there mostly measures
the neighbours. Runs whatever ``ofca`` is importable, so an A/B against another checkout
is ``PYTHONPATH=<other>/src python bench/channels_publish.py`` interleaved with a plain run.

    .venv/bin/python bench/channels_publish.py --rates 200,1000 --seconds 5 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis

from bench._server import REDIS_URL
from ofca.channels.plugin import create_channels_plugin
from ofca.settings import load_settings


async def _consume(subscriber: object, expected: int, latencies: list[float]) -> None:
    received = 0
    while received < expected:
        events = await subscriber.next_events()  # type: ignore[attr-defined]
        if events is None:
            return
        now = time.monotonic_ns()
        for event in events:
            latencies.append((now - int(event[:20])) / 1e6)
        received += len(events)


async def _step(rate: int, seconds: float, subscribers: int, size: int) -> dict[str, float]:
    prefix = f"bench-{secrets.token_hex(4)}"
    settings = load_settings(
        {"OFCA_REDIS_URL": REDIS_URL, "OFCA_CHANNEL_PREFIX": prefix}, dotenv=None
    )
    redis = Redis.from_url(REDIS_URL)
    plugin = create_channels_plugin(settings, redis)
    channel = f"{prefix}:acct:bench:live"
    total = int(rate * seconds)
    padding = b"x" * max(0, size - 21)
    try:
        async with plugin:
            latencies: list[list[float]] = [[] for _ in range(subscribers)]
            async with AsyncExitStack() as stack:
                subs = [
                    await stack.enter_async_context(plugin.start_subscription([channel]))
                    for _ in range(subscribers)
                ]
                await asyncio.sleep(0.2)  # subscriptions reach Redis
                consumers = [
                    asyncio.create_task(_consume(sub, total, lat))
                    for sub, lat in zip(subs, latencies, strict=True)
                ]
                cpu_before = time.process_time()
                started = time.monotonic()
                for index in range(total):
                    due = started + index / rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    plugin.publish(b"%020d " % time.monotonic_ns() + padding, channel)
                await asyncio.wait_for(asyncio.gather(*consumers), seconds + 30)
                cpu = time.process_time() - cpu_before
                wall = time.monotonic() - started
    finally:
        await redis.aclose()
    flat = sorted(value for per_sub in latencies for value in per_sub)
    return {
        "cpu_us_per_event": cpu / total * 1e6,
        "cpu_cores": cpu / wall,
        "p50_ms": statistics.median(flat),
        "p99_ms": flat[min(len(flat) - 1, int(len(flat) * 0.99))],
        "delivered": len(flat) / (total * subscribers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--size", type=int, default=600, help="bytes per event")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    rows: dict[int, list[dict[str, float]]] = {rate: [] for rate in rates}
    for run in range(1, args.runs + 1):
        for rate in rates:
            row = asyncio.run(_step(rate, args.seconds, args.subscribers, args.size))
            rows[rate].append(row)
            print(
                f"run {run} rate {rate:5d}/s: CPU {row['cpu_us_per_event']:.0f} µs/event "
                f"({row['cpu_cores']:.2f} cores), p50 {row['p50_ms']:.1f} ms, "
                f"p99 {row['p99_ms']:.1f} ms, delivered {row['delivered']:.1%}",
                flush=True,
            )
    print("\n| rate/s | runs | CPU µs/event | p50 ms | p99 ms | delivered |")
    print("|---|---|---|---|---|---|")
    for rate, results in rows.items():

        def med(key: str, results: list[dict[str, float]] = results) -> float:
            return statistics.median(r[key] for r in results)

        print(
            f"| {rate} | {len(results)} | {med('cpu_us_per_event'):.0f} | {med('p50_ms'):.1f} | "
            f"{med('p99_ms'):.1f} | {med('delivered'):.1%} |"
        )


if __name__ == "__main__":
    main()
