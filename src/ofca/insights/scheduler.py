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

A refresh that fails (the database went away, or a bug) leaves its marks, and the chats
are tried again after :data:`RETRY_FIRST_SECONDS`, doubling up to
:data:`RETRY_MAX_SECONDS`. Every refresh runs in a task of its own
(``loop.in_own_task``): a transaction left behind by a lost connection dies with it
instead of poisoning the sweeper or an account's refresh loop. :attr:`failing` names the
accounts whose last refresh here failed; ``/health`` says ``degraded`` while there are any.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from ofca.channels.plugin import OfcaChannelsPlugin
from ofca.channels.publish import publish_to_dashboards
from ofca.domain.insights import AnalyticsSnapshot
from ofca.domain.wss import AnalyticsUpdate
from ofca.insights.queries import analytics_snapshot
from ofca.insights.refresh import refresh_chats
from ofca.insights.worker import InsightsWorker, WorkerUnavailable, worker_for
from ofca.loop import in_own_task
from ofca.persistence.faults import is_database_unavailable
from ofca.persistence.refresh_marks import overdue_marks, widen_since
from ofca.settings import Settings

__all__ = [
    "REFRESH_BATCH_CHATS",
    "InsightsScheduler",
    "SweepResult",
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

RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
"""A failed refresh is tried again after 1 s, 2 s, 4 s, ... at most this long apart."""
OUTAGE_WARNING_SECONDS = 30.0
"""While the database (or the worker) is unavailable, that is logged once per this
interval, not once per refresh."""

Progress = Callable[[float], None]
"""Told the fraction of a long refresh done so far."""

Due = dict[str, datetime | None]
"""Chats to refresh: each from its instant on, or whole for None."""


class SweepResult(msgspec.Struct, frozen=True):
    refreshed: int
    """Overdue chats re-derived."""
    failed: int
    """Overdue chats whose refresh failed (they stay marked)."""


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
        self._retry_after: dict[str, float] = {}
        """Per account whose refresh failed: the wait before its next try."""
        self.failing: dict[str, str] = {}
        """Accounts whose last refresh in this process failed: the error's type."""
        self.sweep_error: str | None = None
        """Why the last sweep could not even look for overdue chats, if it could not."""
        self._logged_at: dict[str, float] = {}

    def start_worker(self, *, own_engine: bool) -> None:
        """Use an insights worker process when the settings ask for one (Postgres)."""
        self.worker = worker_for(self.settings, own_engine=own_engine)

    @property
    def refreshes_failing(self) -> bool:
        """Whether insight rows may be falling behind: the last refresh of some account
        failed here, or the last sweep did (``/health`` then says ``degraded``)."""
        return bool(self.failing) or self.sweep_error is not None

    async def stop(self) -> None:
        for task in [*self._tasks.values(), *self._analytics_due.values()]:
            task.cancel()
        if self.worker is not None:
            await self.worker.stop()

    # ----------------------------------------------------------------- refreshing

    async def refresh_chats(
        self, account_id: str, chat_ids: Sequence[str], since: Mapping[str, datetime]
    ) -> bool:
        """Recompute the insight rows of exactly these chats, those in ``since`` from that
        instant on: in the worker process when there is one, else here in a task of its
        own. Never raises; returns whether it worked (if not, the chats stay marked and
        :attr:`failing` names the account)."""
        if not chat_ids:
            return True
        since = {chat_id: since[chat_id] for chat_id in chat_ids if chat_id in since}
        try:
            if self.worker is not None:
                try:
                    await self.worker.refresh(account_id, chat_ids, since)
                    self.failing.pop(account_id, None)
                    return True
                except WorkerUnavailable as exc:
                    if self._time_to_log("worker"):
                        log.warning("insights worker unavailable (%s); refreshing in-process", exc)
            await in_own_task(
                refresh_chats(account_id, chat_ids, settings=self.settings, since=since)
            )
        except Exception as exc:
            self._failed(account_id, len(chat_ids), exc)
            return False
        self.failing.pop(account_id, None)
        return True

    def _failed(self, account_id: str, chats: int, exc: Exception) -> None:
        self.failing[account_id] = type(exc).__name__
        if not is_database_unavailable(exc):
            log.error("refreshing %d chats of %s failed", chats, account_id, exc_info=exc)
            return
        if self._time_to_log("outage"):  # an outage fails every refresh: say so now and then
            log.warning(
                "insight refreshes fail: the database is unavailable (%s); the chats stay "
                "marked and are retried",
                type(exc).__name__,
            )

    def _time_to_log(self, what: str) -> bool:
        now = time.monotonic()
        if now - self._logged_at.get(what, -OUTAGE_WARNING_SECONDS) < OUTAGE_WARNING_SECONDS:
            return False
        self._logged_at[what] = now
        return True

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
        ``progress(fraction)`` is told after each batch. Chats whose refresh failed are
        tried again later."""
        failed = await self._refresh_batches(account_id, due, progress)
        if failed:
            self._retry(account_id, failed)
        if publish:
            await self.publish_analytics(account_id)

    async def _refresh_batches(
        self, account_id: str, due: Mapping[str, datetime | None], progress: Progress | None
    ) -> Due:
        """Refresh ``due`` in batches; returns the chats whose refresh failed."""
        ordered = sorted(due)
        since = {chat_id: at for chat_id, at in due.items() if at is not None}
        failed: Due = {}
        for start in range(0, len(ordered), REFRESH_BATCH_CHATS):
            batch = ordered[start : start + REFRESH_BATCH_CHATS]
            if not await self.refresh_chats(account_id, batch, since):
                failed.update((chat_id, due[chat_id]) for chat_id in batch)
            if progress is not None:
                progress(min(1.0, (start + REFRESH_BATCH_CHATS) / len(ordered)))
        if not failed:
            self._retry_after.pop(account_id, None)
        return failed

    def _retry(self, account_id: str, failed: Due) -> None:
        """Try these chats again after the account's current back-off (which then doubles)."""
        delay = self._retry_after.get(account_id, RETRY_FIRST_SECONDS / 2) * 2
        self._retry_after[account_id] = min(RETRY_MAX_SECONDS, delay)
        self.schedule_refresh(account_id, failed)

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
        failed: Due = {}
        try:
            previous = self._started.get(account_id, -REFRESH_INTERVAL_SECONDS)
            next_start = previous + REFRESH_INTERVAL_SECONDS - time.monotonic()
            retry = self._retry_after.get(account_id, 0.0)
            await asyncio.sleep(max(REFRESH_DEBOUNCE_SECONDS, next_start, retry))
            self._started[account_id] = time.monotonic()
            while self._due.get(account_id):
                due = self._due.pop(account_id)
                for chat_id, instant in (
                    await self._refresh_batches(account_id, due, None)
                ).items():
                    widen_since(failed, chat_id, instant)
            await self.publish_analytics(account_id)
        finally:
            self._tasks.pop(account_id, None)
        if failed:  # after the task is gone, so the retry gets a task of its own
            self._retry(account_id, failed)

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

    async def sweep_overdue(self, older_than: timedelta) -> SweepResult:
        """Re-derive every chat marked before ``older_than`` ago: how many were, and how
        many failed (they stay marked for the next sweep)."""
        due = await overdue_marks(older_than)
        failed = 0
        for account_id, chats in due.items():
            not_done = await self._refresh_batches(account_id, chats, None)
            if not_done:
                failed += len(not_done)
                self._retry(account_id, not_done)
            await self.publish_analytics(account_id)
        return SweepResult(refreshed=sum(map(len, due.values())) - failed, failed=failed)

    async def run_sweeper(self, interval: float) -> None:
        """Sweep every ``interval`` seconds until cancelled, each sweep in a task of its own."""
        while True:
            await asyncio.sleep(interval)
            try:
                result = await in_own_task(self.sweep_overdue(timedelta(seconds=2 * interval)))
            except Exception as exc:
                self.sweep_error = type(exc).__name__
                log.warning(
                    "sweeping overdue insight refreshes failed (%s)",
                    type(exc).__name__,
                    exc_info=not is_database_unavailable(exc),
                )
                continue
            self.sweep_error = None
            if result.refreshed:
                log.warning(
                    "re-derived %d chats whose insight refresh was overdue", result.refreshed
                )
            if result.failed:
                log.warning("could not re-derive %d overdue chats; they stay marked", result.failed)
