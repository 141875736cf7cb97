"""The training loop layer: compiled steps over TFX batches, with snapshots.

Three kinds of step share the loop: TFCO's constrained step (see tfco_compat), the
unconstrained baseline (hinge loss, as TFCO's proxy), and hinge loss plus the
absolute-correlation regulariser. Every `snapshot_every` steps the model is
measured on the eval split (never test) and its weights kept as a candidate.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, List, Optional

import numpy as np
import tensorflow as tf

from fairgate.progress import Progress
from trainer_module import constraints, group_head, optimizers
from trainer_module.tfco_compat import BatchSlot, ConstrainedStep


@dataclasses.dataclass
class Candidate:
    step: int
    objective: float
    violations: List[float]
    train_loss: float

    @property
    def max_violation(self) -> float:
        return max(self.violations, default=0.0)


class SplitScorer:
    """The logits of `model` on one fixed split (the eval split), through one
    compiled call per chunk. `model.predict` set itself up again on every call:
    measured 0.24 s against 0.12 s per pass over 19,867 faces, paid at every
    snapshot (127 of them in 10 epochs of CelebA's train split). The chunks are
    cut once, as tensors: a tf.data pass over the split sliced and re-batched
    every example at every snapshot."""

    def __init__(self, model, features, batch_size: int = 4096):
        rows = len(tf.nest.flatten(features)[0])
        self._chunks = [tf.nest.map_structure(
            lambda column: tf.constant(column[start:start + batch_size]), features)
            for start in range(0, rows, batch_size)]
        self._logits = tf.function(lambda chunk: model(chunk, training=False),
                                   reduce_retracing=True)

    def __call__(self):
        return np.concatenate([self._logits(chunk).numpy().reshape(-1)
                               for chunk in self._chunks])


def hinge(labels, logits):
    """TFCO's default proxy: labels 0/1 become -1/+1."""
    return tf.reduce_mean(tf.nn.relu(1.0 - (2.0 * labels - 1.0) * logits))


def plain_step(model, optimizer, penalty: Optional[Callable] = None,
               jit_compile: bool = False):
    """Hinge-loss step, plus `penalty(logits, labels, groups)` when given."""
    optimizers.create_slots(optimizer, model.trainable_variables)
    def step(features, labels, groups):
        with tf.GradientTape() as tape:
            logits = model(features, training=True)[:, 0]
            loss = hinge(labels, logits)
            if penalty is not None:
                loss += penalty(logits, labels, groups)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    return tf.function(step, jit_compile=jit_compile, reduce_retracing=True)


def constrained_step(model, spec: constraints.ConstraintSpec, optimizer,
                     constraint_optimizer, group_head_weight: float = 0.0,
                     jit_compile: bool = False):
    """(TFCO's compiled step for `spec`, the group head or None).

    Each step passes through the model once: the constrained predictions and
    the group head's logits (trainer_module/group_head.py) come from the same
    forward pass, which TFCO's rate terms and the head's loss all read."""
    slot = BatchSlot()
    problem = constraints.build_problem(spec, slot.predicted, slot)
    head = group_head.for_constraints(model, spec, group_head_weight)
    if head is None:
        def forward(features):
            return model(features, training=True)[:, 0], None
    else:
        forward = head.forward
    step = ConstrainedStep(
        problem, slot, model.trainable_variables, optimizer, constraint_optimizer,
        jit_compile=jit_compile, forward=forward,
        auxiliary=head.loss_of if head is not None else None,
        auxiliary_variables=head.trainable_variables if head is not None else ())
    return step.step, head


def steps_per_call(step):
    """`run(iterator, count) -> loss`: `count` calls of the compiled `step` on the
    iterator's next batches inside one compiled call (a `tf.while_loop`, as
    Keras' `steps_per_execution`), returning the last step's loss. Each step is
    `step`'s own graph (its XLA cluster too), in order: the while loop threads
    every iteration's stateful ops (the iterator, the variables) into the next,
    so the steps train exactly what one call per batch trains. What it saves is
    the Python and dispatch work of a call per batch."""
    def run(iterator, count):
        def body(done, loss):
            features, labels, groups = iterator.get_next()
            return done + 1, step(features, labels, groups)
        _, loss = tf.while_loop(lambda done, _: done < count, body,
                                (tf.constant(0), tf.constant(0.0)))
        return loss
    return tf.function(run)


# At most this many steps per compiled call, so that progress lines keep their
# cadence (every few seconds) when snapshots are far apart.
MAX_STEPS_PER_CALL = 100


def train_with_snapshots(model, step, batches: tf.data.Dataset, num_steps: int,
                         snapshot_every: int, evaluate: Callable, log_dir: str,
                         what: str = "Trainer"):
    """Runs `num_steps` steps; returns (weights snapshots, candidates).

    The steps between two snapshots run in compiled calls of up to
    MAX_STEPS_PER_CALL steps (`steps_per_call`); a snapshot follows every
    `snapshot_every` steps and the last step.
    `evaluate(model) -> (objective, violations)` measures on the eval split.
    Objective, maximum violation and loss go to the log and to TensorBoard;
    progress (percentage, ETA) to the log every few seconds.
    """
    progress = Progress(f"{what}: training", total=num_steps, unit="steps")
    writer = tf.summary.create_file_writer(log_dir)
    snapshots, candidates = [], []
    run_steps = steps_per_call(step)
    iterator = iter(batches)
    index = 0
    while index < num_steps:
        count = min(snapshot_every - index % snapshot_every, num_steps - index,
                    MAX_STEPS_PER_CALL)
        try:
            loss = run_steps(iterator, tf.constant(count))
        except tf.errors.OutOfRangeError:
            break  # finite batches ran out: the steps before their end stay applied
        index += count
        progress.advance(count)
        if index % snapshot_every and index != num_steps:
            continue
        objective, violations = evaluate(model)
        candidate = Candidate(index, float(objective), [float(v) for v in violations],
                              float(loss))
        snapshots.append(model.get_weights())
        candidates.append(candidate)
        logging.info("step %d: train loss %.4f, eval objective %.4f, max constraint "
                     "violation %.4f", index, candidate.train_loss, candidate.objective,
                     candidate.max_violation)
        with writer.as_default():
            tf.summary.scalar("train/loss", candidate.train_loss, step=index)
            tf.summary.scalar("eval/objective", candidate.objective, step=index)
            tf.summary.scalar("eval/max_violation", candidate.max_violation, step=index)
    writer.flush()
    progress.done()
    if not candidates:
        raise ValueError("training produced no snapshot: the train split is empty")
    return snapshots, candidates
