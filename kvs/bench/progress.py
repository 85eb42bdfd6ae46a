"""The progress bar on stderr: runs done of runs planned, elapsed time and an estimate of what is left.

On a terminal the bar is redrawn in place under the log lines; elsewhere (CI logs, pipes)
each log line is prefixed with the count instead, so the output stays readable.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """Counts the measured runs (warm-ups and repetitions) of a whole `kvs bench` invocation."""

    def __init__(self, total: int, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.caption = ""
        self._start = time.monotonic()
        self._drawn = False

    def bar(self, width: int = 24) -> str:
        """`[#####.....] 12/40  1:05 elapsed, ~2:10 left`."""
        frac = min(1.0, self.done / self.total) if self.total else 0.0
        filled = int(frac * width)
        elapsed = time.monotonic() - self._start
        left = f", ~{_clock(elapsed / self.done * (self.total - self.done))} left" if 0 < self.done < self.total else ""
        return f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  {_clock(elapsed)} elapsed{left}"

    def log(self, message: str) -> None:
        """A line about what starts now; it also becomes the bar's caption."""
        self.caption = message
        if self.live:
            self._clear()
            print(message, file=self.stream)
            self._draw()
        else:
            print(f"[{self.done}/{self.total}] {message}" if self.total else message, file=self.stream, flush=True)

    def advance(self, runs: int = 1) -> None:
        self.done += runs
        if self.live:
            self._draw()

    def close(self) -> None:
        if self.live:
            self._clear()
            print(self.bar(), file=self.stream, flush=True)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self._drawn = False

    def _draw(self) -> None:
        columns = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r\x1b[K" + self.bar()[: columns - 1])
        self.stream.flush()
        self._drawn = True


_current = Progress(0, live=False)


def current() -> Progress:
    """The bar of the running invocation (a silent counter when none was set up)."""
    return _current


def use(progress: Progress) -> None:
    global _current
    _current = progress
