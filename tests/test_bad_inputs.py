"""Each kind of bad input gets a clear error, and nothing downstream of it runs."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from fairgate.data import celeba_layout, preflight
from tests import pipeline_helpers as helpers
from tests.tabular import write_csv


def _assert_not_trained_on(config, stopped_before):
    """Nothing from `stopped_before` onwards was published (the gate has no output)."""
    outputs = helpers.outputs(config)
    assert stopped_before not in outputs, outputs
    assert "DataValidationGate" not in outputs


def test_corrupt_tfds_shard_names_the_shard_and_nothing_looks_written(
        tmp_path, tiny_tfds_dir):
    data_dir = tmp_path / "tfds"
    shutil.copytree(tiny_tfds_dir, data_dir)
    folder = celeba_layout.dataset_dir(str(data_dir), "embedded_celeb_a/n300_seed3")
    # The test split is written last: train and eval are complete when it fails.
    shard = os.path.join(folder, "embedded_celeb_a-test.tfrecord-00000-of-00001")
    with open(shard, "r+b") as f:  # flip bytes in the middle: the CRC check fails
        f.seek(os.path.getsize(shard) // 2)
        f.write(b"\xff" * 64)
    config = helpers.make_config(tmp_path, source="tfds", data_dir=str(data_dir),
                                 dataset="embedded_celeb_a/n300_seed3")
    with pytest.raises(Exception) as raised:
        helpers.run(config)
    message = helpers.error_chain(raised.value)
    assert "Corrupt TFRecord shard" in message and shard in message
    _assert_not_trained_on(config, "StatisticsGen")
    # All or nothing: no split folder, data file or summary of the failed ExampleGen.
    written = [os.path.relpath(os.path.join(d, n), config.resolved_pipeline_root)
               for d, dirs, files in os.walk(config.resolved_pipeline_root)
               for n in dirs + files]
    assert any(p.startswith("CelebAExampleGen") for p in written), written
    assert not [p for p in written if "Split-" in p or p.endswith((".gz", ".json"))], \
        written


def test_corrupt_tfrecord_input_names_the_file(tmp_path):
    folder = tmp_path / "records"
    folder.mkdir()
    path = folder / "part-0.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for _ in range(5):
            writer.write(b"x" * 100)
    data = bytearray(path.read_bytes())
    data[150:160] = b"\x00" * 10
    path.write_bytes(bytes(data))
    config = helpers.make_config(tmp_path, source="tfrecord", input_base=str(folder))
    with pytest.raises(preflight.InputError, match="part-0.tfrecord: corrupt TFRecord"):
        helpers.run(config)
    assert helpers.outputs(config) == {}


def test_ragged_csv_row_names_file_and_line(tmp_path):
    path = tmp_path / "csv" / "data.csv"
    write_csv(path, rows=20)
    lines = path.read_text().splitlines()
    lines[7] = lines[7] + ",surplus"
    path.write_text("\n".join(lines) + "\n")
    config = helpers.make_config(tmp_path, source="csv", input_base=str(path.parent),
                                 label="label", group="group")
    with pytest.raises(preflight.InputError, match=r"data.csv line 8: 6 fields, the header has 5"):
        helpers.run(config)
    assert helpers.outputs(config) == {}


@pytest.mark.parametrize("role,column", [("label", "label"), ("group", "group")])
def test_missing_label_or_group_column_names_it(tmp_path, role, column):
    path = tmp_path / "csv" / "data.csv"
    write_csv(path, rows=20, drop=(column,))
    config = helpers.make_config(tmp_path, source="csv", input_base=str(path.parent),
                                 label="label", group="group")
    with pytest.raises(preflight.InputError,
                       match=f"data.csv: no {role} column '{column}' in the header"):
        helpers.run(config)
    assert helpers.outputs(config) == {}


def test_label_outside_0_1_stops_the_run_before_training(tmp_path):
    path = tmp_path / "csv" / "data.csv"
    write_csv(path, rows=400, bad_labels=120)
    config = helpers.make_config(tmp_path, source="csv", input_base=str(path.parent),
                                 label="label", group="group")
    config.evaluation.groups = ["north", "south"]  # preflight checks them
    config.trainer.constraints = {"constraints": []}
    with pytest.raises(Exception) as raised:
        helpers.run(config)
    message = helpers.error_chain(raised.value)
    assert "split 'train': label feature 'label' has values outside {0, 1} (min 0, max 2;" \
        in message
    _assert_not_trained_on(config, "Trainer")
    assert "StatisticsGen" in helpers.outputs(config)  # the gate, not ingestion, stopped it


def _write_image_examples(path, count, rng, nan_rows=0, too_bright_rows=0):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(count):
            pixels = rng.random(12).astype(np.float32)
            if i < nan_rows:
                pixels[3] = np.nan
            if i < too_bright_rows:
                pixels[5] = 1.5
            feature = {
                "image": tf.train.Feature(float_list=tf.train.FloatList(value=pixels)),
                "Smiling": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[i % 2])),
                "Young": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[(i // 2) % 2])),
            }
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())


def test_nan_and_out_of_range_pixels_stop_the_run(tmp_path):
    rng = np.random.default_rng(0)
    base = tmp_path / "records"
    _write_image_examples(str(base / "train" / "part.gz"), 60, rng)
    _write_image_examples(str(base / "eval" / "part.gz"), 30, rng, nan_rows=4)
    _write_image_examples(str(base / "test" / "part.gz"), 30, rng, too_bright_rows=2)
    config = helpers.make_config(
        tmp_path, source="tfrecord", input_base=str(base),
        splits={"train": "train/*", "eval": "eval/*", "test": "test/*"},
        feature_bounds={"image": [0.0, 1.0]})
    with pytest.raises(Exception) as raised:
        helpers.run(config)
    message = helpers.error_chain(raised.value)
    assert "split 'eval': feature 'image': 4 NaN values" in message
    assert "split 'test': feature 'image': values outside [0, 1] (min" in message
    _assert_not_trained_on(config, "Trainer")


def test_data_dir_without_the_dataset_says_how_to_get_it(tmp_path):
    config = helpers.make_config(tmp_path, source="tfds", data_dir=str(tmp_path / "empty"),
                                 dataset="celeb_a")
    with pytest.raises(celeba_layout.DatasetNotFoundError) as raised:
        helpers.run(config)
    message = str(raised.value)
    assert "'celeb_a' is not prepared in data_dir" in message
    assert "tfds build celeb_a" in message and "embedded_celeba" in message
    assert helpers.outputs(config) == {}


def test_curated_schema_anomaly_names_split_and_feature(tmp_path):
    """With a curated schema, an ExampleValidator anomaly stops the run at the gate."""
    rng = np.random.default_rng(1)
    base = tmp_path / "records"
    _write_image_examples(str(base / "train" / "part.gz"), 40, rng)
    _write_image_examples(str(base / "eval" / "part.gz"), 20, rng)
    _write_image_examples(str(base / "test" / "part.gz"), 20, rng)
    schema = tmp_path / "schema.pbtxt"
    schema.write_text("""
feature { name: "image" type: FLOAT presence { min_fraction: 1.0 } }
feature { name: "Smiling" type: INT int_domain { min: 0 max: 1 } presence { min_fraction: 1.0 } }
feature { name: "Young" type: INT int_domain { min: 0 max: 1 } presence { min_fraction: 1.0 } }
feature { name: "Age" type: INT presence { min_fraction: 1.0 } }
""")
    config = helpers.make_config(
        tmp_path, source="tfrecord", input_base=str(base), schema_file=str(schema),
        splits={"train": "train/*", "eval": "eval/*", "test": "test/*"})
    with pytest.raises(Exception) as raised:
        helpers.run(config)
    message = helpers.error_chain(raised.value)
    for split in ("train", "eval", "test"):
        assert f"split '{split}': feature 'Age': " in message
    _assert_not_trained_on(config, "Trainer")
