"""Fault soak of the release path: injects faults and counts what went wrong, as JSON.

  PYTHONPATH=. .venv/bin/python benchmarks/fault_soak.py [--out FILE] [--seed N]

Faults (each counted once in `faults`, by kind):
  push level (processes running GatedPusher's release code on small real
  SavedModels, local code and object-storage code, no rename, on local folders):
    concurrent_push        three processes, two models, one twice, at one moment
    kill_push              kill -9 of a pushing process at a random moment
    destination_full       the destination fills up mid-push (a tmpfs; where
                           mounting is refused, RLIMIT_FSIZE on a pushing process)
    corrupted_serving      the served version truncated, a variables file missing,
                           a shard cut, a broken folder put there by hand
  run level (`fairgate run` on a small CSV config, real pipelines):
    kill_run_example_gen   kill -9 of the whole run while CsvExampleGen runs
    kill_run_push          kill -9 of the whole run when GatedPusher starts
    corrupted_serving_run  the served model's saved_model.pb cut to 100 bytes
    concurrent_run         two runs on one pipeline root at once
After each fault the destination is pushed to (or the run run) again. Runs use
benchmarks/data/soak_tabular.pbtxt (change margins any retrain passes), so the
right verdict of every run is BLESSED whichever model was in serving when a
fault struck (with the strict test gates, a retrain may rightly be NOT BLESSED
against the model in serving, which a first soak run counted as not recovering).

Counts (target 0), each with the cases and the fault that caused them:
  unblessed_pushes       a version whose model no Evaluator blessed (run level)
  duplicate_pushes       one model in two usable versions at a destination
  partial_versions_visible  a numbered version seen incomplete (local code), or
                         loadable-looking (saved_model.pb there) but unusable
                         (object code), while pushes ran or after
  lost_pushes            a push reported done (or a run saying BLESSED, pushed)
                         whose model is not in a usable version
  runs_not_recovering    the push or run after the fault did not finish with the
                         right outcome
  leftovers              staging or partial folders, lock entries of dead owners,
                         report swap folders, staging folders of killed runs
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fairgate.release import publication, serving_versions  # noqa: E402
from fairgate.release import protocol  # noqa: E402
from fairgate.release.destination_lock import scan  # noqa: E402
from tests import push_workers  # noqa: E402

COUNTS = ("unblessed_pushes", "duplicate_pushes", "partial_versions_visible",
          "lost_pushes", "runs_not_recovering", "leftovers")
FAST_LEASE = {"stale_s": 2.0, "heartbeat_s": 0.2}  # object code: dead after 2 s silent
FAIRGATE = os.path.join(os.path.dirname(sys.executable), "fairgate")
# Change margins any retrain passes: the right verdict of every run is BLESSED,
# whichever model is in serving when a fault struck.
GATES = os.path.join(ROOT, "benchmarks", "data", "soak_tabular.pbtxt")
EVALUATION = {"eval_config": GATES, "groups": ["north", "south"]}


class Soak:
    def __init__(self, work: str, seed: int):
        self.work = work
        self.rng = random.Random(seed)
        self.faults = collections.Counter()
        self.landed = collections.Counter()  # where a fault hit ("kill_push: mid-copy")
        self.cases: Dict[str, List[dict]] = {k: [] for k in COUNTS}
        self.deliberately_broken: set = set()  # (destination, version) we corrupted

    def record(self, count: str, fault: str, detail: str) -> None:
        self.cases[count].append({"fault": fault, "detail": detail})

    def options(self, object_storage: bool) -> dict:
        return dict(FAST_LEASE) if object_storage else {}

    # ---- checks -----------------------------------------------------------
    def check_destination(self, destination: str, models, fault: str,
                          object_storage: bool, expect=()) -> None:
        problems = push_workers.inspect(destination, models, object_storage)
        for detail in problems["duplicates"]:
            self.record("duplicate_pushes", fault, f"{destination}: {detail}")
        for detail in problems["unusable"]:
            version = detail.split(":")[0]
            if (destination, version) not in self.deliberately_broken:
                self.record("partial_versions_visible", fault, f"{destination}: {detail}")
        for model in problems["missing"]:
            if model in expect:
                self.record("lost_pushes", fault, f"{destination}: {model} not pushed")
        for detail in problems["leftovers"]:
            self.record("leftovers", fault, f"{destination}: {detail}")
        store = push_workers.storage(object_storage)
        for version in serving_versions.versions(destination, store):
            path = store.join(destination, version)
            if not store.exists(store.join(path, serving_versions.SAVED_MODEL)):
                self.record("leftovers", fault, f"{path}: partial copy left")

    @contextlib.contextmanager
    def watching(self, destinations: List[str], fault: str, object_storage: bool):
        """Polls the destinations while pushes run: a numbered folder must be
        complete (local code) or, once saved_model.pb is there, usable."""
        stop = threading.Event()
        store = push_workers.storage(object_storage)

        def watch():
            while not stop.is_set():
                for destination in destinations:
                    for version in serving_versions.versions(destination, store):
                        if (destination, version) in self.deliberately_broken:
                            continue
                        path = store.join(destination, version)
                        has_graph = store.exists(store.join(path, serving_versions.SAVED_MODEL))
                        if object_storage and not has_graph:
                            continue  # not loadable: allowed on object storage
                        reason = serving_versions.unusable_reason(path, store)
                        if reason and store.exists(path):
                            self.record("partial_versions_visible", fault,
                                        f"{path} seen while pushing: {reason}")
                time.sleep(0.02)
        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def recover(self, model: str, destination: str, fault: str,
                object_storage: bool) -> None:
        outcome = push_workers.push(model, destination, object_storage,
                                    **self.options(object_storage))
        if not outcome["ok"]:
            self.record("runs_not_recovering", fault, f"{destination}: {outcome['error']}")

    # ---- push-level faults -------------------------------------------------
    def concurrent_pushes(self, models, rounds: int) -> None:
        for object_storage in (False, True):
            mode = "object" if object_storage else "local"
            destinations = [os.path.join(self.work, f"concurrent-{mode}", f"r{r}")
                            for r in range(rounds)]
            pushers = [models[0], models[1], models[0]]
            with self.watching(destinations, "concurrent_push", object_storage):
                outcomes = push_workers.contend(pushers, destinations, object_storage,
                                                **self.options(object_storage))
            self.faults["concurrent_push"] += rounds
            for outcome in outcomes:
                destination = destinations[outcome["round"]]
                if not outcome["ok"]:
                    self.recover(outcome["model"], destination, "concurrent_push",
                                 object_storage)
            for destination in destinations:
                self.check_destination(destination, pushers, "concurrent_push",
                                       object_storage, expect=set(pushers))

    def killed_pushes(self, models, count: int) -> None:
        for i in range(count):
            object_storage = bool(i % 2)
            destination = os.path.join(self.work, f"kill-{i}")
            if i % 3 == 0:  # sometimes a model is in serving already
                push_workers.push(models[1], destination, object_storage,
                                  **self.options(object_storage))
            args = [sys.executable, "-m", "tests.push_workers", "push", models[0],
                    destination, "--slow-copy-s", "0.1"]
            if object_storage:
                args += ["--object-storage", "--stale-s", "2", "--heartbeat-s", "0.2"]
            child = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lock = os.path.join(destination, publication.CONTROL_DIR, "lock")
            with self.watching([destination], "kill_push", object_storage):
                deadline = time.time() + 120
                while not (os.path.isdir(lock) and os.listdir(lock)) and \
                        child.poll() is None and time.time() < deadline:
                    time.sleep(0.01)
                time.sleep(self.rng.uniform(0, 0.35))  # in the lock, mid-copy or done
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                self.faults["kill_push"] += 1
                self.landed[f"kill_push: {_push_phase(destination)}"] += 1
                self.recover(models[0], destination, "kill_push", object_storage)
            self.check_destination(destination, models[:2], "kill_push", object_storage,
                                   expect={models[0]})

    def full_destinations(self, models, count: int) -> None:
        for i in range(count):
            object_storage = bool(i % 2)
            disk = os.path.join(self.work, f"disk-{i}")
            os.makedirs(disk)
            mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs",
                                      disk], capture_output=True).returncode == 0
            destination = os.path.join(disk, "serving")
            try:
                if mounted:
                    filler = os.path.join(disk, "filler")
                    with open(filler, "wb") as f:  # leaves 0-250 KB for an ~800 KB model
                        f.write(b"x" * (1_048_576 - self.rng.randint(40_000, 250_000)))
                    failed = push_workers.push(models[0], destination, object_storage,
                                               **self.options(object_storage))
                    os.remove(filler)
                else:
                    failed = self._limited_push(models[0], destination, object_storage)
                self.faults["destination_full"] += 1
                self.landed["destination_full: " + ("tmpfs" if mounted else "RLIMIT_FSIZE")] += 1
                if failed["ok"] or f"push to {destination} failed" not in failed["error"]:
                    self.record("runs_not_recovering", "destination_full",
                                f"{destination}: the full push did not fail naming "
                                f"the destination: {failed}")
                self.check_destination(destination, [models[0]], "destination_full",
                                       object_storage)
                self.recover(models[0], destination, "destination_full", object_storage)
                self.check_destination(destination, [models[0]], "destination_full",
                                       object_storage, expect={models[0]})
            finally:
                if mounted:
                    subprocess.run(["umount", disk], check=False)

    def _limited_push(self, model, destination, object_storage) -> dict:
        import resource
        limit = self.rng.randint(40_000, 250_000)

        def preexec():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        args = [sys.executable, "-m", "tests.push_workers", "push", model, destination]
        if object_storage:
            args.append("--object-storage")
        child = subprocess.run(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT},
                               preexec_fn=preexec, capture_output=True, text=True)
        return json.loads(child.stdout.strip().splitlines()[-1])

    def corrupted_serving(self, models, count: int) -> None:
        ways = ["truncate_graph", "remove_index", "cut_shard", "hand_folder"]
        for i in range(count):
            object_storage = bool(i % 2)
            way = ways[i % len(ways)]
            destination = os.path.join(self.work, f"corrupt-{i}")
            store = push_workers.storage(object_storage)
            first = push_workers.push(models[0], destination, object_storage)
            version = first["version"]
            path = os.path.join(destination, version)
            if way == "hand_folder":
                version = str(int(version) + 1000)
                path = os.path.join(destination, version)
                shutil.copytree(models[1], path)
                with open(os.path.join(path, "saved_model.pb"), "wb") as f:
                    f.write(b"\x08\x01not a model")
            elif way == "truncate_graph":
                _cut(os.path.join(path, "saved_model.pb"), 100)
            elif way == "remove_index":
                os.remove(os.path.join(path, "variables", "variables.index"))
            else:
                shard = [n for n in os.listdir(os.path.join(path, "variables"))
                         if n.startswith("variables.data")][0]
                _cut(os.path.join(path, "variables", shard), 1000)
            self.deliberately_broken.add((destination, version))
            self.faults["corrupted_serving"] += 1
            try:
                newest, skipped = serving_versions.newest_usable(destination, store)
            except Exception as error:  # a crash is the failure this fault looks for
                self.record("runs_not_recovering", "corrupted_serving",
                            f"{destination}: newest_usable crashed: {error}")
                continue
            if newest == version or version not in [s["version"] for s in skipped]:
                self.record("runs_not_recovering", "corrupted_serving",
                            f"{destination}: broken version {version} ({way}) not "
                            f"named unusable")
            self.recover(models[0], destination, "corrupted_serving", object_storage)
            self.check_destination(destination, [models[0]], "corrupted_serving",
                                   object_storage, expect={models[0]})
            if serving_versions.newest_usable(destination, store)[0] in (None, version):
                self.record("runs_not_recovering", "corrupted_serving",
                            f"{destination}: serving not mended by the next push")

    # ---- run-level faults --------------------------------------------------
    def run_level(self, kinds: List[str]) -> None:
        from tests.tabular import write_biased_csv
        from tests.test_cli import write_config
        import pathlib
        workdir = pathlib.Path(self.work) / "runs"
        write_biased_csv(workdir / "csv" / "data.csv", 2000, seed=0)
        self.workdir = workdir
        self.steps = 300
        self.config = self.last_config = write_config(
            workdir, **{"trainer.train_steps": self.steps}, evaluation=EVALUATION)
        start = self._run(self.config)
        if start.returncode != 0:
            self.record("runs_not_recovering", "setup", start.stderr[-2000:])
            return
        for kind in kinds:
            getattr(self, kind)()
            self.check_run_state(kind)

    def _fresh_config(self, **overrides):
        # A new model (one more step): the run trains and pushes it.
        from tests.test_cli import write_config
        self.steps += 1
        self.last_config = write_config(self.workdir, **{"trainer.train_steps": self.steps},
                                        evaluation=EVALUATION, **overrides)
        return self.last_config

    def _run(self, config, background=False, log=None):
        args = [FAIRGATE, "run", "--config", config]
        env = {**os.environ, "PYTHONPATH": ROOT}
        if background:
            return subprocess.Popen(args, cwd=self.workdir, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, text=True,
                                    start_new_session=True)
        return subprocess.run(args, cwd=self.workdir, env=env, capture_output=True,
                              text=True, timeout=1800)

    def _kill_when(self, config, line: str, fault: str, extra_s: float):
        log_path = self.workdir / f"{fault}.log"
        with open(log_path, "w") as log:
            run = self._run(config, background=True, log=log)
            deadline = time.time() + 900
            while line not in log_path.read_text() and run.poll() is None and \
                    time.time() < deadline:
                time.sleep(0.05)
            time.sleep(extra_s)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        self.faults[fault] += 1
        text = log_path.read_text()
        finished = [c for c in ("CsvExampleGen", "GatedPusher")
                    if f"Component {c} is finished" in text]
        self.landed[f"{fault}: finished before the kill: {finished or 'neither'}"] += 1

    def _rerun(self, config, fault: str, expect_pushed_new=None) -> None:
        rerun = self._run(config)
        verdict_ok = rerun.returncode == 0 and "VERDICT: BLESSED" in rerun.stdout
        if not verdict_ok:
            self.record("runs_not_recovering", fault,
                        f"exit {rerun.returncode}: {rerun.stderr[-1500:]}")
        if "BLESSED, pushed" in rerun.stdout:
            self._check_pushed_reported(fault)

    def _check_pushed_reported(self, fault):
        report = json.load(open(self.workdir / "report" / "report.json"))
        path = report["verdict"].get("pushed_model_path")
        if not path or serving_versions.unusable_reason(path) is not None:
            self.record("lost_pushes", fault, f"report says pushed to {path}, not usable")

    def kill_run_example_gen(self):
        # New data, so that CsvExampleGen runs (unchanged data is cached).
        from tests.tabular import write_biased_csv
        write_biased_csv(self.workdir / "csv2" / "data.csv", 2000, seed=1)
        config = self._fresh_config(data={
            "source": "csv", "input_base": str(self.workdir / "csv2"),
            "label": "approved", "group": "region"})
        self._kill_when(config, "Component CsvExampleGen is running",
                        "kill_run_example_gen", self.rng.uniform(0.2, 2.0))
        self._rerun(config, "kill_run_example_gen")

    def kill_run_push(self):
        config = self._fresh_config()
        self._kill_when(config, "Component GatedPusher is running", "kill_run_push",
                        self.rng.uniform(0.0, 0.3))
        self._rerun(config, "kill_run_push")

    def corrupted_serving_run(self):
        # The newest version holds the last config's model: cut it, and run that
        # config again (its model must be judged, and pushed again).
        serving = str(self.workdir / "serving")
        version, _ = serving_versions.newest_usable(serving)
        _cut(os.path.join(serving, version, "saved_model.pb"), 100)
        self.deliberately_broken.add((serving, version))
        self.faults["corrupted_serving_run"] += 1
        rerun = self._run(self.last_config)
        if rerun.returncode != 0 or "VERDICT: BLESSED, pushed" not in rerun.stdout or \
                f"version {version} at {serving} is unusable" not in rerun.stderr:
            self.record("runs_not_recovering", "corrupted_serving_run",
                        f"exit {rerun.returncode}: {rerun.stdout[-500:]} "
                        f"{rerun.stderr[-1500:]}")
        else:
            self._check_pushed_reported("corrupted_serving_run")

    def concurrent_run(self):
        config = self._fresh_config()
        logs = [self.workdir / f"concurrent_run_{i}.log" for i in range(2)]
        runs = []
        for log_path in logs:
            runs.append(self._run(config, background=True, log=open(log_path, "w")))
        codes = [run.wait(timeout=1800) for run in runs]
        self.faults["concurrent_run"] += 1
        texts = [p.read_text() for p in logs]
        if any(codes) or not all("VERDICT: BLESSED" in t for t in texts):
            self.record("runs_not_recovering", "concurrent_run",
                        f"exits {codes}: {[t[-800:] for t in texts]}")
        if not any("another run on this pipeline root" in t for t in texts):
            self.record("runs_not_recovering", "concurrent_run",
                        "neither run waited for the other")
        self._check_report_whole("concurrent_run")

    def _check_report_whole(self, fault):
        """report_dir holds one run's report: every file equals that of one
        FairnessReport artifact."""
        report_dir = self.workdir / "report"
        root = self.workdir / "root"
        artifacts = [os.path.dirname(p) for p in _find(str(root), "report.json")]
        mine = sorted(os.listdir(report_dir))
        for artifact in artifacts:
            if sorted(os.listdir(artifact)) == mine and all(
                    open(os.path.join(artifact, n), "rb").read() ==
                    open(os.path.join(report_dir, n), "rb").read() for n in mine):
                return
        self.record("leftovers", fault, f"{report_dir} is no run's whole report")

    def check_run_state(self, fault: str) -> None:
        serving = str(self.workdir / "serving")
        self.check_destination(serving, [], fault, False)
        self._check_blessed(serving, fault)
        parent = str(self.workdir)
        for name in os.listdir(parent):
            if name.startswith("report" + publication.INCOMING_PREFIX) or \
                    name.startswith("report" + publication.RETIRED_PREFIX):
                self.record("leftovers", fault, f"{name} beside report_dir")
        for path in _find(str(self.workdir / "root"), None, publication.STAGING_PREFIX):
            self.record("leftovers", fault, f"{path}: staging folder of a killed run")
        lock_root = os.path.join(parent, publication.CONTROL_DIR)
        if os.path.isdir(lock_root):
            for name in os.listdir(lock_root):
                for owner in scan(publication.LocalStorage(), os.path.join(lock_root, name)):
                    self.record("leftovers", fault, f"run lock entry {owner}")

    def _check_blessed(self, serving, fault):
        from ml_metadata import metadata_store
        from ml_metadata.proto import metadata_store_pb2
        connection = metadata_store_pb2.ConnectionConfig()
        connection.sqlite.filename_uri = str(self.workdir / "metadata.sqlite")
        connection.sqlite.connection_mode = \
            metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
        store = metadata_store.MetadataStore(connection)
        blessed = set()
        for blessing in store.get_artifacts_by_type("ModelBlessing"):
            properties = blessing.custom_properties
            if properties["blessed"].int_value == 1:
                blessed.add(properties["current_model_id"].int_value)
        for version in serving_versions.versions(serving):
            uri = serving_versions.push_record(os.path.join(serving, version)).get(
                "model_uri")
            ids = {a.id for a in store.get_artifacts_by_uri(uri or "")}
            if not ids & blessed:
                self.record("unblessed_pushes", fault, f"version {version}: {uri}")

    def result(self, seconds: float) -> dict:
        out = {k: {"count": len(v), "cases": v} for k, v in self.cases.items()}
        out["faults"] = {"total": sum(self.faults.values()),
                         "by_kind": dict(self.faults), "landed": dict(self.landed)}
        out["seconds"] = round(seconds, 1)
        return out


def _push_phase(destination):
    """Where a killed push stopped, from what it left."""
    names = os.listdir(destination) if os.path.isdir(destination) else []
    if any(n.startswith(publication.INCOMING_PREFIX) for n in names) or any(
            n.isdigit() and not os.path.exists(os.path.join(destination, n, "saved_model.pb"))
            for n in names):
        return "mid-copy"
    claims = os.path.join(destination, publication.CONTROL_DIR, protocol.CLAIMS_DIR)
    pushed = len([n for n in names if n.isdigit()])
    if os.path.isdir(claims) and len(os.listdir(claims)) > pushed:
        return "after claiming, before copying"
    lock = os.path.join(destination, publication.CONTROL_DIR, "lock")
    if os.path.isdir(lock) and os.listdir(lock):
        return "in the lock (waiting, checking or done, not released)"
    return "before the lock or after the release"


def _cut(path, size):
    with open(path, "rb") as f:
        head = f.read(size)
    with open(path, "wb") as f:
        f.write(head)


def _find(root, file_name=None, dir_prefix=None):
    found = []
    for folder, dirs, files in os.walk(root):
        if file_name and file_name in files:
            found.append(os.path.join(folder, file_name))
        if dir_prefix:
            found += [os.path.join(folder, d) for d in dirs if d.startswith(dir_prefix)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="")
    parser.add_argument("--concurrent-rounds", type=int, default=10)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--full", type=int, default=8)
    parser.add_argument("--corrupt", type=int, default=8)
    parser.add_argument("--skip-runs", action="store_true")
    args = parser.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory() as work:
        soak = Soak(work, args.seed)
        models = push_workers.make_models(os.path.join(work, "models"), 2, size=200_000)
        soak.concurrent_pushes(models, args.concurrent_rounds)
        soak.killed_pushes(models, args.kills)
        soak.full_destinations(models, args.full)
        soak.corrupted_serving(models, args.corrupt)
        if not args.skip_runs:
            soak.run_level(["kill_run_example_gen", "kill_run_push",
                            "corrupted_serving_run", "concurrent_run"])
        result = soak.result(time.time() - start)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
