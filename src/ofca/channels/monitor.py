"""Health of live delivery, as dashboards and ``/health`` see it.

:class:`ChannelsMonitor` reads the backend's public health (``channels.backends``) and
pings the broker. When live delivery fails, local dashboards get ``system_status`` ERROR
and ``/health`` shows ``channels: unavailable``; once the backend has reconnected by
itself, dashboards get REALTIME plus a fresh full sync (events published during the
outage could not reach them) and the recovery hooks run (e.g. extension presence is
written to Redis again). Ingestion never waits for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import ControlEvent, encode_control, status_frame

__all__ = ["PROBE_TIMEOUT_SECONDS", "ChannelsMonitor", "RecoveryHook"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT_SECONDS = 2.0
"""``/health`` and each probe wait at most this long for the broker."""

RecoveryHook = Callable[[], Awaitable[None]]
"""Runs after an outage, once the broker answers again (before dashboards are told)."""


class ChannelsMonitor:
    """Health of the channels backend and the recovery of its dashboards (built once by
    the app, injected)."""

    def __init__(self, plugin: OfcaChannelsPlugin) -> None:
        self.plugin = plugin
        self.backend = plugin.live_backend
        self.healthy = True
        self.detail: str | None = None
        self.recoveries = 0
        self.changed_at = datetime.now(UTC)
        self._hooks: list[RecoveryHook] = []
        self._task: asyncio.Task[None] | None = None
        self._seen_outages = 0
        self._down_at = 0.0

    def on_recovery(self, hook: RecoveryHook) -> None:
        """Run ``hook`` after each outage, once the broker answers again."""
        self._hooks.append(hook)

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
            try:
                await self.check()
            except Exception:  # the monitor itself must never die
                log.exception("channels monitor check failed")

    async def _unreachable(self) -> str | None:
        try:
            await asyncio.wait_for(self.backend.ping(), PROBE_TIMEOUT_SECONDS)
        except Exception as exc:
            return f"Redis unreachable ({type(exc).__name__})"
        return None

    async def _problem(self) -> str | None:
        health = self.backend.health
        if not health.connected:
            return f"Redis unreachable ({health.last_error})"
        if health.outages != self._seen_outages:
            # An outage began and ended between two probes: events were lost all the same.
            self._seen_outages = health.outages
            return f"Redis connection lost ({health.last_error})"
        return await self._unreachable()

    async def check(self) -> None:
        """One probe: marks live delivery down, or recovers it once the backend has
        reconnected and the broker answers."""
        if self.healthy:
            problem = await self._problem()
            if problem is not None:
                self._down(problem)
            return
        health = self.backend.health
        problem = (
            f"Redis unreachable ({health.last_error})"
            if not health.connected
            else await self._unreachable()
        )
        if problem is not None:
            self.detail = problem
            return
        await self._recover()

    def _down(self, problem: str) -> None:
        self._set(False, problem)
        self._down_at = time.monotonic()
        log.warning("live updates interrupted: %s", problem)
        self.plugin.deliver_local(status_frame("ERROR", f"Live updates interrupted: {problem}"))

    async def _recover(self) -> None:
        self._seen_outages = self.backend.health.outages
        for hook in self._hooks:
            try:
                await hook()
            except Exception as exc:
                log.warning("channels recovery hook failed: %s", type(exc).__name__)
        self.recoveries += 1
        self._set(True, None)
        log.info(
            "live updates restored after %.1f s (recovery #%d, %d events dropped so far)",
            time.monotonic() - self._down_at,
            self.recoveries,
            self.backend.health.dropped_events,
        )
        self.plugin.deliver_local(status_frame("REALTIME", "Live updates restored"))
        for channel in self.backend.channels:
            account_id = _account_of(channel)
            if account_id is not None:
                self.plugin.deliver_local(
                    encode_control(ControlEvent(action="resync", account_id=account_id)),
                    [channel],
                )

    async def state(self) -> Literal["connected", "unavailable"]:
        """For ``/health``: the last verdict, and the broker answering a ping right now."""
        if not self.healthy:
            return "unavailable"
        unreachable = await self._unreachable()
        if unreachable is not None:
            log.info("channels probe for /health failed: %s", unreachable)
            return "unavailable"
        return "connected"

    def _set(self, healthy: bool, detail: str | None) -> None:
        self.healthy = healthy
        self.detail = detail
        self.changed_at = datetime.now(UTC)


def _account_of(channel: str) -> str | None:
    """The account of a dashboard channel name (``<prefix>:acct:<id>:live``)."""
    _head, sep, rest = channel.partition(":acct:")
    if not sep or not rest.endswith(":live"):
        return None
    return rest[: -len(":live")] or None
