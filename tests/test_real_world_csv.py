"""One CSV with everything real-world data holds, end to end with a config only:
an ID, names, dates and free text (not features), a ">50K"/"<=50K" label, a
column that leaks the label, an age band group with five values (two merged, one
held by ~1% of rows), a condition column a gate reads but the model does not,
empty numeric and categorical cells, and ~1% of eval/test occupations never seen
in training. The run must finish with a verdict and its reasons, never a crash."""
import json
import os

import tensorflow as tf

from fairgate import config as config_lib
from tests import pipeline_helpers as helpers
from tests.tabular import messy_rows, write_rows

HERE = os.path.dirname(__file__)
SIZES = {"train": 1400, "eval": 300, "test": 300}
FEATURES = ["hours", "occupation", "outcome_code", "education_num"]


def test_messy_csv_end_to_end_by_config_only(tmp_path):
    for seed, (split, count) in enumerate(SIZES.items()):
        write_rows(tmp_path / "csv" / split / "part.csv",
                   messy_rows(count, seed, unseen_share=0.01 if seed else 0.0))
    config = config_lib.from_dict({
        "name": "real-world-csv",
        "data": {
            "source": "csv", "input_base": str(tmp_path / "csv"),
            "splits": {s: f"{s}/*.csv" for s in SIZES},
            "label": "income", "label_positive": ">50K", "label_negative": "<=50K",
            "group": "age_band", "group_merge": {"older": ["45+", "60+"]},
            "features": ["hours", "occupation", "outcome_code",
                         {"education_num": "categorical"}],
            "unseen_category_tolerance": 0.02},
        "trainer": {"mode": "tfco", "train_steps": 300, "snapshot_every": 100,
                    "baseline": False, "learning_rate": 0.003,
                    "constraint_learning_rate": 0.005,
                    "constraints": {"constraints": [
                        {"gap": "false_positive_rate",
                         "groups": ["18-30", "31-44", "older"],
                         "max_gap": 0.05}]}},
        "evaluation": {"eval_config": os.path.join(HERE, "data", "messy_tabular.pbtxt"),
                       "groups": ["18-30", "31-44", "older"]},
        "pipeline_root": str(tmp_path / "root"),
        "metadata_path": str(tmp_path / "metadata.sqlite"),
        "push_destination": str(tmp_path / "serving"),
        "report_dir": str(tmp_path / "report"),
    }, origin=str(tmp_path / "config.yaml"))
    helpers.run(config)
    outputs = helpers.outputs(config)

    # TFMA and the Trainer read the mapped label and the merged groups.
    test_examples = helpers.read_examples(outputs["CsvExampleGen"]["examples"], "test")
    labels = {e.features.feature["income"].int64_list.value[0] for e in test_examples}
    groups = {e.features.feature["age_band"].bytes_list.value[0].decode()
              for e in test_examples}
    assert labels == {0, 1}
    assert {"18-30", "31-44", "older"} <= groups <= {"18-30", "31-44", "older", "75+"}

    # Only the features reach the model and its serving signature.
    model = tf.saved_model.load(os.path.join(outputs["Trainer"]["model"], "Format-Serving"))
    assert sorted(model.signatures["serving_default"].structured_input_signature[1]) \
        == ["examples"]
    # The train split's facts: computed once, by the data gate, for the report.
    record = json.load(open(os.path.join(outputs["DataValidationGate"]["train_facts"],
                                         "data_record.json")))
    assert not os.path.exists(os.path.join(outputs["Trainer"]["model"],
                                           "data_record.json"))
    assert sorted(record["features"]) == sorted(FEATURES)
    assert record["features"]["education_num"] == "categorical"

    report = helpers.report(config)
    print(json.dumps({k: report[k] for k in ("verdict", "group_sizes", "features_used",
                                             "leakage", "small_groups")}, indent=1))
    print([(c["name"], c["slice"], c["value"], c["passed"]) for c in report["checks"]])
    verdict = report["verdict"]
    assert verdict["blessed"] == (not verdict["reasons"])
    assert report["features_used"] == record["features"]
    # The leakage guard names the column that copies the label, with its statistic.
    flagged = report["leakage"]["flagged"]
    assert [f["feature"] for f in flagged] == ["outcome_code"]
    assert flagged[0]["value"] >= 0.95 and "AUC" in flagged[0]["statistic"]
    # The tiny group is named with its counts; the listed groups are all measured.
    small = {g["group"]: g for g in report["small_groups"]}
    assert "75+" in small and small["75+"]["test_examples"] < 50
    assert set(report["group_sizes"]) == {"18-30", "31-44", "older"}
    assert all(n >= 50 for n in report["group_sizes"].values())
    html = open(tmp_path / "report" / "report.html").read()
    assert "Possible label leakage" in html and "outcome_code" in html
