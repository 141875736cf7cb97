"""The evaluation floor: one TFMA pass with ExampleCount only over a run's test
split. Prints JSON.

What no Evaluator of this model can beat with TFMA on this machine: the run's
Trainer model, the run's EvalConfig cut down to ExampleCount on the overall
slice (evaluator_throughput.py's `floor`: reading, decoding, inference and
TFMA's per-example plumbing, no metrics), `tfma.run_model_analysis` on
in-process Beam as the Evaluator runs it, whole wall time including Beam's
start-up and writing its results.

  .venv/bin/python benchmarks/eval_floor.py --config CONFIG   # after a run of CONFIG
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import evaluator_throughput  # noqa: E402
import profiled_run  # noqa: E402


def example_count_floor(config) -> dict:
    """{seconds, examples} of one ExampleCount-only TFMA pass over the test split
    with the run's Trainer model."""
    from fairgate.metrics import eval_config as eval_config_lib
    from trainer_module.run_fn import count_examples
    outputs, ingest = profiled_run.finished_outputs(config, "Trainer")
    model_dir = os.path.join(outputs["Trainer"]["model"], "Format-Serving")
    pattern = os.path.join(outputs[ingest]["examples"], "Split-test", "*")
    floor = evaluator_throughput.floor_config(eval_config_lib.without_gates(
        eval_config_lib.of_run(config)))
    work = tempfile.mkdtemp(prefix="fairgate-eval-floor-")
    try:
        seconds = evaluator_throughput.tfma_seconds(model_dir, floor, pattern, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"seconds": round(seconds, 2), "examples": count_examples([pattern])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the run's config file")
    args = parser.parse_args(argv)
    from fairgate import config as config_lib
    print(json.dumps({"benchmark": "eval_floor",
                      **example_count_floor(config_lib.load(args.config))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
