"""Snapshot enrichment on the second core: a worker process scores texts while ingest stores.

VADER is pure Python (~80 µs per distinct text), so a 100k-message snapshot carries seconds
of CPU work. It starts in a worker process as soon as the snapshot is normalized, runs
while the rows are being written (when this process mostly waits on the database), and is
collected for the changed rows after the commit. The worker keeps its caches between
snapshots, so a resent snapshot costs it little. Small batches, and any worker failure,
fall back to enriching in this process in short slices.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from ofca.domain.enrichment import DEFAULT_MATCHER, TopicMatcher, enrich, sentiment_score
from ofca.domain.taxonomy import TopicRule

__all__ = ["EnrichedText", "SpeculativeEnrichment", "warm_up"]

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
USE_WORKER_PROCESS = False
"""Off: a server terminated by its supervisor left its spawn worker (and multiprocessing's
resource tracker) orphaned, so enrichment runs in this process, in slices, until workers
are tied to the server's lifetime."""


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
    if _pool_broken or not USE_WORKER_PROCESS:
        return None
    if _pool is None:
        # spawn: forking a process that runs an event loop and threads is unsafe.
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


def warm_up() -> None:
    """Start the worker early (its first import of VADER takes a while)."""
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
    global _pool
    if isinstance(_pool, ProcessPoolExecutor):
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None
