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


def write(folder, source=SUBSET_TABULAR, name="team.py") -> str:
    """The module file, alone in `folder`; returns its path."""
    os.makedirs(str(folder), exist_ok=True)
    path = os.path.join(str(folder), name)
    with open(path, "w") as f:
        f.write(source)
    return path
