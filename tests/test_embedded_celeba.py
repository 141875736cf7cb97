"""The embedded default: celeb_a's layout and splits, deterministic, with the bias."""
import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.datasets.celeb_a import celeb_a_dataset_builder as real_celeb_a

from fairgate.data import embedded_celeba
from fairgate.data.embedded_celeba import faces


def test_split_sizes_follow_celeba():
    assert embedded_celeba.split_sizes(202_599) == {
        "train": 162_770, "validation": 19_867, "test": 19_962}
    sizes = embedded_celeba.split_sizes(20_000)
    assert sum(sizes.values()) == 20_000
    assert sizes["train"] == 16_068 and abs(sizes["validation"] - sizes["test"]) < 20
    with pytest.raises(ValueError, match="num_examples"):
        embedded_celeba.split_sizes(202_600)


def test_feature_layout_is_celeb_a(tiny_tfds_dir):
    builder = embedded_celeba.prepare(tiny_tfds_dir, num_examples=300, seed=3)
    features = builder.info.features
    assert features["image"].shape == (218, 178, 3)
    assert features["image"].encoding_format == "jpeg"
    assert list(features["attributes"].keys()) == list(real_celeb_a.ATTR_HEADINGS)
    assert list(features["landmarks"].keys()) == list(real_celeb_a.LANDMARK_HEADINGS)
    assert set(builder.info.splits.keys()) == {"train", "validation", "test"}
    assert builder.info.splits["train"].num_examples == 241
    example = next(iter(tfds.as_numpy(builder.as_dataset(split="test").take(1))))
    assert example["image"].dtype == np.uint8 and example["image"].shape == (218, 178, 3)
    assert example["attributes"]["Smiling"] in (True, False)


def test_prepare_reuses_the_generated_dataset(tiny_tfds_dir, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("regenerated a dataset that was already prepared")
    monkeypatch.setattr(embedded_celeba.EmbeddedCelebA, "download_and_prepare", fail)
    embedded_celeba.prepare(tiny_tfds_dir, num_examples=300, seed=3)


def test_generation_is_deterministic_and_independent_of_chunking():
    whole = faces.render_examples(seed=5, split_seed=0, start=0, stop=6)
    parts = (faces.render_examples(seed=5, split_seed=0, start=0, stop=2)
             + faces.render_examples(seed=5, split_seed=0, start=2, stop=6))
    assert [e["image"] for _, e in whole] == [e["image"] for _, e in parts]
    other_seed = faces.render_examples(seed=6, split_seed=0, start=0, stop=6)
    assert [e["image"] for _, e in whole] != [e["image"] for _, e in other_seed]


def _faces_as_model_inputs(seed, split_seed, count):
    from fairgate.data.images import to_stored_pixels
    drawn = [faces.draw_face(np.random.default_rng([seed, split_seed, i]))
             for i in range(count)]
    # The stored uint8 pixels, scaled to [0, 1] as the model's first layer does.
    pixels = to_stored_pixels(np.stack([f.image for f in drawn])).numpy() / 255.0
    label = np.array([f.attributes["Smiling"] for f in drawn])
    group = np.array([f.attributes["Young"] for f in drawn])
    return pixels.reshape(count, -1), label, group


def test_unconstrained_model_has_twice_the_fpr_on_not_young():
    """The injected bias: a plain classifier's FPR on Young=0 is >= 2x that on Young=1.

    2,500 training and 1,500 held-out faces give ~190 not-young and ~600 young
    negatives; the expected FPRs are ~0.2 vs ~0.05 (ratio ~4), far from 2 at this size.
    """
    from sklearn.linear_model import LogisticRegression
    x_train, y_train, _ = _faces_as_model_inputs(11, 0, 2500)
    x_test, y_test, g_test = _faces_as_model_inputs(11, 1, 1500)
    predicted = LogisticRegression(C=0.1, max_iter=300).fit(x_train, y_train).predict(x_test)
    assert (predicted == y_test).mean() > 0.8  # the smile signal is learnable
    fpr = {g: predicted[(y_test == 0) & (g_test == g)].mean() for g in (0, 1)}
    assert fpr[0] >= 2 * fpr[1], fpr


def test_young_is_learnable_from_pixels():
    from sklearn.linear_model import LogisticRegression
    x_train, _, g_train = _faces_as_model_inputs(12, 0, 1500)
    x_test, _, g_test = _faces_as_model_inputs(12, 1, 800)
    predicted = LogisticRegression(C=0.1, max_iter=300).fit(x_train, g_train).predict(x_test)
    assert (predicted == g_test).mean() > 0.8


def test_generation_reports_progress_per_split(tmp_path, caplog):
    import logging
    caplog.set_level(logging.INFO)
    builder = embedded_celeba.EmbeddedCelebA(config=embedded_celeba.config_for(30, 9),
                                             data_dir=str(tmp_path))
    assert len(list(builder._generate_examples("test", 12))) == 12
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Progress: ")]
    assert lines[-1].startswith(
        "Progress: Generating embedded faces: split test: 100% (12/12 faces)"), lines
