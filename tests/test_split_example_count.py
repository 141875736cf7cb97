"""The Trainer's count of a split: the ExampleGen's record of it, else counted."""
import os

import tensorflow as tf

from fairgate.data import image_summary
from trainer_module.run_fn import split_example_count


def _split(uri, name, records):
    folder = os.path.join(uri, f"Split-{name}")
    os.makedirs(folder)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(folder, "data.gz"), options=options) as writer:
        for _ in range(records):
            writer.write(b"x")
    return [os.path.join(folder, "*")]


def test_the_recorded_count_when_the_examples_have_one(tmp_path):
    pattern = _split(str(tmp_path), "train", 5)
    assert split_example_count(pattern) == 5  # no summary: counted
    pixels = image_summary.SplitPixels()
    pixels.examples = 7  # a record that differs from the files, to tell them apart
    image_summary.write(str(tmp_path), "image", 28, {"train": pixels})
    assert split_example_count(pattern) == 7
    assert split_example_count(_split(str(tmp_path), "eval", 3)) == 3  # not recorded
