"""A training-only head that predicts the constrained groups (mode tfco).

TFCO's proxy-Lagrangian pushes down the hinge of the constrained group's
examples. When the model has no feature that tells the groups apart, the
cheapest way to do that is to move the features every group shares (for the
embedded faces: the smile cue), which also moves the other groups' decisions:
measured at 202,599 faces (seed 0), TFCO without this head raised FNR(Young=1)
from 0.061 to 0.107 and sat 1.2 accuracy points below the group-threshold
frontier. This head asks the last hidden layer to also predict membership of
every group the constraints name (one sigmoid each, cross-entropy with weight
`trainer.group_head_weight`), so a feature that tells the groups apart exists
and the constraint can act through it.

The head is dropped at export: the served model takes the same inputs as
before and never the group.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence

import tensorflow as tf
import tf_keras as keras

from trainer_module import constraints, models


def named_groups(spec: constraints.ConstraintSpec) -> List[Any]:
    """The group values the constraints name, each once, in order of first use."""
    values: List[Any] = []
    for c in spec.constraints:
        for value in ((c.group,) if isinstance(c, constraints.RateBound) else c.groups):
            if value not in values:
                values.append(value)
    return values


def for_constraints(model: keras.Model, spec: constraints.ConstraintSpec,
                    weight: float) -> Optional["GroupHead"]:
    """The head for `spec`'s named groups, or None when `weight` is 0, the
    constraints name no group, or the input of the model's last layer is not one
    [batch, units] tensor (logged)."""
    groups = named_groups(spec)
    if not (weight > 0 and groups):
        return None
    reason = _no_hidden_layer(model)
    if reason:
        logging.info("Group head skipped: %s", reason)
        return None
    return GroupHead(model, groups, weight)


def _no_hidden_layer(model: keras.Model) -> str:
    """Why the group head cannot attach to `model` ("" when it can)."""
    layer = models.logit_layer(model)
    if layer is None:
        return "the model's output comes from no layer"
    hidden = layer.input
    if isinstance(hidden, (list, tuple, dict)):
        return (f"the model's last layer '{layer.name}' takes {len(hidden)} inputs, "
                "not one hidden tensor")
    if len(hidden.shape) != 2:
        return (f"the input of the model's last layer '{layer.name}' has rank "
                f"{len(hidden.shape)}, not 2 ([batch, units])")
    return ""


class GroupHead:
    """Group membership predicted from `model`'s last hidden layer (the input of
    its last layer), with a weighted cross-entropy loss.

    `forward(features)` computes the model's logits and the head's group logits
    in one pass through the layers they share: the hidden layer is computed once
    per step, not once for the constraint and again for the head."""

    def __init__(self, model: keras.Model, groups: Sequence[Any], weight: float):
        if not groups:
            raise ValueError("the group head needs at least one group named by a "
                             "constraint")
        self.groups = list(groups)
        self.weight = float(weight)
        hidden = models.logit_layer(model).input
        self._dense = keras.layers.Dense(len(self.groups), name="group_head")
        self._joint = keras.Model(model.input, [model.output, self._dense(hidden)])

    @property
    def trainable_variables(self) -> List[tf.Variable]:
        return self._dense.trainable_variables

    def targets(self, groups: tf.Tensor) -> tf.Tensor:
        """[batch, named groups] of 0/1: each example's membership."""
        return tf.stack([tf.cast(constraints.group_mask(groups, value), tf.float32)
                         for value in self.groups], axis=1)

    def forward(self, features, training: bool = True):
        """(the model's logits [batch], the head's membership logits [batch,
        named groups]) from one pass."""
        logits, membership = self._joint(features, training=training)
        return logits[:, 0], membership

    def logits(self, features, training: bool = False) -> tf.Tensor:
        """[batch, named groups]: the head's membership logits."""
        return self.forward(features, training=training)[1]

    def loss_of(self, membership: tf.Tensor, groups: tf.Tensor) -> tf.Tensor:
        """The weighted cross-entropy of `membership` logits (from `forward`)."""
        return self.weight * tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=self.targets(groups), logits=membership))

    def loss(self, features, groups: tf.Tensor) -> tf.Tensor:
        return self.loss_of(self.logits(features, training=True), groups)
