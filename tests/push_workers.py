"""Processes that push small real SavedModels with GatedPusher's release code, and
a check of what a destination holds afterwards. Used by the release tests and by
benchmarks/push_contention.py and benchmarks/fault_soak.py.

  python -m tests.push_workers push MODEL DESTINATION [--object-storage]

pushes once (exit 0, or 1 with the error on stderr), as GatedPusher would.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from fairgate.release import protocol, serving_versions  # noqa: E402
from fairgate.release.destination_lock import scan  # noqa: E402
from fairgate.release.publication import (CONTROL_DIR, INCOMING_PREFIX, GfileStorage,  # noqa: E402
                                          LocalStorage, Storage)


def make_models(folder: str, count: int, size: int = 50_000) -> List[str]:
    """`count` distinct SavedModels (a variable of `size` floats, a serving
    signature) under folder; their paths."""
    import tensorflow as tf

    class Scale(tf.Module):
        def __init__(self, value):
            super().__init__()
            self.weights = tf.Variable(tf.fill([size], value))

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return x * self.weights[0]

    paths = []
    for i in range(count):
        path = os.path.join(folder, f"model{i}")
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            module = Scale(float(i + 1))
            tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
        paths.append(path)
    return paths


def storage(object_storage: bool, slow_copy_s: float = 0.0) -> Storage:
    """The object-storage code (no rename, gfile, liveness by timestamps) or the
    local one; `slow_copy_s` makes every file copy take that long (so that a
    fault lands inside a copy)."""
    base = GfileStorage if object_storage else LocalStorage
    if not slow_copy_s:
        return base()

    class Slow(base):
        def copy_file(self, source, target):
            time.sleep(slow_copy_s)
            super().copy_file(source, target)
    return Slow()


def push(model: str, destination: str, object_storage: bool = False,
         slow_copy_s: float = 0.0, **lock_options: Any) -> Dict[str, Any]:
    """One release as GatedPusher runs it: {"ok", "version", "new", "error"}."""
    store = storage(object_storage, slow_copy_s)
    try:
        version, new = protocol.release(
            model, destination,
            {"fingerprint": serving_versions.fingerprint(model), "model_uri": model},
            storage=store, **lock_options)
        return {"ok": True, "version": version, "new": new, "error": None}
    except Exception as error:  # counted by the caller
        return {"ok": False, "version": None, "new": False,
                "error": f"{type(error).__name__}: {error}"}


def _worker(index, model, destinations, object_storage, barrier, results, options):
    for round_, destination in enumerate(destinations):
        barrier.wait()
        outcome = push(model, destination, object_storage, **options)
        outcome.update(worker=index, round=round_, model=model)
        results.put(outcome)


def contend(models: Sequence[str], destinations: Sequence[str],
            object_storage: bool = False, **lock_options: Any) -> List[Dict[str, Any]]:
    """One process per entry of `models` (a model may repeat); in every round all
    push at the same moment (a barrier) to that round's destination."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(models))
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(
        i, model, list(destinations), object_storage, barrier, results, lock_options))
        for i, model in enumerate(models)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=600) for _ in range(len(models) * len(destinations))]
    for worker in workers:
        worker.join()
    return outcomes


def inspect(destination: str, models: Sequence[str],
            object_storage: bool = False) -> Dict[str, List[str]]:
    """What is wrong at a destination after pushes of `models` ended:
    {"duplicates", "unusable", "missing", "leftovers"} (lists of descriptions;
    duplicates and missing count usable versions only)."""
    store = storage(object_storage)
    problems: Dict[str, List[str]] = {"duplicates": [], "unusable": [],
                                      "missing": [], "leftovers": []}
    by_fingerprint: Dict[str, List[str]] = {}
    for version in serving_versions.versions(destination, store):
        path = store.join(destination, version)
        reason = serving_versions.unusable_reason(path, store)
        if reason:
            problems["unusable"].append(f"{version}: {reason}")
            continue
        fingerprint = serving_versions.push_record(path, store).get("fingerprint")
        by_fingerprint.setdefault(fingerprint, []).append(version)
    for fingerprint, found in by_fingerprint.items():
        if len(found) > 1:
            problems["duplicates"].append(f"model {fingerprint} in versions {found}")
    for model in set(models):
        if not by_fingerprint.get(serving_versions.fingerprint(model)):
            problems["missing"].append(model)
    if store.exists(destination):
        problems["leftovers"] += [n for n in store.listdir(destination)
                                  if n.startswith(INCOMING_PREFIX)]
    lock = store.join(destination, CONTROL_DIR, "lock")
    problems["leftovers"] += [f"lock entry {owner}" for owner in scan(store, lock)]
    return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("push")
    one.add_argument("model")
    one.add_argument("destination")
    one.add_argument("--object-storage", action="store_true")
    one.add_argument("--stale-s", type=float, default=None)
    one.add_argument("--heartbeat-s", type=float, default=None)
    one.add_argument("--slow-copy-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    options = {k: v for k, v in (("stale_s", args.stale_s),
                                 ("heartbeat_s", args.heartbeat_s)) if v is not None}
    outcome = push(args.model, args.destination, args.object_storage,
                   args.slow_copy_s, **options)
    print(json.dumps(outcome))
    if not outcome["ok"]:
        print(f"fairgate: {outcome['error']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
