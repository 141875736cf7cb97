"""An example of your own model for fairgate (README "Your own model").

fairgate calls `build_model(inputs, train, hparams)`:
  inputs:  {feature: keras.Input [batch, 1]}: float32 for numeric columns (NaN for
           an empty cell), string for categorical ones ("" for an empty cell)
  train:   {feature: numpy [n, 1]}: the train split's values of the same features
  hparams: trainer.model.hparams from the config, as written
and trains what it returns under the configured constraints: a tf-keras Model
from (some of) `inputs` to one logit per example, no sigmoid at the end.
The model owns its preprocessing, so the exported model serves raw tf.Examples.
"""
import numpy as np
import tensorflow as tf
import tf_keras as keras

from team_layers import Standardize


def build_model(inputs, train, hparams):
    width = int(hparams.get("width", 64))
    encoded = []
    for name, column in sorted(inputs.items()):
        values = train[name]
        if column.dtype == tf.string:
            # The vocabulary of the train values; unseen values share one slot.
            vocabulary = sorted(set(values.reshape(-1).tolist()))
            lookup = keras.layers.StringLookup(vocabulary=vocabulary,
                                               output_mode="one_hot",
                                               name=f"{name}_vocabulary")
            encoded.append(lookup(column))
        else:
            known = values[~np.isnan(values)]
            mean = float(known.mean()) if known.size else 0.0
            std = float(known.std()) if known.size else 0.0
            std = std or 1.0  # a constant column: nothing to scale
            encoded.append(Standardize(mean, std, name=f"{name}_standardize")(column))
    x = keras.layers.Concatenate(name="features")(encoded)
    x = keras.layers.Dense(width, activation="relu", name="team_hidden")(x)
    x = keras.layers.Dropout(float(hparams.get("dropout", 0.0)))(x)
    logit = keras.layers.Dense(1, name="team_logit")(x)
    return keras.Model(inputs, logit, name="team_model")
