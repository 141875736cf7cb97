"""A compiled training step is traced once, and the cheaper tracing trains the
same numbers as before: AutoGraph leaves TFCO's code alone
(trainer_module/autograph_rules.py) and the optimizers' slots exist before the
first trace (trainer_module/optimizers.py)."""
import contextlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_constrained_optimization as tfco
import tf_keras as keras
from tensorflow.python.autograph.core import config as autograph_config
from tensorflow.python.autograph.core import config_lib
from tensorflow.python.autograph.impl import conversion

from tests import tiny_models
from trainer_module import autograph_rules, constraints, optimizers, training

SPEC = {"constraints": [
    {"rate": "false_positive_rate", "group": "south", "upper_bound": 0.2}]}
# Image groups are integers, as CelebA's Young: an XLA step takes no strings.
IMAGE_SPEC = {"constraints": [
    {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}
ROWS, BATCH, STEPS = tiny_models.ROWS, 64, 30
TFCO = "tensorflow_constrained_optimization"


def _batches(features, labels, groups):
    return list(tf.data.Dataset.from_tensor_slices((features, labels, groups)).shuffle(
        ROWS, seed=2).repeat().batch(BATCH, drop_remainder=True).take(STEPS))


def _step(kind, model, jit_compile=False, image=False):
    optimizer = keras.optimizers.Adam(0.01)
    if kind == "plain":
        return training.plain_step(model, optimizer, jit_compile=jit_compile), None
    spec = constraints.parse(IMAGE_SPEC, [0, 1]) if image else \
        constraints.parse(SPEC, ["north", "south"])
    return training.constrained_step(model, spec, optimizer,
                                     keras.optimizers.Adam(0.05), 1.0, jit_compile)


def test_tfco_code_is_not_converted_and_ours_is():
    assert conversion.is_allowlisted(tfco.create_proxy_lagrangian_loss)
    assert conversion.is_allowlisted(tfco.RateMinimizationProblem.objective)
    assert not conversion.is_allowlisted(constraints.group_mask)
    assert set(autograph_rules.PACKAGES) == {"tf_keras", TFCO}


def test_applying_the_rules_again_adds_none():
    before = len(autograph_config.CONVERSION_RULES)
    autograph_rules.leave_unconverted()
    assert len(autograph_config.CONVERSION_RULES) == before


@pytest.mark.parametrize("kind,build,jit_compile", [
    ("constrained", tiny_models.tabular, False),
    ("plain", tiny_models.tabular, False),
    ("constrained", tiny_models.image, True),
])
def test_a_step_is_traced_once(kind, build, jit_compile):
    tf.keras.utils.set_random_seed(0)
    model, features, labels, groups = build()
    step, _ = _step(kind, model, jit_compile, image=build is tiny_models.image)
    for batch in _batches(features, labels, groups):
        step(*batch)
    assert step.experimental_get_tracing_count() == 1


@contextlib.contextmanager
def _traced_as_before(monkeypatch):
    """The step as it was traced before: AutoGraph converting TFCO's code and
    the optimizers creating their slots inside the first trace."""
    rules = autograph_config.CONVERSION_RULES
    autograph_config.CONVERSION_RULES = tuple(
        rule for rule in rules
        if not (isinstance(rule, config_lib.DoNotConvert) and rule.matches(TFCO)))
    monkeypatch.setattr(optimizers, "create_slots", lambda optimizer, variables: None)
    try:
        assert not conversion.is_allowlisted(tfco.create_proxy_lagrangian_loss)
        yield
    finally:
        autograph_config.CONVERSION_RULES = rules
        monkeypatch.undo()


def test_the_step_traced_once_trains_the_same_numbers(monkeypatch):
    tf.keras.utils.set_random_seed(0)
    model, features, labels, groups = tiny_models.tabular()
    reference_model, _, _, _ = tiny_models.tabular()
    reference_model.set_weights(model.get_weights())
    batches = _batches(features, labels, groups)
    logits_before = model(features).numpy()

    step, head = _step("constrained", model)
    assert head is not None, "the group head must attach to the tabular model"
    with _traced_as_before(monkeypatch):
        reference, reference_head = _step("constrained", reference_model)
        for mine, theirs in zip(reference_head.trainable_variables,
                                head.trainable_variables):
            mine.assign(theirs)
        reference_losses = [float(reference(*batch)) for batch in batches]
    assert reference.experimental_get_tracing_count() == 2  # really the old path
    losses = [float(step(*batch)) for batch in batches]
    assert step.experimental_get_tracing_count() == 1

    np.testing.assert_allclose(losses, reference_losses, rtol=1e-6, atol=1e-7)
    logits = model(features).numpy()
    # Training moved the model well beyond the tolerance the two must agree to.
    assert np.abs(logits - logits_before).max() > 0.05
    np.testing.assert_allclose(logits, reference_model(features).numpy(), atol=1e-5)
    for mine, theirs in zip(model.trainable_variables,
                            reference_model.trainable_variables):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(head.logits(features).numpy(),
                               reference_head.logits(features).numpy(), atol=1e-5)
