"""A custom layer the example model imports from the module beside it (every .py
file in this folder ships with the model module)."""
import tensorflow as tf
import tf_keras as keras


class Standardize(keras.layers.Layer):
    """(x - mean) / std with NaN (an empty cell) replaced by the mean first, and
    a 0/1 missing indicator as a second column: [batch, 1] -> [batch, 2]."""

    def __init__(self, mean=0.0, std=1.0, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = float(mean), float(std)

    def call(self, x):
        missing = tf.math.is_nan(x)
        filled = tf.where(missing, tf.constant(self.mean, x.dtype), x)
        return tf.concat([(filled - self.mean) / self.std,
                          tf.cast(missing, x.dtype)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}
