"""TFCO training recipes against the group-threshold frontier, in memory, as JSON.

Where `constraint_frontier.py` runs the whole pipeline once, this loads one
embedded dataset's splits into memory (decoded and resized as the ExampleGen
stores them, cached as .npz) and trains with the Trainer's own pieces (models,
the compiled TFCO step, snapshots on eval, the selection, group thresholds) so
that recipes and seeds can be compared at CelebA's size in a minute each:

  baseline        the unconstrained model (hinge), then the frontier: its
                  scores with group thresholds chosen on eval (as mode
                  group_thresholds and constraint_frontier.py)
  tfco            TFCO from scratch
  tfco_warm       TFCO starting from the baseline's weights (--warm-epochs)
  tfco_residual   the baseline frozen, plus a trained residual (16 units)

  .venv/bin/python benchmarks/trainer_recipes.py --num-examples 202599 \\
      --data-dir DIR --recipes baseline,tfco --seed 1 [--schedule constant] \\
      [--baseline-schedule cosine] [--group-head-weight 0]

The defaults are the Trainers' (auto: cosine for TFCO, constant for the
unconstrained model; group head weight 1).

Prints one JSON document: each recipe's test accuracy and per-group FPR/FNR,
and its gap to the frontier (points of accuracy).
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from trainer_module import (constraints, group_thresholds, models,  # noqa: E402
                            selection, training)
from trainer_module.run_fn import COSINE_FLOOR  # noqa: E402

SPEC = {"constraints": [{"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}
SPLITS = ("train", "validation", "test")


def load(num_examples: int, data_dir: str):
    """{split: (uint8 pixels, labels, groups)}, cached beside the dataset."""
    path = os.path.join(data_dir, f"trainer_recipes_n{num_examples}.npz")
    if os.path.exists(path):
        d = np.load(path)
        return {s: (d[f"{s}_x"], d[f"{s}_y"], d[f"{s}_g"]) for s in SPLITS}
    from fairgate.data import embedded_celeba
    from fairgate.data.images import to_stored_pixels
    builder = embedded_celeba.prepare(data_dir, num_examples, 0)
    out, arrays = {}, {}
    for s in SPLITS:
        xs, ys, gs = [], [], []
        for batch in builder.as_dataset(split=s).batch(1024).prefetch(2):
            xs.append(to_stored_pixels(batch["image"]).numpy().reshape(
                len(batch["image"]), -1))
            ys.append(batch["attributes"]["Smiling"].numpy().astype(np.float32))
            gs.append(batch["attributes"]["Young"].numpy().astype(np.int64))
        out[s] = (np.concatenate(xs), np.concatenate(ys), np.concatenate(gs))
        arrays.update({f"{s}_x": out[s][0], f"{s}_y": out[s][1], f"{s}_g": out[s][2]})
    np.savez(path, **arrays)
    return out


def summarise(decisions, labels, groups) -> dict:
    from fairgate.metrics import rates
    result = {"accuracy": round(rates.value(
        rates.confusion_counts(decisions, labels), rates.ACCURACY), 4)}
    for group in (0, 1):
        counts = rates.confusion_counts(decisions, labels, groups == group)
        result[f"fpr_{group}"] = round(rates.value(counts, rates.FALSE_POSITIVE_RATE), 4)
        result[f"fnr_{group}"] = round(rates.value(counts, rates.FALSE_NEGATIVE_RATE), 4)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--num-examples", type=int, default=202_599)
    p.add_argument("--data-dir", required=True, help="TFDS data_dir of the dataset")
    p.add_argument("--recipes", default="baseline,tfco")
    p.add_argument("--epochs", type=float, default=10)
    p.add_argument("--warm-epochs", type=float, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=0.001)
    p.add_argument("--constraint-learning-rate", type=float, default=0.05)
    p.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                   help="the TFCO recipes' learning-rate schedule")
    p.add_argument("--baseline-schedule", choices=["cosine", "constant"],
                   default="constant", help="the unconstrained model's")
    p.add_argument("--group-head-weight", type=float, default=1.0)
    p.add_argument("--snapshot-every", type=int, default=100)
    p.add_argument("--selection-level", type=float, default=0.75)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data = load(args.num_examples, os.path.abspath(args.data_dir))
    (tx, ty, tg), (ex, ey, eg), (sx, sy, sg) = (data[s] for s in SPLITS)
    spec = constraints.parse(SPEC, [0, 1])
    level = args.selection_level or None
    results = {}
    baseline_weights = None

    def steps_for(epochs):
        return int(math.ceil(epochs * len(ty) / args.batch_size))

    for recipe in args.recipes.split(","):
        if recipe != "baseline" and baseline_weights is None and recipe in (
                "tfco_warm", "tfco_residual"):
            raise SystemExit(f"{recipe} needs 'baseline' earlier in --recipes")
        tf.keras.utils.set_random_seed(args.seed)
        start = time.time()
        model = models.image_classifier("mlp", 28)
        epochs, rate = args.epochs, args.learning_rate
        if recipe == "tfco_warm":
            model.set_weights(baseline_weights)
            epochs = args.warm_epochs
        elif recipe == "tfco_residual":
            import tf_keras as keras
            model.set_weights(baseline_weights)
            model.trainable = False
            pixels = keras.Input(shape=(28 * 28 * 3,), name="image", dtype="uint8")
            hidden = keras.layers.Dense(16, activation="relu")(
                keras.layers.Rescaling(1.0 / 255)(pixels))
            correction = keras.layers.Dense(1, kernel_initializer="zeros",
                                            name="logit")(hidden)
            model = keras.Model(pixels, keras.layers.Add()([model(pixels), correction]))
            epochs = args.warm_epochs
        num_steps = steps_for(epochs)
        if (args.schedule if recipe != "baseline" else args.baseline_schedule) == "cosine":
            rate = tf.keras.optimizers.schedules.CosineDecay(rate, num_steps,
                                                             alpha=COSINE_FLOOR)
        optimizer = tf.keras.optimizers.Adam(rate)
        constrained = recipe != "baseline"
        if constrained:
            step, _ = training.constrained_step(
                model, spec, optimizer,
                tf.keras.optimizers.Adam(args.constraint_learning_rate),
                args.group_head_weight, jit_compile=True)
        else:
            step = training.plain_step(model, optimizer, jit_compile=True)
        batches = tf.data.Dataset.from_tensor_slices((tx, ty, tg)).shuffle(
            20_000, seed=args.seed, reshuffle_each_iteration=True).repeat().batch(
            args.batch_size, drop_remainder=True).prefetch(2)
        scorer = training.SplitScorer(model, ex)
        snapshots, candidates = training.train_with_snapshots(
            model, step, batches, num_steps, args.snapshot_every,
            lambda _: constraints.measure(spec, scorer(), ey, eg, level=level),
            os.path.join(os.path.abspath(args.data_dir), "trainer_recipes_tb"), recipe)
        chosen = selection.choose(candidates, constrained=constrained)
        model.set_weights(snapshots[chosen])
        test_logits = training.SplitScorer(model, sx)()
        results[recipe] = {**summarise(test_logits > 0, sy, sg), "steps": num_steps,
                           "chosen_step": candidates[chosen].step,
                           "seconds": round(time.time() - start, 1)}
        if recipe == "baseline":
            baseline_weights = model.get_weights()
            thresholds = group_thresholds.choose(spec, scorer(), ey, eg, level=level)
            results["frontier"] = {
                **summarise(group_thresholds.decide(thresholds, test_logits, sg), sy, sg),
                "thresholds_logit": {str(k): round(float(v), 4)
                                     for k, v in thresholds.items()}}
    if "frontier" in results:
        for recipe, entry in results.items():
            if recipe not in ("baseline", "frontier"):
                entry["gap_to_frontier_points"] = round(
                    100 * (results["frontier"]["accuracy"] - entry["accuracy"]), 2)
    print(json.dumps({
        "benchmark": "trainer_recipes", "date": time.strftime("%Y-%m-%d"),
        "num_examples": args.num_examples,
        "examples": {"train": len(ty), "eval": len(ey), "test": len(sy)},
        "test_negatives": {str(g): int(((sg == g) & (sy == 0)).sum()) for g in (0, 1)},
        "settings": {k: v for k, v in vars(args).items() if k != "data_dir"},
        "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
