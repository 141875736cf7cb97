"""Evaluator throughput vs a batched predict of the same model, printing JSON.

Measures, on the test split of a finished run (default: the embedded demo; runs
it first if it has not run):

* predict: the model's `serving_default` signature (serialized tf.Examples in, as
  TFMA calls it) over the whole split in batches, examples already in memory;
* tfma: `tfma.run_model_analysis` with the run's EvalConfig (all report and gate
  metrics, in-process Beam as the Evaluator runs it) on the same split, whole
  wall time including Beam start-up and writing results;
* tfma_marginal: the same on the split repeated `--repeat` times; the extra
  examples over the extra seconds is TFMA's steady-state throughput once its
  fixed start-up cost is paid;
* breakdown: the repeated split with less work, to show where TFMA's time goes:
  `floor` (ExampleCount only, overall slice: reading, decoding, inference and
  TFMA's per-example plumbing), `no_group_slice` (all metrics, overall only),
  `report_metrics_by_group` (what the UnconstrainedEvaluator computes: the
  report's metrics by group, no gate metrics);
* ratio_to_example_count: the Evaluator's throughput against that floor on the
  repeated split, `floor` seconds / `all_metrics_by_group` seconds (issue 22
  item 5 asks at least 0.5).

  .venv/bin/python benchmarks/evaluator_throughput.py [--config F] [--repeat 5] [--rounds 1]
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.join(HERE, "benchmarks"))

import profiled_run  # noqa: E402

TARGET = 0.3
TARGET_TO_EXAMPLE_COUNT = 0.5


def _outputs(config):
    from fairgate import artifacts
    outputs = artifacts.latest_outputs(config.resolved_metadata_path,
                                       config.resolved_pipeline_root)
    if "Trainer" not in outputs:
        from pipeline import runners
        runners.run(config, "local")
        outputs = artifacts.latest_outputs(config.resolved_metadata_path,
                                           config.resolved_pipeline_root)
    return outputs


def _predict_seconds(model_dir, serialized, batch_size):
    import tensorflow as tf
    signature = tf.saved_model.load(model_dir).signatures["serving_default"]
    signature(examples=tf.constant(serialized[:batch_size]))  # trace / warm up
    start = time.perf_counter()
    for i in range(0, len(serialized), batch_size):
        signature(examples=tf.constant(serialized[i:i + batch_size]))["probabilities"]
    return time.perf_counter() - start


def _signature_calls():
    """The scope the Evaluator runs TFMA in (components/evaluator/
    signature_calls.py), from the code measured; none for a checkout from
    before it existed, whose Evaluator ran TFMA without it."""
    try:
        from components.evaluator.signature_calls import summarised_arrays
    except ImportError:
        return contextlib.nullcontext()
    return summarised_arrays()


def tfma_seconds(model_dir, eval_config, data_pattern, out_dir):
    """Wall seconds of `tfma.run_model_analysis` on in-process Beam, start-up and
    writing the results included (also eval_floor.py's measure), in the scope
    the Evaluator gives TFMA."""
    import tensorflow_model_analysis as tfma
    from apache_beam.options.pipeline_options import PipelineOptions
    start = time.perf_counter()
    with _signature_calls():
        tfma.run_model_analysis(
            eval_shared_model=tfma.default_eval_shared_model(model_dir,
                                                             eval_config=eval_config),
            eval_config=eval_config, data_location=data_pattern, file_format="tfrecords",
            output_path=out_dir, pipeline_options=PipelineOptions(
                ["--runner=FnApiRunner", "--direct_running_mode=in_memory",
                 "--direct_num_workers=1"]))
    return time.perf_counter() - start


def floor_config(config):
    """`config` cut down to ExampleCount on the overall slice: TFMA's floor."""
    import tensorflow_model_analysis as tfma
    floor = tfma.EvalConfig()
    floor.CopyFrom(config)
    del floor.metrics_specs[:]
    floor.metrics_specs.add().metrics.add(class_name="ExampleCount")
    del floor.slicing_specs[1:]
    return floor


def _overall_only(config):
    import tensorflow_model_analysis as tfma
    overall = tfma.EvalConfig()
    overall.CopyFrom(config)
    del overall.slicing_specs[1:]
    return overall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure every TFMA variant this many times, keep the "
                             "fastest of each")
    parser.add_argument("--code", default=None,
                        help="measure this checkout's fairgate (its gate metrics and "
                             "EvalConfig rendering), e.g. a worktree of the code "
                             "before a change")
    args = parser.parse_args(argv)
    if args.code:
        sys.path.insert(0, os.path.abspath(args.code))

    import tensorflow as tf
    from fairgate import config as config_lib
    from fairgate.metrics import eval_config as eval_config_lib
    config = config_lib.load(args.config)
    outputs = _outputs(config)
    model_dir = os.path.join(outputs["Trainer"]["model"], "Format-Serving")
    files = sorted(glob.glob(os.path.join(
        outputs[next(c for c in outputs if "ExampleGen" in c)]["examples"],
        "Split-test", "*")))
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(files,
                                                             compression_type="GZIP")]
    rendered = eval_config_lib.render(
        config.evaluation.resolved_eval_config(config.data.source),
        label=config.data.label, group=config.data.group,
        groups=config.evaluation.groups)
    # Same metrics; without thresholds (change thresholds need a baseline model).
    metrics_config = eval_config_lib.without_gates(rendered)

    predict_s = _predict_seconds(model_dir, serialized, args.batch_size)
    work = tempfile.mkdtemp(prefix="fairgate-eval-bench-")
    try:
        repeated = os.path.join(work, "repeated")
        os.makedirs(repeated)
        for i in range(args.repeat):
            for j, path in enumerate(files):
                os.symlink(path, os.path.join(repeated, f"copy{i}-{j}.gz"))
        variants = (("once", metrics_config, os.path.dirname(files[0])),
                    ("all_metrics_by_group", metrics_config, repeated),
                    ("floor", floor_config(metrics_config), repeated),
                    ("no_group_slice", _overall_only(metrics_config), repeated),
                    # What the UnconstrainedEvaluator computes.
                    ("report_metrics_by_group", eval_config_lib.report_only(rendered),
                     repeated))
        by_round = {name: [] for name, _, _ in variants}
        # Rounds alternate the variants, each round starting one later (a
        # variant's place in the process changes its time); each variant keeps
        # its fastest round, as other work on the machine only ever adds time.
        for round_ in range(args.rounds):
            shift = round_ % len(variants)
            for name, variant, folder in variants[shift:] + variants[:shift]:
                by_round[name].append(round(tfma_seconds(
                    model_dir, variant, os.path.join(folder, "*"),
                    os.path.join(work, f"{name}-{round_}")), 2))
        seconds = {name: min(taken) for name, taken in by_round.items()}
        tfma_s, tfma_repeat_s = seconds["once"], seconds["all_metrics_by_group"]
        breakdown = {name: {"seconds_for_repeat": round(seconds[name], 2)}
                     for name in ("floor", "no_group_slice", "report_metrics_by_group",
                                  "all_metrics_by_group")}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    n = len(serialized)
    predict_rate = n / predict_s
    tfma_rate = n / tfma_s
    marginal_rate = (args.repeat - 1) * n / max(tfma_repeat_s - tfma_s, 1e-9)
    # From the rounded seconds, so the ratio can be checked against the figures.
    to_floor = (breakdown["floor"]["seconds_for_repeat"]
                / breakdown["all_metrics_by_group"]["seconds_for_repeat"])
    print(json.dumps({
        "benchmark": "evaluator_throughput",
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "code": profiled_run.commit(args.code or HERE),
        "config": config.name, "split": "test", "examples": n,
        "predict": {"seconds": round(predict_s, 3),
                    "examples_per_s": round(predict_rate, 1),
                    "batch_size": args.batch_size},
        "tfma": {"seconds": round(tfma_s, 2), "examples_per_s": round(tfma_rate, 1),
                 "ratio_to_predict": round(tfma_rate / predict_rate, 4)},
        "rounds": args.rounds,
        "seconds_by_round": by_round,
        "tfma_marginal": {"repeat": args.repeat,
                          "seconds_for_repeat": round(tfma_repeat_s, 2),
                          "examples_per_s": round(marginal_rate, 1),
                          "ratio_to_predict": round(marginal_rate / predict_rate, 4)},
        "breakdown": breakdown,
        "target_ratio": TARGET,
        "target_met": {"end_to_end": tfma_rate / predict_rate >= TARGET,
                       "steady_state": marginal_rate / predict_rate >= TARGET},
        "ratio_to_example_count": round(to_floor, 3),
        "target_ratio_to_example_count": TARGET_TO_EXAMPLE_COUNT,
        "target_ratio_to_example_count_met": to_floor >= TARGET_TO_EXAMPLE_COUNT,
    }, indent=2))


if __name__ == "__main__":
    main()
