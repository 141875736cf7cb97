"""Ingestion cost of the embedded default at the demo size and at CelebA's size.

For each size: generating the embedded dataset (once per data_dir), then a real
LocalDagRunner run of CelebAExampleGen -> StatisticsGen, timed per component from
ML Metadata. Prints one JSON document.

    .venv/bin/python benchmarks/ingest_throughput.py                 # 20000 and 202599
    .venv/bin/python benchmarks/ingest_throughput.py --sizes 2000    # quick look
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402


def _component_seconds(metadata_path: str) -> dict:
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    store = metadata_store.MetadataStore(connection)
    seconds = {}
    for execution in store.get_executions():
        node = execution.custom_properties.get("__node_id__") or None
        name = node.string_value if node else store.get_execution_types_by_id(
            [execution.type_id])[0].name.split(".")[-1]
        seconds[name] = round((execution.last_update_time_since_epoch -
                               execution.create_time_since_epoch) / 1000.0, 1)
    return seconds


def measure(size: int, data_dir: str, work_dir: str) -> dict:
    from tfx import v1 as tfx
    from components.celeba_example_gen import CelebAExampleGen
    from fairgate.data import embedded_celeba
    from pipeline.pipeline import image_statistics_options

    start = time.time()
    embedded_celeba.prepare(data_dir, size, seed=0)
    generate_s = time.time() - start

    root = os.path.join(work_dir, f"n{size}")
    ingest = CelebAExampleGen(
        data_dir=data_dir, dataset=f"{embedded_celeba.NAME}/n{size}_seed0")
    statistics = tfx.components.StatisticsGen(
        examples=ingest.outputs["examples"], stats_options=image_statistics_options())
    pipeline = tfx.dsl.Pipeline(
        pipeline_name=f"bench-{size}", pipeline_root=root,
        components=[ingest, statistics], enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(os.path.join(root, "m.sqlite")),
        beam_pipeline_args=["--runner=FnApiRunner", "--direct_running_mode=in_memory",
                            "--direct_num_workers=1"])
    start = time.time()
    tfx.orchestration.LocalDagRunner().run(pipeline)
    run_s = time.time() - start
    per_component = _component_seconds(os.path.join(root, "m.sqlite"))
    example_gen_s = per_component.get("CelebAExampleGen")
    examples_bytes = sum(
        os.path.getsize(os.path.join(d, f))
        for d, _, files in os.walk(os.path.join(root, "CelebAExampleGen")) for f in files)
    return {
        "num_examples": size,
        "generate_embedded_s": round(generate_s, 1),
        "generate_examples_per_s": round(size / generate_s, 1),
        "pipeline_wall_s": round(run_s, 1),
        "component_s": per_component,
        "example_gen_examples_per_s": round(size / example_gen_s, 1) if example_gen_s else None,
        "examples_gzip_mb": round(examples_bytes / 2**20, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,202599")
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data_dir (default: a temporary folder, so generation "
                             "is measured too)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.WARNING)
    work_dir = tempfile.mkdtemp(prefix="fairgate-bench-")
    data_dir = args.data_dir or os.path.join(work_dir, "tfds")
    try:
        # TFDS prints progress to stdout; keep stdout for the JSON alone.
        with contextlib.redirect_stdout(sys.stderr):
            results = [measure(int(s), data_dir, work_dir) for s in args.sizes.split(",")]
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(json.dumps({
        "benchmark": "ingest_throughput",
        "cores": os.cpu_count(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
