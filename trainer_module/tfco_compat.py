"""The one place fairgate touches TFCO's training internals (TFCO 0.2 on TF 2.16).

TFCO 0.2's `ProxyLagrangianOptimizerV2` subclasses the Keras optimizer of 2020 and
breaks on Keras 3 and on tf-keras' new optimizer. Its functional form,
`create_proxy_lagrangian_loss`, does not depend on any Keras optimizer: it returns
a loss over the model *and* the proxy-Lagrangian state, update ops, and the state
variable. `ConstrainedStep` runs that inside one `tf.function` with two ordinary
Keras optimizers (one for the model, one for the state), which is what the
proxy-Lagrangian optimizer does internally.

The batch reaches TFCO's rate expressions through `BatchSlot`: TFCO evaluates its
predictions and labels callables while the step is traced, so the callables read
the tensors of the batch being traced.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import tensorflow as tf
import tensorflow_constrained_optimization as tfco


class BatchSlot:
    """Holds the batch a traced step is working on, for TFCO's deferred callables."""

    def __init__(self):
        self.features = None
        self.labels = None
        self.groups = None

    def fill(self, features, labels, groups):
        self.features, self.labels, self.groups = features, labels, groups


class ConstrainedStep:
    """One compiled proxy-Lagrangian step: model descent, multiplier ascent.

    Args:
      problem: a `tfco.RateMinimizationProblem` whose callables read `slot`.
      slot: the `BatchSlot` those callables read.
      model_variables: the model's trainable variables.
      optimizer / constraint_optimizer: Keras optimizers (any: tf-keras' new or
        legacy ones both work here, since TFCO never sees them).
      jit_compile: XLA-compile the step.
      auxiliary: optional `(features, groups) -> loss` added to the model's loss
        (not to the multipliers'), e.g. trainer_module.group_head.GroupHead.loss;
        its own variables in `auxiliary_variables`.
    """

    def __init__(self, problem: tfco.RateMinimizationProblem, slot: BatchSlot,
                 model_variables: List[tf.Variable], optimizer,
                 constraint_optimizer=None, jit_compile: bool = False,
                 auxiliary: Optional[Callable] = None,
                 auxiliary_variables: Sequence[tf.Variable] = ()):
        self.problem = problem
        self._slot = slot
        self._loss_fn, self._update_ops_fn, self.state = (
            tfco.create_proxy_lagrangian_loss(problem))
        self._auxiliary = auxiliary
        self._model_variables = (list(model_variables) + list(auxiliary_variables)
                                 + list(problem.trainable_variables))
        self._optimizer = optimizer
        self._constraint_optimizer = constraint_optimizer or optimizer
        self.step = tf.function(self._step, jit_compile=jit_compile, reduce_retracing=True)
        self.measure = tf.function(self._measure, reduce_retracing=True)

    def _step(self, features, labels, groups):
        self._slot.fill(features, labels, groups)
        self._update_ops_fn()
        with tf.GradientTape() as tape:
            loss = self._loss_fn()
            total = loss
            if self._auxiliary is not None:
                total += self._auxiliary(features, groups)
        model_grads, state_grad = tape.gradient(
            total, (self._model_variables, self.state))
        self._optimizer.apply_gradients(zip(model_grads, self._model_variables))
        self._constraint_optimizer.apply_gradients([(state_grad, self.state)])
        return loss

    def _measure(self, features, labels, groups):
        """(objective, constraint violations) of the problem on one batch."""
        self._slot.fill(features, labels, groups)
        return self.problem.objective(), self.problem.constraints()


def find_best_candidate_index(objectives, violations, rank_objectives: bool = True):
    """TFCO's choice among iterates: the lowest of each iterate's worst rank over
    objective and constraint violations (a trade-off, not feasibility first)."""
    return int(tfco.find_best_candidate_index(
        objectives, violations, rank_objectives=rank_objectives))
