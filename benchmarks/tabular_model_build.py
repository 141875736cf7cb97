"""Building the built-in tabular model, as the Trainer does, in a fresh process.

`--rows` generated rows of `train_throughput.py`'s dozen mixed columns (8
numeric, one with empty cells; 4 categorical), handed over as the Trainer's
`_load_split` gives them (float32 with NaN, UTF-8 bytes); timed:
`run_fn.train_arrays` (the contract's `train`) and `models.build` of the
built-in `tabular` model on it (its vocabularies and scales included). Prints JSON.

    .venv/bin/python benchmarks/tabular_model_build.py [--rows 25000]
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import numpy as np  # noqa: E402

from train_throughput import wide_rows  # noqa: E402

NUMERIC_TEXT = ("balance",)  # numbers with empty cells: the CSV ExampleGen's floats


def trainer_features(rows: dict):
    """(features, kinds) as the Trainer reads them: numeric float32 [n, 1] (NaN
    for an empty cell), categorical object bytes [n, 1]."""
    features, kinds = {}, {}
    for name, values in rows.items():
        if name in ("approved", "region"):  # label and group
            continue
        values = np.asarray(values)
        if name in NUMERIC_TEXT:
            values = np.where(values == "", "nan", values).astype(np.float32)
        if values.dtype.kind in "US":
            kinds[name] = "categorical"
            features[name] = np.char.encode(values.astype(str), "utf-8").astype(
                object).reshape(-1, 1)
        else:
            kinds[name] = "numeric"
            features[name] = values.astype(np.float32).reshape(-1, 1)
    return features, kinds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=25_000)
    args = parser.parse_args(argv)
    from trainer_module import models, run_fn
    features, kinds = trainer_features(wide_rows(args.rows, seed=0))
    start = time.perf_counter()
    train = run_fn.train_arrays(features, kinds, seed=0)
    arrays_s = time.perf_counter() - start
    function, hparams, name = models.builtin("tabular", image=False)
    start = time.perf_counter()
    model = models.build(function, models.raw_inputs(kinds), train, hparams,
                         f"built-in model {name}")
    build_s = time.perf_counter() - start
    print(json.dumps({
        "benchmark": "tabular_model_build", "rows": args.rows,
        "numeric": sum(k == "numeric" for k in kinds.values()),
        "categorical": sum(k == "categorical" for k in kinds.values()),
        "train_arrays_seconds": round(arrays_s, 3), "build_seconds": round(build_s, 3),
        "parameters": int(model.count_params())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
