"""run_fn.count_examples: the records of a split's gzipped TFRecord files (the
Trainer's epoch budget), counted per batch of records, across files and a
last batch that is not full."""
import os
import types

import tensorflow as tf

from fairgate.config import TrainerSettings
from trainer_module import run_fn


def _write(path, count):
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for i in range(count):
            writer.write(b"record %d" % i)


def test_count_examples_counts_every_record_of_every_file(tmp_path):
    _write(str(tmp_path / "data_tfrecord-00000-of-00002.gz"), 5000)
    _write(str(tmp_path / "data_tfrecord-00001-of-00002.gz"), 4193)
    assert run_fn.count_examples([str(tmp_path / "*")]) == 9193
    assert run_fn.count_examples([str(tmp_path / "*00001-of-00002.gz")]) == 4193
    empty = tmp_path / "empty"
    empty.mkdir()
    _write(str(empty / "data_tfrecord-00000-of-00001.gz"), 0)
    assert run_fn.count_examples([str(empty / "*")]) == 0


def test_the_epoch_budget_reads_the_count(tmp_path):
    _write(str(tmp_path / "data_tfrecord-00000-of-00001.gz"), 1000)
    settings = TrainerSettings(train_epochs=2.0, batch_size=128, min_train_steps=0)
    fn_args = types.SimpleNamespace(train_steps=0, train_files=[str(tmp_path / "*")])
    assert run_fn.train_steps(fn_args, settings) == 16  # ceil(2 * 1000 / 128)
    assert os.path.exists(tmp_path / "data_tfrecord-00000-of-00001.gz")
