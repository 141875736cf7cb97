"""How far the TFCO Trainer sits from the accuracy frontier of its own constraint, as JSON.

The anchor: the unconstrained model's scores with one decision threshold per
group, chosen on the eval split so that the Trainer's constraints hold (with the
Trainer's selection_level, as the Trainer judges its snapshots), then measured
on test — post-processing in the manner of Hardt et al. 2016 and Fairlearn's
ThresholdOptimizer, the same code as `trainer.mode: group_thresholds`
(trainer_module/group_thresholds.py).

Runs `fairgate run` (a subprocess, as a user would) on the embedded default at a
given size with the default config — the Trainer (TFCO) and the BaselineTrainer
(unconstrained) — then scores the eval and test splits with both exported
models' `serving_default` and prints, for the unconstrained model, the
group-threshold post-processing of its scores and the TFCO model: accuracy and
every group's rates on test with their counts and standard errors, plus
`tfco_accuracy_gap_to_frontier` (post-processing accuracy minus TFCO accuracy).

  .venv/bin/python benchmarks/constraint_frontier.py --num-examples 20000 \\
      --data-dir /somewhere/tfds [--work-dir DIR] [--trainer '{"train_epochs": 8}']

With --work-dir an earlier run's cache is reused (only what changed re-runs).
Targets (issue 13): gap <= 0.005 (with its paired standard error,
`tfco_accuracy_gap_se`); the constraint met on test within one standard error;
no other group's constrained rate above the unconstrained model's by more than
the standard error of their difference.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import yaml  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
GAP_TARGET = 0.005
RATES = ("false_positive_rate", "false_negative_rate", "true_positive_rate",
         "positive_prediction_rate", "error_rate")  # the rates TFCO trains


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n else float("nan")


def _rate(rate: str, decisions, labels, mask):
    """(value, events, examples) of `rate` over the examples in `mask`."""
    from fairgate.metrics import rates
    events, n = (int(c) for c in rates.fraction(
        rates.confusion_counts(decisions, labels, mask), rate))
    return (events / n if n else float("nan")), events, n


def summarise(decisions, labels, groups) -> dict:
    """Accuracy and every group's rates, each with its count and standard error."""
    correct = decisions == (labels == 1)
    accuracy = float(correct.mean())
    result = {"examples": int(len(labels)), "accuracy": round(accuracy, 4),
              "accuracy_se": round(_se(accuracy, len(labels)), 4), "groups": {}}
    for group in sorted(set(groups.tolist()), key=str):
        mask = groups == group
        entry = {"examples": int(mask.sum()), "negatives": int((mask & (labels == 0)).sum()),
                 "positives": int((mask & (labels == 1)).sum())}
        for rate in RATES:
            value, _, n = _rate(rate, decisions, labels, mask)
            entry[rate] = round(value, 4)
            entry[f"{rate}_se"] = round(_se(value, n), 4)
        result["groups"][str(group)] = entry
    return result


def _checks(spec, summaries: dict) -> dict:
    """The issue's three conditions for the TFCO model, each with its numbers."""
    from trainer_module import constraints
    tfco, unconstrained = summaries["tfco"], summaries["unconstrained"]
    gap = round(summaries["group_thresholds"]["accuracy"] - tfco["accuracy"], 4)
    met, pushed, bounded = [], [], set()
    for c in spec.constraints:
        if isinstance(c, constraints.RateBound):
            entry = tfco["groups"][str(c.group)]
            value, se = entry[c.rate], entry[f"{c.rate}_se"]
            ok = value - se <= c.bound if c.upper else value + se >= c.bound
            met.append({"constraint": c.describe(), "test_value": value, "se": se,
                        "met_within_se": ok})
            bounded.add((c.rate, str(c.group)))
        else:
            values = {str(g): tfco["groups"][str(g)][c.rate] for g in c.groups}
            spread = max(values.values()) - min(values.values())
            ses = [tfco["groups"][g][f"{c.rate}_se"] for g in values]
            se = math.sqrt(sum(s * s for s in sorted(ses)[-2:]))
            met.append({"constraint": c.describe(), "test_value": round(spread, 4),
                        "se": round(se, 4), "met_within_se": spread - se <= c.max_gap})
    # Every group's constrained rate that no bound of its own holds down must
    # not rise above the unconstrained model's by more than the difference's SE.
    for rate in sorted({c.rate for c in spec.constraints}):
        for group, entry in tfco["groups"].items():
            if (rate, group) in bounded:
                continue
            before = unconstrained["groups"][group]
            se = math.sqrt(entry[f"{rate}_se"] ** 2 + before[f"{rate}_se"] ** 2)
            rise = entry[rate] - before[rate]
            pushed.append({"rate": rate, "group": group, "unconstrained": before[rate],
                           "tfco": entry[rate], "se_of_difference": round(se, 4),
                           "within_se": rise <= se})
    return {"tfco_accuracy_gap_to_frontier": gap,
            "gap_target": GAP_TARGET, "gap_met": gap <= GAP_TARGET,
            "constraints_on_test": met, "other_groups": pushed,
            "all_met": gap <= GAP_TARGET and all(m["met_within_se"] for m in met)
            and all(p["within_se"] for p in pushed)}


def _read_split(examples_uri: str, split: str, label: str, group: str):
    """(serialized examples, labels, groups) of one split of an Examples artifact."""
    import numpy as np
    import tensorflow as tf
    files = sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096)
    spec = {label: tf.io.FixedLenFeature([], tf.int64),
            group: tf.io.FixedLenFeature([], tf.int64)}
    serialized, labels, groups = [], [], []
    for batch in dataset:
        parsed = tf.io.parse_example(batch, spec)
        serialized.append(batch.numpy())
        labels.append(parsed[label].numpy())
        groups.append(parsed[group].numpy())
    return (np.concatenate(serialized), np.concatenate(labels),
            np.concatenate(groups))


def _logits(model_uri: str, serialized):
    """The model's scores as logits (log-odds of its `probabilities`; calibration
    by a positive scale keeps their order and their sign)."""
    import numpy as np
    import tensorflow as tf
    serve = tf.saved_model.load(os.path.join(model_uri, "Format-Serving")) \
        .signatures["serving_default"]
    probabilities = np.concatenate([
        serve(examples=tf.constant(serialized[i:i + 4096]))["probabilities"].numpy()
        .reshape(-1) for i in range(0, len(serialized), 4096)]).astype(np.float64)
    probabilities = np.clip(probabilities, 1e-12, 1 - 1e-12)
    return np.log(probabilities / (1 - probabilities))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-examples", type=int, default=20_000)
    parser.add_argument("--data-dir", default=None,
                        help="TFDS data_dir (default: inside the work dir)")
    parser.add_argument("--work-dir", default=None,
                        help="default: a temporary folder (kept, its path printed)")
    parser.add_argument("--trainer", default="{}",
                        help="JSON of trainer: settings to override (default: none)")
    args = parser.parse_args(argv)
    work = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="fairgate-frontier-"))
    os.makedirs(work, exist_ok=True)
    data_dir = os.path.abspath(args.data_dir or os.path.join(work, "tensorflow_datasets"))
    raw = {"name": f"frontier-{args.num_examples}",
           "data": {"source": "embedded_celeba", "data_dir": data_dir,
                    "num_examples": args.num_examples},
           "trainer": json.loads(args.trainer),
           "pipeline_root": os.path.join(work, "root"),
           "metadata_path": os.path.join(work, "metadata.sqlite"),
           "push_destination": os.path.join(work, "serving"),
           "report_dir": os.path.join(work, "report")}
    config_path = os.path.join(work, "config.yaml")
    with open(config_path, "w") as f:
        yaml.safe_dump(raw, f)
    start = time.time()
    fairgate = os.path.join(os.path.dirname(sys.executable), "fairgate")
    with open(os.path.join(work, "run.out"), "w") as out:
        code = subprocess.run([fairgate, "run", "--config", config_path], cwd=work,
                              stdout=out, stderr=subprocess.STDOUT).returncode
    if code not in (0, 3):
        print(f"fairgate run failed (exit {code}); see {work}/run.out", file=sys.stderr)
        return 1
    run_seconds = time.time() - start

    from fairgate import artifacts, config as config_lib
    from trainer_module import constraints, group_thresholds
    config = config_lib.load(config_path)
    outputs = artifacts.latest_outputs(config.resolved_metadata_path,
                                       config.resolved_pipeline_root)
    examples = next(o["examples"] for name, o in outputs.items()
                    if name.endswith("ExampleGen"))
    label, group = config.data.label, config.data.group
    splits = {s: _read_split(examples, s, label, group) for s in ("eval", "test")}
    spec = constraints.parse(config.trainer.constraints, sorted(set(
        splits["eval"][2].tolist())))
    level = config.trainer.selection_level or None
    scores = {name: {s: _logits(outputs[component]["model"], splits[s][0])
                     for s in splits}
              for name, component in (("unconstrained", "BaselineTrainer"),
                                      ("tfco", "Trainer"))}
    _, eval_labels, eval_groups = splits["eval"]
    _, test_labels, test_groups = splits["test"]
    thresholds = group_thresholds.choose(spec, scores["unconstrained"]["eval"],
                                         eval_labels, eval_groups, level=level)
    summaries = {
        "unconstrained": summarise(scores["unconstrained"]["test"] > 0, test_labels,
                                   test_groups),
        "group_thresholds": summarise(group_thresholds.decide(
            thresholds, scores["unconstrained"]["test"], test_groups), test_labels,
            test_groups),
        "tfco": summarise(scores["tfco"]["test"] > 0, test_labels, test_groups),
    }
    # The gap's paired standard error: both models judged on the same examples.
    correct = {name: decisions == (test_labels == 1) for name, decisions in (
        ("group_thresholds", group_thresholds.decide(
            thresholds, scores["unconstrained"]["test"], test_groups)),
        ("tfco", scores["tfco"]["test"] > 0))}
    difference = correct["group_thresholds"].astype(float) - correct["tfco"]
    gap_se = float(difference.std(ddof=1) / math.sqrt(len(difference)))
    summaries["group_thresholds"]["thresholds_logit"] = {
        str(k): round(float(v), 4) for k, v in thresholds.items()}
    with open(os.path.join(outputs["Trainer"]["model"], "candidates.json")) as f:
        chosen = json.load(f)
    result = {
        "benchmark": "constraint_frontier", "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "num_examples": args.num_examples,
        "eval_examples": int(len(eval_labels)), "test_examples": int(len(test_labels)),
        "constraints": constraints.describe(spec), "selection_level": level,
        "trainer": config.trainer.model_dump(),
        "tfco_chosen_step": chosen.get("chosen_step"),
        "run_exit_code": code, "run_seconds": round(run_seconds, 1),
        "models": summaries,
        **_checks(spec, summaries),
        "tfco_accuracy_gap_se": round(gap_se, 4),
        "work_dir": work,
    }
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
