"""Insight refreshes off the event loop: a worker process recomputes the read models.

Recomputing a chat's insight rows (``insights.refresh.refresh_chats``) is Python work that grows
with the chat. Under sustained deltas it took a third of a server's event loop and, even
cut into 5 ms slices, every live event waited behind those slices. On Postgres each served
process therefore hands its refreshes to a worker process of its own
(``OFCA_INSIGHTS_WORKER``, on by default): the same code, the same transaction and account
lock, a small connection pool of its own, and a lower CPU priority (nice 10), so live
traffic gets the cores first. The worker exits with its server, even after a kill -9
(``PR_SET_PDEATHSIG``, and it also watches its parent). If it cannot start or dies, the
refresh runs in the server process as before, and the next refresh starts a new worker.
SQLite (embedded, one process) always refreshes in-process.

Each job runs in a task of its own, so a transaction left behind by a lost connection
dies with its job. A job that failed because the database connection was lost
(``persistence.faults.is_database_unavailable``) also retires the worker: its refresh
falls back to the server process and a fresh worker, with a fresh pool, takes the
refreshes after :data:`RESTART_PAUSE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from multiprocessing.connection import Connection

import msgspec

from ofca.insights.refresh import refresh_chats
from ofca.loop import in_own_task
from ofca.persistence.engine import close_engine, open_engine
from ofca.persistence.faults import is_database_unavailable
from ofca.processes import PARENT_CHECK_SECONDS, die_with_parent, name_process
from ofca.settings import Settings

__all__ = ["InsightsWorker", "WorkerUnavailable", "worker_for"]

log = logging.getLogger(__name__)

JOB_TIMEOUT_SECONDS = 600.0
"""A refresh taking longer than this is treated as a dead worker (a snapshot's 2000 chats
take ~10 s)."""
WORKER_POOL_SIZE = 4
WORKER_NICENESS = 10
RESTART_PAUSE_SECONDS = 5.0
"""After a worker was retired for a lost database connection, refreshes run in the server
process this long before a new worker is started (none is spawned per refresh while the
database is down)."""


class WorkerUnavailable(Exception):
    """The worker is not there (or went away); refresh in this process instead."""


class _Job(msgspec.Struct, array_like=True):
    id: int
    account_id: str
    chat_ids: list[str]
    since: dict[str, datetime] = {}


class _Done(msgspec.Struct, array_like=True):
    id: int
    error: str | None = None
    unavailable: bool = False
    """The job failed because the database could not be reached."""


_job_decoder = msgspec.json.Decoder(_Job | None)
_done_decoder = msgspec.json.Decoder(_Done)


class InsightsWorker:
    """The server's side: sends refresh jobs to the worker process and awaits them."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._process: multiprocessing.process.BaseProcess | None = None
        self._connection: Connection | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._ids = itertools.count(1)
        self._restart_at = 0.0
        self.started = 0
        """Worker processes started so far (a restart after a death adds one)."""

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=worker_main,
            args=(theirs, msgspec.json.encode(self._settings)),
            name="ofca-insights-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        asyncio.get_running_loop().add_reader(ours.fileno(), self._on_readable)
        self.started += 1
        log.info("insights worker started (pid %s)", process.pid)

    def _on_readable(self) -> None:
        assert self._connection is not None
        try:
            done = _done_decoder.decode(self._connection.recv_bytes())
        except (EOFError, OSError):
            self._gone("the worker went away")
            return
        future = self._pending.pop(done.id, None)
        if done.unavailable:
            # Whatever state its pool or tasks were left in, a new worker starts clean.
            if future is not None and not future.done():
                future.set_exception(WorkerUnavailable(f"database connection lost: {done.error}"))
            self._restart_at = time.monotonic() + RESTART_PAUSE_SECONDS
            self._gone("its database connection was lost")
            return
        if future is not None and not future.done():
            if done.error is None:
                future.set_result(None)
            else:
                future.set_exception(RuntimeError(done.error))

    def _gone(self, reason: str, *, expected: bool = False) -> None:
        """Forget the worker; its pending refreshes fail over to the server process."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._connection.fileno())
            self._connection.close()
        if self._process is not None:
            level = logging.INFO if expected else logging.WARNING
            log.log(level, "insights worker (pid %s) stopped: %s", self._process.pid, reason)
            if self._process.is_alive():
                self._process.kill()
        self._process = self._connection = None
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(WorkerUnavailable(reason))

    async def refresh(
        self,
        account_id: str,
        chat_ids: Sequence[str],
        since: Mapping[str, datetime] | None = None,
    ) -> None:
        """Recompute these chats' insight rows in the worker (``sessions.refresh_chats``,
        ``since`` as there); raises
        :class:`WorkerUnavailable` when it cannot, and the refresh's own error when it
        failed there."""
        if not self.alive:
            if self._process is not None:
                self._gone(f"exit code {self._process.exitcode}")
            if time.monotonic() < self._restart_at:
                raise WorkerUnavailable("restarting after a lost database connection")
            try:
                self._start()
            except Exception as exc:  # e.g. no more processes allowed
                raise WorkerUnavailable(f"cannot start: {type(exc).__name__}") from exc
        assert self._connection is not None
        job = _Job(next(self._ids), account_id, list(chat_ids), dict(since or {}))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[job.id] = future
        try:
            self._connection.send_bytes(msgspec.json.encode(job))
        except OSError as exc:
            self._gone(f"cannot reach it: {type(exc).__name__}")
            raise WorkerUnavailable("cannot reach it") from exc
        try:
            await asyncio.wait_for(asyncio.shield(future), JOB_TIMEOUT_SECONDS)
        except TimeoutError:
            self._gone(f"no answer within {JOB_TIMEOUT_SECONDS:.0f} s")
            raise WorkerUnavailable("timed out") from None

    async def stop(self) -> None:
        process, connection = self._process, self._connection
        if process is None or connection is None:
            return
        with contextlib.suppress(Exception):
            connection.send_bytes(msgspec.json.encode(None))
        await asyncio.to_thread(process.join, 5.0)
        self._gone("the server stops", expected=True)


# --------------------------------------------------------------------------- the worker


def worker_main(connection: Connection, settings_json: bytes) -> None:
    """Entry point of the worker process."""
    parent = os.getppid()
    die_with_parent()
    name_process("ofca-insights")
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    settings = msgspec.json.decode(settings_json, type=Settings)
    logging.basicConfig(
        level=settings.log_level, format="%(levelname)s - %(asctime)s - %(name)s - %(message)s"
    )
    asyncio.run(_serve(connection, settings, parent))


async def _serve(connection: Connection, settings: Settings, parent: int) -> None:
    engine = await open_engine(settings, pool_max_size=WORKER_POOL_SIZE)
    loop = asyncio.get_running_loop()
    jobs: asyncio.Queue[_Job | None] = asyncio.Queue()

    def on_readable() -> None:
        try:
            jobs.put_nowait(_job_decoder.decode(connection.recv_bytes()))
        except (EOFError, OSError):
            loop.remove_reader(connection.fileno())
            jobs.put_nowait(None)

    async def watch_parent() -> None:
        # Nothing signals a parent's death portably: look (PR_SET_PDEATHSIG is Linux only).
        while os.getppid() == parent:  # noqa: ASYNC110
            await asyncio.sleep(PARENT_CHECK_SECONDS)
        jobs.put_nowait(None)

    loop.add_reader(connection.fileno(), on_readable)
    watcher = asyncio.create_task(watch_parent())
    try:
        while (job := await jobs.get()) is not None:
            done = await in_own_task(_run(job, settings))
            try:
                connection.send_bytes(msgspec.json.encode(done))
            except OSError:
                break
    finally:
        watcher.cancel()
        await close_engine(engine)


async def _run(job: _Job, settings: Settings) -> _Done:
    """One refresh job, in its own task (:func:`in_own_task`)."""
    try:
        await refresh_chats(job.account_id, job.chat_ids, settings=settings, since=job.since)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        if is_database_unavailable(exc):
            return _Done(job.id, error, unavailable=True)  # the server logs the outage
        log.exception("refreshing %d chats of %s failed", len(job.chat_ids), job.account_id)
        return _Done(job.id, error)
    return _Done(job.id)


def worker_for(settings: Settings, *, own_engine: bool) -> InsightsWorker | None:
    """The worker a served process should use, or None (SQLite, switched off, or an app
    given its engine by tests)."""
    if own_engine and settings.is_postgres and settings.insights_worker:
        return InsightsWorker(settings)
    return None
