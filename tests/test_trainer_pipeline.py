"""The Trainer in a real pipeline: TFCO vs baseline on the embedded default,
iterate selection on eval only, and a SavedModel that serves raw images."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from fairgate.data.embedded_celeba import faces
from fairgate.data.images import image_bytes, to_stored_pixels
from tests import pipeline_helpers as helpers

BOUND = 0.05
# Held-out faces: 3,000 with 336 Young=0 negatives, so a measured FPR has a standard
# error of ~0.008 near 0.02 (~0.023 near the baseline's 0.25). Snapshots are chosen
# on the 588-face eval split (69-83 Young=0 negatives). Measured at this fixture's
# size over 3 dataset/trainer seeds (benchmarks/README.md, "The two quality tests'
# sizes"): constrained FPR 0.009-0.027, 8 or more standard errors under BOUND +
# TOLERANCE (seed to seed: 0.010) and under the baseline's 0.205-0.268. With 3,000
# to 5,000 faces the smaller eval split let the choice fall on early snapshots
# that missed the accuracy floor (0.50-0.71), so the size stays.
TOLERANCE = 0.05
HELD_OUT = 3000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("trainer")
    config = helpers.make_config(
        tmp_path, source="embedded_celeba", data_dir=str(tmp_path / "tfds"),
        num_examples=6000, seed=4)
    config.trainer.train_steps = 1000
    config.trainer.snapshot_every = 100
    helpers.run(config)
    outputs = helpers.outputs(config)
    trained = {name: outputs[name]["model"] for name in ("Trainer", "BaselineTrainer")}
    trained["outputs"] = outputs
    trained["config"] = config
    return trained


@pytest.fixture(scope="module")
def held_out():
    drawn = [faces.draw_face(np.random.default_rng([99, 5, i])) for i in range(HELD_OUT)]
    images = np.stack([f.image for f in drawn])
    pixels = to_stored_pixels(images).numpy().reshape(HELD_OUT, -1)
    labels = np.array([f.attributes["Smiling"] for f in drawn], dtype=int)
    groups = np.array([f.attributes["Young"] for f in drawn], dtype=int)
    return images, pixels, labels, groups


def _serialized(pixels):
    """uint8 pixels [n, size*size*3] -> tf.Examples as the ExampleGen stores them."""
    assert pixels.dtype == np.uint8
    return [tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row.tobytes()]))})
    ).SerializeToString() for row in pixels]


def _serve(model_uri, pixels):
    model = tf.saved_model.load(os.path.join(model_uri, "Format-Serving"))
    out = model.signatures["serving_default"](examples=tf.constant(_serialized(pixels)))
    return out["probabilities"].numpy().reshape(-1)


def _fpr(positive, labels, groups, group):
    negatives = (labels == 0) & (groups == group)
    return positive[negatives].mean()


def test_constrained_model_meets_its_bound_where_the_baseline_does_not(trained, held_out):
    _, pixels, labels, groups = held_out
    constrained = _serve(trained["Trainer"], pixels) > 0.5
    baseline = _serve(trained["BaselineTrainer"], pixels) > 0.5
    fpr_constrained = _fpr(constrained, labels, groups, 0)
    fpr_baseline = _fpr(baseline, labels, groups, 0)
    assert fpr_constrained < fpr_baseline
    assert fpr_constrained <= BOUND + TOLERANCE, fpr_constrained
    assert (constrained == labels).mean() > 0.75  # still a smile classifier


def test_selection_reads_eval_never_test(trained):
    for uri in (trained["Trainer"], trained["BaselineTrainer"]):
        record = json.load(open(os.path.join(uri, "candidates.json")))
        assert record["measured_on"]
        assert all("Split-eval" in p for p in record["measured_on"])
        assert not any("Split-test" in p or "Split-train" in p for p in record["measured_on"])
        assert 0 <= record["chosen_index"] < len(record["candidates"]) == 10
    constrained = json.load(open(os.path.join(trained["Trainer"], "candidates.json")))
    assert constrained["mode"] == "tfco"
    assert constrained["constraints"] == ["false_positive_rate(group=0) <= 0.05"]


def test_image_bytes_signature_agrees_with_examples(trained, held_out):
    images = held_out[0][:16]
    model = tf.saved_model.load(os.path.join(trained["Trainer"], "Format-Serving"))
    jpegs = [faces.jpeg_bytes(image) for image in images]
    pngs = [tf.io.encode_png(image).numpy() for image in images]
    by_bytes = model.signatures["serving_image_bytes"](
        image_bytes=tf.constant(jpegs))["probabilities"].numpy()
    by_png = model.signatures["serving_image_bytes"](
        image_bytes=tf.constant(pngs))["probabilities"].numpy()
    decoded = np.stack([tf.io.decode_jpeg(j, channels=3).numpy() for j in jpegs])
    pixels = to_stored_pixels(decoded).numpy().reshape(len(jpegs), -1)
    assert pixels.shape[1] == image_bytes(28)
    by_example = model.signatures["serving_default"](
        examples=tf.constant(_serialized(pixels)))["probabilities"].numpy()
    # Quantised once, in fairgate.data.images: the same pixels reach the model.
    np.testing.assert_allclose(by_bytes, by_example, atol=1e-6, rtol=0)
    # PNG is lossless, JPEG is not: they agree to JPEG noise, not exactly.
    np.testing.assert_allclose(by_png, by_bytes, atol=0.1)


def test_tensorboard_logs_are_written(trained):
    model_run = trained["Trainer"].replace(f"{os.sep}model{os.sep}",
                                           f"{os.sep}model_run{os.sep}")
    events = glob.glob(os.path.join(model_run, "tensorboard", "events.out.tfevents.*"))
    assert events, f"no TensorBoard event files in {model_run}"
    settings = json.load(open(os.path.join(model_run, "settings.json")))
    assert settings["mode"] == "tfco"


def _count(examples_uri, split):
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def test_evaluators_measure_the_test_split_and_the_report_compares_models(trained):
    from tensorflow_model_analysis.writers import eval_config_writer
    from fairgate.report import collect
    outputs = trained["outputs"]
    examples = outputs["CelebAExampleGen"]["examples"]
    test_size, eval_size = _count(examples, "test"), _count(examples, "eval")
    assert test_size != eval_size
    for evaluator, model in (("Evaluator", "Trainer"),
                             ("UnconstrainedEvaluator", "BaselineTrainer")):
        evaluation = collect.Evaluation(outputs[evaluator]["evaluation"])
        assert evaluation.value(collect.OVERALL, "example_count", "") == test_size
        models = eval_config_writer.load_eval_run(outputs[evaluator]["evaluation"])[3]
        assert all(path.startswith(trained[model]) for path in models.values())
    report = helpers.report(trained["config"])
    rates = report["models"]
    assert set(rates) == {"candidate", "unconstrained"}  # no blessed model before
    fpr = {label: rates[label]["rates"]["Young=0"]["0.50"]["false_positive_rate"]
           for label in rates}
    assert fpr["candidate"] < fpr["unconstrained"]  # as on the held-out faces
    assert report["training"]["mode"] == "tfco"
    # Conditional equality (given Male) is measured and gated like the others.
    # Under the shipped confidence policy its upper 95% bound is what is compared.
    conditional = next(c for c in report["checks"]
                       if c["name"] == "conditional_false_positive_rate_gap/Male/upper95")
    assert conditional["value"] is not None and conditional["bound"] == {"upper": 0.15}
    assert conditional["policy"] == "confidence"
    assert conditional["interval"][0] <= conditional["point"] <= conditional["value"]
