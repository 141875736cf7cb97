"""The training floor: one plain Keras `fit` of a run's model for the Trainer's
steps, the train split already in memory. Prints JSON.

What no Trainer of this model can beat on this machine: the same model, built
by the Trainer's own code (run_fn's model contract over `trainer_module.models`,
adapted on the same train rows), compiled with the Trainer's optimizer (Adam at
its learning rate and schedule) and the hinge loss, fitted by `model.fit` for
the steps the Trainer runs (`run_fn.train_steps`: trainer.train_steps, else
train_epochs over the train split) at its batch size, on the run's train split
parsed into numpy beforehand. Timed: the `fit` call (its tracing included), the
fastest of `--repeats` fits of a model built afresh; reading the split and
building the model are reported apart, not in the floor.

  .venv/bin/python benchmarks/train_floor.py --config CONFIG   # after a run of CONFIG
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "benchmarks"))

import profiled_run  # noqa: E402


def _factory(files, options, schema):
    """A tf.data factory as the Trainer's DataAccessor gives it (tf.Examples)."""
    from tfx.components.util import tfxio_utils
    from tfx.proto import example_gen_pb2
    return tfxio_utils.make_tfxio(
        file_pattern=files, telemetry_descriptors=["fairgate-benchmark"],
        payload_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
        schema=schema).TensorFlowDataset(options)


def run_outputs(config):
    """(train files, schema path) the run's Trainer read: the ExampleGen's train
    split and the data gate's validated schema."""
    outputs, ingest = profiled_run.finished_outputs(config, "DataValidationGate")
    files = sorted(glob.glob(os.path.join(outputs[ingest]["examples"],
                                          "Split-train", "*")))
    schema_dir = outputs["DataValidationGate"]["validated_schema"]
    return files, os.path.join(schema_dir, "schema.pbtxt")


FEEDS = ("gather", "slices")


def in_memory_batches(features, labels, batch_size: int, seed: int, feed: str = "gather"):
    """Endless shuffled full batches of in-memory arrays, fed the way `fit` feeds
    numpy arrays (`gather`: tf-keras' TensorLikeDataAdapter: each epoch's indices
    shuffled in one op, each batch gathered from the whole arrays), or per
    example (`slices`: `from_tensor_slices` through a 20,000-example shuffle
    buffer, then batched: on the demo's faces its fits took 5.45-5.53 s in three
    runs where `gather`'s took 3.27, 3.35 and 5.48 s; results/floors_2026-12-02.json)."""
    import tensorflow as tf
    if feed == "slices":
        return tf.data.Dataset.from_tensor_slices((features, labels)).shuffle(
            20_000, seed=seed).batch(batch_size, drop_remainder=True).repeat().prefetch(2)
    data = tf.nest.map_structure(tf.constant, (features, labels))
    count = len(labels)
    full = count // batch_size * batch_size

    def epoch(_):
        order = tf.random.shuffle(tf.range(count, dtype=tf.int64), seed=seed)[:full]
        return tf.data.Dataset.from_tensor_slices(tf.reshape(order, [-1, batch_size]))

    return (tf.data.Dataset.range(1).repeat().flat_map(epoch)
            .map(lambda index: tf.nest.map_structure(
                lambda array: tf.gather(array, index), data),
                num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(2))


def fit_floor(config, mode: str = "tfco", feed: str = "gather", repeats: int = 2) -> dict:
    """{fit_seconds, steps, ...} of a plain `fit` of the model `config`'s Trainer
    (in `mode`) trains, on the run's train split in memory, batches fed as
    `in_memory_batches(feed)`: the fastest of `repeats` fits, each of a model
    built afresh under the same seed. One fit's time moved by up to 1.6x between
    runs of the same code on the same data (3.3 or 5.5 s for the demo's 1,256
    steps, 31 or 42 s for CelebA's 12,717) while the Trainer's did not."""
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx.utils import io_utils
    from fairgate.config import TrainerSettings
    from trainer_module import run_fn

    settings = TrainerSettings.for_run(config, mode)
    files, schema_path = run_outputs(config)
    schema = io_utils.parse_pbtxt_file(schema_path, schema_pb2.Schema())
    inputs = run_fn._Inputs(settings, schema)
    start = time.perf_counter()
    features, labels, _ = run_fn._load_split(_factory, files, schema, inputs, 1024)
    read_s = time.perf_counter() - start
    image = settings.input == "image"
    steps = run_fn.train_steps(types.SimpleNamespace(
        train_steps=config.trainer.train_steps, train_files=files), settings)
    train = {"image": features} if image else \
        run_fn.train_arrays(features, inputs.kinds, settings.seed)
    fits = []
    for _ in range(repeats):
        tf.keras.backend.clear_session()
        tf.keras.utils.set_random_seed(settings.seed)
        start = time.perf_counter()
        model = run_fn._build_model(settings, inputs, train)
        model.compile(tf.keras.optimizers.Adam(run_fn.learning_rate(settings, steps)),
                      loss=tf.keras.losses.Hinge())
        build_s = time.perf_counter() - start
        batches = in_memory_batches(features, labels.reshape(-1, 1),
                                    settings.batch_size, settings.seed, feed)
        start = time.perf_counter()
        history = model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0)
        fits.append({"fit_seconds": round(time.perf_counter() - start, 2),
                     "build_seconds": round(build_s, 2),
                     "final_loss": round(float(history.history["loss"][-1]), 4)})
    fastest = min(fits, key=lambda fit: fit["fit_seconds"])
    return {"fit_seconds": fastest["fit_seconds"],
            "fit_seconds_by_repeat": [fit["fit_seconds"] for fit in fits],
            "steps": steps, "batch_size": settings.batch_size,
            "train_examples": int(len(labels)), "model": model.name,
            "parameters": int(model.count_params()), "feed": feed,
            "final_loss": fastest["final_loss"], "read_seconds": round(read_s, 2),
            "build_seconds": fastest["build_seconds"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="the run's config file")
    parser.add_argument("--mode", default="tfco",
                        help="the Trainer whose model and steps to use (tfco: the "
                             "constrained Trainer's; they are the same for "
                             "BaselineTrainer)")
    parser.add_argument("--feed", default="gather", choices=FEEDS,
                        help="how the in-memory batches reach fit (in_memory_batches)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="fits of a fresh model; the fastest counts")
    args = parser.parse_args(argv)
    from fairgate import config as config_lib
    config = config_lib.load(args.config)
    print(json.dumps({"benchmark": "train_floor",
                      **fit_floor(config, args.mode, args.feed, args.repeats)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
