"""Executor of CelebAExampleGen: TFDS shards -> resized uint8 images -> tf.Examples.

The TFDS shards of a split are decoded in order through one tf.data pipeline
(parallel map, batched resize), and each shard's examples written straight into
the split's folder as one gzip TFRecord file, named as
TFX's ExampleGens name theirs (`Split-train/data_tfrecord-00000-of-00004.gz`).
Nothing is held as a Beam PCollection, so memory does not grow with the data
(TFX's base ExampleGen writes through Beam's WriteToTFRecord, whose shuffle
materialises every example on the in-memory runner).

All or nothing: every file is written under a hidden staging folder of the
artifact and moved into its `Split-*` folder only when every shard of every split
is written, so a failure (a corrupt shard, a kill while writing) leaves no
`Split-*` folder that looks complete; the staging folder is removed on failure.

While it writes, it records each split's pixel summary (fairgate.data.image_summary)
for the data gate's pixel checks.
"""
from __future__ import annotations

import contextlib
import os
from typing import Any, Dict, List

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_datasets as tfds
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils
from tfx.utils import proto_utils
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

from fairgate.data import celeba_layout, image_summary
from fairgate.data.images import image_bytes, to_stored_pixels
from fairgate.progress import Progress, logger as progress_log
from fairgate.release import publication

_BATCH = 256
IMAGE_FEATURE = "image"


class InvalidDatasetError(ValueError):
    """The dataset exists but is not usable: wrong layout or corrupt shards."""


def locate_dataset(exec_properties: Dict[str, Any]) -> str:
    """Returns the prepared dataset folder, generating the embedded default if asked."""
    data_dir, dataset = exec_properties["data_dir"], exec_properties["dataset"]
    num_examples = exec_properties.get("embedded_num_examples")
    if num_examples:
        from fairgate.data import embedded_celeba  # registers the builder; only needed here
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


def encode_examples(images: np.ndarray, attributes: Dict[str, np.ndarray]) -> List[bytes]:
    """uint8 images [batch, size, size, 3] and attributes -> serialized tf.Examples.

    `image` is one bytes value per example: the image's size*size*3 uint8 pixels,
    row-major HWC. tfx-bsl's Arrow encoder builds the protos in C++ (building
    tf.train.Example protos in Python cost more than decoding the JPEGs).
    """
    count = len(images)
    flat = np.ascontiguousarray(images, dtype=np.uint8).reshape(count, -1)
    width = flat.shape[1]
    offsets = np.arange(0, count * width + 1, width, dtype=np.int32)
    pixels = pa.Array.from_buffers(pa.binary(), count,
                                   [None, pa.py_buffer(offsets), pa.py_buffer(flat)])
    one_each = pa.array(np.arange(count + 1, dtype=np.int32))
    columns = [pa.ListArray.from_arrays(one_each, pixels)]
    names = [IMAGE_FEATURE]
    for name, values in attributes.items():
        columns.append(pa.ListArray.from_arrays(one_each, pa.array(values.astype(np.int64))))
        names.append(name)
    return _ENCODER.encode(pa.RecordBatch.from_arrays(columns, names))


_ENCODER = RecordBatchToExamplesEncoder()


def _shard_reader(folder: str, image_size: int):
    """shard paths -> tf.data batches of (shard index [b], uint8 [b, size, size,
    3], attributes) of every record of the shards, in order, through one
    pipeline. A pipeline per shard paid its set-up at every shard (tracing the
    decoding, a new iterator: 3.3 s of the main thread at 202,599 faces) while
    the decoding threads, drained at the shard's end, had nothing to do."""
    features = tfds.builder_from_directory(folder).info.features

    def decode(index, serialized):
        example = features.deserialize_example(serialized)
        return index, example["image"], example["attributes"]

    def resize(indices, images, attributes):
        return indices, to_stored_pixels(images, image_size), attributes

    def records(index, shard):
        return tf.data.TFRecordDataset(shard).map(lambda record: (index, record))

    return lambda shards: (
        tf.data.Dataset.from_tensor_slices(tf.constant(shards, tf.string)).enumerate()
        .flat_map(records)
        .map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(_BATCH)
        .map(resize, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(2))


# zlib's fastest level: on 20,346 embedded faces' examples it wrote in 0.57 s
# against 0.94 s at the default level (6), for files 8% larger (24.7 against
# 22.9 MB), read back as fast; at CelebA's size the writing was a third of the
# component's time, on the thread the decoding competes with for 2 cores.
_WRITE_OPTIONS = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=1)


def _runs(indices: np.ndarray):
    """(value, start, end) of each run of equal values in `indices`."""
    starts = np.flatnonzero(np.diff(indices)) + 1
    bounds = [0, *starts.tolist(), len(indices)]
    return [(int(indices[a]), a, b) for a, b in zip(bounds, bounds[1:])]


def _first_bad_shard(shards: List[str], read_shard):
    """(shard, its good records, the error) of the first of `shards` whose
    records fail to read or decode on their own; None when all read."""
    for shard in shards:
        good = 0
        try:
            for _, images, _ in read_shard([shard]).as_numpy_iterator():
                good += len(images)
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            return shard, good, error
    return None


def write_split_files(read_shard, shards: List[str], targets: List[str],
                      pixels: image_summary.SplitPixels, progress: Progress) -> List[int]:
    """Writes the examples of each of a split's TFDS `shards` into the gzip
    TFRecord file of the same position in `targets` (an empty shard, an empty
    file); the count per shard."""
    counts = [0] * len(shards)
    written = 0  # the last shard a record was written for
    with contextlib.ExitStack() as files:
        writers = [files.enter_context(tf.io.TFRecordWriter(target, options=_WRITE_OPTIONS))
                   for target in targets]
        try:
            for indices, images, attributes in read_shard(shards).as_numpy_iterator():
                records = encode_examples(images, attributes)
                for index, start, end in _runs(indices):
                    for record in records[start:end]:
                        writers[index].write(record)
                    counts[index] += end - start
                    written = index
                pixels.add(images)
                progress.advance(len(images))
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
            # The pipeline reads ahead of the last record written: name the shard
            # that fails on its own (the one being written, or a later one).
            shard, good, error = _first_bad_shard(shards[written:], read_shard) or \
                (shards[written], counts[written], error)
            if isinstance(error, tf.errors.DataLossError):
                raise InvalidDatasetError(
                    f"Corrupt TFRecord shard {shard} (after {good} good records): "
                    f"{error.message}. Re-prepare the dataset.") from None
            raise InvalidDatasetError(
                f"Cannot decode a record of shard {shard} (after {good} good "
                f"records): {error.message}") from None
    for shard, count in zip(shards, counts):
        progress_log.info("CelebAExampleGen: %s -> %d examples", shard, count)
    return counts


def _remove_abandoned_staging(examples_uri: str) -> None:
    """Removes the staging folders that killed executions of this component left
    in their own output folders (siblings of examples_uri), once their process
    is gone."""
    storage = publication.storage_for(examples_uri)
    parent = os.path.dirname(examples_uri.rstrip("/"))
    if not storage.exists(parent):
        return
    for execution in storage.listdir(parent):
        folder = storage.join(parent, execution)
        if storage.isdir(folder):
            publication.remove_abandoned(storage, folder, [publication.STAGING_PREFIX])


class Executor(base_beam_executor.BaseBeamExecutor):
    """Writes the splits itself (no Beam pipeline); a Beam executor only so the
    component keeps TFX's Beam component interface (beam_pipeline_args)."""

    def Do(self, input_dict, output_dict, exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties["input_config"], input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties["output_config"], output_config)
        if output_config.split_config.splits:
            raise ValueError("CelebAExampleGen takes its splits from the dataset; "
                             "output_config must not split them again")
        split_names = example_gen_utils.generate_output_split_names(
            input_config, output_config)
        image_size = int(exec_properties["image_size"])

        folder = locate_dataset(exec_properties)
        builder = check_layout(folder)
        for split in input_config.splits:
            if split.pattern not in builder.info.splits:
                raise InvalidDatasetError(
                    f"Dataset at {folder} has no split '{split.pattern}' "
                    f"(it has {sorted(builder.info.splits.keys())})")

        examples = artifact_utils.get_single_instance(output_dict["examples"])
        examples.split_names = artifact_utils.encode_split_names(split_names)
        _remove_abandoned_staging(examples.uri)
        staging = os.path.join(examples.uri,
                               publication.STAGING_PREFIX + publication.new_owner())
        tf.io.gfile.makedirs(staging)
        try:
            summaries = self._write_splits(input_config, builder, folder, image_size,
                                           staging)
            for split in input_config.splits:
                publication.move_files(os.path.join(staging, f"Split-{split.name}"),
                            artifact_utils.get_split_uri([examples], split.name))
            image_summary.write(examples.uri, IMAGE_FEATURE, image_size, summaries)
        finally:
            if tf.io.gfile.exists(staging):
                tf.io.gfile.rmtree(staging)

        examples_utils.set_payload_format(
            examples, exec_properties.get("output_data_format")
            or example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, write_split.to_file_format_str(
            exec_properties.get("output_file_format")
            or example_gen_pb2.FORMAT_TFRECORDS_GZIP))
        progress_log.info("CelebAExampleGen: wrote splits %s (image: %d bytes of uint8 "
                          "pixels per example) to %s", split_names, image_bytes(image_size),
                          examples.uri)

    def _write_splits(self, input_config, builder, folder: str, image_size: int,
                      staging: str) -> Dict[str, image_summary.SplitPixels]:
        read_shard = _shard_reader(folder, image_size)
        summaries = {}
        for split in input_config.splits:
            info = builder.info.splits[split.pattern]
            shards = [str(p) for p in info.filepaths]
            progress_log.info("CelebAExampleGen: split %s: %d examples in %d shards from %s",
                              split.pattern, info.num_examples, len(shards), folder)
            out = os.path.join(staging, f"Split-{split.name}")
            tf.io.gfile.makedirs(out)
            pixels = summaries[split.name] = image_summary.SplitPixels()
            progress = Progress(f"CelebAExampleGen: split {split.name}",
                                total=info.num_examples, unit="faces")
            targets = [os.path.join(out, f"{write_split.DEFAULT_TF_RECORD_FILE_NAME}-"
                                         f"{index:05d}-of-{len(shards):05d}.gz")
                       for index in range(len(shards))]
            write_split_files(read_shard, shards, targets, pixels, progress)
            progress.done()
            if pixels.examples != info.num_examples:
                raise InvalidDatasetError(
                    f"Split '{split.pattern}' of {folder}: read {pixels.examples} "
                    f"examples, its dataset_info.json says {info.num_examples}")
        return summaries
