"""Optimizers' own variables created before a compiled step first runs.

A Keras optimizer creates its slots (Adam's moments) in its first
`apply_gradients`. Inside a `tf.function` that first call is a trace which
creates variables, and TensorFlow then traces the step a second time without
them (`Function._initialize`, then the call without variable creation): every
compiled step was traced twice. Creating the slots beforehand leaves one trace.
The slots start at zero either way, so training is unchanged.
"""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def create_slots(optimizer, variables: Sequence[tf.Variable]) -> None:
    """Builds `optimizer`'s slot variables for `variables` now, eagerly.

    Only optimizers with a public `build(var_list)` (tf-keras' and Keras 3's)
    are built; a legacy `OptimizerV2` keeps creating its slots in its first
    `apply_gradients` (and its step keeps its second trace). An optimizer
    builds once (a second `build` does nothing): give it every variable it
    will update in one call."""
    build = getattr(optimizer, "build", None)
    if callable(build):
        build(list(variables))
