"""The Channels plugin, with the Redis pub/sub backend when Redis is configured.

Litestar's ``ChannelsPlugin`` is used as is for subscribing and fan-out; this subclass
fixes what STACK_NOTES measured as unsafe for a long-running service:

- the publish worker sent one event per round trip and died silently on the first
  backend error: here it drains the queue and sends a batch in one pipeline (Redis), and
  an error drops that batch, is counted, and the worker keeps going;
- the subscriber worker died for good after a Redis outage: here its failure is recorded
  and :meth:`OfcaChannelsPlugin.restart_backend` re-creates the backend and re-subscribes
  every channel that has local subscribers (``channels.monitor.ChannelsMonitor`` decides
  when);
- a full subscriber backlog was silently ignored (``backoff``) or silently dropped old
  events (``dropleft``): here the subscriber is flagged ``overflowed`` so its socket can be
  closed with a reason, and unsubscribing a full subscriber cannot hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.channels.backends.redis import RedisChannelsPubSubBackend
from litestar.channels.subscriber import Subscriber
from redis.asyncio import Redis

from ofca.settings import Settings

__all__ = ["OfcaChannelsPlugin", "OfcaSubscriber", "create_channels_plugin", "new_backend"]

log = logging.getLogger(__name__)

PUBLISH_BATCH_MAX = 500
"""Events sent per pipeline round trip; bounds one batch's latency and memory."""


class OfcaSubscriber(Subscriber):
    """A subscriber that knows when its bounded backlog overflowed, and hands over its whole
    backlog at once (:meth:`next_events`) so a socket can send it in fewer frames."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overflowed = asyncio.Event()
        self._stopping = False

    async def next_events(self) -> list[bytes] | None:
        """Every event waiting, oldest first (waits for one); ``None`` once unsubscribed."""
        if self._stopping:
            return None
        queue = self._queue
        first = await queue.get()
        queue.task_done()
        if first is None:
            self._stopping = True
            return None
        events = [first]
        while not queue.empty():
            item = queue.get_nowait()
            queue.task_done()
            if item is None:
                self._stopping = True
                break
            events.append(item)
        return events

    def put_nowait(self, item: bytes | None) -> bool:
        accepted = super().put_nowait(item)
        if not accepted and item is not None:
            self.overflowed.set()
        return accepted

    async def put(self, item: bytes | None) -> None:
        if item is None:
            # The stop marker must not wait behind a full backlog of a consumer that is
            # being dropped anyway (``ChannelsPlugin.unsubscribe`` awaits this put).
            while self._queue.full():
                with suppress(asyncio.QueueEmpty):
                    self._queue.get_nowait()
                    self._queue.task_done()
        await super().put(item)


def new_backend(redis: Redis | None) -> ChannelsBackend:
    if redis is not None:
        return RedisChannelsPubSubBackend(redis=redis)
    return MemoryChannelsBackend()


class OfcaChannelsPlugin(ChannelsPlugin):
    def __init__(self, backend: ChannelsBackend, *, settings: Settings, redis: Redis | None):
        super().__init__(
            backend=backend,
            arbitrary_channels_allowed=True,
            # Bounded: a slow dashboard cannot grow memory without bound (STACK_NOTES). With
            # "backoff" a full backlog refuses new events, which OfcaSubscriber reports.
            subscriber_max_backlog=settings.subscriber_max_backlog,
            subscriber_backlog_strategy="backoff",
            subscriber_class=OfcaSubscriber,
        )
        self.settings = settings
        self.redis = redis
        self.running = False
        self.publish_errors = 0
        """Batches the backend refused since start-up (the monitor watches it grow)."""
        self.last_publish_error: str | None = None
        self.subscriber_error: str | None = None
        """Why the subscriber worker stopped, when it did."""
        self.healthy = True
        """The monitor's verdict (``channels.monitor``): False while the backend is down."""

    async def subscribe(self, channels: str | Iterable[str], history: int | None = None) -> Any:
        """As the base method, but a backend failure does not fail the subscriber: it is
        registered locally and the monitor's backend restart subscribes its channels."""
        names = [channels] if isinstance(channels, str) else list(channels)
        subscriber = self._subscriber_class(
            plugin=self, max_backlog=self._max_backlog, backlog_strategy=self._backlog_strategy
        )
        to_subscribe = []
        for channel in names:
            members = self._channels.setdefault(channel, set())
            if not members:
                to_subscribe.append(channel)
            members.add(subscriber)
        if to_subscribe:
            try:
                await self._backend.subscribe(to_subscribe)
            except Exception as exc:
                self.subscriber_error = f"subscribe failed: {type(exc).__name__}: {exc}"
                log.warning("channels subscribe failed: %s", self.subscriber_error)
        return subscriber

    async def unsubscribe(
        self, subscriber: Subscriber, channels: str | Iterable[str] | None = None
    ) -> None:
        try:
            await super().unsubscribe(subscriber, channels)
        except Exception as exc:  # the backend is down; the local state is already clean
            log.warning("channels unsubscribe failed: %s", type(exc).__name__)

    # ----------------------------------------------------------------- workers

    @property
    def backend(self) -> ChannelsBackend:
        return self._backend

    @property
    def workers_alive(self) -> bool:
        return all(
            task is not None and not task.done() for task in (self._pub_task, self._sub_task)
        )

    async def _send_batch(self, batch: list[tuple[bytes, list[str]]]) -> None:
        backend = self._backend
        if isinstance(backend, RedisChannelsPubSubBackend) and self.redis is not None:
            pipe = self.redis.pipeline(transaction=False)
            for data, channels in batch:
                for channel in set(channels):
                    pipe.publish(channel, data)
            await pipe.execute()
            return
        for data, channels in batch:
            await backend.publish(data, channels)

    async def _pub_worker(self) -> None:
        while self._pub_queue is not None:
            queue = self._pub_queue
            batch = [await queue.get()]
            while len(batch) < PUBLISH_BATCH_MAX and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                await self._send_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Dropped: while the backend is down, live events cannot be delivered to
                # other processes; dashboards are told and resynced on recovery.
                self.publish_errors += 1
                self.last_publish_error = f"{type(exc).__name__}: {exc}"
                log.warning("channels publish failed (%d events dropped): %s", len(batch), exc)
            finally:
                for _ in batch:
                    queue.task_done()

    async def _sub_worker(self) -> None:
        try:
            async for channel, payload in self._backend.stream_events():
                for subscriber in list(self._channels.get(channel, ())):
                    subscriber.put_nowait(payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.subscriber_error = f"{type(exc).__name__}: {exc}"
            log.warning("channels subscriber worker stopped: %s", self.subscriber_error)

    async def _on_startup(self) -> None:
        await super()._on_startup()
        self.running = True

    async def _on_shutdown(self) -> None:
        self.running = False
        await super()._on_shutdown()

    # ----------------------------------------------------------------- recovery

    def active_channels(self) -> list[str]:
        return [channel for channel, subscribers in self._channels.items() if subscribers]

    def deliver_local(self, data: bytes, channels: Iterable[str] | None = None) -> None:
        """Hand ``data`` to this process's subscribers directly, bypassing the backend
        (used to tell local dashboards that the backend itself is down)."""
        targets = self.active_channels() if channels is None else list(channels)
        seen: set[int] = set()
        for channel in targets:
            for subscriber in list(self._channels.get(channel, ())):
                if id(subscriber) not in seen:
                    seen.add(id(subscriber))
                    subscriber.put_nowait(data)

    async def restart_backend(self) -> None:
        """Replace the backend with a fresh one and re-subscribe every live channel.

        Subscribers keep their queues, so sockets carry on without noticing.
        """
        if self._sub_task is not None:
            self._sub_task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._sub_task
        old = self._backend
        with suppress(Exception):
            await asyncio.wait_for(old.on_shutdown(), 2.0)
        backend = new_backend(self.redis)
        await backend.on_startup()
        channels = self.active_channels()
        if channels:
            await backend.subscribe(channels)
        self._backend = backend
        self.subscriber_error = None
        self._sub_task = asyncio.create_task(self._sub_worker())
        if self._pub_task is None or self._pub_task.done():
            self._pub_task = asyncio.create_task(self._pub_worker())


def create_channels_plugin(settings: Settings, redis: Redis | None) -> OfcaChannelsPlugin:
    return OfcaChannelsPlugin(new_backend(redis), settings=settings, redis=redis)
