"""Tabular inputs: the Trainer parses the train split once. The model contract's
`train` and the train batches both come from `_load_split`'s arrays, and the
batches cut from them are the batches the parsed-and-cached files gave: the
same examples in the same shuffled order, value for value."""
import os

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from fairgate.config import TrainerSettings
from trainer_module import run_fn

ROWS, BATCH = 600, 32


def _factory(files, options, schema):
    """The Trainer's tf.data factory (DataAccessor.tf_dataset_factory) over tf.Examples."""
    from tfx.components.util import tfxio_utils
    from tfx.proto import example_gen_pb2
    return tfxio_utils.make_tfxio(
        file_pattern=files, telemetry_descriptors=["fairgate-test"],
        payload_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
        schema=schema).TensorFlowDataset(options)


def _split(folder):
    """A gzipped TFRecord train split as ExampleGen writes it, with empty cells
    and a column the model does not read; (file pattern, schema)."""
    rng = np.random.default_rng(0)
    os.makedirs(folder)
    path = os.path.join(folder, "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(ROWS):
            feature = {
                "approved": tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[int(rng.integers(0, 2))])),
                "region": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[rng.choice([b"north", b"south"])])),
                "job": tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[] if i % 7 == 0 else [rng.choice([b"clerk", b"nurse"])])),
                "age": tf.train.Feature(float_list=tf.train.FloatList(
                    value=[] if i % 5 == 0 else [float(rng.integers(18, 80))])),
                "row_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
            }
            writer.write(tf.train.Example(
                features=tf.train.Features(feature=feature)).SerializeToString())
    schema = schema_pb2.Schema()
    for name, kind in (("approved", schema_pb2.INT), ("region", schema_pb2.BYTES),
                       ("job", schema_pb2.BYTES), ("age", schema_pb2.FLOAT),
                       ("row_id", schema_pb2.INT)):
        schema.feature.add(name=name, type=kind)
    return [os.path.join(folder, "*")], schema


def _batches(dataset, count):
    return list(dataset.take(count).as_numpy_iterator())


def test_batches_from_the_parsed_split_are_the_batches_of_the_cached_files(tmp_path):
    files, schema = _split(str(tmp_path / "Split-train"))
    settings = TrainerSettings(label="approved", group="region", input="tabular",
                               exclude_features=["row_id"], batch_size=BATCH, seed=3)
    inputs = run_fn._Inputs(settings, schema)
    assert sorted(inputs.model_inputs) == ["age", "job"]

    tf.keras.utils.set_random_seed(settings.seed)
    cached = _batches(run_fn._train_batches(_factory, files, schema, inputs, settings),
                      3 * ROWS // BATCH)  # three epochs: reshuffled each one
    tf.keras.utils.set_random_seed(settings.seed)
    parsed = run_fn._load_split(_factory, files, schema, inputs)
    assert set(parsed[0]) == {"age", "job"} and len(parsed[1]) == ROWS
    from_memory = _batches(run_fn._train_batches(_factory, files, schema, inputs,
                                                 settings, parsed), 3 * ROWS // BATCH)

    assert len(cached) == len(from_memory) == 3 * ROWS // BATCH
    for (features, labels, groups), (features2, labels2, groups2) in zip(cached,
                                                                         from_memory):
        assert set(features) == set(features2)
        for name in features:
            assert features[name].dtype == features2[name].dtype
            np.testing.assert_array_equal(features[name], features2[name])
        np.testing.assert_array_equal(labels, labels2)
        np.testing.assert_array_equal(groups, groups2)
    # Empty cells came through as the model sees them, and the batches are shuffled.
    ages = np.concatenate([b[0]["age"] for b in from_memory])
    jobs = np.concatenate([b[0]["job"] for b in from_memory])
    assert np.isnan(ages).any() and (jobs == b"").any()
    assert not np.array_equal(cached[0][1], cached[ROWS // BATCH][1])


def test_the_model_contract_reads_the_same_train_values(tmp_path):
    """`train_arrays` over `_load_split`'s arrays: every row, numeric float32 with
    NaN for empty cells, categorical str with "" for them."""
    files, schema = _split(str(tmp_path / "Split-train"))
    settings = TrainerSettings(label="approved", group="region", input="tabular",
                               exclude_features=["row_id"])
    inputs = run_fn._Inputs(settings, schema)
    features, labels, groups = run_fn._load_split(_factory, files, schema, inputs)
    train = run_fn.train_arrays(features, inputs.kinds, settings.seed)
    assert train["age"].shape == (ROWS, 1) and train["age"].dtype == np.float32
    assert np.isnan(train["age"][0::5]).all() and not np.isnan(train["age"][1::5]).any()
    assert train["job"].dtype.kind == "U" and (train["job"][0::7] == "").all()
    assert set(np.unique(train["job"])) == {"", "clerk", "nurse"}
    assert labels.dtype == np.float32 and set(np.unique(groups)) == {b"north", b"south"}
