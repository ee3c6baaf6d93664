"""Litestar's Channels plugin, configured for ofca through its public options.

The plugin is used as published (``publish``, ``start_subscription``, subscribers'
``run_in_background``); what it lacks for a long-running service lives in the backend
(``channels.backends``: resilient publishing and subscribing) and in the subscriber class
handed to it (:class:`OfcaSubscriber`: bounded backlogs that say when they overflow).

Measured plugin behaviour this relies on or avoids (docs/architecture.md, "Live channels"):
the default backlog is unbounded, so ofca bounds it (``OFCA_SUBSCRIBER_MAX_BACKLOG``) with
the ``backoff`` strategy; ``run_in_background(join=True)`` can hang on exit, so sockets use
``join=False``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable

from litestar.channels import ChannelsPlugin
from litestar.channels.subscriber import BacklogStrategy, Subscriber
from redis.asyncio import Redis

from ofca.channels.backends import LiveBackend, MemoryBackend, RedisPubSubBackend
from ofca.settings import Settings

__all__ = ["OfcaChannelsPlugin", "OfcaSubscriber", "create_channels_plugin", "new_backend"]


class OfcaSubscriber(Subscriber):
    """A subscriber that knows when its bounded backlog overflowed (:attr:`overflowed`),
    hands over its whole backlog at once (:meth:`next_events`) so a socket can send it in
    fewer frames, and can always be stopped (a full backlog does not block the stop
    marker)."""

    def __init__(
        self,
        plugin: ChannelsPlugin,
        max_backlog: int | None = None,
        backlog_strategy: BacklogStrategy = "backoff",
    ) -> None:
        super().__init__(plugin, max_backlog=max_backlog, backlog_strategy=backlog_strategy)
        self.overflowed = asyncio.Event()
        """Set when an event was refused because the backlog was full."""
        self._stopped = False
        self._events: AsyncGenerator[bytes, None] | None = None

    async def next_events(self) -> list[bytes] | None:
        """Every event waiting, oldest first (waits for one); ``None`` once unsubscribed."""
        if self._stopped:
            return None
        if self._events is None:
            self._events = self.iter_events()
        events: list[bytes] = []
        try:
            events.append(await anext(self._events))
            # Waiting events are taken without yielding to the loop (the queue is not
            # empty), so the batch is what had piled up at this instant.
            while self.qsize and not self._stopped:
                events.append(await anext(self._events))
        except StopAsyncIteration:
            self._stopped = True
        return events or None

    def put_nowait(self, item: bytes | None) -> bool:
        accepted = super().put_nowait(item)
        if not accepted and item is not None:
            self.overflowed.set()
        return accepted

    async def put(self, item: bytes | None) -> None:
        if item is None:
            # The stop marker (``ChannelsPlugin.unsubscribe`` awaits this put) must not
            # wait behind the full backlog of a consumer that is being dropped anyway.
            if not super().put_nowait(None):
                self._stopped = True
            return
        await super().put(item)


def new_backend(redis: Redis | None) -> LiveBackend:
    """Redis pub/sub when Redis is configured, else in-process memory (one process)."""
    return RedisPubSubBackend(redis) if redis is not None else MemoryBackend()


class OfcaChannelsPlugin(ChannelsPlugin):
    """``ChannelsPlugin`` with ofca's options, plus what publishers need at hand: the
    settings (channel prefix), the backend's health and local delivery. Nothing of the
    plugin itself is overridden."""

    def __init__(self, backend: LiveBackend, *, settings: Settings) -> None:
        super().__init__(
            backend=backend,
            arbitrary_channels_allowed=True,
            # Bounded: a slow dashboard cannot grow memory without bound. With "backoff" a
            # full backlog refuses new events, which OfcaSubscriber reports.
            subscriber_max_backlog=settings.subscriber_max_backlog,
            subscriber_backlog_strategy="backoff",
            subscriber_class=OfcaSubscriber,
        )
        self.settings = settings
        self.live_backend = backend

    @property
    def healthy(self) -> bool:
        """Whether published events can reach other processes now."""
        return self.live_backend.health.connected

    def deliver_local(self, data: bytes, channels: Iterable[str] | None = None) -> None:
        """Hand ``data`` to this process's subscribers directly, bypassing the broker."""
        self.live_backend.deliver_local(data, channels)


def create_channels_plugin(settings: Settings, redis: Redis | None) -> OfcaChannelsPlugin:
    return OfcaChannelsPlugin(new_backend(redis), settings=settings)
