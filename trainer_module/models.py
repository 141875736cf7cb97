"""Model building blocks: the bottom layer of the trainer (no training logic here).

Models take the ExampleGen's flattened `image` (size*size*3 uint8 pixels, decoded
from its bytes by the Trainer's input pipeline and the serving signatures), scale it
to [0, 1] in their first layer, and return one logit per example, which TFCO reads as "positive when > 0". Built with
tf-keras, because TFMA 0.47 loads SavedModels with tf-keras.
"""
from __future__ import annotations

import tf_keras as keras

MODELS = ("mlp", "cnn")


def image_classifier(kind: str = "mlp", image_size: int = 28,
                     hidden_units: int = 64) -> keras.Model:
    """`mlp`: the TFCO tutorial's Flatten -> Dense(64, relu) -> Dense(1);
    `cnn`: two small conv blocks before the same head."""
    if kind not in MODELS:
        raise ValueError(f"unknown model '{kind}' (known: {', '.join(MODELS)})")
    pixels = keras.Input(shape=(image_size * image_size * 3,), name="image",
                         dtype="uint8")
    x = keras.layers.Rescaling(1.0 / 255, name="pixels_to_unit_range")(pixels)
    x = keras.layers.Reshape((image_size, image_size, 3))(x)
    if kind == "cnn":
        for filters in (16, 32):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(pixels, logit, name=f"smile_{kind}")


def tabular_classifier(kinds: dict, train_sample: dict,
                       hidden_units: int = 32) -> keras.Model:
    """A classifier over raw tabular columns with its preprocessing inside.

    `kinds` maps column -> numeric | categorical; `train_sample` maps column ->
    numpy values from the train split as trainer_module.tabular_inputs.encode
    gives them (numeric: float with NaN for an empty cell; categorical: text,
    "" for an empty cell). Numeric columns: the train mean replaces NaN (in
    serving too), then the train mean/variance scale; when train has empty cells
    in the column, a 0/1 missing indicator is an input too. Categorical
    columns: a one-hot vocabulary of the train values plus one slot for values
    never seen in training (OOV). Every input is a [batch, 1] tensor, so the
    exported model serves raw tf.Examples.
    """
    import numpy as np
    import tensorflow as tf
    inputs, encoded = {}, []
    for name, kind in sorted(kinds.items()):
        values = np.asarray(train_sample[name]).reshape(-1, 1)
        if kind == "categorical":
            column = keras.Input(shape=(1,), name=name, dtype=tf.string)
            lookup = keras.layers.StringLookup(output_mode="one_hot", num_oov_indices=1,
                                               name=f"{name}_vocab")
            lookup.adapt(values)
            encoded.append(lookup(column))
        else:
            column = keras.Input(shape=(1,), name=name, dtype=tf.float32)
            numbers = values.astype("float32")
            known = numbers[~np.isnan(numbers)]
            mean = float(known.mean()) if known.size else 0.0
            missing = tf.math.is_nan(column)
            filled = tf.where(missing, tf.constant(mean, tf.float32), column)
            scale = keras.layers.Normalization(name=f"{name}_scale")
            scale.adapt(np.where(np.isnan(numbers), np.float32(mean), numbers))
            encoded.append(scale(filled))
            if known.size < numbers.size:  # train has empty cells: learn from them
                encoded.append(tf.cast(missing, tf.float32))
        inputs[name] = column
    x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, logit, name="tabular")
