"""trainer.mode group_thresholds end to end on a small CSV with a known group FPR
gap, with a team's own model module (tests/model_modules.py: a subset of the
inputs, a [batch] logit; the built-in model runs this mode in
test_side_effects_pipeline.py): the Trainer exports one SavedModel that applies
the per-group thresholds to the team model's logits, TFMA's gates judge its
thresholded decisions, and the report shows the thresholds and a calibration
figure for each model it compares."""
import json
import os

import numpy as np
import tensorflow as tf

from fairgate import config as config_lib
from tests import model_modules, pipeline_helpers as helpers
from tests.tabular import write_biased_csv
from trainer_module import group_thresholds


def test_group_thresholds_mode_through_gates_and_report(tmp_path):
    write_biased_csv(tmp_path / "csv" / "train.csv", 5000, seed=0)
    config = helpers.make_config(tmp_path, source="csv", input_base=str(tmp_path / "csv"),
                                 label="approved", group="region")
    config.evaluation.groups = ["north", "south"]
    config.trainer.mode = "group_thresholds"
    config.trainer.constraints = {"constraints": [
        {"gap": "false_positive_rate", "groups": ["north", "south"], "max_gap": 0.05}]}
    config.trainer.train_steps = 400
    config.trainer.snapshot_every = 100
    config.trainer.learning_rate = 0.003
    raw = config.model_dump()
    raw["trainer"]["model"] = {"module_file": model_modules.write(tmp_path / "team"),
                               "hparams": {"width": 8}}
    config = config_lib.from_dict(raw, origin=str(tmp_path / "config.yaml"))
    helpers.run(config)
    outputs = helpers.outputs(config)
    model_uri = outputs["Trainer"]["model"]
    team = json.load(open(os.path.join(model_uri, "model.json")))
    assert team["function"] == "build_model" and team["hparams"] == {"width": 8}

    record = json.load(open(os.path.join(model_uri, "group_thresholds.json")))
    thresholds = {item["group"]: item["threshold"] for item in record["thresholds"]}
    assert set(thresholds) == {"north", "south"}
    assert thresholds["south"] > thresholds["north"]  # south's negatives score higher
    assert max(record["eval"]["violations"]) <= 0

    # The thresholds are inside the model TFMA called: real test-split tf.Examples.
    serialized = helpers.split_examples(outputs["CsvExampleGen"]["examples"])
    regions = [tf.train.Example.FromString(s).features.feature["region"]
               .bytes_list.value[0].decode() for s in serialized]
    model = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    assert any("own_hidden" in v.name for v in model.variables)  # the team's model
    out = model.signatures["serving_default"](examples=tf.constant(serialized))
    served = out["probabilities"].numpy().reshape(-1) > 0.5
    expected = group_thresholds.decide(thresholds, out["logits"].numpy(), regions)
    np.testing.assert_array_equal(served, expected)

    report = helpers.report(config)
    assert report["training"]["mode"] == "group_thresholds"
    assert report["model"] == team
    assert report["checks"]  # the gates ran on the thresholded decisions
    assert {i["group"]: i["threshold"] for i in report["group_thresholds"]["thresholds"]} \
        == thresholds
    assert report["figures"]["calibration"] == "calibration.png"
    assert os.path.getsize(os.path.join(config.resolved_report_dir, "calibration.png")) > 0
    for label in ("candidate", "unconstrained"):
        bins = report["models"][label]["calibration"]
        assert sum(b["examples"] for b in bins) == len(serialized), label
    fit = report["calibration_fit"]
    assert fit["scale"] > 0 and fit["log_loss_after"] <= fit["log_loss_before"]
    page = open(os.path.join(config.resolved_report_dir, "report.html")).read()
    assert "id='group-thresholds'" in page and "<img src='calibration.png'" in page
    # The candidate's gated FPR gap is the thresholded model's, and smaller than
    # the unconstrained model's on the same test examples.
    rates = report["models"]
    gap = {label: abs(rates[label]["rates"]["region=south"]["0.50"]["false_positive_rate"]
                      - rates[label]["rates"]["region=north"]["0.50"]["false_positive_rate"])
           for label in ("candidate", "unconstrained")}
    assert gap["candidate"] < gap["unconstrained"], gap
