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


def _op_types(function, spec):
    graph = tf.function(function).get_concrete_function(spec).graph
    return [op.type for op in graph.get_operations()]


def test_the_input_encoding_traces_the_same_graph_without_autograph():
    """tabular_inputs.encode and the Trainer's batch split are traced plainly
    (do_not_convert); AutoGraph's conversion of them builds the same ops."""
    from trainer_module import tabular_inputs
    kinds = {"age": "numeric", "job": "categorical", "code": "categorical"}
    spec = {"age": tf.SparseTensorSpec([None, None], tf.float32),
            "job": tf.SparseTensorSpec([None, None], tf.string),
            "code": tf.SparseTensorSpec([None, None], tf.int64)}
    plain = _op_types(lambda parsed: tabular_inputs.encode(parsed, kinds), spec)
    converted = _op_types(lambda parsed: tabular_inputs.encode.__wrapped__(parsed, kinds),
                          spec)
    assert len(plain) > 30
    assert plain == converted
