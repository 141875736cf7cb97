"""Counting the records of a split's gzipped TFRecord files, serially and with
tf.data's parallel reads, one reduce step per record or per batch, as JSON. The Trainer counts the train split to set its
step budget (trainer_module/run_fn.count_examples) before the first step.

  .venv/bin/python benchmarks/record_count.py 'ROOT/CelebAExampleGen/examples/1/Split-train/*.gz' [--repeats 2]
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def seconds(files, batched: bool, **reads) -> tuple:
    """(records, seconds): one reduce step per record, or per batch of 4,096."""
    import numpy as np
    import tensorflow as tf
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", **reads)
    start = time.perf_counter()
    if batched:
        count = int(dataset.batch(4096).reduce(
            np.int64(0), lambda n, records: n + tf.size(records, out_type=tf.int64)))
    else:
        count = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
    return count, round(time.perf_counter() - start, 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pattern")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    import tensorflow as tf
    from trainer_module.run_fn import count_examples
    files = sorted(glob.glob(args.pattern))
    variants = {"serial": {}, "parallel_2": {"num_parallel_reads": 2},
                "parallel_autotune": {"num_parallel_reads": tf.data.AUTOTUNE}}
    runs = {f"{name}{suffix}": [] for name in variants
            for suffix in ("", "_batched")}
    runs["count_examples"] = []
    records = None
    for _ in range(args.repeats):  # interleaved: this machine's speed drifts
        for name, reads in variants.items():
            for suffix, batched in (("", False), ("_batched", True)):
                records, took = seconds(files, batched, **reads)
                runs[f"{name}{suffix}"].append(took)
        start = time.perf_counter()
        assert count_examples([args.pattern]) == records
        runs["count_examples"].append(round(time.perf_counter() - start, 2))
    print(json.dumps({
        "benchmark": "record_count", "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "files": len(files), "megabytes": round(sum(map(os.path.getsize, files)) / 1e6, 1),
        "records": records, "seconds": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
