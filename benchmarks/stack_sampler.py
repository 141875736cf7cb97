"""A sampling profile of a process's main thread, with times: what a component
spent its time on, read from the stacks it ran, not guessed.

A daemon thread reads the main thread's Python stack (`sys._current_frames`)
every `interval` seconds and keeps (time, frames). Each sample stands for the
wall time since the one before it, so time the main thread spends waiting on
TensorFlow's or Beam's C++ threads counts under the Python call that waits,
up to its interval plus two GIL switch intervals: a longer gap means the
sampler could not run (the main thread held the GIL in native code, e.g. Beam's
Cython coders, or no core was free), and the stack it then reads is wherever
the main thread next let go of the GIL, not what held it. The rest of such a
gap counts as DELAYED (`weighed`). In the 202,599-face DAG's Evaluator the
sampler's gaps reached p90 102 ms; weighing them whole put 8.1 s of a re-run on
tfx_bsl's DecodeBatch, where cProfile measured 0.6 s (1.8 s of the DAG's
Evaluator with the gaps cut, 9.6 s DELAYED).
LocalDagRunner runs every component in the main thread, one after another, so
the samples inside a component's window (from ML Metadata) are that component's.
Cost: one stack walk per sample (~0.1 ms at 10 ms: about 1% of one core).

`summary(profile, start, end)` gives, for a window, the innermost frame of the
project's own code in each sample (`project_frames`, an exclusive split of the
window: every sample counts once, DELAYED time apart) and the frame at the top
of the stack (`top_of_stack`), each as the functions with the most seconds, and
`delayed_seconds`.

As a wrapper of a command (the profile is written when the command ends):

  python benchmarks/stack_sampler.py --out profile.json -m fairgate.cli run --config C
"""
from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import runpy
import sys
import threading
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The project's own code: what `project_frames` attributes a sample to.
PROJECT_PACKAGES = ("fairgate", "trainer_module", "components", "pipeline")
INTERVAL = 0.01
# A sample weighs at most its interval plus two GIL switch intervals (the wait
# of a sampler whose main thread runs Python code); the rest of a longer gap is
# DELAYED. In the 202,599-face DAG 98-99.8% of the ExampleGen's, StatisticsGen's
# and Trainers' gaps were within that, 80% of the Evaluators' (p90 102 ms).
DELAYED = "(sampler delayed: the GIL held in native code, or no free core)"


def _short(filename: str) -> str:
    """A frame's file relative to site-packages or the repository."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    if filename.startswith(HERE + os.sep):
        return filename[len(HERE) + 1:]
    return filename


class Sampler:
    """Samples one thread's stack (default: the main thread) until `stop`."""

    def __init__(self, interval: float = INTERVAL, thread_id: Optional[int] = None):
        self.interval = interval
        self.thread_id = thread_id or threading.main_thread().ident
        self.functions: List[str] = []
        self._index: Dict[tuple, int] = {}
        self.samples: List[tuple] = []  # (epoch seconds, [function ids, outermost first])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stack-sampler",
                                        daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _id(self, code) -> int:
        key = (code.co_filename, code.co_firstlineno, code.co_name)
        found = self._index.get(key)
        if found is None:
            found = self._index[key] = len(self.functions)
            self.functions.append(f"{_short(code.co_filename)}:{code.co_name}")
        return found

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self.thread_id)
            stack = []
            while frame is not None:
                stack.append(self._id(frame.f_code))
                frame = frame.f_back
            self.samples.append((time.time(), stack[::-1]))

    def profile(self) -> dict:
        return {"interval": self.interval, "switch_interval": sys.getswitchinterval(),
                "functions": self.functions,
                "samples": [[round(t, 4), s] for t, s in self.samples]}

    def write(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump(self.profile(), f)


def _is_project(function: str) -> bool:
    return function.split("/", 1)[0] in PROJECT_PACKAGES and \
        not function.startswith("fairgate/cli.py")


def weighed(profile: dict):
    """(time, stack, seen, delayed) per sample: `seen` seconds stand for its
    stack, at most its interval plus two GIL switch intervals; the rest of its
    gap since the sample before is `delayed` (DELAYED)."""
    # The 1e-6 keeps float noise in the sample times out of DELAYED.
    limit = profile["interval"] + 2 * profile.get("switch_interval", 0.005) + 1e-6
    previous = None
    for t, stack in profile["samples"]:
        weight = t - previous if previous is not None else profile["interval"]
        previous = t
        seen = min(weight, limit)
        yield t, stack, seen, weight - seen


def summary(profile: dict, start: float, end: float, top: int = 8) -> dict:
    """Where the main thread was between `start` and `end` (epoch seconds)."""
    functions = profile["functions"]
    project, leaf = collections.Counter(), collections.Counter()
    seconds, count, delayed = 0.0, 0, 0.0
    for t, stack, seen, late in weighed(profile):
        if not start <= t <= end or not stack:
            continue
        count += 1
        seconds += seen + late
        leaf[functions[stack[-1]]] += seen
        inner = next((functions[i] for i in reversed(stack)
                      if _is_project(functions[i])), "(outside the project's code)")
        project[inner] += seen
        if late:
            delayed += late
            leaf[DELAYED] += late
            project[DELAYED] += late

    def ranked(counter):
        return [{"function": name, "seconds": round(s, 2),
                 "share": round(s / seconds, 3) if seconds else 0.0}
                for name, s in counter.most_common(top)]
    return {"samples": count, "seconds": round(seconds, 1),
            "delayed_seconds": round(delayed, 2),
            "project_frames": ranked(project), "top_of_stack": ranked(leaf)}


def load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-m" not in argv or argv.index("-m") + 1 >= len(argv):
        raise SystemExit("usage: stack_sampler.py --out FILE [--interval S] -m MODULE "
                         "[its arguments]")
    at = argv.index("-m")  # what follows the module name is the module's
    module, rest = argv[at + 1], argv[at + 2:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="where the profile JSON goes")
    parser.add_argument("--interval", type=float, default=INTERVAL)
    args = parser.parse_args(argv[:at])
    sampler = Sampler(args.interval).start()
    written = []

    def finish() -> None:
        if not written:
            written.append(True)
            sampler.stop()
            sampler.write(args.out)
    # `fairgate` ends with os._exit after the atexit hooks (fairgate.process_exit),
    # so `finally` alone would never write the profile.
    atexit.register(finish)
    sys.argv = [module, *rest]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
