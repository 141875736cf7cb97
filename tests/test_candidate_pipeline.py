"""A candidate trained elsewhere through the whole gate, as a user runs it: the
`fairgate run` command with a `candidate:` config (README "Gate your own model").

* a SavedModel trained here with plain tf-keras (not fairgate's Trainer), two
  outputs: the report's accuracy and per-group FPR equal those computed from the
  model's own predictions; NOT BLESSED under a tighter gate (exit 3, nothing
  pushed); blessed and pushed under the loose one; a second run pushes nothing
  new;
* scores in a CSV whose per-group confusion table is known by construction: the
  report reproduces each group's FPR / FNR exactly and the verdict; the artifact
  folder is pushed once;
* both modes through `--runner kfp-local` (the importer task as the open-source
  backend runs it).
"""
import csv
import json
import os
import random
import subprocess
import sys

import pytest
import yaml

from tests import outside_model

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Point gates (policy point: the verdict follows from the counts alone).
GATES = """
model_specs {{ signature_name: "serving_default" prediction_key: "probabilities" label_key: "${{label}}" }}
slicing_specs {{}}
slicing_specs {{ feature_keys: "${{group}}" }}
metrics_specs {{
  metrics {{ class_name: "ExampleCount" }}
  metrics {{ class_name: "FairnessIndicators"
            module: "fairness_indicators.fairness_indicators_metrics"
            config: '{{"thresholds": [0.22, 0.5, 0.75]}}' }}
  metrics {{ class_name: "ConfusionMatrixAtThresholds"
            config: '{{"thresholds": [0.22, 0.5, 0.75]}}' }}
}}
metrics_specs {{
  metrics {{ class_name: "OverallRate" module: "fairgate.group_metrics"
            config: '{{"rate": "accuracy", "policy": "point"}}'
            per_slice_thresholds {{ slicing_specs {{}}
              threshold {{ value_threshold {{ lower_bound {{ value: 0.75 }} }} }} }} }}
  metrics {{ class_name: "Regression" module: "fairgate.group_metrics"
            config: '{{"metric": "OverallRate", "rate": "accuracy", "level": 0.95}}'
            per_slice_thresholds {{ slicing_specs {{}}
              threshold {{ change_threshold {{ direction: LOWER_IS_BETTER absolute {{ value: 0.02 }} }} }} }} }}
  metrics {{ class_name: "GroupRate" module: "fairgate.group_metrics"
            config: '{{"group_key": "${{group}}", "rate": "false_positive_rate", "policy": "point"}}'
            per_slice_thresholds {{ slicing_specs {{}}
              threshold {{ value_threshold {{ upper_bound {{ value: {fpr_bound} }} }} }} }} }}
  metrics {{ class_name: "MinGroupSize" module: "fairgate.group_metrics"
            config: '{{"group_key": "${{group}}", "groups": ${{groups}}}}'
            per_slice_thresholds {{ slicing_specs {{}}
              threshold {{ value_threshold {{ lower_bound {{ value: 50 }} }} }} }} }}
}}
"""


def _config(tmp_path, name, candidate, fpr_bound, data_dir, runner_dir=None):
    gates = tmp_path / f"gates_{fpr_bound}.pbtxt"
    gates.write_text(GATES.format(fpr_bound=fpr_bound))
    work = tmp_path / (runner_dir or "work")
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name,
        "data": {"source": "csv", "input_base": str(data_dir), "label": "label",
                 "group": "group", "splits": {"train": "train.csv", "eval": "eval.csv",
                                              "test": "test.csv"}},
        "evaluation": {"eval_config": str(gates)},
        "candidate": candidate,
        "pipeline_root": str(work / "root"),
        "metadata_path": str(work / "metadata.sqlite"),
        "push_destination": str(tmp_path / "serving"),
        "report_dir": str(work / "report"),
    }))
    return str(path)


def _fairgate(config, cwd, runner="local"):
    result = subprocess.run(
        [sys.executable, "-m", "fairgate.cli", "run", "--runner", runner,
         "--config", config], cwd=str(cwd), capture_output=True, text=True,
        timeout=900, env={**os.environ, "PYTHONPATH": ROOT})
    return result


def _report(config):
    with open(os.path.join(yaml.safe_load(open(config))["report_dir"], "report.json")) as f:
        return json.load(f)


def _versions(tmp_path):
    serving = tmp_path / "serving"
    return sorted(n for n in os.listdir(serving) if n.isdigit()) if serving.exists() else []


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A tf-keras model trained outside fairgate, its data and its own rates."""
    folder = tmp_path_factory.mktemp("outside")
    outside_model.write_split_csvs(str(folder / "data"))
    model = outside_model.train_and_export(str(folder / "data" / "train.csv"),
                                           str(folder / "model"))
    test = outside_model.read_csv(str(folder / "data" / "test.csv"))
    return {"data": folder / "data", "model": model,
            "rates": outside_model.rates(test, outside_model.scores(model, test))}


def test_saved_model_is_gated_by_config_and_pushed_once(tmp_path, outside):
    direct = outside["rates"]
    # The bounds straddle the worst group's FPR: one fails, one passes.
    worst = max(direct["fpr_0"], direct["fpr_1"])
    assert direct["accuracy"] >= 0.75 and 0.05 < worst < 0.45, direct
    candidate = {"model": outside["model"], "output_key": "probability"}
    tight = _config(tmp_path, "outside", candidate, round(worst - 0.03, 3), outside["data"])
    result = _fairgate(tight, tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "NOT BLESSED" in result.stdout
    assert _versions(tmp_path) == []

    loose = _config(tmp_path, "outside", candidate, round(worst + 0.03, 3), outside["data"])
    result = _fairgate(loose, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    [version] = _versions(tmp_path)
    report = _report(loose)
    assert report["verdict"] == {**report["verdict"], "blessed": True, "pushed": True}
    rates = report["models"]["candidate"]["rates"]
    assert rates["Overall"]["0.50"]["accuracy"] == pytest.approx(direct["accuracy"], abs=1e-6)
    assert rates["Overall"]["0.50"]["examples"] == direct["examples"]
    for group in (0, 1):
        at = rates[f"group={group}"]["0.50"]
        assert at["false_positive_rate"] == pytest.approx(direct[f"fpr_{group}"], abs=1e-6)
        assert at["negatives"] == direct[f"negatives_{group}"]
    where = report["candidate"]
    assert where["source"] == outside["model"] and not where["trained_here"]
    assert where["score"] == "probability" and len(where["fingerprint"]) == 64
    assert report["training"] is None and report["left_out"]
    # Exactly that model was pushed: same content fingerprint.
    with open(tmp_path / "serving" / version / "fairgate_push.json") as f:
        assert json.load(f)["fingerprint"] == where["fingerprint"]

    # Again, with it in serving: compared with itself, nothing new pushed.
    result = _fairgate(loose, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "already in serving" in result.stdout
    assert _versions(tmp_path) == [version]
    assert _report(loose)["change_gates"]["compared"] is True


# Per group: (false positives, true negatives, true positives, false negatives).
TABLE = {0: (6, 54, 54, 6), 1: (9, 51, 57, 3)}


def _scored_csvs(folder):
    """Rows whose decisions at 0.5 give TABLE exactly; `old_score` (the model in
    serving) makes two more errors in group 1."""
    rows = []
    for group, (fp, tn, tp, fn) in TABLE.items():
        for count, label, score in ((fp, 0, 0.8), (tn, 0, 0.2), (tp, 1, 0.9), (fn, 1, 0.3)):
            rows += [(group, label, score)] * count
    random.Random(0).shuffle(rows)
    os.makedirs(folder, exist_ok=True)
    for split in ("train", "eval", "test"):
        with open(os.path.join(folder, f"{split}.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "group", "label", "score", "old_score"])
            worse = 0
            for i, (group, label, score) in enumerate(rows):
                old = score
                if group == 1 and label == 0 and score < 0.5 and worse < 2:
                    old, worse = 0.7, worse + 1
                writer.writerow([i % 7, group, label, score, old])


def test_scores_reproduce_a_known_confusion_table_and_push_the_artifact_once(tmp_path):
    _scored_csvs(tmp_path / "data")
    artifact = tmp_path / "estimator"
    artifact.mkdir()
    (artifact / "model.pkl").write_bytes(b"any framework's bytes")
    config = _config(tmp_path, "scores", {
        "predictions": "score", "baseline_predictions": "old_score",
        "artifact": str(artifact)}, 0.20, tmp_path / "data")
    result = _fairgate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = _report(config)
    assert report["verdict"]["blessed"] and report["verdict"]["pushed"]
    for group, (fp, tn, tp, fn) in TABLE.items():
        at = report["models"]["candidate"]["rates"][f"group={group}"]["0.50"]
        assert at["false_positive_rate"] == pytest.approx(fp / (fp + tn), abs=1e-9)
        assert at["false_negative_rate"] == pytest.approx(fn / (fn + tp), abs=1e-9)
        assert (at["negatives"], at["positives"]) == (fp + tn, tp + fn)
    # The baseline column was compared with (paired change gate present).
    assert report["change_gates"]["compared"] is True
    assert any("regression" in c["name"] for c in report["checks"]), report["checks"]
    # ... and is what the change gates' rows name, not a model in serving.
    changes = [c for c in report["checks"] if c["kind"] == "change"]
    assert changes and all(c["name"].endswith(" (change vs scores in column 'old_score')")
                           for c in changes), changes
    assert report["models"]["baseline"]["description"] == "scores in column 'old_score'"
    assert report["models"]["baseline"]["rates"]["group=1"]["0.50"]["false_positive_rate"] \
        == pytest.approx((9 + 2) / 60, abs=1e-9)
    [version] = _versions(tmp_path)
    pushed = tmp_path / "serving" / version
    assert (pushed / "model.pkl").read_bytes() == b"any framework's bytes"
    assert report["side_effects_measurement"]["measured"] is True

    result = _fairgate(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _versions(tmp_path) == [version]  # once per content


def test_both_modes_through_kfp_local(tmp_path, outside):
    _scored_csvs(tmp_path / "scores")
    config = _config(tmp_path, "kfp-scores", {"predictions": "score"}, 0.20,
                     tmp_path / "scores", runner_dir="kfp-scores")
    result = _fairgate(config, tmp_path, runner="kfp-local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing to push" in result.stdout
    report = _report(config)
    assert report["verdict"]["blessed"] and not report["verdict"]["pushed"]
    assert "skipped" in report["change_gates"]["why"]
    assert _versions(tmp_path) == []

    worst = max(outside["rates"]["fpr_0"], outside["rates"]["fpr_1"])
    config = _config(tmp_path, "kfp-model", {"model": outside["model"],
                                             "output_key": "probability"},
                     round(worst + 0.03, 3), outside["data"], runner_dir="kfp-model")
    result = _fairgate(config, tmp_path, runner="kfp-local")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(_versions(tmp_path)) == 1
    assert "CandidateImporter" in result.stderr
