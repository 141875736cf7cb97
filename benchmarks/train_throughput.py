"""Training throughput: the compiled TFCO loop vs `model.fit` of the same model.

Same model (the tutorial MLP on 28x28x3), same data (embedded-default faces),
same batch size, measured in one run. Also the tutorial-style eager TFCO loop and
the XLA-compiled TFCO step. Prints one JSON document.

    .venv/bin/python benchmarks/train_throughput.py [--steps 500] [--batch-size 128]
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from fairgate.data.embedded_celeba import faces  # noqa: E402
from fairgate.data.images import to_stored_pixels  # noqa: E402
from trainer_module import constraints, models, training  # noqa: E402

SPEC = {"constraints": [{"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


def _data(count):
    drawn = [faces.draw_face(np.random.default_rng([1, 0, i])) for i in range(count)]
    pixels = to_stored_pixels(np.stack([f.image for f in drawn])).numpy().reshape(count, -1)
    labels = np.array([f.attributes["Smiling"] for f in drawn], np.float32)
    groups = np.array([f.attributes["Young"] for f in drawn], np.int64)
    return pixels, labels, groups


def _batches(data, batch_size):
    return tf.data.Dataset.from_tensor_slices(data).shuffle(4096, seed=0).batch(
        batch_size, drop_remainder=True).repeat().prefetch(2)


def _constrained(jit_compile=False, eager=False):
    model = models.image_classifier("mlp")
    step, _ = training.constrained_step(
        model, constraints.parse(SPEC, [0, 1]), tf.keras.optimizers.Adam(0.001),
        tf.keras.optimizers.Adam(0.05), group_head_weight=0.0, jit_compile=jit_compile)
    return step.python_function if eager else step


def _time_steps(step, batches, steps, warmup=20):
    iterator = iter(batches)
    for _ in range(warmup):
        step(*next(iterator))
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(*next(iterator))
    float(loss)
    return time.perf_counter() - start


def _time_fit(data, batch_size, steps):
    model = models.image_classifier("mlp")
    model.compile(tf.keras.optimizers.Adam(0.001), loss=tf.keras.losses.Hinge())
    fit_data = tf.data.Dataset.from_tensor_slices((data[0], data[1])).shuffle(
        4096, seed=0).batch(batch_size, drop_remainder=True).repeat().prefetch(2)
    model.fit(fit_data, steps_per_epoch=20, epochs=1, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(fit_data, steps_per_epoch=steps, epochs=1, verbose=0)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eager-steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--examples", type=int, default=4096)
    args = parser.parse_args()
    data = _data(args.examples)
    batches = _batches(data, args.batch_size)
    b, n = args.batch_size, args.steps
    fit_s = _time_fit(data, b, n)
    tfco_s = _time_steps(_constrained(), batches, n)
    jit_s = _time_steps(_constrained(jit_compile=True), batches, n)
    eager_s = _time_steps(_constrained(eager=True), batches, args.eager_steps, warmup=3)
    rate = lambda seconds, steps: round(b * steps / seconds, 1)  # noqa: E731
    print(json.dumps({
        "benchmark": "train_throughput",
        "cores": os.cpu_count(),
        "batch_size": b,
        "steps": n,
        "examples_per_s": {
            "model_fit_unconstrained": rate(fit_s, n),
            "tfco_compiled": rate(tfco_s, n),
            "tfco_compiled_jit": rate(jit_s, n),
            "tfco_eager_tutorial_style": rate(eager_s, args.eager_steps),
        },
        "ratio_tfco_compiled_to_fit": round(fit_s / tfco_s, 3),
        "ratio_tfco_jit_to_fit": round(fit_s / jit_s, 3),
        "ratio_tfco_compiled_to_eager": round((eager_s / args.eager_steps) / (tfco_s / n), 1),
        "target_ratio": 0.9,
    }, indent=2))


if __name__ == "__main__":
    main()
