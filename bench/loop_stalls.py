"""Event-loop stall watchdog: which piece of work held ofca's event loop, and for how long.

A timer callback on the loop ticks every :data:`TICK_SECONDS` and notes every gap since the
previous tick longer than the threshold (a callback held the loop); a thread samples the
main thread's Python stack while the loop is late, and each stall is recorded with its
length (the gap between two ticks) and its origin (the innermost ``ofca`` frame seen in most
samples during it, with one full stack). On uvloop (ofca's loop) due timers run in every
turn, so a stall is one turn's work; asyncio's own loop runs them after the turn's other
callbacks, which can add a second turn. One JSON object per stall goes to a log file, with
the CPU time the main thread used during the stall (far less than the stall: it waited for a
core, or in a system call, rather than computing) and the time spent in cyclic garbage
collection.

As a server (what benches point at): ofca under uvicorn on uvloop, as ``ofca serve`` runs it,
with the watchdog on::

    OFCA_DATABASE_URL=... OFCA_REDIS_URL=... .venv/bin/python -m bench.loop_stalls \\
        --port 8001 --log /tmp/stalls.jsonl --stall-ms 20

In a bench process: :class:`Watchdog` (``with Watchdog(log) as dog: ...`` around code that
runs on the current loop), :func:`stall_server` (a :class:`bench._server.Server` whose stalls
are logged), :func:`read_stalls` and :func:`describe` for the report.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import Server, free_port, served_process

__all__ = ["Stall", "Watchdog", "describe", "read_stalls", "stall_server"]

TICK_SECONDS = 0.002
"""How often the loop ticks: the resolution of a stall's length."""
POLL_SECONDS = 0.002
"""How often the thread looks (it samples only while a stall lasts)."""
_OWN = f"{os.sep}ofca{os.sep}"
_SKIP = (f"{os.sep}bench{os.sep}loop_stalls.py",)


class Stall(msgspec.Struct, kw_only=True):
    at: float
    """Wall-clock time (epoch seconds) the loop last ticked before the stall."""
    ms: float
    """How long the loop went without a tick."""
    origin: str
    """``file:line function`` of the innermost ofca frame seen most often while stalled
    (or the innermost frame of any code when no ofca frame was on the stack)."""
    samples: int
    cpu_ms: float
    """CPU time of the loop's thread during the stall."""
    gc_ms: float
    """Time in cyclic garbage collection during the stall."""
    stack: list[str]
    """The main thread's stack (innermost last) at the sample that named the origin."""


def _origin(frame: FrameType | None) -> tuple[str, list[str]]:
    summary = [f for f in traceback.extract_stack(frame) if not f.filename.endswith(_SKIP)]
    lines = [f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in summary]
    for entry, line in zip(reversed(summary), reversed(lines), strict=True):
        if _OWN in entry.filename:
            return line, lines[-25:]
    return (lines[-1] if lines else "?"), lines[-25:]


_Tick = tuple[float, float]
"""(monotonic time, CPU time of the loop's thread) at a tick."""


class Watchdog:
    """Records every stretch longer than ``threshold_ms`` in which the running loop did not
    tick. Start it on the loop it watches (``start`` needs a running loop).

    The loop's thread measures the gaps itself (each tick compares with the one before), so
    a stall's length is exact even when the sampling thread waits for the GIL; the thread
    only samples stacks while the loop is late, and names each gap by the samples in it.
    """

    def __init__(self, log: IO[str] | None, threshold_ms: float = 20.0) -> None:
        self.log = log
        self.threshold = threshold_ms / 1000
        self.stalls: list[Stall] = []
        self._last_tick: _Tick = (time.monotonic(), time.thread_time())
        self._gaps: collections.deque[tuple[_Tick, _Tick]] = collections.deque()
        """Gaps between two ticks longer than the threshold, from the loop's thread."""
        self._samples: collections.deque[tuple[float, str, list[str]]] = collections.deque(
            maxlen=20_000
        )
        """(monotonic time, origin, stack) of each stack sampled while the loop was late."""
        self._main = threading.get_ident()
        self._gc_started = 0.0
        self._gc_spans: collections.deque[tuple[float, float]] = collections.deque(maxlen=1000)
        self._stop = threading.Event()
        self._ticker: asyncio.TimerHandle | None = None
        self._thread = threading.Thread(target=self._watch, name="loop-stalls", daemon=True)

    def _tick(self) -> None:
        # A plain timer callback: it runs in the first loop turn after it is due (a task
        # sleeping would need two more hops, and tick only every second or third turn).
        now: _Tick = (time.monotonic(), time.thread_time())
        if now[0] - self._last_tick[0] > self.threshold:
            self._gaps.append((self._last_tick, now))
        self._last_tick = now
        if not self._stop.is_set():
            self._ticker = asyncio.get_running_loop().call_later(TICK_SECONDS, self._tick)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self._main:
            return
        if phase == "start":
            self._gc_started = time.monotonic()
        else:
            self._gc_spans.append((self._gc_started, time.monotonic()))

    def _gc_between(self, since: float, until: float) -> float:
        return sum(
            max(0.0, min(end, until) - max(start, since)) for start, end in list(self._gc_spans)
        )

    def start(self) -> Watchdog:
        self._main = threading.get_ident()
        gc.callbacks.append(self._on_gc)
        self._tick()
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
        self._thread.join()
        self._drain()

    def __enter__(self) -> Watchdog:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            if time.monotonic() - self._last_tick[0] > self.threshold:
                at = time.monotonic()
                origin, stack = _origin(sys._current_frames().get(self._main))
                self._samples.append((at, origin, stack))
            self._drain()

    def _drain(self) -> None:
        while self._gaps:
            since, until = self._gaps.popleft()
            self._record(since, until)

    def _record(self, since: _Tick, until: _Tick) -> None:
        origins: collections.Counter[str] = collections.Counter()
        stacks: dict[str, list[str]] = {}
        for at, origin, stack in list(self._samples):
            if since[0] < at <= until[0]:
                origins[origin] += 1
                stacks.setdefault(origin, stack)
        origin = origins.most_common(1)[0][0] if origins else "(not sampled)"
        stall = Stall(
            at=time.time() - (time.monotonic() - since[0]),
            ms=round((until[0] - since[0]) * 1000, 1),
            origin=origin,
            samples=sum(origins.values()),
            cpu_ms=round((until[1] - since[1]) * 1000, 1),
            gc_ms=round(self._gc_between(since[0], until[0]) * 1000, 1),
            stack=stacks.get(origin, []),
        )
        self.stalls.append(stall)
        if self.log is not None:
            self.log.write(msgspec.json.encode(stall).decode() + "\n")
            self.log.flush()


def read_stalls(path: str | Path, since: float = 0.0, until: float = float("inf")) -> list[Stall]:
    """The stalls logged at ``path`` that began in ``[since, until]`` (epoch seconds)."""
    try:
        lines = Path(path).read_text().splitlines()
    except FileNotFoundError:
        return []
    stalls = [msgspec.json.decode(line, type=Stall) for line in lines if line.strip()]
    return [s for s in stalls if since <= s.at <= until]


def describe(stalls: list[Stall], top: int = 5) -> str:
    """The longest stall, how many there were over 50 ms, and the origins of the longest."""
    if not stalls:
        return "no stall over the threshold"
    ordered = sorted(stalls, key=lambda s: -s.ms)
    over = sum(1 for s in stalls if s.ms > 50)
    held = sum(s.ms for s in stalls)
    lines = [
        f"longest stall {ordered[0].ms:.0f} ms; {len(stalls)} stalls over the threshold "
        f"({held:.0f} ms in all), {over} over 50 ms"
    ]
    lines += [
        f"    {s.ms:6.0f} ms (cpu {s.cpu_ms:.0f}, gc {s.gc_ms:.0f})  {s.origin}"
        for s in ordered[:top]
    ]
    return "\n".join(lines)


@contextmanager
def stall_server(
    env: Mapping[str, str], log_path: str | Path, *, threshold_ms: float = 20.0, quiet: bool = True
) -> Iterator[Server]:
    """Like ``bench._server.ofca_server``, with the watchdog logging to ``log_path``."""
    port = free_port()
    command = [
        sys.executable, "-m", "bench.loop_stalls", "--port", str(port),
        "--log", str(log_path), "--stall-ms", str(threshold_ms),
    ]  # fmt: skip
    with served_process(command, port, env, quiet=quiet) as server:
        yield server


async def _serve(port: int, log: IO[str], threshold_ms: float) -> None:
    import uvicorn

    from ofca.app import create_app_from_env

    config = uvicorn.Config(
        create_app_from_env(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_size=int(os.environ.get("OFCA_MAX_WS_MESSAGE_BYTES", 64 * 1024 * 1024)),
    )
    with Watchdog(log, threshold_ms):
        await uvicorn.Server(config).serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log", default="stalls.jsonl", help="one JSON line per stall")
    parser.add_argument("--stall-ms", type=float, default=20.0, help="report stalls over this")
    parser.add_argument("--describe", metavar="LOG", help="summarize a log instead of serving")
    args = parser.parse_args(argv)
    if args.describe:
        print(describe(read_stalls(args.describe), top=15))
        return
    import uvloop

    with open(args.log, "w", encoding="utf-8") as log:
        uvloop.run(_serve(args.port, log, args.stall_ms))


if __name__ == "__main__":
    main()
