"""Both models' decisions on the same test examples, from their exported
`serving_default` signatures (serialized tf.Example in, `probabilities` out: what
TFMA calls), and the label and group of every example."""
from __future__ import annotations

import os
from typing import List, Tuple

import numpy as np
import tensorflow as tf
from tfx.types import artifact_utils
from tfx.utils import path_utils

from fairgate.metrics import side_effects

BATCH = 1024
PREDICTION_KEY = "probabilities"


def split_records(examples, split: str) -> List[bytes]:
    """Every serialized tf.Example of one split of an Examples artifact (TFX
    writes gzip TFRecords, `.gz`; plain TFRecords are read as written)."""
    folder = artifact_utils.get_split_uri([examples], split)
    files = sorted(os.path.join(folder, name) for name in tf.io.gfile.listdir(folder))
    if not files:
        raise ValueError(f"the {split} split at {folder} holds no files")
    records: List[bytes] = []
    for path in files:
        compression = "GZIP" if path.endswith(".gz") else ""
        records.extend(r.numpy() for r in tf.data.TFRecordDataset(
            path, compression_type=compression))
    return records


def _first_value(example: tf.train.Example, key: str, path_hint: str):
    feature = example.features.feature.get(key)
    kind = feature.WhichOneof("kind") if feature is not None else None
    values = getattr(feature, kind).value if kind else []
    if not values:
        raise ValueError(f"feature '{key}' is missing from an example of {path_hint}")
    return values[0]


def labels_and_groups(records: List[bytes], label: str, group: str,
                      where: str) -> Tuple[np.ndarray, list]:
    labels, groups = [], []
    for record in records:
        example = tf.train.Example.FromString(record)
        labels.append(float(_first_value(example, label, where)))
        groups.append(_first_value(example, group, where))
    return np.array(labels), groups


def column_decisions(records: List[bytes], column: str, where: str,
                     threshold: float = side_effects.THRESHOLD) -> np.ndarray:
    """Positive decisions from a score column of the examples (score > threshold)."""
    return np.array([float(_first_value(tf.train.Example.FromString(r), column, where))
                     for r in records]) > threshold


def positive_decisions(model_uri: str, records: List[bytes],
                       output_key: str = PREDICTION_KEY,
                       threshold: float = side_effects.THRESHOLD) -> np.ndarray:
    """The model's positive decisions (probability > threshold, as the gates)."""
    return model_scores(model_uri, records, output_key) > threshold


def model_scores(model_uri: str, records: List[bytes],
                 output_key: str = PREDICTION_KEY) -> np.ndarray:
    """The model's score of every record. `output_key`: the score output; a
    model without it that has one output (a model in serving that names its
    score differently) is read from that."""
    serving = path_utils.serving_model_path(model_uri)
    signature = tf.saved_model.load(serving).signatures["serving_default"]
    outputs = list(signature.structured_outputs)
    if output_key not in outputs and len(outputs) == 1:
        output_key = outputs[0]
    scores = []
    for start in range(0, len(records), BATCH):
        batch = tf.constant(records[start:start + BATCH])
        scores.append(np.reshape(signature(examples=batch)[output_key].numpy(), -1))
    if not scores:
        return np.zeros(0)
    probabilities = np.concatenate(scores)
    if probabilities.size != len(records):
        raise ValueError(f"the model at {serving} returned {probabilities.size} "
                         f"'{output_key}' for {len(records)} examples: one per "
                         "example is expected")
    return probabilities
