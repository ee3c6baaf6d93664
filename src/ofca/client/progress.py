"""A progress bar on a terminal (redrawn in place), or a line per tenth when not a terminal."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["ProgressBar"]

BAR_WIDTH = 28
REDRAW_SECONDS = 0.1


def _size(count: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.2f} GiB"


class ProgressBar:
    """``done`` of ``total`` ``unit``; :meth:`update` as often as you like, it redraws at
    most every 100 ms. ``note`` is shown after the figures (refusals, reconnects)."""

    def __init__(self, total: int, unit: str, out: TextIO, *, enabled: bool = True) -> None:
        self.total = max(total, 0)
        self.unit = unit
        self.out = out
        self.enabled = enabled
        self.tty = out.isatty()
        self.began = time.monotonic()
        self._drawn = 0.0
        self._tenth = -1
        self._width = 0

    def update(self, done: int, sent_bytes: int, note: str = "", *, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_SECONDS:
            return
        self._drawn = now
        fraction = 1.0 if self.total == 0 else min(done / self.total, 1.0)
        if not self.tty:
            tenth = int(fraction * 10)
            if tenth == self._tenth and not force:
                return
            self._tenth = tenth
        elapsed = max(now - self.began, 1e-9)
        filled = int(fraction * BAR_WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction * 100:5.1f}% "
            f"{done:,}/{self.total:,} {self.unit}  {_size(sent_bytes)} sent  "
            f"{done / elapsed:,.0f} {self.unit}/s"
        )
        if note:
            line += f"  {note}"
        if self.tty:
            padding = " " * max(self._width - len(line), 0)
            self.out.write(f"\r{line}{padding}")
            self._width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def finish(self) -> None:
        if self.enabled and self.tty and self._width:
            self.out.write("\n")
            self.out.flush()
