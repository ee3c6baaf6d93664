"""Snapshot enrichment on the second core: a worker process scores texts while ingest stores.

VADER is pure Python (~80 µs per distinct text), so a 100k-message snapshot carries seconds
of CPU work. It starts in a worker process as soon as the snapshot is normalized, runs
while the rows are being written (when this process mostly waits on the database), and is
collected for the changed rows after the commit. The worker keeps its caches between
snapshots, so a resent snapshot costs it little. Small batches, and any worker failure,
fall back to enriching in this process in short slices. Served processes start the
worker (``OFCA_ENRICH_WORKER``, on by default); it exits with its server, even one killed
outright (``ofca.processes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import multiprocessing
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from ofca.domain.enrichment import DEFAULT_MATCHER, TopicMatcher, enrich, sentiment_score
from ofca.domain.taxonomy import TopicRule
from ofca.processes import die_with_parent, exit_when_orphaned, name_process

__all__ = ["EnrichedText", "SpeculativeEnrichment", "shutdown", "start_worker"]

log = logging.getLogger(__name__)

WORKER_CHUNK = 2000
"""Distinct texts per task sent to the worker."""
MIN_TEXTS_FOR_WORKER = 500
"""Below this, inter-process overhead is not worth it."""
SLICE_SECONDS = 0.005
"""Enrichment between two yields to the event loop (see ``ingest.SLICE_SECONDS``)."""

EnrichedText = tuple[str | None, float | None, tuple[str, ...]]
"""``(cleaned text, sentiment, topics)``."""

_pool: Executor | None = None
_pool_broken = False
_worker_enabled = False
"""Set by a served process (``start_worker``, ``OFCA_ENRICH_WORKER``); in-process apps
(tests, tools) enrich in their own event loop."""
WORKER_NICENESS = 5
"""Below the server (live deltas first), above the insights worker (nice 10)."""


@functools.lru_cache(maxsize=64)
def _matcher_for_rules(rules: tuple[TopicRule, ...]) -> TopicMatcher:
    return TopicMatcher(rules)


def _enrich_texts(
    texts: list[str | None], rules: tuple[TopicRule, ...] | None
) -> list[EnrichedText]:
    """Runs in the worker process."""
    matcher = DEFAULT_MATCHER if rules is None else _matcher_for_rules(rules)
    out: list[EnrichedText] = []
    for text in texts:
        enrichment = enrich(text, matcher)
        out.append((enrichment.text, enrichment.sentiment, enrichment.topics))
    return out


def _noop() -> None:
    return None


def _worker_started(parent: int) -> None:
    """Runs first in the worker process: it never outlives the server (``ofca.processes``),
    yields the cores to it, and shows as ``ofca-enrich`` in ``ps``."""
    die_with_parent()
    exit_when_orphaned(parent)
    name_process("ofca-enrich")
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


_analyzer_loaded = False


async def _load_analyzer() -> None:
    """VADER reads its lexicons on first use: ~0.2 s of Python that held the event loop in
    one piece. A thread does it instead (the loop gets the GIL back every few ms)."""
    global _analyzer_loaded
    if not _analyzer_loaded:
        await asyncio.to_thread(sentiment_score, "ok")
        _analyzer_loaded = True


def _executor() -> Executor | None:
    global _pool
    if _pool_broken or not _worker_enabled:
        return None
    if _pool is None:
        # spawn: forking a process that runs an event loop and threads is unsafe. The
        # worker starts from the thread that submits (the event loop's), which lives as
        # long as the server: the death signal is tied to that thread.
        _pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_started,
            initargs=(os.getpid(),),
        )
    return _pool


def start_worker() -> None:
    """Enrich large snapshots in a worker process from now on, and start it now (its first
    import of VADER takes a while). Call from the event loop's thread."""
    global _worker_enabled, _pool_broken
    _worker_enabled, _pool_broken = True, False
    executor = _executor()
    if executor is not None:
        executor.submit(_noop)


def _enrich_inline_slice(
    texts: list[str | None],
    start: int,
    matcher: TopicMatcher,
    out: dict[str | None, EnrichedText],
) -> int:
    """Enrich ``texts[start:]`` until the slice budget is spent; returns the next index."""
    began = time.perf_counter()
    index = start
    while index < len(texts):
        text = texts[index]
        try:
            enrichment = enrich(text, matcher)
        except Exception:  # one bad text never costs the others their enrichment
            log.exception("enriching a text failed; its messages are stored without it")
            out[text] = (None, None, ())
        else:
            out[text] = (enrichment.text, enrichment.sentiment, enrichment.topics)
        index += 1
        if time.perf_counter() - began > SLICE_SECONDS:
            break
    return index


class SpeculativeEnrichment:
    """Enrichment of a snapshot's distinct raw texts, started before they are stored."""

    def __init__(self, raw_texts: list[str | None], matcher: TopicMatcher) -> None:
        self.matcher = matcher
        self.distinct = list(dict.fromkeys(raw_texts))
        self._futures: list[tuple[list[str | None], asyncio.Future[Any]]] = []
        executor = _executor() if len(self.distinct) >= MIN_TEXTS_FOR_WORKER else None
        if executor is None:
            return
        rules = None if matcher is DEFAULT_MATCHER else matcher.rules
        loop = asyncio.get_running_loop()
        try:
            for start in range(0, len(self.distinct), WORKER_CHUNK):
                chunk = self.distinct[start : start + WORKER_CHUNK]
                future = loop.run_in_executor(executor, _enrich_texts, chunk, rules)
                self._futures.append((chunk, future))
        except Exception as exc:  # a broken pool: enrich here instead
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        global _pool, _pool_broken
        log.warning("enrichment worker unavailable (%s); enriching in-process", exc)
        for _, future in self._futures:
            future.cancel()
        self._futures = []
        _pool_broken = True
        _pool = None

    async def results(self) -> dict[str | None, EnrichedText]:
        """Every distinct text's enrichment (waits for the worker, or computes here)."""
        out: dict[str | None, EnrichedText] = {}
        if self._futures:
            try:
                for chunk, future in self._futures:
                    out.update(zip(chunk, await future, strict=True))
                return out
            except Exception as exc:
                self._give_up(exc)
        if self.distinct:
            await _load_analyzer()
        index = 0
        while index < len(self.distinct):
            index = _enrich_inline_slice(self.distinct, index, self.matcher, out)
            await asyncio.sleep(0)
        return out


def shutdown() -> None:
    """Stop the worker (a server's shutdown); enrichment runs in-process after this."""
    global _pool, _worker_enabled
    _worker_enabled = False
    if isinstance(_pool, ProcessPoolExecutor):
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None
