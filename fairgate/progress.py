"""Progress lines for long steps: a percentage and an ETA, at most every few seconds.

    progress = Progress("CelebAExampleGen: split train", total=162_770, unit="faces")
    for batch in batches:
        ...
        progress.advance(len(batch))
    progress.done()

    Progress: CelebAExampleGen: split train: 45% (73,250/162,770 faces), 21s, ETA 26s

What reaches the terminal is chosen by logger, never by message text:

* fairgate's own progress lines (these, "Chose snapshot ...", "Model pushed to
  ...") are logged on `logger`, the `fairgate.progress` logger; the CLI's terminal
  handler passes that logger (`is_progress`), `run.log` gets everything.
* TFX logs through absl's one logger, so its component lines ("Component X is
  running.") are picked by the TFX module that emits them and TFX's format
  string (`TFX_COMPONENT_LINES`), checked against the installed TFX by a test.
* A Kubeflow task runs in its own process: there the entrypoint writes each
  progress line to stderr as `task_line(message)`, and kfp-local relays those
  lines, and only those, onto `logger` (`from_task_line`).

`Progress` is safe to call from several threads (Beam's DoFns, tf.data callbacks).
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Optional

PREFIX = "Progress: "
DEFAULT_EVERY_SECONDS = 5.0

LOGGER = "fairgate.progress"
logger = logging.getLogger(LOGGER)
# INFO whatever the root logger's level: progress lines are meant to be seen, in a
# Kubeflow task (absl's handler) as under the CLI.
logger.setLevel(logging.INFO)

# (module of TFX that emits it, its format string): TFX's lines about a component,
# as LocalDagRunner and BeamDagRunner (TFX 1.16) log them through absl.
TFX_COMPONENT_LINES = frozenset({
    ("tfx/orchestration/local/local_dag_runner.py", "Component %s is running."),
    ("tfx/orchestration/local/local_dag_runner.py", "Component %s is finished."),
    ("tfx/orchestration/local/local_dag_runner.py", "Skipping component %s."),
    ("tfx/orchestration/beam/beam_dag_runner.py", "node %s is running."),
    ("tfx/orchestration/beam/beam_dag_runner.py", "node %s is finished."),
})

# How a Kubeflow task's progress lines are told from the rest of its output.
TASK_LINE_PREFIX = "fairgate-progress: "


def is_progress(record: logging.LogRecord) -> bool:
    """Whether a log record is a progress line (for the terminal)."""
    if record.name == LOGGER or record.name.startswith(LOGGER + "."):
        return True
    if record.name != "absl" or not isinstance(record.msg, str):
        return False
    path = (record.pathname or "").replace("\\", "/")
    return any(path.endswith("/" + module) and record.msg == template
               for module, template in TFX_COMPONENT_LINES)


def task_line(message: str) -> str:
    """A progress line as a Kubeflow task writes it to its output."""
    return TASK_LINE_PREFIX + " ".join(message.splitlines())


def from_task_line(line: str) -> Optional[str]:
    """The progress message in a line of a task's output, or None for any other line."""
    line = line.rstrip("\n")
    return line[len(TASK_LINE_PREFIX):] if line.startswith(TASK_LINE_PREFIX) else None


class TaskLineHandler(logging.Handler):
    """Writes each progress line to `stream` (default: stderr) as `task_line`."""

    def __init__(self, stream=None):
        super().__init__(logging.INFO)
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = self.stream or sys.stderr
            stream.write(task_line(record.getMessage()) + "\n")
            stream.flush()
        except Exception:  # pylint: disable=broad-except
            self.handleError(record)


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
        self._log = log or logger.info
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
