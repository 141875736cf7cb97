"""AutoGraph leaves tf-keras' own code alone (trainer_module/autograph_rules.py),
and a user's subclassed layer still gets its Python control flow converted."""
import numpy as np
import tensorflow as tf
import tf_keras as keras
from tensorflow.python.autograph.impl import conversion

import trainer_module  # noqa: F401  (applies the rule)
from trainer_module import training


def test_tf_keras_code_is_not_converted():
    assert conversion.is_allowlisted(keras.layers.Dense.__call__)
    assert conversion.is_allowlisted(keras.layers.StringLookup.adapt)
    assert not conversion.is_allowlisted(_SignFlip.call)  # user code still converts


class _SignFlip(keras.layers.Layer):
    """Python `if` over a tensor: needs AutoGraph inside a tf.function."""

    def call(self, x):
        if tf.reduce_sum(x) > 0:
            return x
        return -x


def test_a_custom_layers_control_flow_still_works_in_a_compiled_step():
    inputs = keras.Input(shape=(1,))
    model = keras.Model(inputs, keras.layers.Dense(
        1, kernel_initializer="ones", bias_initializer="zeros")(_SignFlip()(inputs)))
    forward = tf.function(lambda x: model(x, training=True))
    assert np.allclose(forward(tf.constant([[2.0]])).numpy(), [[2.0]])
    assert np.allclose(forward(tf.constant([[-3.0]])).numpy(), [[3.0]])
    step = training.plain_step(model, keras.optimizers.SGD(0.1))
    loss = step(tf.constant([[-1.0], [-2.0]]), tf.constant([1.0, 0.0]), tf.constant([0, 1]))
    assert np.isfinite(float(loss))
