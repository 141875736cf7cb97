"""Model building blocks: the bottom layer of the trainer (no training logic here).

Models take the ExampleGen's flattened `image` (size*size*3 floats in [0, 1]) and
return one logit per example, which TFCO reads as "positive when > 0". Built with
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
    pixels = keras.Input(shape=(image_size * image_size * 3,), name="image")
    x = keras.layers.Reshape((image_size, image_size, 3))(pixels)
    if kind == "cnn":
        for filters in (16, 32):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(pixels, logit, name=f"smile_{kind}")


def tabular_classifier(input_specs: dict, train_sample: dict,
                       hidden_units: int = 32) -> keras.Model:
    """A classifier over raw tabular columns with its preprocessing inside.

    `input_specs` maps column -> tf dtype (float32, int64 or string), taken from the
    schema; `train_sample` maps column -> numpy values from the train split, from
    which numeric columns get their mean/variance and string columns their
    vocabulary. Every input is a [batch, 1] tensor of raw values, so the exported
    model serves raw tf.Examples.
    """
    import tensorflow as tf
    inputs, encoded = {}, []
    for name, dtype in sorted(input_specs.items()):
        column = keras.Input(shape=(1,), name=name, dtype=dtype)
        inputs[name] = column
        values = train_sample[name].reshape(-1, 1)
        if dtype == tf.string:
            lookup = keras.layers.StringLookup(output_mode="one_hot", name=f"{name}_vocab")
            lookup.adapt(values)
            encoded.append(lookup(column))
        else:
            # Normalization casts int64 inputs to float itself.
            scale = keras.layers.Normalization(name=f"{name}_scale")
            scale.adapt(values.astype("float32"))
            encoded.append(scale(column))
    x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
    x = keras.layers.Dense(hidden_units, activation="relu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(inputs, logit, name="tabular")
