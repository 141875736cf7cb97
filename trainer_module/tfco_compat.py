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
the tensors of the batch being traced. TFCO calls the predictions callable once
per rate term (7 times for an FPR gap plus a TPR bound), so a step with a
`forward` computes the model once and the callable reads that result
(`BatchSlot.predicted`): one forward and one backward pass per step.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

import tensorflow as tf
import tensorflow_constrained_optimization as tfco

from trainer_module import optimizers


class BatchSlot:
    """Holds the batch a traced step is working on, for TFCO's deferred callables."""

    def __init__(self):
        self.features = None
        self.labels = None
        self.groups = None
        self.predictions = None

    def fill(self, features, labels, groups, predictions=None):
        self.features, self.labels, self.groups = features, labels, groups
        self.predictions = predictions

    def predicted(self):
        """The predictions a step's forward pass computed for this batch (the
        problem's predictions callable when the step has a `forward`)."""
        if self.predictions is None:
            raise RuntimeError("TFCO read the predictions before the step's forward "
                               "pass computed them (BatchSlot.predicted)")
        return self.predictions


class ConstrainedStep:
    """One compiled proxy-Lagrangian step: model descent, multiplier ascent.

    Args:
      problem: a `tfco.RateMinimizationProblem` whose callables read `slot`.
      slot: the `BatchSlot` those callables read.
      model_variables: the model's trainable variables.
      optimizer / constraint_optimizer: Keras optimizers (any: tf-keras' new or
        legacy ones both work here, since TFCO never sees them).
      jit_compile: XLA-compile the step.
      forward: optional `features -> (predictions, outputs)`, the step's one pass
        through the model: `predictions` (one logit per example) go to
        `slot.predictions`, which the problem's predictions callable must read
        (`slot.predicted`); `outputs` go to `auxiliary`. Without it, TFCO's
        callables compute the predictions themselves.
      auxiliary: optional `(outputs, groups) -> loss` added to the model's loss
        (not to the multipliers'), e.g. trainer_module.group_head.GroupHead.loss_of
        over the group logits of GroupHead.forward; needs `forward`; its own
        variables in `auxiliary_variables`.
    """

    def __init__(self, problem: tfco.RateMinimizationProblem, slot: BatchSlot,
                 model_variables: List[tf.Variable], optimizer,
                 constraint_optimizer=None, jit_compile: bool = False,
                 forward: Optional[Callable] = None,
                 auxiliary: Optional[Callable] = None,
                 auxiliary_variables: Sequence[tf.Variable] = ()):
        if auxiliary is not None and forward is None:
            raise ValueError("an auxiliary loss reads the outputs of the step's "
                             "forward pass: give `forward` too")
        self.problem = problem
        self._slot = slot
        self._loss_fn, self._update_ops_fn, self.state = (
            tfco.create_proxy_lagrangian_loss(problem))
        self._forward = forward
        self._auxiliary = auxiliary
        self._model_variables = (list(model_variables) + list(auxiliary_variables)
                                 + list(problem.trainable_variables))
        self._optimizer = optimizer
        self._constraint_optimizer = constraint_optimizer or optimizer
        # Slots before the first trace: one trace per step, not two.
        if self._constraint_optimizer is optimizer:
            optimizers.create_slots(optimizer, self._model_variables + [self.state])
        else:
            optimizers.create_slots(optimizer, self._model_variables)
            optimizers.create_slots(self._constraint_optimizer, [self.state])
        self.step = tf.function(self._step, jit_compile=jit_compile, reduce_retracing=True)
        self.measure = tf.function(self._measure, reduce_retracing=True)

    def _step(self, features, labels, groups):
        self._slot.fill(features, labels, groups)
        self._update_ops_fn()  # denominators only: no predictions needed yet
        with tf.GradientTape() as tape:
            outputs = None
            if self._forward is not None:
                self._slot.predictions, outputs = self._forward(features)
            loss = self._loss_fn()
            total = loss
            if self._auxiliary is not None:
                total += self._auxiliary(outputs, groups)
        model_grads, state_grad = tape.gradient(
            total, (self._model_variables, self.state))
        self._optimizer.apply_gradients(zip(model_grads, self._model_variables))
        self._constraint_optimizer.apply_gradients([(state_grad, self.state)])
        return loss

    def _measure(self, features, labels, groups):
        """(objective, constraint violations) of the problem on one batch."""
        self._slot.fill(features, labels, groups)
        if self._forward is not None:
            self._slot.predictions = self._forward(features)[0]
        return self.problem.objective(), self.problem.constraints()


def find_best_candidate_index(objectives, violations, rank_objectives: bool = True):
    """TFCO's choice among iterates: the lowest of each iterate's worst rank over
    objective and constraint violations (a trade-off, not feasibility first)."""
    return int(tfco.find_best_candidate_index(
        objectives, violations, rank_objectives=rank_objectives))
