"""The built-in tabular model's vocabularies and scales, computed in numpy, are
what Keras `adapt` learns: same vocabulary in the same order (ties included),
same population mean and variance, same model outputs on empty cells, missing
values and unseen categories."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from trainer_module import models, tabular_preprocessing

# Ties at three counts (three tokens seen 5 times, two seen twice), "" (an empty
# cell) among them, a non-ASCII token (byte order), and the OOV token itself.
CATEGORIES = (["b"] * 5 + ["é"] * 5 + ["a"] * 5 + ["zeta"] * 7 + [""] * 2 + ["c"] * 2
              + ["[UNK]"] * 3 + ["Z"])


def _rows(seed=0):
    rng = np.random.default_rng(seed)
    job = rng.permutation(np.array(CATEGORIES)).reshape(-1, 1)
    n = len(job)
    hours = np.round(rng.normal(40, 8, n), 1).astype(np.float32)
    hours[rng.choice(n, 4, replace=False)] = np.nan  # empty numeric cells
    return {"job": job, "hours": hours.reshape(-1, 1),
            "score": rng.normal(3, 2, n).astype(np.float32).reshape(-1, 1)}


def _adapted_lookup(values, name):
    layer = keras.layers.StringLookup(output_mode="one_hot", num_oov_indices=1, name=name)
    layer.adapt(values)
    return layer


def _adapted_scale(values, name):
    layer = keras.layers.Normalization(name=name)
    layer.adapt(values)
    return layer


def test_vocabulary_is_adapts_in_order_ties_included():
    values = _rows()["job"]
    adapted = _adapted_lookup(values, "a").get_vocabulary(include_special_tokens=False)
    assert tabular_preprocessing.vocabulary(values) == adapted
    # The ties are really there and ordered by the token, descending (bytes).
    assert adapted[:4] == ["zeta", "é", "b", "a"] and adapted[4:] == ["c", "", "Z"]
    as_bytes = np.char.encode(values, "utf-8").astype(object)  # tf's numpy form
    assert tabular_preprocessing.vocabulary(as_bytes) == adapted
    built = tabular_preprocessing.string_lookup(values, "b")
    assert built.get_vocabulary() == _adapted_lookup(values, "c").get_vocabulary()


@pytest.mark.parametrize("rows", [30, 1001])  # within adapt's first batch; 31 + a part
def test_mean_and_variance_are_adapts_bit_for_bit(rows):
    values = np.random.default_rng(rows).lognormal(3, 1.5, (rows, 1)).astype(np.float32)
    adapted = _adapted_scale(values, "a")
    mean, variance, count = tabular_preprocessing.mean_and_variance(values)
    # Exact: a sample variance (30/29 larger) or float64 statistics (~1e-6 off) fail.
    assert (mean, variance, count) == (adapted.adapt_mean.numpy()[0],
                                       adapted.adapt_variance.numpy()[0],
                                       int(adapted.count.numpy()))
    built = tabular_preprocessing.normalization(values, "b")
    for ours, theirs in zip(built.get_weights(), adapted.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_column_of_only_the_oov_token_is_a_clear_error():
    values = np.array([["[UNK]"]] * 3)
    with pytest.raises(tf.errors.InvalidArgumentError):  # adapt's own failure
        _adapted_lookup(values, "v")
    with pytest.raises(ValueError, match="job_vocab: no train value other than"):
        tabular_preprocessing.string_lookup(values, "job_vocab")


def _model(train, monkeypatch=None):
    kinds = {"job": "categorical", "hours": "numeric", "score": "numeric"}
    if monkeypatch is not None:  # the model as it was built with adapt
        monkeypatch.setattr(tabular_preprocessing, "string_lookup", _adapted_lookup)
        monkeypatch.setattr(tabular_preprocessing, "normalization", _adapted_scale)
    return models.tabular_classifier(kinds, train, hidden_units=4)


def test_the_model_is_the_one_adapt_built(monkeypatch):
    train = _rows()
    ours = _model(train)
    with monkeypatch.context() as patch:
        adapted = _model(train, patch)
    assert ours.count_params() == adapted.count_params()
    # Variables alike; an adapted StringLookup also lists its vocabulary as a
    # shapeless weight handler, which a vocabulary given up front does not need.
    assert [w.shape for w in ours.weights] == \
        [w.shape for w in adapted.weights if hasattr(w, "shape")]
    # The same random Dense weights in both, so only preprocessing can differ.
    dense = [layer for layer in adapted.layers if isinstance(layer, keras.layers.Dense)]
    for mine, theirs in zip([layer for layer in ours.layers
                             if isinstance(layer, keras.layers.Dense)], dense):
        theirs.set_weights(mine.get_weights())
    queries = {  # seen, "", unseen, OOV token; a value, NaN (empty cell), extremes
        "job": tf.constant([["b"], [""], ["never-seen"], ["[UNK]"], ["é"], ["Z"]]),
        "hours": tf.constant([[40.0], [np.nan], [12.0], [np.nan], [80.0], [39.5]]),
        "score": tf.constant([[3.0], [-9.0], [0.0], [100.0], [np.nan], [2.5]]),
    }
    expected = adapted(queries).numpy()
    assert np.isfinite(expected).all()
    np.testing.assert_array_equal(ours(queries).numpy(), expected)


def test_no_values_is_a_clear_error():
    with pytest.raises(ValueError, match="no train values"):
        tabular_preprocessing.mean_and_variance(np.zeros((0, 1), np.float32))


def test_train_arrays_decode_categorical_bytes_as_before():
    from trainer_module import run_fn
    job = _rows()["job"]
    features = {"job": np.char.encode(job, "utf-8").astype(object),  # tf's numpy form
                "hours": _rows()["hours"]}
    train = run_fn.train_arrays(features, {"job": "categorical", "hours": "numeric"}, 0)
    expected = np.char.decode(features["job"].astype(bytes), "utf-8")
    assert train["job"].dtype == expected.dtype and train["job"].shape == job.shape
    np.testing.assert_array_equal(train["job"], job)


def test_a_team_module_may_still_adapt_its_own_layers():
    def build_model(inputs, train, hparams):  # README "Your own model", with adapt
        lookup = keras.layers.StringLookup(output_mode="one_hot", name="team_vocab")
        lookup.adapt(train["job"])
        scale = keras.layers.Normalization()
        scale.adapt(train["score"])
        x = keras.layers.Concatenate()([lookup(inputs["job"]), scale(inputs["score"])])
        return keras.Model({n: inputs[n] for n in ("job", "score")},
                           keras.layers.Dense(1)(x))
    kinds = {"job": "categorical", "hours": "numeric", "score": "numeric"}
    model = models.build(build_model, models.raw_inputs(kinds), _rows(), {}, "team")
    logits = model({"job": tf.constant([["b"], ["never-seen"]]),
                    "hours": tf.constant([[1.0], [2.0]]),
                    "score": tf.constant([[3.0], [4.0]])}).numpy()
    assert logits.shape == (2, 1) and np.isfinite(logits).all()
    assert model.get_layer("team_vocab").get_vocabulary() == \
        ["[UNK]"] + tabular_preprocessing.vocabulary(_rows()["job"])
