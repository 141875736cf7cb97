"""The built-in tabular model's preprocessing layers, without Keras `adapt`.

What `adapt` would learn from the train columns, in one vectorised pass per
column and without `adapt` itself (~1.3 s of tf.data set-up and tracing per call):

* `string_lookup`: a one-hot StringLookup with one OOV slot whose vocabulary is
  the one `StringLookup.adapt` learns (tf-keras 2.16 `index_lookup.py`
  `finalize_state`): tokens by count descending, ties broken by the token
  descending (byte order), the OOV token itself left out. Given up front, the
  vocabulary lives in the layer's config, and `get_weights` (the Trainer's
  snapshots) no longer carries it as an adapted layer's weight handler does;
* `normalization`: a Normalization whose mean and variance are the population
  mean and variance `Normalization.adapt` computes (bit for bit: its float32
  batches, vectorised, then its running update), kept in the same weights
  (mean, variance, count), so the model, its parameter count and its
  snapshots are those an adapted layer gives.

A team's own model module may still call `adapt` itself (README "Your own
model"); nothing here is part of that contract.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import tf_keras as keras

OOV_TOKEN = "[UNK]"  # StringLookup's default oov_token
ADAPT_BATCH = 32  # the batch size `adapt` gives numpy arrays (batch_size=None)


def _as_text(tokens: np.ndarray) -> List[str]:
    return [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in tokens]


def vocabulary(values) -> List[str]:
    """The vocabulary `StringLookup(num_oov_indices=1).adapt(values)` learns.
    `values`: str or UTF-8 bytes, any shape; "" is a token like any other."""
    flat = np.asarray(values).reshape(-1)
    if flat.dtype == object and flat.size:  # fixed width: numpy sorts it natively
        flat = flat.astype(bytes if isinstance(flat[0], bytes) else str)
    tokens, counts = np.unique(flat, return_counts=True)
    # adapt's own order: np.lexsort((tokens, counts))[::-1] over UTF-8 bytes;
    # code point order (str) and UTF-8 byte order agree.
    order = np.lexsort((tokens, counts))[::-1]
    return [t for t in _as_text(tokens[order]) if t != OOV_TOKEN]


def mean_and_variance(values) -> Tuple[np.float32, np.float32, int]:
    """(mean, population variance, count) of float `values` (no NaN), bit for
    bit as `Normalization.adapt` computes them: float32 moments of consecutive
    batches of ADAPT_BATCH values, folded in order by adapt's running update
    (`normalization.py` `update_state`). Exactness matters: the constrained
    Trainer's snapshot choice moved with 1e-6 changes of a scale (float64
    statistics took tests/test_trainer_tabular.py's FPR gap from 0.016 to 0.186)."""
    import tensorflow as tf
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    if not flat.size:
        raise ValueError("no train values to compute a mean and variance from")
    whole = flat.size // ADAPT_BATCH * ADAPT_BATCH
    parts = []  # (batch mean, batch variance, batch size), as adapt's batches
    if whole:
        means, variances = tf.nn.moments(tf.reshape(flat[:whole], [-1, ADAPT_BATCH, 1]),
                                         axes=[1])
        parts += zip(means.numpy().reshape(-1), variances.numpy().reshape(-1),
                     [ADAPT_BATCH] * (whole // ADAPT_BATCH))
    if whole < flat.size:
        mean, variance = tf.nn.moments(flat[whole:].reshape(-1, 1), axes=[0])
        parts.append((mean.numpy()[0], variance.numpy()[0], flat.size - whole))
    one = np.float32(1)
    mean, variance, count = np.float32(0), one, 0  # adapt's initial state
    for batch_mean, batch_variance, size in parts:
        total = count + size
        batch_weight = np.float32(size) / np.float32(total)
        existing_weight = one - batch_weight
        total_mean = mean * existing_weight + batch_mean * batch_weight
        old, new = mean - total_mean, batch_mean - total_mean  # x * x: float32 kept
        variance = (variance + old * old) * existing_weight + \
            (batch_variance + new * new) * batch_weight
        mean, count = total_mean, total
    return mean, variance, count


def string_lookup(values, name: str) -> keras.layers.StringLookup:
    """One-hot StringLookup, one OOV slot, the vocabulary of `values`."""
    tokens = vocabulary(values)
    if not tokens:  # adapt fails here too, with "keys and values cannot be empty"
        raise ValueError(f"{name}: no train value other than {OOV_TOKEN!r} (the "
                         "out-of-vocabulary token) to build a vocabulary from")
    return keras.layers.StringLookup(output_mode="one_hot", num_oov_indices=1,
                                     vocabulary=tokens, name=name)


def normalization(values, name: str) -> keras.layers.Normalization:
    """Normalization over the last axis of [n, 1] `values`, with adapt's state
    (mean, variance, count) set from `mean_and_variance`."""
    mean, variance, count = mean_and_variance(values)
    layer = keras.layers.Normalization(name=name)
    layer.build((None, 1))
    layer.set_weights([np.array([mean], np.float32), np.array([variance], np.float32),
                       np.array(count, np.int64)])
    layer.finalize_state()  # what adapt ends with: mean/variance read for call
    return layer
