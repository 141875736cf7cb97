"""fairgate.progress: a percentage and an ETA, no more often than asked; and the
lines that reach the terminal, chosen by logger."""
import importlib.util
import logging
import os
import subprocess
import sys

from fairgate import progress
from fairgate.progress import Progress


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_are_rate_limited_and_carry_percentage_and_eta():
    clock, lines = _Clock(), []
    progress = Progress("ExampleGen: split train", total=1000, unit="faces",
                        every_seconds=5, clock=clock, log=lines.append)
    for _ in range(9):  # 9 updates within 4.5 s: no line yet
        clock.now += 0.5
        progress.advance(10)
    assert lines == []
    clock.now = 10.0
    progress.advance(160)  # 250 of 1000 after 10 s; 240 in the 9.5 s since the
    # first unit (start-up before it does not count): 750 more take ~30 s
    assert lines == ["Progress: ExampleGen: split train: 25% (250/1,000 faces), 10s, "
                     "ETA 30s"]
    clock.now = 12.0
    progress.advance(10)  # 2 s after the last line: silent
    assert len(lines) == 1
    clock.now = 80.0
    progress.advance(740)
    progress.done()
    assert lines[-1] == "Progress: ExampleGen: split train: 100% (1,000/1,000 faces), 1m20s"


def test_start_up_before_the_first_unit_does_not_skew_the_eta():
    clock, lines = _Clock(), []
    progress = Progress("Trainer: training", total=1000, unit="steps",
                        every_seconds=5, clock=clock, log=lines.append)
    clock.now = 7.0  # the first step compiles for 7 s
    progress.advance()
    assert lines == []  # no rate is known yet: no line
    for _ in range(160):  # then 64 steps a second (exact in binary)
        clock.now += 1 / 64
        progress.advance()
    # 839 steps left at 64/s: 13 s (counting from the start: 59 s).
    assert lines == ["Progress: Trainer: training: 16% (161/1,000 steps), 10s, ETA 13s"]


def test_unknown_total_counts_without_eta():
    clock, lines = _Clock(), []
    progress = Progress("reading", total=0, clock=clock, log=lines.append)
    clock.now = 1.0
    progress.advance(2)
    clock.now = 6.0
    progress.advance(40)
    assert lines == ["Progress: reading: 42 items, 6s"]


# What reaches the terminal: chosen by logger, not by the wording of a message.

_TFX = os.path.dirname(importlib.util.find_spec("tfx").origin)


def _terminal(records):
    """The lines the CLI's terminal handler would print of `records`."""
    from fairgate.cli import _ProgressFilter
    keep = _ProgressFilter()
    return [r.getMessage() for r in records if keep.filter(r)]


def _record(name, msg, args=(), pathname="x.py"):
    return logging.LogRecord(name, logging.INFO, pathname, 1, msg, args, None)


def test_a_progress_line_reaches_the_terminal_whatever_it_says():
    wording = "the 3rd of 5 zebras left the building (no known phrase)"
    assert _terminal([_record(progress.LOGGER, wording)]) == [wording]
    # A phrase the terminal once matched by text, on any other logger, stays out.
    assert _terminal([_record("fairgate.release", "Chose snapshot 3 of 5"),
                      _record("absl", "Model pushed to %s.", ("/srv",))]) == []


def test_a_progress_line_logged_through_the_logger_reaches_the_handler():
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record)

    handler = Collect()
    logging.getLogger().addHandler(handler)
    try:
        progress.logger.info("Anything at all: %d", 7)
        Progress("counting", total=2, clock=lambda: 0.0).done()
    finally:
        logging.getLogger().removeHandler(handler)
    assert _terminal(seen) == ["Anything at all: 7", "Progress: counting: 0% (0/2 items), 0s"]


def test_tfx_component_lines_are_picked_by_the_tfx_module_that_logs_them():
    for module, template in progress.TFX_COMPONENT_LINES:
        path = os.path.join(_TFX, *module.split("/")[1:])
        with open(path) as f:  # the installed TFX still logs exactly this
            assert f"'{template}'" in f.read(), (module, template)
        assert _terminal([_record("absl", template, ("Trainer",), path)]) == [
            template % "Trainer"]
    local = os.path.join(_TFX, "orchestration", "local", "local_dag_runner.py")
    # The same runner's other lines (a dump of its configuration) stay out, and
    # so does the same text from anywhere else.
    assert _terminal([
        _record("absl", "Using deployment config:\n %s", ("{...}",), local),
        _record("absl", "Component %s is running.", ("Trainer",), "/elsewhere/x.py"),
    ]) == []


def test_kfp_local_relays_a_task_progress_line_without_absl_prefix(caplog):
    """A task process set up as pipeline/kfp_entrypoint.py sets it up (absl's
    handler, as TFX's KFP v2 executor runs): its output, relayed line by line by
    kfp-local, puts the progress line on the terminal as `[Task] message`."""
    child = (
        "from absl import app, logging\n"
        "from pipeline import kfp_entrypoint\n"
        "from fairgate import progress\n"
        "def main(argv):\n"
        "    logging.set_verbosity(logging.INFO)\n"
        "    kfp_entrypoint.write_progress_lines()\n"
        "    progress.logger.info('Chose snapshot %d of %d (step %d)', 3, 5, 300)\n"
        "    logging.info('an ordinary line')\n"
        "app.run(main)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
         os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    lines = (out.stdout + out.stderr).splitlines()
    # absl's own form is in the task's output too (the task log keeps it) ...
    assert any("] Chose snapshot 3 of 5" in line and line.startswith("I")
               for line in lines), lines
    from pipeline import kfp_local
    caplog.set_level(logging.INFO)
    for line in lines:
        kfp_local.relay("Trainer", line)
    # ... but the terminal gets the message once, clean.
    assert _terminal(caplog.records) == ["[Trainer] Chose snapshot 3 of 5 (step 300)"]
    logged = [r.getMessage() for r in caplog.records if r.name == "fairgate.kfp_local"]
    assert any(m.startswith("[Trainer] I") and m.endswith("an ordinary line")
               for m in logged), logged
