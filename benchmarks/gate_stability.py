"""Do the release gates flip on noise? Retrains and degraded models judged, as JSON.

  .venv/bin/python benchmarks/gate_stability.py --retrains 8

What it does:
1. Runs the real pipeline (LocalDagRunner, the embedded default dataset,
   `--num-examples` faces, cached across runs) with `trainer.seed` 0, 1, ..., K.
   Every run trains the constrained model (Trainer) and the unconstrained one
   (BaselineTrainer); the data, schema and splits are the same in every run.
   `--selection-level` sets trainer.selection_level (the snapshot choice; 0 is
   point feasibility, the behaviour before issue 10).
2. The seed-0 constrained model is the reference: it is judged alone with the
   shipped gates (`eval_configs/celeba.pbtxt`, policy confidence 0.95) and must
   be blessed, as the first run of a fresh clone is: if it is not, the JSON says
   `"valid": false` and the command exits 1 (the counts then mean nothing).
3. Judges 2K candidates against the reference as the baseline model, with TFMA
   directly (`tfma.run_model_analysis`, candidate + baseline, the test split), as
   the pipeline's Evaluator would:
   * K honest retrains (constrained, seeds 1..K): any rejection is a noise
     rejection;
   * K degraded models (unconstrained, seeds 1..K): their FPR on Young=0 is
     higher than the reference's by the amount measured under
     `fpr_young0_increase` (the dataset's injected bias makes it large, but it is
     measured, not guaranteed: `degraded_below_0_1` lists the seeds under 0.1);
     any blessing is a missed regression.
   Each TFMA run judges BOTH gate sets at once: the shipped (confidence) gates and
   the pre-issue-10 point gates (`benchmarks/data/celeba_point_gates.pbtxt`,
   metric names prefixed `point:`), so the two policies see the same predictions.

Prints JSON with `k`, `noise_rejections`, `degraded_rejections` (default
policies), the same counts under `point`, and every candidate's failed gates.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

POINT_GATES = os.path.join(HERE, "benchmarks", "data", "celeba_point_gates.pbtxt")
POINT_PREFIX = "point:"
POINT_CHANGES = {POINT_PREFIX + n for n in (
    "binary_accuracy", "false_positive_rate_gap", "false_positive_rate/Young=0",
    "false_positive_rate/Young=1")}


def _config(work: str, seed: int, num_examples: int, train_steps: int,
            selection_level: float):
    from fairgate import config as config_lib
    return config_lib.from_dict({
        "name": "gate-stability",
        "data": {"source": "embedded_celeba",
                 "data_dir": os.path.join(work, "tensorflow_datasets"),
                 "num_examples": num_examples},
        "trainer": {"seed": seed, "train_steps": train_steps, "baseline": True,
                    "selection_level": selection_level},
        "pipeline_root": os.path.join(work, "root"),
        "metadata_path": os.path.join(work, "metadata.sqlite"),
        "push_destination": os.path.join(work, "serving"),
        "report_dir": os.path.join(work, "report"),
    }, origin=f"gate_stability (seed {seed})")


def _model_of_seed(root: str, component: str, seed: int, selection_level) -> str:
    """The serving model a Trainer component produced with `seed`: the Trainer
    writes its settings (with the seed) into its model_run artifact, whose folder
    is named after the execution, as the model's is. (With caching, MLMD's newest
    artifact is not necessarily this run's.)"""
    runs = os.path.join(root, component, "model_run")
    found = []
    for execution in os.listdir(runs):
        path = os.path.join(runs, execution, "settings.json")
        if os.path.exists(path):
            with open(path) as f:
                settings = json.load(f)
            if settings.get("seed") == seed and \
                    settings.get("selection_level", 0) == selection_level:
                    found.append(int(execution))
    if not found:
        raise RuntimeError(f"no {component} model trained with seed {seed} in {root}")
    return os.path.join(root, component, "model", str(max(found)), "Format-Serving")


def train(work: str, seeds, num_examples: int, train_steps: int,
          selection_level: float) -> dict:
    """{seed: {"constrained": model dir, "unconstrained": model dir}, "test": glob}."""
    from fairgate import artifacts
    from pipeline import runners
    models = {}
    for seed in seeds:
        config = _config(work, seed, num_examples, train_steps, selection_level)
        started = time.time()
        runners.run(config, "local", enable_cache=True)
        root = config.resolved_pipeline_root
        models[seed] = {
            "constrained": _model_of_seed(root, "Trainer", seed,
                                          config.trainer.selection_level),
            "unconstrained": _model_of_seed(root, "BaselineTrainer", seed,
                                            config.trainer.selection_level),
            "pipeline_seconds": round(time.time() - started, 1)}
        outputs = artifacts.latest_outputs(config.resolved_metadata_path, root)
        examples = next(uri for component, outs in outputs.items()
                        for name, uri in outs.items() if name == "examples"
                        and "ExampleGen" in component)
        models["test"] = os.path.join(examples, "Split-test", "*")
        print(f"seed {seed}: trained in {models[seed]['pipeline_seconds']} s",
              file=sys.stderr, flush=True)
    return models


def combined_eval_config(label: str, group: str, groups) -> "tfma.EvalConfig":
    """The shipped gates plus the point gates (renamed `point:...`), one config."""
    import tensorflow_model_analysis as tfma
    from fairgate.metrics import eval_config
    shipped = eval_config.render(eval_config.default_path("embedded_celeba"),
                                 label=label, group=group, groups=groups)
    point = eval_config.render(POINT_GATES, label=label, group=group, groups=groups)
    combined = tfma.EvalConfig()
    combined.CopyFrom(shipped)
    for spec in point.metrics_specs:
        if not any(m.per_slice_thresholds for m in spec.metrics):
            continue  # the report-only spec is already there
        renamed = combined.metrics_specs.add()
        renamed.CopyFrom(spec)
        for metric in renamed.metrics:
            options = json.loads(metric.config) if metric.config else {}
            if metric.module:
                from fairgate.metrics import group_metrics
                instance = getattr(group_metrics, metric.class_name)(**options)
                options["name"] = POINT_PREFIX + instance.point_name \
                    if hasattr(instance, "point_name") else POINT_PREFIX + instance.name
            else:  # TFMA's BinaryAccuracy
                options["name"] = POINT_PREFIX + "binary_accuracy"
            metric.config = json.dumps(options)
    return combined


def judge(candidate: str, baseline, test_glob: str, config, out: str) -> dict:
    """TFMA on the test split, set up as TFX's Evaluator does (change thresholds
    dropped when there is no baseline); {"blessed", "failed": {"confidence": [..],
    "point": [..]}, "values": {...}}."""
    import tensorflow_model_analysis as tfma
    from fairgate.report import collect
    config = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=bool(baseline), rubber_stamp=True)
    paths = {True: baseline, False: candidate}
    models = [tfma.default_eval_shared_model(
        eval_saved_model_path=paths[spec.is_baseline], eval_config=config,
        model_name=spec.name, rubber_stamp=not baseline)
        for spec in config.model_specs]
    tfma.run_model_analysis(
        eval_shared_model=models if len(models) > 1 else models[0],
        eval_config=config, data_location=test_glob, file_format="tfrecords",
        output_path=out)
    validation = tfma.load_validation_result(out)
    failed = {"confidence": [], "point": []}
    for per_slice in validation.metric_validations_per_slice:
        for failure in per_slice.failures:
            name = failure.metric_key.name + (" (change)" if failure.metric_key.is_diff
                                              else "")
            policy = "point" if name.startswith(POINT_PREFIX) else "confidence"
            failed[policy].append(name)
    values = {}
    for per_slice in tfma.load_metrics(out):
        if collect.slice_name(per_slice.slice_key) != collect.OVERALL:
            continue
        for item in per_slice.metric_keys_and_values:
            key = item.key
            if key.model_name not in ("candidate", "") or \
                    not item.value.HasField("double_value"):
                continue
            # The shipped gates' quantities and bounds; the point gates' changes.
            wanted = key.name in POINT_CHANGES if key.is_diff else \
                not key.name.startswith((POINT_PREFIX, "fairness_indicators")) and \
                any(part in key.name for part in ("false_positive_rate", "accuracy"))
            if wanted:
                value = item.value.double_value.value
                values[key.name + (" (change)" if key.is_diff else "")] = \
                    None if math.isnan(value) else round(value, 4)
    evaluation = collect.Evaluation(out)
    sizes = {slice_: rates["0.50"]["negatives"] for slice_, rates in collect.group_rates(
        evaluation, "Young", evaluation.candidate_name).items() if "0.50" in rates}
    return {"blessed_confidence": not failed["confidence"],
            "blessed_point": not failed["point"], "failed": failed, "values": values,
            "test_negatives": sizes}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--retrains", type=int, default=8, help="K")
    parser.add_argument("--num-examples", type=int, default=20_000)
    parser.add_argument("--train-steps", type=int, default=2000)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the reference's seed; retrains use the next K")
    parser.add_argument("--selection-level", type=float, default=0.75,
                        help="trainer.selection_level (0: point feasibility)")
    parser.add_argument("--work-dir", default=None,
                        help="kept (and reused: cached runs); default a temp folder")
    args = parser.parse_args(argv)
    work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="fairgate-gates-"))
    started = time.time()
    seeds = list(range(args.first_seed, args.first_seed + args.retrains + 1))
    with contextlib.redirect_stdout(sys.stderr):  # TFDS and Beam print; JSON only
        models = train(work, seeds, args.num_examples, args.train_steps,
                       args.selection_level)
    trained = time.time()

    gates = combined_eval_config("Smiling", "Young", [0, 1])
    reference = models[seeds[0]]["constrained"]
    tag = f"level{args.selection_level:g}"
    with contextlib.redirect_stdout(sys.stderr):
        first = judge(reference, None, models["test"], gates,
                      os.path.join(work, "judged", tag, "reference"))
    candidates = []
    for seed in seeds[1:]:
        for kind, which in (("noise", "constrained"), ("degraded", "unconstrained")):
            with contextlib.redirect_stdout(sys.stderr):
                verdict = judge(models[seed][which], reference, models["test"], gates,
                                os.path.join(work, "judged", tag, f"{kind}_{seed}"))
            fpr = verdict["values"]
            increase = fpr.get(POINT_PREFIX + "false_positive_rate/Young=0 (change)")
            candidates.append({"kind": kind, "seed": seed,
                               "fpr_young0_increase": increase, **verdict})
            print(f"{kind} seed {seed}: blessed {verdict['blessed_confidence']}",
                  file=sys.stderr, flush=True)

    def rejections(kind, policy):
        return sum(1 for c in candidates if c["kind"] == kind and c["failed"][policy])

    valid = not first["failed"]["confidence"]
    result = {
        "benchmark": "gate_stability", "date": time.strftime("%Y-%m-%d"),
        "valid": valid,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "k": args.retrains,
        "policy": "shipped eval_configs/celeba.pbtxt: confidence, level 0.95",
        "noise_rejections": rejections("noise", "confidence"),
        "degraded_rejections": rejections("degraded", "confidence"),
        "point": {"gates": "benchmarks/data/celeba_point_gates.pbtxt (pre-issue-10)",
                  "noise_rejections": rejections("noise", "point"),
                  "degraded_rejections": rejections("degraded", "point")},
        "num_examples": args.num_examples, "train_steps": args.train_steps,
        "selection_level": args.selection_level,
        "degraded_below_0_1": [c["seed"] for c in candidates if c["kind"] == "degraded"
                               and (c["fpr_young0_increase"] or 0) < 0.1],
        "reference": {"seed": seeds[0], "blessed_by_shipped_gates":
                      not first["failed"]["confidence"],
                      "blessed_by_point_gates": not first["failed"]["point"],
                      **first},
        "candidates": candidates,
        "seconds": {"training_runs": round(trained - started, 1),
                    "judging": round(time.time() - trained, 1)},
        "work_dir": work,
    }
    print(json.dumps(result, indent=2, allow_nan=False))
    return 0 if valid else 1


if __name__ == "__main__":
    sys.exit(main())
