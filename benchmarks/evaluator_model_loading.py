"""One Evaluator run with each model loaded once (as shipped) against TFMA deciding
and loading alone (TFX's `custom_eval_shared_model` hook pointed at
`tfma.default_eval_shared_model`): wall and CPU seconds, the Keras loads, and
which output files differ (and which differ between two runs of one way).
Prints JSON.

Re-runs the Evaluator of a finished run in this process from the run's ML Metadata
(beam_fixed_cost.py's `run_once`: the same inputs and execution properties, fresh
output folders), the two ways alternating, `--repeats` times each after one
warm-up run of each. For the figure that matters, the run should have had a model
in serving (a second run of a config whose first run pushed).

  .venv/bin/python benchmarks/evaluator_model_loading.py --metadata RUN/metadata.sqlite
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import beam_fixed_cost  # noqa: E402

WAYS = ("tfma_alone", "shipped")


def _counting_keras_loads():
    """Wraps `tf.keras.models.load_model` (how TFMA and model_loading load a Keras
    model) to count its calls; returns the list the calls land in."""
    import tensorflow as tf
    calls = []
    real = tf.keras.models.load_model

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    tf.keras.models.load_model = counted
    return calls


def measure(metadata_path: str, node: str, repeats: int) -> dict:
    from components.evaluator import model_loading
    from fairgate.config import Config
    changed = {"tfma_alone": {
        model_loading.HOOK: "tensorflow_model_analysis.default_eval_shared_model"},
        "shipped": {}}
    inputs, _, _ = beam_fixed_cost.recorded_execution(metadata_path, node)
    beam_args = list(Config().beam_args)
    loads = _counting_keras_loads()
    work = tempfile.mkdtemp(prefix="fairgate-model-loading-")
    runs = {way: {"wall_seconds": [], "cpu_seconds": [], "keras_loads": []}
            for way in WAYS}
    output = {way: [] for way in WAYS}
    try:
        for round_ in range(repeats + 1):  # round 0: a warm-up of each way
            for way in WAYS:
                del loads[:]
                start = time.perf_counter()
                cpu, out, _ = beam_fixed_cost.run_once(
                    metadata_path, node, beam_args, work,
                    changed_properties=changed[way])
                wall = time.perf_counter() - start
                output[way].append(out)
                if round_:
                    runs[way]["wall_seconds"].append(round(wall, 2))
                    runs[way]["cpu_seconds"].append(round(cpu, 2))
                    runs[way]["keras_loads"].append(len(loads))
        result = {"metadata": metadata_path, "node": node, "repeats": repeats,
                  "beam_args": beam_args,
                  "models": {key: [a.uri for a in inputs.get(key) or []]
                             for key in ("model", "baseline_model")}}
        for way in WAYS:
            entry = runs[way]
            entry["wall_seconds_median"] = statistics.median(entry["wall_seconds"])
            entry["cpu_seconds_median"] = statistics.median(entry["cpu_seconds"])
            result[way] = entry
        result["shipped"]["files_differing_from_tfma_alone"] = \
            beam_fixed_cost.differing_files(output["tfma_alone"][0], output["shipped"][0])
        # TFMA's own run-to-run variation, for reading the line above.
        for way in WAYS:
            result[way]["files_differing_between_its_runs"] = sorted(
                {name for other in output[way][1:]
                 for name in beam_fixed_cost.differing_files(output[way][0], other)})
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--metadata", required=True,
                        help="the ML Metadata SQLite file of a finished run")
    parser.add_argument("--node", default="Evaluator",
                        choices=["Evaluator", "UnconstrainedEvaluator"])
    parser.add_argument("--repeats", type=int, default=3)
    options = parser.parse_args(argv)
    print(json.dumps(measure(options.metadata, options.node, options.repeats), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
