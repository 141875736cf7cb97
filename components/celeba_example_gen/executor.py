"""Beam executor of CelebAExampleGen: TFDS shards -> resized images -> tf.Examples."""
from __future__ import annotations

import logging
from typing import Any, Dict

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_datasets as tfds
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

from fairgate import celeba_layout
from fairgate.images import to_model_pixels

_BATCH = 256


class InvalidDatasetError(ValueError):
    """The dataset exists but is not usable: wrong layout or corrupt shards."""


class Executor(BaseExampleGenExecutor):

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CelebAToExample


def locate_dataset(exec_properties: Dict[str, Any]) -> str:
    """Returns the prepared dataset folder, generating the embedded default if asked."""
    data_dir, dataset = exec_properties["data_dir"], exec_properties["dataset"]
    num_examples = exec_properties.get("embedded_num_examples")
    if num_examples:
        from fairgate import embedded_celeba  # registers the builder; only needed here
        builder = embedded_celeba.prepare(
            data_dir, num_examples, exec_properties.get("embedded_seed") or 0)
        return str(builder.data_path)
    return celeba_layout.dataset_dir(data_dir, dataset)


def check_layout(folder: str) -> tfds.core.DatasetBuilder:
    builder = tfds.builder_from_directory(folder)
    features = builder.info.features
    names = set(features.keys())
    problems = []
    if "image" not in names or not isinstance(features["image"], tfds.features.Image):
        problems.append("no `image` Image feature")
    if "attributes" not in names or not isinstance(
            features["attributes"], tfds.features.FeaturesDict):
        problems.append("no `attributes` dict of booleans")
    if problems:
        raise InvalidDatasetError(
            f"Dataset at {folder} does not have celeb_a's feature layout: "
            f"{'; '.join(problems)} (features: {sorted(features.keys())})")
    return builder


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _CelebAToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                     split_pattern: str) -> beam.pvalue.PCollection:
    folder = locate_dataset(exec_properties)
    builder = check_layout(folder)
    if split_pattern not in builder.info.splits:
        raise InvalidDatasetError(
            f"Dataset at {folder} has no split '{split_pattern}' "
            f"(it has {sorted(builder.info.splits.keys())})")
    shards = [str(p) for p in builder.info.splits[split_pattern].filepaths]
    logging.info("CelebAExampleGen: split %s: %d examples in %d shards from %s",
                 split_pattern, builder.info.splits[split_pattern].num_examples,
                 len(shards), folder)
    return (pipeline
            | "Shards" >> beam.Create(shards)
            | "Spread" >> beam.Reshuffle()
            | "ToExamples" >> beam.ParDo(
                _ShardToExamples(folder, int(exec_properties["image_size"]))))


def _encode_examples(images: np.ndarray, attributes: Dict[str, np.ndarray]):
    """A batch of images and attributes -> serialized tf.Examples, in C++ (tfx-bsl).

    Building tf.train.Example protos in Python cost more than decoding and
    resizing the JPEGs; tfx-bsl's Arrow encoder does the same work natively.
    """
    count = len(images)
    flat = images.reshape(count, -1).astype(np.float32)
    image = pa.ListArray.from_arrays(
        pa.array(np.arange(0, flat.size + 1, flat.shape[1], dtype=np.int32)),
        pa.array(flat.reshape(-1)))
    one_each = pa.array(np.arange(count + 1, dtype=np.int32))
    columns, names = [image], ["image"]
    for name, values in attributes.items():
        columns.append(pa.ListArray.from_arrays(one_each, pa.array(values.astype(np.int64))))
        names.append(name)
    return _ENCODER.encode(pa.RecordBatch.from_arrays(columns, names))


_ENCODER = RecordBatchToExamplesEncoder()


class _ShardToExamples(beam.DoFn):
    """Decodes one TFDS shard with tf.data (parallel, batched) into tf.Examples."""

    def __init__(self, folder: str, image_size: int):
        self._folder = folder
        self._image_size = image_size

    def setup(self):
        features = tfds.builder_from_directory(self._folder).info.features
        size = self._image_size

        def decode(serialized):
            example = features.deserialize_example(serialized)
            return example["image"], example["attributes"]

        def resize(images, attributes):
            return to_model_pixels(images, size), attributes

        self._make_dataset = lambda shard: (
            tf.data.TFRecordDataset(shard)
            .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(_BATCH)
            .map(resize, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(2))

    def process(self, shard: str):
        count = 0
        try:
            for images, attributes in self._make_dataset(shard).as_numpy_iterator():
                serialized = _encode_examples(images, attributes)
                count += len(serialized)
                yield from serialized
        except tf.errors.DataLossError as error:
            raise InvalidDatasetError(
                f"Corrupt TFRecord shard {shard} (after {count} good records): "
                f"{error.message}. Re-prepare the dataset.") from None
        except tf.errors.InvalidArgumentError as error:
            raise InvalidDatasetError(
                f"Cannot decode a record of shard {shard} (after {count} good "
                f"records): {error.message}") from None
        logging.info("CelebAExampleGen: %s -> %d examples", shard, count)
