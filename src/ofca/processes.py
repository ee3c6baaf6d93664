"""Worker processes that never outlive the server that started them.

A served process hands CPU work to worker processes of its own (insight refreshes,
snapshot enrichment). A supervisor may kill the server outright (``kill -9``, an
out-of-memory kill) without it stopping its workers, so each worker ends itself: Linux
sends it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and everywhere it also
looks at its parent once a second. Workers name themselves (``/proc/<pid>/comm``, ``ps``)
so an operator can tell them apart.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import threading
import time

__all__ = ["PARENT_CHECK_SECONDS", "die_with_parent", "exit_when_orphaned", "name_process"]

PARENT_CHECK_SECONDS = 1.0
_PR_SET_NAME = 15
_PR_SET_PDEATHSIG = 1


def _prctl(option: int, value: object) -> None:
    with contextlib.suppress(Exception):  # not Linux: the parent watch does it
        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def die_with_parent() -> None:
    """Ask Linux for SIGTERM when the parent dies. It is tied to the parent *thread*, so
    the server starts its workers from its event loop's thread, which lives as long as it."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def exit_when_orphaned(parent: int) -> None:
    """End this process once ``parent`` is no longer its parent (a daemon thread looks
    every :data:`PARENT_CHECK_SECONDS`), for workers that run no event loop of their own."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def name_process(name: str) -> None:
    """The name ``ps`` and ``/proc/<pid>/comm`` show (at most 15 bytes)."""
    _prctl(_PR_SET_NAME, name.encode()[:15])
