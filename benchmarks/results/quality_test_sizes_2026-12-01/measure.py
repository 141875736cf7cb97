"""Runs the two quality tests' pipelines at given sizes and prints, per run, the
quantities their assertions compare (JSON, one line per run).

usage (from the repository root, one process per kind, under the heavy lock):
  PYTHONPATH=. .venv/bin/python benchmarks/results/quality_test_sizes_2026-12-01/measure.py \
      image|tabular RUN [RUN...]       RUN = n:steps:snapshot_every:data_seed:trainer_seed:mode
Builds the config as the test file does (its helpers and held-out sets imported or
redrawn the same way); standard errors are binomial (paired for the differences
of two models on the same examples)."""
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

from tests import pipeline_helpers as helpers
from benchmarks.profiled_run import component_windows

RUNS = os.path.join(tempfile.gettempdir(), "quality_test_sizes")


def ratio(a, b):
    return a / b if b else (float("inf") if a > 0 else float("-inf") if a < 0 else float("nan"))


def se(p, n):
    return math.sqrt(max(p * (1 - p), 1e-12) / n) if n else float("nan")


def paired_se(a, b):
    """Standard error of mean(a) - mean(b) over the same examples."""
    d = a.astype(float) - b.astype(float)
    return float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan")


def split_arrays(examples_uri, split, label, group):
    ex = helpers.read_examples(examples_uri, split)
    ser = helpers.split_examples(examples_uri, split)
    lab = np.array([e.features.feature[label].int64_list.value[0] for e in ex])
    grp = np.array([e.features.feature[group].int64_list.value[0] for e in ex])
    return ser, lab, grp


def probs(model_uri, serialized):
    model = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    out = model.signatures["serving_default"](examples=tf.constant(serialized))
    return out["probabilities"].numpy().reshape(-1)


def image_run(n, steps, every, data_seed, trainer_seed, mode, held):
    from tests import test_trainer_pipeline as t
    tmp = tempfile.mkdtemp(prefix="q_img_", dir=RUNS)
    config = helpers.make_config(tmp, source="embedded_celeba", data_dir=os.path.join(tmp, "tfds"),
                                 num_examples=n, seed=data_seed)
    config.trainer.train_steps = steps
    config.trainer.snapshot_every = every
    config.trainer.seed = trainer_seed
    config.trainer.mode = mode
    start = time.time()
    helpers.run(config)
    outputs = helpers.outputs(config)
    fixture_s = time.time() - start
    images, pixels, labels, groups = held
    c_prob = t._serve(outputs["Trainer"]["model"], pixels)
    c = c_prob > 0.5
    neg0 = int(((labels == 0) & (groups == 0)).sum())
    r = {"kind": "image", "n": n, "steps": steps, "every": every, "data_seed": data_seed,
         "trainer_seed": trainer_seed, "mode": mode, "fixture_s": round(fixture_s, 1),
         "held_out": len(labels), "held_out_neg_young0": neg0}
    r["fpr_c"] = float(t._fpr(c, labels, groups, 0))
    r["acc_c"] = float((c == labels).mean())
    r["se_fpr_c"] = se(r["fpr_c"], neg0)
    r["se_acc_c"] = se(r["acc_c"], len(labels))
    r["margin_bound_se"] = ratio(t.BOUND + t.TOLERANCE - r["fpr_c"], r["se_fpr_c"])
    r["margin_acc_se"] = ratio(r["acc_c"] - 0.75, r["se_acc_c"])
    cand = json.load(open(os.path.join(outputs["Trainer"]["model"], "candidates.json")))
    r["n_candidates"] = len(cand["candidates"])
    r["chosen_step"] = cand["chosen_step"]
    r["chosen_violation"] = cand["candidates"][cand["chosen_index"]]["violations"]
    examples = outputs["CelebAExampleGen"]["examples"]
    ev_ser, ev_lab, ev_grp = split_arrays(examples, "eval", "Smiling", "Young")
    ev_neg0 = (ev_lab == 0) & (ev_grp == 0)
    r["eval_size"], r["eval_neg_young0"] = len(ev_lab), int(ev_neg0.sum())
    r["eval_fpr_c"] = float((probs(outputs["Trainer"]["model"], ev_ser)[ev_neg0] > 0.5).mean())
    if "BaselineTrainer" in outputs:
        b = t._serve(outputs["BaselineTrainer"]["model"], pixels) > 0.5
        r["fpr_b"] = float(t._fpr(b, labels, groups, 0))
        r["acc_b"] = float((b == labels).mean())
        negs = (labels == 0) & (groups == 0)
        r["se_diff_paired"] = paired_se(b[negs], c[negs])
        r["margin_lt_baseline_se"] = ratio(r["fpr_b"] - r["fpr_c"], r["se_diff_paired"])
        # The report's comparison on the test split (test_evaluators_...).
        rep = helpers.report(config)["models"]
        fpr = {k: rep[k]["rates"]["Young=0"]["0.50"]["false_positive_rate"] for k in rep}
        te_ser, te_lab, te_grp = split_arrays(examples, "test", "Smiling", "Young")
        te_neg0 = (te_lab == 0) & (te_grp == 0)
        tc = probs(outputs["Trainer"]["model"], te_ser)[te_neg0] > 0.5
        tb = probs(outputs["BaselineTrainer"]["model"], te_ser)[te_neg0] > 0.5
        r["test_size"], r["test_neg_young0"] = len(te_lab), int(te_neg0.sum())
        r["report_fpr_c"], r["report_fpr_b"] = fpr.get("candidate"), fpr.get("unconstrained")
        r["test_fpr_c"], r["test_fpr_b"] = float(tc.mean()), float(tb.mean())
        r["test_se_diff_paired"] = paired_se(tb, tc)
        r["margin_report_se"] = ratio(r["test_fpr_b"] - r["test_fpr_c"], r["test_se_diff_paired"])
    r["components"] = {k: round(e - s, 1) for k, (s, e) in
                       component_windows(config.resolved_metadata_path).items()}
    r["asserts_hold"] = bool(r["fpr_c"] <= t.BOUND + t.TOLERANCE and r["acc_c"] > 0.75
                             and r.get("fpr_b", 1) > r["fpr_c"]
                             and (r.get("report_fpr_c") or 0) < (r.get("report_fpr_b") or 1))
    shutil.rmtree(tmp, ignore_errors=True)
    return r


def tabular_run(n, steps, every, data_seed, trainer_seed, mode, held):
    from tests import test_trainer_tabular as t
    from tests.tabular import write_biased_csv
    import pathlib
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="q_tab_", dir=RUNS))
    start = time.time()
    write_biased_csv(tmp / "csv" / "train.csv", n, seed=data_seed)
    config = helpers.make_config(tmp, source="csv", input_base=str(tmp / "csv"),
                                 label="approved", group="region")
    config.evaluation.groups = ["north", "south"]
    config.trainer.constraints = {"constraints": [
        {"gap": "false_positive_rate", "groups": ["north", "south"], "max_gap": t.MAX_GAP}]}
    config.trainer.train_steps = steps
    config.trainer.snapshot_every = every
    config.trainer.batch_size = 128
    config.trainer.learning_rate = 0.003
    config.trainer.constraint_learning_rate = 0.005
    config.trainer.seed = trainer_seed
    config.trainer.mode = mode
    helpers.run(config)
    outputs = helpers.outputs(config)
    run_s = time.time() - start
    rows = held
    acc_c, fpr_c = t._metrics(outputs["Trainer"]["model"], rows)
    negs = {g: int(((rows["approved"] == 0) & (rows["region"] == g)).sum()) for g in ("north", "south")}
    gap_c = abs(fpr_c["south"] - fpr_c["north"])
    se_gap_c = math.sqrt(sum(fpr_c[g] * (1 - fpr_c[g]) / negs[g] for g in negs))
    r = {"kind": "tabular", "n": n, "steps": steps, "every": every, "data_seed": data_seed,
         "trainer_seed": trainer_seed, "mode": mode, "run_s": round(run_s, 1),
         "held_out": len(rows["approved"]), "held_out_neg": negs,
         "acc_c": float(acc_c), "fpr_c": {g: float(v) for g, v in fpr_c.items()},
         "gap_c": float(gap_c), "se_gap_c": se_gap_c,
         "margin_gap_c_se": ratio(t.MAX_GAP + t.TOLERANCE - gap_c, se_gap_c)}
    cand = json.load(open(os.path.join(outputs["Trainer"]["model"], "candidates.json")))
    r["n_candidates"] = len(cand["candidates"])
    r["chosen_step"] = cand["chosen_step"]
    r["chosen_violation"] = cand["candidates"][cand["chosen_index"]]["violations"]
    if "BaselineTrainer" in outputs:
        acc_b, fpr_b = t._metrics(outputs["BaselineTrainer"]["model"], rows)
        gap_b = abs(fpr_b["south"] - fpr_b["north"])
        se_gap_b = math.sqrt(sum(fpr_b[g] * (1 - fpr_b[g]) / negs[g] for g in negs))
        se_acc = math.sqrt(acc_c * (1 - acc_c) / len(rows["approved"])
                           + acc_b * (1 - acc_b) / len(rows["approved"]))
        r.update({"acc_b": float(acc_b), "fpr_b": {g: float(v) for g, v in fpr_b.items()},
                  "gap_b": float(gap_b), "margin_gap_b_se": ratio(gap_b - 0.2, se_gap_b),
                  "margin_acc_se": ratio(acc_c - (acc_b - 0.1), se_acc)})
    r["components"] = {k: round(e - s, 1) for k, (s, e) in
                       component_windows(config.resolved_metadata_path).items()}
    r["asserts_hold"] = bool(gap_c <= t.MAX_GAP + t.TOLERANCE and r.get("gap_b", 1) > 0.2
                             and acc_c >= r.get("acc_b", 0) - 0.1)
    shutil.rmtree(tmp, ignore_errors=True)
    return r


def main():
    kind, runs = sys.argv[1], sys.argv[2:]
    os.makedirs(RUNS, exist_ok=True)
    if kind == "image":
        from fairgate.data.embedded_celeba import faces
        from fairgate.data.images import to_stored_pixels
        from tests import test_trainer_pipeline as t
        drawn = [faces.draw_face(np.random.default_rng([99, 5, i])) for i in range(t.HELD_OUT)]
        images = np.stack([f.image for f in drawn])
        pixels = to_stored_pixels(images).numpy().reshape(t.HELD_OUT, -1)
        labels = np.array([f.attributes["Smiling"] for f in drawn], dtype=int)
        groups = np.array([f.attributes["Young"] for f in drawn], dtype=int)
        held, fn = (images, pixels, labels, groups), image_run
    else:
        from tests.tabular import biased_rows
        held, fn = biased_rows(8000, seed=1), tabular_run
    for spec in runs:
        n, steps, every, ds, ts = (int(x) for x in spec.split(":")[:5])
        mode = spec.split(":")[5]
        try:
            r = fn(n, steps, every, ds, ts, mode, held)
        except Exception as e:  # keep the loop going; report the failure
            import traceback
            traceback.print_exc()
            r = {"spec": spec, "error": repr(e)[:500]}
        print("RESULT " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
