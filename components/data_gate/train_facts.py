"""The train split's facts, computed once per run where the data is checked.

They depend on the data alone, not on a model: the model's features and their
kinds, the leakage guard's single-feature AUCs (fairgate/data/leakage.py) and
the train examples per group. DataValidationGate writes them, for tabular runs
that train, as `data_record.json` in its `train_facts` artifact, which the
report reads; neither Trainer recomputes them.

The train split is read in one vectorised pass (batches of serialized records
parsed together), and only the columns the facts need.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Dict, List, Mapping

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from fairgate.data import leakage
from fairgate.metrics.groups import group_array, group_text
from fairgate.report.data_facts import DATA_RECORD
from trainer_module import tabular_inputs

_DTYPES = {schema_pb2.FLOAT: tf.float32, schema_pb2.INT: tf.int64,
           schema_pb2.BYTES: tf.string}
BATCH = 8192


def read_columns(files: List[str], schema: schema_pb2.Schema, label: str, group: str,
                 kinds: Mapping[str, str]):
    """(features as the model reads them, labels, groups) of gzipped TFRecord
    `files`: features through tabular_inputs.encode (NaN / "" for an empty
    cell), label and group as stored (the gate has checked that every example
    has both)."""
    types = {f.name: f.type for f in schema.feature}
    spec = tabular_inputs.feature_spec(schema, list(kinds))
    for key in (label, group):
        spec[key] = tf.io.FixedLenFeature([1], _DTYPES[types[key]])

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        return (tabular_inputs.encode(parsed, kinds), tf.reshape(parsed[label], [-1]),
                tf.reshape(parsed[group], [-1]))

    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(
        BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    parts = list(dataset.as_numpy_iterator())
    if not parts:
        raise ValueError(f"no examples in {files}")
    features = {name: np.concatenate([p[0][name] for p in parts]) for name in kinds}
    return (features, np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def record(features: Dict[str, np.ndarray], kinds: Mapping[str, str],
           labels: np.ndarray, groups: np.ndarray,
           threshold: float = leakage.THRESHOLD) -> dict:
    """data_record.json's content: features, leakage guard, train group counts."""
    scores = leakage.scores(features, dict(kinds), labels)
    names, counts = np.unique(group_array(groups), return_counts=True)
    return {
        "features": dict(kinds),
        "leakage": {"statistic": leakage.STATISTIC, "threshold": threshold,
                    "scores": scores, "flagged": leakage.flagged(scores, threshold)},
        "train_group_counts": {group_text(n): int(c) for n, c in zip(names, counts)},
        "train_examples": int(len(labels)),
    }


def write(split_uri: str, schema: schema_pb2.Schema, label: str, group: str,
          kinds: Mapping[str, str], out_dir: str,
          threshold: float = leakage.THRESHOLD) -> dict:
    """Computes the facts of the split at `split_uri` and writes them to
    out_dir/data_record.json; logs every feature the leakage guard flags."""
    files = sorted(tf.io.gfile.glob(os.path.join(split_uri, "*")))
    features, labels, groups = read_columns(files, schema, label, group, kinds)
    content = record(features, kinds, labels, groups, threshold)
    for item in content["leakage"]["flagged"]:
        logging.warning("Leakage guard: feature '%s' predicts the label almost "
                        "perfectly on its own (%s %.4f >= %.2f); check that it is "
                        "known before the label is", item["feature"],
                        item["statistic"], item["value"], item["threshold"])
    tf.io.gfile.makedirs(out_dir)
    with tf.io.gfile.GFile(os.path.join(out_dir, DATA_RECORD), "w") as f:
        json.dump(content, f, indent=2)
    return content
