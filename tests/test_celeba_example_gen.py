"""CelebAExampleGen's writing: one pipeline over a split's shards, one file each."""
import os

import numpy as np
import pytest
import tensorflow as tf

from components.celeba_example_gen import executor
from fairgate.data import celeba_layout, image_summary
from fairgate.progress import Progress


def _cut(shard, sizes, folder):
    """`shard`'s records cut into consecutive shards of `sizes` records."""
    records = [r.numpy() for r in tf.data.TFRecordDataset(shard)]
    assert sum(sizes) == len(records)
    paths, start = [], 0
    for index, size in enumerate(sizes):
        path = os.path.join(folder, f"part-{index}.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for record in records[start:start + size]:
                writer.write(record)
        paths.append(path)
        start += size
    return paths


def _split_shard(tiny_tfds_dir, split):
    folder = celeba_layout.dataset_dir(tiny_tfds_dir, "embedded_celeb_a/n300_seed3")
    return folder, os.path.join(folder, f"embedded_celeb_a-{split}.tfrecord-00000-of-00001")


def _written(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]


def _examples(records):
    # Compared as messages: a proto map's serialized order is not fixed.
    return [tf.train.Example.FromString(record) for record in records]


def test_each_shard_goes_to_its_own_file_across_batches(tiny_tfds_dir, tmp_path,
                                                        monkeypatch):
    # Batches of 16 over shards of 23, 0, 40 and 178 records: batches span
    # shards, one shard is empty.
    monkeypatch.setattr(executor, "_BATCH", 16)
    folder, shard = _split_shard(tiny_tfds_dir, "train")
    shards = _cut(shard, [23, 0, 40, 178], str(tmp_path))
    read = executor._shard_reader(folder, 28)
    targets = [str(tmp_path / f"out-{i}.gz") for i in range(len(shards))]
    pixels = image_summary.SplitPixels()
    counts = executor.write_split_files(read, shards, targets, pixels,
                                        Progress("test", total=241, unit="faces"))
    assert counts == [23, 0, 40, 178] and pixels.examples == 241
    for one, target in zip(shards, targets):  # each file: its shard read alone
        expected = [record for _, images, attributes in read([one]).as_numpy_iterator()
                    for record in executor.encode_examples(images, attributes)]
        assert _examples(_written(target)) == _examples(expected)


def test_a_corrupt_later_shard_is_named(tiny_tfds_dir, tmp_path):
    # Both shards fall in the first batch: the error is raised while the first
    # shard is being written, and the second is named.
    folder, shard = _split_shard(tiny_tfds_dir, "train")
    shards = _cut(shard, [100, 141], str(tmp_path))
    with open(shards[1], "r+b") as f:  # the CRC check fails in the second shard
        f.seek(os.path.getsize(shards[1]) // 2)
        f.write(b"\xff" * 64)
    targets = [str(tmp_path / f"out-{i}.gz") for i in range(2)]
    with pytest.raises(executor.InvalidDatasetError,
                       match=r"Corrupt TFRecord shard .*part-1\.tfrecord \(after \d+ good"):
        executor.write_split_files(executor._shard_reader(folder, 28), shards, targets,
                                   image_summary.SplitPixels(),
                                   Progress("test", total=241, unit="faces"))
