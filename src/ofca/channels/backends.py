"""Channels backends that survive their broker: Redis pub/sub, and in-process memory.

Litestar's ``ChannelsPlugin`` runs one publish worker and one subscriber worker over a
backend, and neither survives an exception from it (the publish worker dies on the first
failed publish, litestar #5008; the subscriber worker ends for good when a Redis outage
outlasts redis-py's reconnect attempts). So the backend itself is made resilient, and the
plugin is used as published:

- :meth:`RedisPubSubBackend.publish` never raises: it hands the event to the backend's own
  sender, which sends what piled up in one pipeline round trip (a single event alone),
  drops events while Redis is down (counted, logged once per outage) and keeps going;
- :meth:`RedisPubSubBackend.stream_events` never ends: it reconnects after an outage,
  with backoff, and subscribes every channel that has local subscribers again;
- subscribing and unsubscribing never raise either: during an outage the channel is only
  recorded, and the reconnect subscribes it.

What the backend knows about its broker is public (:class:`BackendHealth`,
:meth:`LiveBackend.ping`): ``channels.monitor`` reads it to tell dashboards and ``/health``.
:meth:`LiveBackend.deliver_local` hands an event to this process's subscribers without the
broker (to tell local dashboards that the broker itself is down).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import abstractmethod
from collections import deque
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from typing import Any

from litestar.channels.backends.base import ChannelsBackend
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

__all__ = [
    "PUBLISH_BATCH_MAX",
    "BackendHealth",
    "LiveBackend",
    "MemoryBackend",
    "RedisPubSubBackend",
]

log = logging.getLogger(__name__)

PUBLISH_BATCH_MAX = 500
"""Events sent per pipeline round trip; bounds one batch's latency and memory."""
OUTBOX_MAX = 10_000
"""Events waiting to be sent; beyond this the oldest are dropped (Redis that slow is down
for live purposes, and dashboards are resynced when it recovers)."""
LOCAL_EVENTS_MAX = 10_000
"""Events delivered in-process and not yet handed to subscribers (the plugin's worker
hands them out without waiting, so this only fills if the event loop itself is starved)."""
REDIS_TIMEOUT_SECONDS = 3.0
"""One Redis command (publish batch, subscribe, ping) gives up after this long."""
READ_TIMEOUT_SECONDS = 0.5
"""The reader wakes at least this often (to hand on local deliveries, or notice that a
publish or subscribe failed and a reconnect is due)."""
SHUTDOWN_FLUSH_SECONDS = 2.0
"""At shutdown, events still waiting are sent for at most this long."""
RECONNECT_FIRST_SECONDS = 0.25
RECONNECT_MAX_SECONDS = 2.0


@dataclass
class BackendHealth:
    """What a backend knows about its broker, for the monitor (read-only outside)."""

    connected: bool = True
    """False from the first failure of an outage until the reader has reconnected and
    subscribed every channel again."""
    outages: int = 0
    """Outages begun since start-up (one may begin and end between two probes)."""
    last_error: str | None = None
    dropped_events: int = 0
    """Events that could not be published since start-up."""
    down_since: float | None = None
    """``time.monotonic()`` of the outage's first failure, while down."""


class LiveBackend(ChannelsBackend):
    """A ``ChannelsBackend`` whose health is public and whose event stream (read by the
    plugin's subscriber worker) can also carry events delivered locally."""

    def __init__(self) -> None:
        self.health = BackendHealth()
        self._channels: set[str] = set()

    @property
    def channels(self) -> frozenset[str]:
        """Channels with local subscribers (the plugin subscribes the first, unsubscribes
        the last)."""
        return frozenset(self._channels)

    async def get_history(self, channel: str, limit: int | None = None) -> list[bytes]:
        raise NotImplementedError("ofca's channels keep no history")

    @abstractmethod
    def deliver_local(self, data: bytes, channels: Iterable[str] | None = None) -> None:
        """Hand ``data`` to this process's subscribers of ``channels`` (default: every
        channel with local subscribers) without the broker."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise if the broker does not answer now."""


class MemoryBackend(LiveBackend):
    """One process: publishing is local delivery, and there is nothing to lose."""

    def __init__(self) -> None:
        super().__init__()
        self._events: asyncio.Queue[tuple[str, bytes]] | None = None

    async def on_startup(self) -> None:
        self._events = asyncio.Queue(maxsize=LOCAL_EVENTS_MAX)

    async def on_shutdown(self) -> None:
        self._events = None

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        self.deliver_local(data, channels)

    def deliver_local(self, data: bytes, channels: Iterable[str] | None = None) -> None:
        events = self._events
        if events is None:
            return
        for channel in self._channels if channels is None else channels:
            if channel in self._channels:
                try:
                    events.put_nowait((channel, data))
                except asyncio.QueueFull:
                    log.warning("live event dropped: the event queue is full")
                    return

    async def subscribe(self, channels: Iterable[str]) -> None:
        self._channels.update(channels)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        self._channels.difference_update(channels)

    async def stream_events(self) -> AsyncGenerator[tuple[str, bytes], None]:
        events = self._events
        if events is None:
            raise RuntimeError("the backend is not started")
        while True:
            channel, data = await events.get()
            # The channel may have lost its last subscriber since the event was queued.
            if channel in self._channels:
                yield channel, data

    async def ping(self) -> None:
        return None


class RedisPubSubBackend(LiveBackend):
    """Redis pub/sub (no history; channel names go to Redis as they are, so ofca prefixes
    them itself, ``channels.names``), resilient as the module says.

    :meth:`stream_events` reads Redis itself (no extra hop per event); local deliveries
    wait in a deque it drains between reads, so they reach subscribers within
    :data:`READ_TIMEOUT_SECONDS` while Redis is up, and at once while it is down.
    """

    def __init__(self, redis: Redis) -> None:
        super().__init__()
        self.redis = redis
        self._pubsub: PubSub | None = None
        self._outbox: deque[tuple[bytes, list[str]]] = deque()
        self._outbox_ready: asyncio.Event | None = None
        self._local: deque[tuple[str, bytes]] = deque(maxlen=LOCAL_EVENTS_MAX)
        self._wakeup: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None
        self._sending = False

    # ------------------------------------------------------------------ lifecycle

    async def on_startup(self) -> None:
        self._outbox_ready = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._pubsub = self.redis.pubsub()
        self._sender = asyncio.create_task(self._send_loop(), name="ofca-channels-sender")

    async def on_shutdown(self) -> None:
        # The plugin has handed over every event published before shutdown: let the
        # sender finish them (briefly; the process is leaving), then stop it.
        deadline = time.monotonic() + SHUTDOWN_FLUSH_SECONDS
        while (self._outbox or self._sending) and self.health.connected:
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        await self._close_pubsub()

    def deliver_local(self, data: bytes, channels: Iterable[str] | None = None) -> None:
        for channel in self._channels if channels is None else channels:
            if channel in self._channels:
                self._local.append((channel, data))
        if self._wakeup is not None:
            self._wakeup.set()

    # ------------------------------------------------------------------ publishing

    async def publish(self, data: bytes, channels: Iterable[str]) -> None:
        """Queue ``data`` for the sender; returns at once and never raises."""
        if len(self._outbox) >= OUTBOX_MAX:
            self._outbox.popleft()
            self.health.dropped_events += 1
        self._outbox.append((data, list(channels)))
        if self._outbox_ready is not None:
            self._outbox_ready.set()

    def _take(self, count: int) -> list[tuple[bytes, list[str]]]:
        outbox = self._outbox
        return [outbox.popleft() for _ in range(min(count, len(outbox)))]

    async def _send_loop(self) -> None:
        ready = self._outbox_ready
        assert ready is not None
        while True:
            await ready.wait()
            ready.clear()
            while self._outbox:
                batch = self._take(PUBLISH_BATCH_MAX)
                if not self.health.connected:
                    # Down: nobody elsewhere can be reached; dashboards are told and are
                    # resynced when Redis is back.
                    self.health.dropped_events += len(batch)
                    continue
                self._sending = True
                try:
                    await self._send(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.health.dropped_events += len(batch)
                    self._mark_down(exc)
                finally:
                    self._sending = False

    async def _send(self, batch: list[tuple[bytes, list[str]]]) -> None:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            if len(batch) == 1 and len(batch[0][1]) == 1:
                data, (channel,) = batch[0]
                await self.redis.publish(channel, data)
                return
            pipe = self.redis.pipeline(transaction=False)
            for data, channels in batch:
                for channel in dict.fromkeys(channels):
                    pipe.publish(channel, data)
            await pipe.execute()

    # ------------------------------------------------------------------ subscribing

    async def subscribe(self, channels: Iterable[str]) -> None:
        """Subscribe ``channels`` now, or (Redis down) when the reader reconnects."""
        new = [channel for channel in channels if channel not in self._channels]
        self._channels.update(new)
        pubsub = self._pubsub
        if not new or pubsub is None or not self.health.connected:
            return
        try:
            await asyncio.wait_for(pubsub.subscribe(*new), REDIS_TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._mark_down(exc)  # the reader's reconnect subscribes them
        if self._wakeup is not None:
            self._wakeup.set()  # a reader idling without subscriptions starts reading now

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        gone = [channel for channel in channels if channel in self._channels]
        self._channels.difference_update(gone)
        pubsub = self._pubsub
        if not gone or pubsub is None or not self.health.connected:
            return
        try:
            await asyncio.wait_for(pubsub.unsubscribe(*gone), REDIS_TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._mark_down(exc)  # a reconnect subscribes only the channels still wanted

    async def ping(self) -> None:
        await asyncio.wait_for(self.redis.ping(), REDIS_TIMEOUT_SECONDS)

    # ------------------------------------------------------------------ reading

    async def stream_events(self) -> AsyncGenerator[tuple[str, bytes], None]:
        """Events of the subscribed channels, for as long as the plugin reads: an outage
        only pauses it (reconnect with backoff, subscribe again, carry on)."""
        delay = RECONNECT_FIRST_SECONDS
        while True:
            while self._local:
                channel, data = self._local.popleft()
                if channel in self._channels:
                    yield channel, data
            if not self.health.connected:
                try:
                    await self._reconnect()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._mark_down(exc)
                    await self._wait_local(delay)
                    delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                    continue
                delay = RECONNECT_FIRST_SECONDS
                self._mark_up()
                continue
            try:
                message = await self._next_message()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._mark_down(exc)
                continue
            if message is not None:
                channel = message["channel"].decode()
                if channel in self._channels:
                    yield channel, message["data"]

    async def _next_message(self) -> dict[str, Any] | None:
        """The next published message (waits at most :data:`READ_TIMEOUT_SECONDS`)."""
        pubsub = self._pubsub
        if pubsub is None or not pubsub.subscribed:
            await self._wait_local(READ_TIMEOUT_SECONDS)  # nothing subscribed yet
            return None
        # Bounded: redis-py retries a lost connection with backoff inside this call, and
        # local deliveries (the news that Redis is down) must not wait for that.
        async with asyncio.timeout(READ_TIMEOUT_SECONDS + REDIS_TIMEOUT_SECONDS):
            message: dict[str, Any] | None = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=READ_TIMEOUT_SECONDS
            )
        if message is None or message.get("type") != "message":
            return None
        return message

    async def _wait_local(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when an event is delivered locally or a channel is
        subscribed meanwhile."""
        ready = self._wakeup
        if ready is None or self._local:
            return
        ready.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), seconds)

    async def _reconnect(self) -> None:
        """A fresh pub/sub connection subscribed to exactly the wanted channels."""
        await self._close_pubsub()
        pubsub = self.redis.pubsub()
        try:
            await self.ping()
            # Channels may come and go while we wait on Redis: repeat until it matches.
            subscribed: set[str] = set()
            while subscribed != self._channels:
                missing = sorted(self._channels - subscribed)
                extra = sorted(subscribed - self._channels)
                if missing:
                    await asyncio.wait_for(pubsub.subscribe(*missing), REDIS_TIMEOUT_SECONDS)
                if extra:
                    await asyncio.wait_for(pubsub.unsubscribe(*extra), REDIS_TIMEOUT_SECONDS)
                subscribed = (subscribed | set(missing)) - set(extra)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), REDIS_TIMEOUT_SECONDS)
            raise
        self._pubsub = pubsub

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), REDIS_TIMEOUT_SECONDS)

    # ------------------------------------------------------------------ health

    def _mark_down(self, exc: BaseException) -> None:
        health = self.health
        health.last_error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if not health.connected:
            return
        health.connected = False
        health.outages += 1
        health.down_since = time.monotonic()
        # Once per outage, not per event: the monitor reports the outage to dashboards.
        log.info("Redis unavailable for live channels (%s); reconnecting", type(exc).__name__)

    def _mark_up(self) -> None:
        health = self.health
        if health.connected:
            return
        since = health.down_since or time.monotonic()
        health.connected = True
        health.down_since = None
        log.info(
            "Redis back for live channels after %.1f s (%d live events dropped so far)",
            time.monotonic() - since,
            health.dropped_events,
        )
