"""The ingestion floor: batched tf.data decode and resize of every JPEG of a dataset.

What no pipeline over these images can beat on this machine: read every TFDS
shard of every split, decode each JPEG, resize and quantise it to the stored
size with `fairgate.data.images` (the ExampleGen's own preprocessing), in parallel
and batched, and throw the pixels away. Nothing is written. The shards are read
both serially and interleaved, and the faster counts. Prints JSON.

  .venv/bin/python benchmarks/ingest_floor.py --data-dir DIR --num-examples 202599
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)


READERS = ("serial", "parallel")


def floor_seconds(folder: str, image_size: int = 28, batch: int = 256,
                  readers=READERS) -> dict:
    """{seconds, images, seconds_by_reader} for decoding and resizing every image
    under `folder` (a prepared TFDS dataset folder), once per way of reading the
    shards (`serial`: one after another, as CelebAExampleGen reads them;
    `parallel`: interleaved with `num_parallel_reads=AUTOTUNE`); `seconds` is the
    faster. On 2 cores the interleaved reads competed with the decoding: at
    202,599 faces they took 42.9-82.1 s across runs against 41.2-42.0 s
    serially, at worst longer than CelebAExampleGen's whole run, which reads,
    decodes and also writes."""
    import tensorflow as tf
    import tensorflow_datasets as tfds
    from fairgate.data.images import to_stored_pixels

    builder = tfds.builder_from_directory(folder)
    features = builder.info.features
    shards = [str(p) for split in builder.info.splits.values() for p in split.filepaths]

    def decode(serialized):
        return features.deserialize_example(serialized)["image"]

    def pixels(reader):
        records = tf.data.TFRecordDataset(
            shards, num_parallel_reads=tf.data.AUTOTUNE if reader == "parallel" else None)
        return (records.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
                .batch(batch)
                .map(lambda images: to_stored_pixels(images, image_size),
                     num_parallel_calls=tf.data.AUTOTUNE)
                .prefetch(2))

    by_reader, images = {}, {}
    for reader in readers:
        start, images[reader] = time.time(), 0
        for stored in pixels(reader):
            images[reader] += int(stored.shape[0])
        by_reader[reader] = round(time.time() - start, 1)
    if len(set(images.values())) != 1:
        raise RuntimeError(f"the readers decoded different numbers of images: {images}")
    return {"seconds": min(by_reader.values()), "images": images[readers[0]],
            "seconds_by_reader": by_reader}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="TFDS data_dir")
    parser.add_argument("--num-examples", type=int, required=True,
                        help="the embedded dataset's size (its config name)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--readers", default=",".join(READERS),
                        help=f"comma-separated, of {', '.join(READERS)}")
    args = parser.parse_args(argv)
    readers = [r for r in args.readers.split(",") if r]
    if not readers or set(readers) - set(READERS):
        parser.error(f"--readers: one or more of {', '.join(READERS)}")
    from fairgate.data import celeba_layout, embedded_celeba
    folder = celeba_layout.dataset_dir(
        args.data_dir, f"{embedded_celeba.NAME}/n{args.num_examples}_seed{args.seed}")
    print(json.dumps({"benchmark": "ingest_floor", "folder": folder,
                      **floor_seconds(folder, args.image_size, readers=readers)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
