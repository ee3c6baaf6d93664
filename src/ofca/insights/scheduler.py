"""When insight rows are re-derived: soon after a change, and by a sweep when nobody did.

Every write of new or edited messages marks their chats in the same transaction
(``persistence.refresh_marks``), and the refresh that re-derives a chat removes exactly the
mark it read (``insights.refresh.refresh_chats``). :class:`InsightsScheduler` is the
insights side of that contract (``RefreshScheduler``): writers hand it the chats they
changed and it refreshes them a moment later, in the insights worker process when there is
one (``insights.worker``), then publishes ``analytics_update``.

Recomputing a chat's sessions reads its messages; doing that once per delta would cap an
account at a few dozen deltas per second, and the dashboards already got each message the
moment it was stored. A quiet account's first change is refreshed after
:data:`REFRESH_DEBOUNCE_SECONDS`; a busy account's at most every
:data:`REFRESH_INTERVAL_SECONDS`, each refresh then covering more chats.

The debounce lives in this process's memory; if the process dies first, the mark stays.
Every served process therefore sweeps: each ``OFCA_REFRESH_SWEEP_SECONDS`` it re-derives
the chats marked more than twice that long ago. Several processes may sweep the same mark;
the refreshes serialize on the account lock and the second finds its work done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import publish_to_dashboards
from ofca.domain.insights import AnalyticsSnapshot
from ofca.domain.wss import AnalyticsUpdate
from ofca.insights.queries import analytics_snapshot
from ofca.insights.refresh import refresh_chats
from ofca.insights.worker import InsightsWorker, WorkerUnavailable, worker_for
from ofca.persistence.refresh_marks import overdue_marks, widen_since
from ofca.settings import Settings

__all__ = [
    "REFRESH_BATCH_CHATS",
    "InsightsScheduler",
]

log = logging.getLogger(__name__)

REFRESH_BATCH_CHATS = 25
"""Chats whose insight rows are recomputed per transaction (a snapshot's thousands of
chats are many short transactions, so deltas and other accounts are not held up)."""
REFRESH_DEBOUNCE_SECONDS = 0.5
"""Deltas' chats are refreshed together, this long after the first of a burst."""
ANALYTICS_DEBOUNCE_SECONDS = 2.0
"""A burst of changes that need no refresh publishes ``analytics_update`` once, this long
after its first change."""
REFRESH_INTERVAL_SECONDS = 2.0
"""Under sustained deltas an account's refreshes start at least this far apart: each then
covers more chats at once, and fewer refreshes compete with the deltas for the loop."""

Progress = Callable[[float], None]
"""Told the fraction of a long refresh done so far."""


class InsightsScheduler:
    """Refreshes of insight rows for one served process (built once by the app)."""

    def __init__(self, settings: Settings, channels: OfcaChannelsPlugin) -> None:
        self.settings = settings
        self.channels = channels
        self.worker: InsightsWorker | None = None
        self._due: dict[str, dict[str, datetime | None]] = {}
        """Per account, the chats waiting for a refresh: each from the instant its changes
        start at, or None for the whole chat."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started: dict[str, float] = {}
        self._analytics_due: dict[str, asyncio.Task[None]] = {}

    def start_worker(self, *, own_engine: bool) -> None:
        """Use an insights worker process when the settings ask for one (Postgres)."""
        self.worker = worker_for(self.settings, own_engine=own_engine)

    async def stop(self) -> None:
        for task in [*self._tasks.values(), *self._analytics_due.values()]:
            task.cancel()
        if self.worker is not None:
            await self.worker.stop()

    # ----------------------------------------------------------------- refreshing

    async def refresh_chats(
        self, account_id: str, chat_ids: Sequence[str], since: Mapping[str, datetime]
    ) -> None:
        """Recompute the insight rows of exactly these chats, those in ``since`` from that
        instant on: in the worker process when there is one, else here. Never raises: the
        chats stay marked, so a later refresh or the sweep does them."""
        if not chat_ids:
            return
        since = {chat_id: since[chat_id] for chat_id in chat_ids if chat_id in since}
        try:
            if self.worker is not None:
                try:
                    await self.worker.refresh(account_id, chat_ids, since)
                    return
                except WorkerUnavailable as exc:
                    log.warning("insights worker unavailable (%s); refreshing in-process", exc)
            await refresh_chats(account_id, chat_ids, settings=self.settings, since=since)
        except Exception:
            log.exception("refreshing %d chats of %s failed", len(chat_ids), account_id)

    async def refresh_now(
        self,
        account_id: str,
        due: Mapping[str, datetime | None],
        *,
        publish: bool = True,
        progress: Progress | None = None,
    ) -> None:
        """Refresh these chats (each from its instant on, or whole for None) in batches of
        :data:`REFRESH_BATCH_CHATS`, then (``publish``) the account's ``analytics_update``.
        ``progress(fraction)`` is told after each batch."""
        ordered = sorted(due)
        since = {chat_id: at for chat_id, at in due.items() if at is not None}
        for start in range(0, len(ordered), REFRESH_BATCH_CHATS):
            await self.refresh_chats(
                account_id, ordered[start : start + REFRESH_BATCH_CHATS], since
            )
            if progress is not None:
                progress(min(1.0, (start + REFRESH_BATCH_CHATS) / len(ordered)))
        if publish:
            await self.publish_analytics(account_id)

    def schedule_refresh(self, account_id: str, due: Mapping[str, datetime | None]) -> None:
        """Refresh these chats shortly, together with every other chat the account's next
        changes touch, then publish ``analytics_update``. ``due[chat]``: every change of
        that chat lies at or after this instant (new messages), so only its rows from there
        on are re-derived; None re-derives it whole."""
        waiting = self._due.setdefault(account_id, {})
        for chat_id, instant in due.items():
            widen_since(waiting, chat_id, instant)
        if account_id not in self._tasks:
            self._tasks[account_id] = asyncio.create_task(self._refresh_soon(account_id))

    async def _refresh_soon(self, account_id: str) -> None:
        try:
            previous = self._started.get(account_id, -REFRESH_INTERVAL_SECONDS)
            next_start = previous + REFRESH_INTERVAL_SECONDS - time.monotonic()
            await asyncio.sleep(max(REFRESH_DEBOUNCE_SECONDS, next_start))
            self._started[account_id] = time.monotonic()
            while self._due.get(account_id):
                await self.refresh_now(account_id, self._due.pop(account_id), publish=False)
            await self.publish_analytics(account_id)
        finally:
            self._tasks.pop(account_id, None)

    # ----------------------------------------------------------------- analytics

    async def analytics(self, account_id: str) -> AnalyticsSnapshot | None:
        """The account's analytics snapshot (``analytics_update``, full syncs), or None
        when it cannot be computed now (logged)."""
        try:
            return await analytics_snapshot(account_id, self.settings)
        except Exception:
            log.exception("analytics of %s unavailable", account_id)
            return None

    def schedule_analytics(self, account_id: str) -> None:
        """Publish ``analytics_update`` once for a burst of changes (not once per change)."""
        if account_id not in self._analytics_due:
            self._analytics_due[account_id] = asyncio.create_task(self._publish_later(account_id))

    async def _publish_later(self, account_id: str) -> None:
        try:
            await asyncio.sleep(ANALYTICS_DEBOUNCE_SECONDS)
            await self.publish_analytics(account_id)
        finally:
            self._analytics_due.pop(account_id, None)

    async def publish_analytics(self, account_id: str) -> None:
        snapshot = await self.analytics(account_id)
        if snapshot is not None:
            publish_to_dashboards(self.channels, account_id, AnalyticsUpdate(payload=snapshot))

    # ----------------------------------------------------------------- the sweep

    async def sweep_overdue(self, older_than: timedelta) -> int:
        """Re-derive every chat marked before ``older_than`` ago; returns how many."""
        due = await overdue_marks(older_than)
        for account_id, chats in due.items():
            await self.refresh_now(account_id, chats)
        return sum(len(chats) for chats in due.values())

    async def run_sweeper(self, interval: float) -> None:
        """Sweep every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                swept = await self.sweep_overdue(timedelta(seconds=2 * interval))
            except Exception:
                log.exception("sweeping overdue insight refreshes failed")
                continue
            if swept:
                log.warning("re-derived %d chats whose insight refresh was overdue", swept)
