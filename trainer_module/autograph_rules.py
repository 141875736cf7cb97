"""AutoGraph leaves the libraries the Trainer calls alone: tf-keras and TFCO.

A `tf.function` converts, with AutoGraph, every Python function it reaches that
its conversion rules do not exclude. TensorFlow 2.16's rules
(`tensorflow/python/autograph/core/config.py` `CONVERSION_RULES`) exclude
`keras`, the package tf-keras was called before it moved out of TensorFlow, and
not `tf_keras`, its name now; nor TFCO (`tensorflow_constrained_optimization`),
which was written for TF1 graphs and has no Python control flow over tensors.
Without these rules every compiled step, every `adapt` and every export traces
through a fresh AutoGraph conversion of the libraries' internals, and the
compiled step's graph is the same either way (tests/test_keras_autograph.py
trains the same losses with and without the rules). Measured in a fresh
process on this machine (3,000 tabular rows, the built-in tabular model, an
FPR-gap constraint with the group head): building the model (its `adapt`
calls) 9.3 s -> 1.9 s and the first TFCO step 19.6 s -> 5.7 s with the
tf-keras rule; the TFCO rule's figures are in benchmarks/README.md.

Keras still converts the `call` of a user's subclassed layer itself
(`base_layer.Layer._autographed_call`, which follows the enclosing
`tf.function`'s AutoGraph setting), so a custom layer's Python control flow over
tensors keeps working. TFCO calls only fairgate's own callables (the batch slot
of trainer_module/tfco_compat.py), never a user's model.
"""
from tensorflow.python.autograph.core import config as _autograph_config
from tensorflow.python.autograph.core import config_lib as _config_lib

PACKAGES = ("tf_keras", "tensorflow_constrained_optimization")


def leave_unconverted(packages=PACKAGES) -> None:
    """Adds `DoNotConvert(package)` to AutoGraph's rules for each of `packages`
    not excluded yet, once per process."""
    rules = tuple(_autograph_config.CONVERSION_RULES)
    missing = tuple(_config_lib.DoNotConvert(package) for package in packages
                    if not any(isinstance(rule, _config_lib.DoNotConvert) and
                               rule.matches(package) for rule in rules))
    _autograph_config.CONVERSION_RULES = missing + rules


leave_unconverted()
