"""The whole DAG end to end against its I/O floor: seconds, ratio and peak memory, as JSON.

Runs `fairgate run` (a subprocess, as a user would) on the embedded default at a
given size in a fresh pipeline root, samples the resident memory of the process
tree every 0.25 s, and reads each component's start and end from ML Metadata.
In the same run it measures the ingestion floor (benchmarks/ingest_floor.py:
batched tf.data decode and resize of every JPEG of the same dataset, nothing
written) and prints `floor_seconds`, `wall_seconds`, `ratio` (whole DAG over
floor) and `peak_rss_gb`.

  .venv/bin/python benchmarks/pipeline_e2e.py --pregenerate          # the demo: 20,000
  .venv/bin/python benchmarks/pipeline_e2e.py --num-examples 202599 --pregenerate \
      --data-dir /somewhere/tfds     # reuses a dataset generated there before

--pregenerate creates the dataset first (unless --data-dir already holds it) and
reports its time apart: real CelebA arrives prepared, so the targets are for the
pipeline alone. Without it generation happens inside CelebAExampleGen, as on a
fresh clone. Targets (2 cores): the demo (20,000) <= 60 s; at CelebA's size
ratio <= 2.5 and peak RSS <= 3 GB. A missed target names the component that
holds it (`missed`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import yaml

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WALL_TARGETS = {20_000: 60}  # seconds, after the data exists
RATIO_TARGET = 2.5  # whole DAG over the ingestion floor
RSS_TARGET_GB = 3.0
CELEBA_SIZE = 202_599


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


def _component_windows(metadata_path: str) -> dict:
    """{component id: (start, end) epoch seconds} of the run's executions."""
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


def _targets(num_examples: int, result: dict, components: dict) -> dict:
    """Targets, and for each missed one the component that holds it: the slowest
    for time, the one with the highest peak for memory."""
    # The targets: ratio and memory at CelebA's size, wall time for the demo.
    targets = {"ratio": RATIO_TARGET, "peak_rss_gb": RSS_TARGET_GB} \
        if num_examples >= CELEBA_SIZE else {}
    if num_examples in WALL_TARGETS:
        targets["wall_seconds"] = WALL_TARGETS[num_examples]
    missed = []
    for key, limit in targets.items():
        if result[key] <= limit or not components:
            continue
        measure = "peak_rss_gb" if key == "peak_rss_gb" else "seconds"
        worst = max(components, key=lambda c: components[c][measure])
        missed.append({"target": key, "limit": limit, "value": result[key],
                       "component": worst, **components[worst]})
    slowest = max(components, key=lambda c: components[c]["seconds"]) if components \
        else None
    return {"targets": targets, "targets_met": not missed, "missed": missed,
            "bottleneck": {"component": slowest, **components[slowest]} if slowest
            else None}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-examples", type=int, default=20_000)
    parser.add_argument("--pregenerate", action="store_true")
    parser.add_argument("--runner", choices=["local", "beam"], default="local")
    parser.add_argument("--work-dir", default=None,
                        help="default: a temporary folder, removed afterwards")
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data_dir to generate into / reuse (default: inside "
                             "the work dir)")
    args = parser.parse_args(argv)

    work = args.work_dir or tempfile.mkdtemp(prefix="fairgate-e2e-")
    os.makedirs(work, exist_ok=True)
    data_dir = os.path.abspath(args.data_dir or os.path.join(work, "tensorflow_datasets"))
    result = {"benchmark": "pipeline_e2e", "date": time.strftime("%Y-%m-%d"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "memory_gb": round(psutil.virtual_memory().total / 2**30, 1)},
              "num_examples": args.num_examples, "runner": args.runner}
    fairgate = os.path.join(os.path.dirname(sys.executable), "fairgate")
    if args.pregenerate:
        start = time.time()
        subprocess.run([fairgate, "prepare-embedded", "--data-dir", data_dir,
                        "--num-examples", str(args.num_examples)], check=True,
                       capture_output=True)
        result["pregenerate_seconds"] = round(time.time() - start, 1)
    config = {"name": f"e2e-{args.num_examples}",
              "data": {"source": "embedded_celeba", "data_dir": data_dir,
                       "num_examples": args.num_examples},
              "pipeline_root": os.path.join(work, "root"),
              "metadata_path": os.path.join(work, "metadata.sqlite"),
              "push_destination": os.path.join(work, "serving"),
              "report_dir": os.path.join(work, "report")}
    config_path = os.path.join(work, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(config, f)

    samples, stop = [], threading.Event()
    start = time.time()
    with open(os.path.join(work, "run.out"), "w") as out:
        run = subprocess.Popen([fairgate, "run", "--config", config_path, "--runner",
                                args.runner], cwd=work, stdout=out,
                               stderr=subprocess.STDOUT)
        sampler = threading.Thread(target=_sample,
                                   args=(psutil.Process(run.pid), samples, stop))
        sampler.start()
        code = run.wait()
        stop.set()
        sampler.join()
    wall = time.time() - start
    result["exit_code"] = code
    result["wall_seconds"] = round(wall, 1)
    result["peak_rss_gb"] = round(max((r for _, r in samples), default=0) / 2**30, 2)
    # The floor, after the run (the data exists then), in its own process.
    floor = json.loads(subprocess.run(
        [sys.executable, os.path.join(HERE, "benchmarks", "ingest_floor.py"),
         "--data-dir", data_dir, "--num-examples", str(args.num_examples)],
        check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    result["floor_seconds"] = floor["seconds"]
    result["floor_images"] = floor["images"]
    result["ratio"] = round(wall / floor["seconds"], 2)

    components = {}
    for component, (begin, end) in sorted(_component_windows(
            config["metadata_path"]).items(), key=lambda item: item[1][0]):
        inside = [r for t, r in samples if begin - 0.25 <= t <= end + 0.25]
        components[component] = {
            "seconds": round(end - begin, 1),
            "peak_rss_gb": round(max(inside, default=0) / 2**30, 2)}
    result["components"] = components
    accounted = sum(c["seconds"] for c in components.values())
    result["outside_components_seconds"] = round(wall - accounted, 1)  # start-up etc.
    result.update(_targets(args.num_examples, result, components))
    with open(os.path.join(work, "run.out")) as f:
        result["verdict"] = [line.strip() for line in f if line.startswith("VERDICT")]
    print(json.dumps(result, indent=2))
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if code in (0, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
