"""Progress lines for long steps: a percentage and an ETA, at most every few seconds.

    progress = Progress("CelebAExampleGen: split train", total=162_770, unit="faces")
    for batch in batches:
        ...
        progress.advance(len(batch))
    progress.done()

Lines go to the `logging` root logger and start with `Progress:`, which the CLI
passes to the terminal (fairgate.cli._PROGRESS) as well as to `run.log`:

    Progress: CelebAExampleGen: split train: 45% (73,250/162,770 faces), 21s, ETA 26s

`Progress` is safe to call from several threads (Beam's DoFns, tf.data callbacks).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Optional

PREFIX = "Progress: "
DEFAULT_EVERY_SECONDS = 5.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class Progress:
    """Counts work done towards `total` and logs a line no more often than
    `every_seconds` (and once at the end, from `done`)."""

    def __init__(self, what: str, total: int, unit: str = "items",
                 every_seconds: float = DEFAULT_EVERY_SECONDS,
                 clock=time.monotonic, log=None):
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.every_seconds = every_seconds
        self._clock = clock
        self._log = log or logging.getLogger().info
        self._lock = threading.Lock()
        self._start = clock()
        self._last_line = self._start
        self._first = None  # (time, count) at the first advance: the rate's origin
        self.count = 0

    def line(self, now: Optional[float] = None) -> str:
        now = self._clock() if now is None else now
        elapsed = now - self._start
        if not self.total:
            return f"{PREFIX}{self.what}: {self.count:,} {self.unit}, {_duration(elapsed)}"
        share = min(self.count / self.total, 1.0)
        text = (f"{PREFIX}{self.what}: {share:.0%} ({self.count:,}/{self.total:,} "
                f"{self.unit}), {_duration(elapsed)}")
        # The rate since the first unit of work: start-up (imports, compiling a
        # training step) before it says nothing about the rest.
        first_time, first_count = self._first or (self._start, 0)
        if 0 < share < 1 and self.count > first_count and now > first_time:
            rate = (self.count - first_count) / (now - first_time)
            text += f", ETA {_duration((self.total - self.count) / rate)}"
        return text

    def advance(self, count: int = 1) -> None:
        with self._lock:
            now = self._clock()
            self.count += count
            if self._first is None:  # the end of the first unit: no rate yet
                self._first = (now, self.count)
                self._last_line = max(self._last_line, now - self.every_seconds / 2)
                return
            if now - self._last_line < self.every_seconds:
                return
            self._last_line = now
            text = self.line(now)
        self._log(text)

    def done(self) -> None:
        with self._lock:
            text = self.line()
        self._log(text)
