"""The train split's facts the data gate records once per run (features, leakage
guard, train examples per group), against values computed from the rows that
were written, independently of how the split is read."""
import json
import os

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from components.data_gate import train_facts
from fairgate.data import leakage
from fairgate.report import data_facts
from tests.tabular import biased_rows

KINDS = {"age": "numeric", "score": "numeric", "occupation": "categorical"}


def _schema():
    schema = schema_pb2.Schema()
    for name, kind in (("age", schema_pb2.INT), ("score", schema_pb2.FLOAT),
                       ("occupation", schema_pb2.BYTES), ("region", schema_pb2.BYTES),
                       ("approved", schema_pb2.INT)):
        schema.feature.add(name=name, type=kind)
    return schema


def _write_split(folder, rows, empty_scores):
    """rows as gzipped tf.Examples in two files; `score` left empty in the rows
    `empty_scores` (the model imputes such cells)."""
    os.makedirs(folder)
    count = len(rows["approved"])
    for part, indices in enumerate(np.array_split(np.arange(count), 2)):
        path = os.path.join(folder, f"data_tfrecord-0000{part}-of-00002.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for i in indices:
                feature = {
                    "age": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[rows["age"][i]])),
                    "occupation": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[rows["occupation"][i].encode()])),
                    "region": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[rows["region"][i].encode()])),
                    "approved": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[rows["approved"][i]])),
                }
                if i not in empty_scores:
                    feature["score"] = tf.train.Feature(float_list=tf.train.FloatList(
                        value=[rows["score"][i]]))
                writer.write(tf.train.Example(features=tf.train.Features(
                    feature=feature)).SerializeToString())


def test_the_facts_match_the_rows_written(tmp_path):
    rows = biased_rows(3000, seed=5)
    empty = set(range(0, 3000, 7))
    _write_split(str(tmp_path / "Split-train"), rows, empty)
    # A feature that copies the label: the guard must flag it.
    out = str(tmp_path / "facts")
    content = train_facts.write(str(tmp_path / "Split-train"), _schema(), "approved",
                                "region", KINDS, out)
    assert data_facts.read(out) == json.loads(json.dumps(content))

    assert content["features"] == KINDS
    assert content["train_examples"] == 3000
    names, counts = np.unique(rows["region"], return_counts=True)
    assert content["train_group_counts"] == dict(zip(names.tolist(), counts.tolist()))

    # Scores from the written rows themselves (the empty cells as NaN).
    score = rows["score"].astype(np.float32).astype(float)
    score[sorted(empty)] = np.nan
    labels = rows["approved"]
    expected = {
        "age": leakage.numeric_score(rows["age"], labels),
        "score": leakage.numeric_score(score, labels),
        "occupation": leakage.categorical_score(
            np.array([v.encode() for v in rows["occupation"]], dtype=object), labels),
    }
    # The records' order across the two files is the order written.
    for name, value in expected.items():
        assert content["leakage"]["scores"][name] == round(value, 4), name
    # `score` separates the labels well but not perfectly: not flagged at 0.95.
    assert 0.8 < content["leakage"]["scores"]["score"] < 0.95
    assert content["leakage"]["flagged"] == []


def test_a_label_copy_is_flagged_at_the_threshold_given(tmp_path):
    rows = biased_rows(400, seed=6)
    rows["score"] = rows["approved"] + 0.01 * np.arange(400) / 400  # the label, again
    _write_split(str(tmp_path / "Split-train"), rows, set())
    content = train_facts.write(str(tmp_path / "Split-train"), _schema(), "approved",
                                "region", KINDS, str(tmp_path / "facts"), threshold=0.99)
    assert [f["feature"] for f in content["leakage"]["flagged"]] == ["score"]
    assert content["leakage"]["threshold"] == 0.99


def _cross_fitted_reference(values, labels, seed):
    """The definition, row by row: each row scored by its category's positive
    rate on the other half of the rows (that half's rate for an unseen one)."""
    fold = np.random.default_rng(seed).permutation(len(values)) % 2
    scores = np.empty(len(values))
    for i in range(len(values)):
        other = fold != fold[i]
        same = other & (values == values[i])
        scores[i] = labels[same].mean() if same.any() else labels[other].mean()
    value = leakage.auc(scores, labels)
    return max(value, 1.0 - value)


def test_the_categorical_score_is_the_cross_fitted_category_rate():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 600).astype(float)
    # Common categories that lean towards the label, plus unique identifiers.
    common = np.where(rng.random(600) < 0.7, labels, 1 - labels).astype(int)
    values = np.array([f"c{v}".encode() if rng.random() < 0.8 else f"id{i}".encode()
                       for i, v in enumerate(common)], dtype=object)
    for seed in (0, 3):
        assert leakage.categorical_score(values, labels, seed) == \
            _cross_fitted_reference(values, labels, seed)
