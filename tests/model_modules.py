"""Teams' model modules for the pipeline tests, written only against the README's
contract ("Your own model"): build_model(inputs, train, hparams) -> a tf-keras
Model from a subset of `inputs` to one logit per example."""
import os

# A tabular model over two of biased_rows' numeric columns (the others, `age` and
# `occupation`, are left out), standardised on `train`, whose logit comes out as
# [batch] through a custom layer the served model must not need the module for.
SUBSET_TABULAR = '''
import tensorflow as tf
import tf_keras as keras


class Squeeze(keras.layers.Layer):
    def call(self, x):
        return tf.squeeze(x, axis=-1)


def build_model(inputs, train, hparams):
    columns = hparams.get("columns", ["score", "signal"])
    scaled = []
    for name in columns:
        scale = keras.layers.Normalization(name=f"own_{name}_scale")
        scale.adapt(train[name])
        scaled.append(scale(inputs[name]))
    x = keras.layers.Concatenate()(scaled)
    x = keras.layers.Dense(hparams.get("width", 8), activation="relu",
                           name="own_hidden")(x)
    logit = keras.layers.Dense(1, name="own_logit")(x)
    return keras.Model({name: inputs[name] for name in columns},
                       Squeeze(name="own_squeeze")(logit))
'''


# An image model for the image sources: a convolution over pixels standardised on
# a sample of `train`, whatever image_size the run uses.
SMALL_CNN = '''
import numpy as np
import tf_keras as keras


def small_cnn(inputs, train, hparams):
    pixels = inputs["image"]
    size = int(round((pixels.shape[-1] // 3) ** 0.5))
    images = train["image"]  # a sample of the train split, to adapt on
    scale = keras.layers.Normalization(axis=None, name="pixel_scale")
    scale.adapt(images[:2000].astype("float32"))
    x = keras.layers.Reshape((size, size, 3))(scale(keras.layers.Lambda(
        lambda p: keras.backend.cast(p, "float32"))(pixels)))
    x = keras.layers.Conv2D(hparams["filters"], 3, activation="relu",
                            name="own_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    return keras.Model(pixels, keras.layers.Dense(1, name="own_logit")(x))
'''


def write(folder, source=SUBSET_TABULAR, name="team.py") -> str:
    """The module file, alone in `folder`; returns its path."""
    os.makedirs(str(folder), exist_ok=True)
    path = os.path.join(str(folder), name)
    with open(path, "w") as f:
        f.write(source)
    return path
