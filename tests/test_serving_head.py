"""The exported SavedModel applies calibration and the group thresholds itself:
real serialized tf.Examples through `serving_default`, decisions compared with
the raw logits of the same model."""
import os

import numpy as np
import tensorflow as tf

from trainer_module import calibration, export, group_thresholds, models, tabular_inputs
from trainer_module.serving_head import ServingHead


def _rows(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(0, 2, n).astype(np.float32),
            "region": rng.choice(np.array(["north", "south", "east"]), n)}


def _serialized(rows):
    out = []
    for x, region in zip(rows["x"], rows["region"]):
        out.append(tf.train.Example(features=tf.train.Features(feature={
            "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x])),
            "region": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[region.encode()]))})).SerializeToString())
    return tf.constant(out)


def _export(tmp_path, head):
    kinds = {"x": "numeric"}
    rows = _rows()
    tf.keras.utils.set_random_seed(0)  # the same weights on every call
    model = models.tabular_classifier(kinds, {"x": rows["x"]})
    spec = {"x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
    path = os.path.join(str(tmp_path), "model")
    export.save(model, path, spec, lambda parsed: tabular_inputs.encode(parsed, kinds),
                head=head)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    # The decisions are checked against the logits the served graph computes: the
    # eager model agrees with them only to float rounding (its kernels may sum in
    # another order), and a threshold placed exactly on a logit needs exact values.
    raw = serve(examples=_serialized(rows))["logits"].numpy().reshape(-1)
    eager = model({"x": rows["x"].reshape(-1, 1)}).numpy().reshape(-1)
    np.testing.assert_allclose(raw, eager, rtol=1e-5, atol=1e-6)
    return serve, rows, raw


def test_group_thresholds_are_inside_the_exported_model(tmp_path, capfd):
    # "east" has no threshold: the default 0.0 (as a group absent from eval)
    thresholds = {"north": -0.3, "south": 0.25}
    head = ServingHead(scale=2.5, thresholds=thresholds, group_key="region",
                       group_dtype=tf.string)
    serve, rows, raw = _export(tmp_path, head)
    # one threshold sitting exactly on an example's logit: not positive
    thresholds["north"] = head.thresholds["north"] = float(raw[rows["region"] == "north"][0])
    serve, rows, raw = _export(tmp_path, head)
    assert (raw == thresholds["north"]).any()
    capfd.readouterr()
    out = serve(examples=_serialized(rows))
    warning = capfd.readouterr().err
    assert "without a threshold (not in the eval split the thresholds were chosen " \
           "on)" in warning and "east" in warning, warning
    served = out["probabilities"].numpy().reshape(-1) > 0.5
    expected = group_thresholds.decide(thresholds, raw, rows["region"])
    np.testing.assert_array_equal(served, expected)
    np.testing.assert_array_equal(out["logits"].numpy().reshape(-1), raw)
    assert expected[rows["region"] == "north"].mean() != \
        (raw[rows["region"] == "north"] > 0).mean()  # the thresholds did something
    margin = raw - group_thresholds.per_example(thresholds, rows["region"])
    np.testing.assert_allclose(out["probabilities"].numpy().reshape(-1),
                               1 / (1 + np.exp(-2.5 * margin)), atol=1e-6)


def test_calibration_keeps_every_decision_and_lowers_log_loss(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 3000)
    true_logits = 1.5 * (2 * labels - 1) + rng.normal(0, 1.5, 3000)
    overconfident = 6.0 * true_logits  # a hinge-trained model's scale is arbitrary
    scale = calibration.fit_scale(overconfident, labels)
    assert 0.1 < scale < 0.3  # near 1/6 times the data's own best scale
    assert calibration.log_loss(overconfident, labels, scale) < \
        calibration.log_loss(overconfident, labels, 1.0) - 0.1
    record = calibration.record(overconfident, labels, scale)
    assert record["ece_after"] < record["ece_before"]

    serve, rows, raw = _export(tmp_path, ServingHead(scale=1e-3))
    # 1e-3 puts many probabilities within float32 rounding of 0.5
    probabilities = serve(examples=_serialized(rows))["probabilities"].numpy().reshape(-1)
    np.testing.assert_array_equal(probabilities > 0.5, raw > 0)


def test_the_nudge_keeps_decisions_when_the_margin_is_one_float_step(tmp_path):
    # scale 1e-3 and a margin of one float32 step: sigmoid rounds to exactly 0.5,
    # so only the nudge keeps "logit > threshold" as "probability > 0.5"
    head = ServingHead(scale=1e-3, thresholds={"north": 0.0, "south": 0.0},
                       group_key="region", group_dtype=tf.string)
    _, rows, raw = _export(tmp_path, head)
    north = int(np.flatnonzero(rows["region"] == "north")[0])
    south = int(np.flatnonzero(rows["region"] == "south")[0])
    just_below = np.nextafter(np.float32(raw[north]), np.float32(-np.inf))
    head.thresholds = {"north": float(just_below), "south": float(raw[south])}
    assert np.float32(1e-3) * (np.float32(raw[north]) - just_below) != 0
    assert np.float32(1 / (1 + np.exp(-1e-3 * float(raw[north] - just_below)))) == 0.5
    serve, rows, raw = _export(tmp_path, head)
    p = serve(examples=_serialized(rows))["probabilities"].numpy().reshape(-1)
    assert p[north] > 0.5  # logit one step above its threshold: positive
    assert p[south] <= 0.5  # threshold exactly at the logit: negative
    np.testing.assert_array_equal(
        p > 0.5, group_thresholds.decide(head.thresholds, raw, rows["region"]))


def test_degenerate_calibration_fits_are_finite_or_flagged():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 2000)
    separable = (2 * labels - 1) * rng.uniform(0.5, 4.0, 2000)
    scale = calibration.fit_scale(separable, labels)
    assert 1.0 < scale < 100.0  # finite (Platt's targets), far below the 1e3 bound
    record = calibration.record(separable, labels, scale)
    assert not record["at_bound"] and not record["one_class"] and record["warning"] is None
    assert np.array_equal(scale * separable > 0, separable > 0)
    # anti-separable: no positive scale helps; the fit ends on the lower bound
    scale = calibration.fit_scale(-separable, labels)
    record = calibration.record(-separable, labels, scale)
    assert record["at_bound"] and "separable" in record["warning"]
    # one class on eval: nothing to fit, recorded as such
    ones = np.ones(50, int)
    scale = calibration.fit_scale(separable[:50], ones)
    assert scale == 1.0
    record = calibration.record(separable[:50], ones, scale)
    assert record["one_class"] and "one class" in record["warning"]


def test_image_bytes_signature_takes_the_group_as_a_second_input(tmp_path):
    from fairgate.data.images import decode_stored, to_stored_pixels
    size, count = 8, 24
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    young = rng.integers(0, 3, count)  # 2: a group without a threshold
    tf.keras.utils.set_random_seed(1)
    model = models.image_classifier("mlp", size)
    head = ServingHead(scale=0.7, thresholds={0: -0.05, 1: 0.05}, group_key="Young",
                       group_dtype=tf.int64)
    flat = size * size * 3
    path = os.path.join(str(tmp_path), "image_model")
    export.save(model, path, {"image": tf.io.FixedLenFeature([], tf.string)},
                lambda parsed: decode_stored(parsed["image"], size), image_size=size,
                head=head)
    loaded = tf.saved_model.load(path)
    pngs = [tf.io.encode_png(image).numpy() for image in images]
    by_bytes = loaded.signatures["serving_image_bytes"](
        image_bytes=tf.constant(pngs), group=tf.constant(young, tf.int64))
    pixels = to_stored_pixels(images, size).numpy().reshape(count, flat)
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[row.tobytes()])),
        "Young": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(g)]))})
    ).SerializeToString() for row, g in zip(pixels, young)]
    by_example = loaded.signatures["serving_default"](examples=tf.constant(examples))
    np.testing.assert_allclose(by_bytes["probabilities"].numpy(),
                               by_example["probabilities"].numpy(), atol=1e-5)
    raw = model(pixels).numpy().reshape(-1)
    np.testing.assert_array_equal(
        by_example["probabilities"].numpy().reshape(-1) > 0.5,
        group_thresholds.decide(head.thresholds, raw, young))
