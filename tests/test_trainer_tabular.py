"""The tabular path: a CSV dataset, a schema-built model serving raw tf.Examples,
and a gap constraint that closes a known group FPR gap."""
import os

import numpy as np
import tensorflow as tf

from tests import pipeline_helpers as helpers
from tests.tabular import biased_examples, biased_rows, write_biased_csv

MAX_GAP = 0.05
ROWS = 8000
# Held-out negatives: 1,980 north and 1,935 south (of 8,000 rows), so a gap has a
# standard error of ~0.010 near 0 and ~0.012 at FPRs near 0.2. Measured at this
# size (benchmarks/README.md, "The two quality tests' sizes"): these seeds close
# the gap to 0.016 (6.7 standard errors under MAX_GAP + TOLERANCE) against the
# baseline's 0.261 (5.8 over 0.2); 1,000 and 1,500 steps left it at 0.227 / 0.174.
# Not every seed gets there: CSV seed 3 with trainer seed 2 ended at 0.155 (0.122
# after 3,000 steps), so the size stays.
TOLERANCE = 0.05


def write_data(folder):
    """The run's CSV, folder/csv/train.csv (ROWS rows)."""
    write_biased_csv(folder / "csv" / "train.csv", ROWS, seed=0)


def gap_run_config(folder):
    """The run conftest.tabular_gap_run makes once per session on write_data's
    CSV (test_data_pipeline.py reads its ingestion)."""
    config = helpers.make_config(folder, source="csv", input_base=str(folder / "csv"),
                                 label="approved", group="region")
    config.evaluation.groups = ["north", "south"]
    config.trainer.constraints = {"constraints": [
        {"gap": "false_positive_rate", "groups": ["north", "south"], "max_gap": MAX_GAP}]}
    config.trainer.train_steps = 2000
    config.trainer.snapshot_every = 100
    config.trainer.batch_size = 128
    config.trainer.learning_rate = 0.003
    config.trainer.constraint_learning_rate = 0.005
    return config


def _metrics(model_uri, rows):
    model = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    probabilities = model.signatures["serving_default"](
        examples=tf.constant(biased_examples(rows)))["probabilities"].numpy().reshape(-1)
    positive, labels = probabilities > 0.5, rows["approved"]
    fpr = {g: positive[(labels == 0) & (rows["region"] == g)].mean()
           for g in ("north", "south")}
    return (positive == labels).mean(), fpr


def test_gap_constraint_closes_the_group_fpr_gap(tabular_gap_run):
    outputs = helpers.outputs(tabular_gap_run)  # gap_run_config's run (conftest)

    held_out = biased_rows(8000, seed=1)
    accuracy_c, fpr_c = _metrics(outputs["Trainer"]["model"], held_out)
    accuracy_b, fpr_b = _metrics(outputs["BaselineTrainer"]["model"], held_out)
    gap_c = abs(fpr_c["south"] - fpr_c["north"])
    gap_b = abs(fpr_b["south"] - fpr_b["north"])
    print({"constrained": (accuracy_c, fpr_c), "baseline": (accuracy_b, fpr_b)})
    assert gap_b > 0.2  # the injected gap is there without constraints
    assert gap_c <= MAX_GAP + TOLERANCE, (gap_c, fpr_c)
    assert accuracy_c >= accuracy_b - 0.1, (accuracy_c, accuracy_b)
