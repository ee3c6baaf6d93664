"""Sharing the event loop: how long CPU work may hold it, and the pause of cyclic GC.

One event loop carries every live event of a process, so CPU-heavy work (decoding a
snapshot, deriving read models, building a full sync) runs in slices of at most
:data:`SLICE_SECONDS` with a yield in between, and pauses cyclic garbage collection while
it creates and drops millions of objects (:class:`GcPause`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = [
    "FREE_CHUNK",
    "SLICE_SECONDS",
    "GcPause",
    "Slices",
    "free",
    "gc_paused",
    "in_own_task",
]

SLICE_SECONDS = 0.005
"""CPU work done between two yields to the event loop. Short: a request or a live event
needs several turns of the loop (each await on Redis or the database is one), and every
turn waits for the slice running then; 20 ms slices made a 10-hop HTTP request take 200 ms."""

_gc_pauses = 0


class GcPause:
    """One hold on the pause of cyclic garbage collection (GC runs again once every hold is
    released). Releasing twice is harmless, so a hold can be released both where the work
    ends and, as a backstop, when its task finishes however it finishes.

    Decoding a snapshot creates millions of objects; each full collection triggered by that
    walks them all and held the event loop for 0.3-1 s. They are freed by reference counting
    anyway (no cycles), so collection just waits until the snapshot is through.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = False

    def hold(self) -> GcPause:
        global _gc_pauses
        if not self._held:
            self._held = True
            if _gc_pauses == 0:
                gc.disable()
            _gc_pauses += 1
        return self

    def release(self) -> None:
        global _gc_pauses
        if self._held:
            self._held = False
            _gc_pauses -= 1
            if _gc_pauses == 0:
                _promote_young()
                gc.enable()


def _promote_young() -> None:
    """Move every object the pause kept in the young generations straight to the oldest.

    Left young, they are all walked by the first collection after the pause (everything a
    snapshot left alive, such as the enrichment caches: 60-200 ms holding the loop). The old
    generation is walked only by full collections, which Python runs when enough objects
    have been promoted by collections; these are not counted, so it does not come sooner.
    ``freeze`` then ``unfreeze`` moves them without a walk. Skipped when something else
    keeps objects frozen (unfreezing would undo that).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a snapshot's objects are made and dropped."""
    pause = GcPause().hold()
    try:
        yield
    finally:
        pause.release()


FREE_CHUNK = 5_000
"""Items of a big container freed per slice (~3 ms)."""


async def free(items: list[Any] | dict[Any, Any]) -> None:
    """Empty ``items`` a slice at a time, yielding between slices: what it alone holds is
    freed as it goes (freeing a snapshot's objects in one go held the loop for ~40 ms)."""
    while items:
        if isinstance(items, dict):
            for _ in range(min(FREE_CHUNK, len(items))):
                items.popitem()
        else:
            del items[-FREE_CHUNK:]
        await asyncio.sleep(0)


class Slices:
    """Yields to the event loop once :data:`SLICE_SECONDS` of work have passed."""

    def __init__(self) -> None:
        self.began = time.perf_counter()

    async def tick(self) -> None:
        if time.perf_counter() - self.began > SLICE_SECONDS:
            await asyncio.sleep(0)
            self.began = time.perf_counter()


async def in_own_task(work: Coroutine[Any, Any, T]) -> T:
    """Await ``work`` in a task of its own. Context variables it leaves set (a database
    transaction that could not be cleaned up after its connection was lost) die with that
    task instead of staying with the caller, which may be a loop that lives for hours."""
    return await asyncio.create_task(work)
