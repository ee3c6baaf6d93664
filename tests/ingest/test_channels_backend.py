"""The Redis channels backend on its own, through Litestar's public plugin API: a burst
arrives complete and in order, and an outage neither raises into publishers nor ends the
subscriber's stream (litestar #5008 and the dying subscriber worker: docs/architecture.md,
"Measured behaviour"). A private redis-server, so it runs on both backends."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from ofca.channels.plugin import OfcaChannelsPlugin, OfcaSubscriber, create_channels_plugin
from ofca.settings import load_settings
from tests.support.redis import ThrowawayRedis

pytestmark = pytest.mark.slow


async def _received(subscriber: OfcaSubscriber, count: int, within: float) -> list[bytes]:
    events: list[bytes] = []
    async with asyncio.timeout(within):
        while len(events) < count:
            batch = await subscriber.next_events()
            assert batch is not None
            events += batch
    return events


@pytest.fixture
async def plugins(throwaway_redis: ThrowawayRedis) -> AsyncIterator[list[OfcaChannelsPlugin]]:
    """Two processes' worth of plugins on one Redis (a publisher and a subscriber)."""
    url = f"redis://127.0.0.1:{throwaway_redis.port}/0"
    settings = load_settings(
        {"OFCA_REDIS_URL": url, "OFCA_CHANNEL_PREFIX": f"t{secrets.token_hex(3)}"}, dotenv=None
    )
    clients = [Redis.from_url(url), Redis.from_url(url)]
    made = [create_channels_plugin(settings, client) for client in clients]
    try:
        for plugin in made:
            await plugin.__aenter__()
        yield made
    finally:
        for plugin in made:
            await plugin.__aexit__(None, None, None)
        for client in clients:
            await client.aclose()


async def test_a_burst_arrives_complete_and_in_order(
    plugins: list[OfcaChannelsPlugin],
) -> None:
    publisher, receiver = plugins
    channel = "burst:live"
    async with receiver.start_subscription([channel]) as subscriber:
        assert isinstance(subscriber, OfcaSubscriber)
        await asyncio.sleep(0.3)  # the subscription reaches Redis
        sent = [b"event %05d" % index for index in range(3000)]
        for event in sent:  # faster than round trips: the backend sends them in pipelines
            publisher.publish(event, channel)
        assert await _received(subscriber, len(sent), within=30) == sent


async def test_an_outage_neither_raises_nor_ends_the_stream(
    plugins: list[OfcaChannelsPlugin], throwaway_redis: ThrowawayRedis
) -> None:
    publisher, receiver = plugins
    channel = "outage:live"
    async with receiver.start_subscription([channel]) as subscriber:
        assert isinstance(subscriber, OfcaSubscriber)
        await asyncio.sleep(0.3)
        publisher.publish(b"before", channel)
        assert await _received(subscriber, 1, within=10) == [b"before"]

        throwaway_redis.kill()
        for index in range(200):  # every publish during the outage returns normally
            publisher.publish(b"lost %d" % index, channel)
            await asyncio.sleep(0.005)
        await publisher.wait_published(b"lost too", channel)  # the backend never raises
        health = publisher.live_backend.health
        assert not health.connected and health.outages == 1
        assert health.dropped_events >= 200

        throwaway_redis.start()
        async with asyncio.timeout(20):  # both sides reconnect by themselves
            while not (publisher.healthy and receiver.healthy):
                publisher.publish(b"probe", channel)
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        publisher.publish(b"after", channel)
        # The same subscriber, never subscribed again by anyone: its stream went on.
        async with asyncio.timeout(15):
            while True:
                events = await subscriber.next_events()
                assert events is not None
                if b"after" in events:
                    break
