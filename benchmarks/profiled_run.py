"""One `fairgate run` as a user runs it, measured: wall time, the process tree's
resident memory every 0.25 s, each component's window from ML Metadata, and a
sampling profile of the run's main thread (benchmarks/stack_sampler.py), so a
slow component can be shown with what it spent its time on.

Used by pipeline_e2e.py (the whole DAG) and train_throughput.py (the Trainer
component).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Dict, Tuple

import psutil

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import stack_sampler  # noqa: E402


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process] + process.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _sample(process: psutil.Process, samples: list, stop: threading.Event) -> None:
    while not stop.is_set():
        samples.append((time.time(), _tree_rss(process)))
        stop.wait(0.25)


def component_windows(metadata_path: str) -> Dict[str, Tuple[float, float]]:
    """{component id: (start, end) epoch seconds} of the store's executions (the
    first execution of each component)."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = \
        metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(connection)
    windows = {}
    for context in store.get_contexts_by_type("node"):
        component = context.name.split(".", 1)[-1]
        for execution in store.get_executions_by_context(context.id):
            start = execution.create_time_since_epoch / 1000
            end = execution.last_update_time_since_epoch / 1000
            if component not in windows or start < windows[component][0]:
                windows[component] = (start, end)
    return windows


def finished_outputs(config, component: str):
    """(outputs, ingest) of `config`'s newest run: {component: {output: uri}} and
    the id of its ExampleGen; exits naming the store when `component` or the
    ExampleGen has no output there yet."""
    from fairgate import artifacts
    outputs = artifacts.latest_outputs(config.resolved_metadata_path,
                                       config.resolved_pipeline_root)
    ingest = next((c for c in outputs if "ExampleGen" in c), None)
    if ingest is None or component not in outputs:
        raise SystemExit(f"no finished run of {config.name} in "
                         f"{config.resolved_metadata_path}: run it first")
    return outputs, ingest


def commit(checkout: str) -> str:
    """The checkout's commit (and "+changes" when its tree differs from it)."""
    def git(*args):
        return subprocess.run(["git", "-C", checkout, *args], capture_output=True,
                              text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no")
                     else "")


class Run:
    """A finished run: exit code, wall seconds, memory samples, component
    windows, profile; `run.out` in the work dir holds its output."""

    def __init__(self, exit_code, wall_seconds, memory, windows, profile, output):
        self.exit_code = exit_code
        self.wall_seconds = wall_seconds
        self.memory = memory  # [(epoch seconds, bytes)]
        self.windows = windows
        self.profile = profile
        self.output = output

    @property
    def peak_rss_gb(self) -> float:
        return round(max((r for _, r in self.memory), default=0) / 2**30, 2)

    def components(self) -> dict:
        """{component: {seconds, peak_rss_gb}} in the order they ran."""
        found = {}
        for component, (begin, end) in sorted(self.windows.items(),
                                              key=lambda item: item[1][0]):
            inside = [r for t, r in self.memory if begin - 0.25 <= t <= end + 0.25]
            found[component] = {"seconds": round(end - begin, 1),
                                "peak_rss_gb": round(max(inside, default=0) / 2**30, 2)}
        return found

    def profile_of(self, component: str, top: int = 8) -> dict:
        """What the main thread ran during `component` (stack_sampler.summary)."""
        begin, end = self.windows[component]
        return stack_sampler.summary(self.profile, begin, end, top)

    def verdicts(self) -> list:
        return [line.strip() for line in self.output.splitlines()
                if line.startswith("VERDICT")]


def run(config_path: str, work: str, runner: str = "local", code: str = None) -> Run:
    """`fairgate run --config config_path --runner runner` in `work`, measured;
    with `code` (a checkout), that checkout's fairgate runs, so code before and
    after a change is measured by the same benchmark against the same floors."""
    out_path = os.path.join(work, "run.out")
    profile_path = os.path.join(work, "profile.json")
    samples, stop = [], threading.Event()
    env = dict(os.environ)
    if code:
        env["PYTHONPATH"] = os.pathsep.join(
            [os.path.abspath(code)] + [p for p in [env.get("PYTHONPATH")] if p])
    start = time.time()
    with open(out_path, "w") as out:
        process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "stack_sampler.py"), "--out",
             profile_path, "-m", "fairgate.cli", "run", "--config", config_path,
             "--runner", runner], cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = threading.Thread(target=_sample,
                                   args=(psutil.Process(process.pid), samples, stop))
        sampler.start()
        code = process.wait()
        stop.set()
        sampler.join()
    wall = time.time() - start
    import yaml
    with open(config_path) as f:
        metadata_path = yaml.safe_load(f)["metadata_path"]
    with open(out_path) as f:
        output = f.read()
    profile = stack_sampler.load(profile_path) if os.path.exists(profile_path) else \
        {"interval": stack_sampler.INTERVAL, "functions": [], "samples": []}
    windows = component_windows(metadata_path) if os.path.exists(metadata_path) else {}
    return Run(code, wall, samples, windows, profile, output)
