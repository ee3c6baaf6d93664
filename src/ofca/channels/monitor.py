"""Health of the live channels backend, and its recovery.

:class:`ChannelsMonitor` probes the backend (Redis ping, worker liveness, publish errors).
When it fails, local dashboards get ``system_status`` ERROR and ``/health`` shows
``channels: unavailable``; when it answers again the backend is re-created, channels are
re-subscribed and dashboards get REALTIME plus a fresh full sync (events published during
the outage could not reach them). Ingestion never waits for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Literal

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import ControlEvent, encode_control, status_frame

__all__ = ["PROBE_TIMEOUT_SECONDS", "ChannelsMonitor"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0
"""``/health`` waits at most this long for Redis."""


class ChannelsMonitor:
    """Health of the channels backend, and its recovery (``app.state.channels_monitor``)."""

    def __init__(self, plugin: OfcaChannelsPlugin) -> None:
        self.plugin = plugin
        self.healthy = True
        self.detail: str | None = None
        self.recoveries = 0
        self.changed_at = datetime.now(UTC)
        self._task: asyncio.Task[None] | None = None
        self._seen_publish_errors = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ofca-channels-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self.plugin.settings.channels_probe_seconds
        while True:
            await asyncio.sleep(interval)
            if not self.plugin.running:
                continue
            try:
                await self.check()
            except Exception:  # the monitor itself must never die
                log.exception("channels monitor check failed")

    async def _unreachable(self) -> str | None:
        redis = self.plugin.redis
        if redis is None:
            return None
        try:
            await asyncio.wait_for(redis.ping(), 1.0)
        except Exception as exc:
            return f"Redis unreachable ({type(exc).__name__})"
        return None

    async def _problem(self) -> str | None:
        plugin = self.plugin
        unreachable = await self._unreachable()
        if unreachable is not None:
            return unreachable
        errors = plugin.publish_errors
        if errors != self._seen_publish_errors:
            self._seen_publish_errors = errors
            return f"publishing failed ({plugin.last_publish_error})"
        if plugin.subscriber_error is not None or not plugin.workers_alive:
            return f"subscriber stopped ({plugin.subscriber_error or 'worker ended'})"
        return None

    async def check(self) -> None:
        """One probe; marks the backend down, or recovers it once it answers again."""
        if self.healthy:
            problem = await self._problem()
            if problem is None:
                return
            self._set(False, problem)
            log.warning("live channels unavailable: %s", problem)
            self.plugin.deliver_local(status_frame("ERROR", f"Live updates interrupted: {problem}"))
            return
        # Down: recover as soon as the backend answers (the broken workers and subscriptions
        # are replaced by the restart, so they are not a reason to wait).
        unreachable = await self._unreachable()
        if unreachable is not None:
            self.detail = unreachable
            return
        try:
            await asyncio.wait_for(self.plugin.restart_backend(), 5.0)
        except Exception as exc:
            self.detail = f"recovery failed ({type(exc).__name__})"
            log.warning("live channels recovery failed: %s", exc)
            return
        self._seen_publish_errors = self.plugin.publish_errors
        self.recoveries += 1
        self._set(True, None)
        log.warning("live channels recovered (recovery #%d)", self.recoveries)
        self.plugin.deliver_local(status_frame("REALTIME", "Live updates restored"))
        for channel in self.plugin.active_channels():
            account_id = _account_of(channel)
            if account_id is not None:
                self.plugin.deliver_local(
                    encode_control(ControlEvent(action="resync", account_id=account_id)),
                    [channel],
                )

    async def state(self) -> Literal["connected", "unavailable"]:
        """For ``/health``: the last verdict, and Redis answering a ping right now."""
        if not self.healthy:
            return "unavailable"
        redis = self.plugin.redis
        if redis is None:
            return "connected"  # in-memory channels live as long as the process
        try:
            await asyncio.wait_for(redis.ping(), PROBE_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("redis probe failed: %s", type(exc).__name__)
            return "unavailable"
        return "connected"

    def _set(self, healthy: bool, detail: str | None) -> None:
        self.healthy = healthy
        self.plugin.healthy = healthy
        self.detail = detail
        self.changed_at = datetime.now(UTC)


def _account_of(channel: str) -> str | None:
    """The account of a dashboard channel name (``<prefix>:acct:<id>:live``)."""
    _head, sep, rest = channel.partition(":acct:")
    if not sep or not rest.endswith(":live"):
        return None
    return rest[: -len(":live")] or None
