"""The constrained step passes through the model once: TFCO's rate terms and the
group head read one forward pass, and train exactly as the earlier computation
did, where each rate term called the model and the head recomputed the hidden
layer through a model of its own."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_constrained_optimization as tfco
import tf_keras as keras

from tests import model_modules
from trainer_module import constraints, models, training
from trainer_module.tfco_compat import BatchSlot

# An FPR gap and a TPR bound: TFCO evaluates the predictions of 7 rate terms.
SPEC = {"constraints": [
    {"gap": "false_positive_rate", "groups": [0, 1], "max_gap": 0.02},
    {"rate": "true_positive_rate", "group": 1, "lower_bound": 0.9}]}
HEAD_WEIGHT = 1.0
STEPS = 40
BATCH = 64


def _image_model(rows, rng):
    function, hparams, _ = models.builtin("mlp", image=True)
    model = models.build(function, models.raw_inputs({}, 4), {}, hparams,
                         where="built-in model mlp")
    return model, rng.integers(0, 256, (rows, 4 * 4 * 3)).astype(np.uint8)


def _team_model(rows, rng, tmp_path):
    """The README contract's model: a subset of inputs, a [batch] logit through a
    custom layer (tests/model_modules.py)."""
    kinds = {"score": "numeric", "signal": "numeric", "job": "categorical"}
    features = {"score": rng.normal(size=(rows, 1)).astype(np.float32),
                "signal": rng.normal(size=(rows, 1)).astype(np.float32),
                "job": np.array([[b"a"]] * rows)}
    function = models.load_function(model_modules.write(tmp_path), "build_model")
    train = {k: v for k, v in features.items() if k != "job"}
    model = models.build(function, models.raw_inputs(kinds), train, {"width": 6},
                         where="build_model in team.py")
    return model, features


def _reference_step(model, head_variables, spec, groups):
    """The step as computed before the forward pass was shared: TFCO's callables
    call the model per rate term; the head runs its own model over the hidden
    layer. `head_variables`: the shared head's initial kernel and bias."""
    slot = BatchSlot()
    problem = constraints.build_problem(
        spec, lambda: model(slot.features, training=True)[:, 0], slot)
    dense = keras.layers.Dense(len(groups))
    head_model = keras.Model(model.input, dense(models.logit_layer(model).input))
    dense.set_weights([v.numpy() for v in head_variables])
    loss_fn, update_ops_fn, state = tfco.create_proxy_lagrangian_loss(problem)
    variables = (model.trainable_variables + dense.trainable_variables
                 + list(problem.trainable_variables))
    optimizer, multipliers = keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.05)

    def head_loss(features, batch_groups):
        targets = tf.stack([tf.cast(constraints.group_mask(batch_groups, g), tf.float32)
                            for g in groups], axis=1)
        return HEAD_WEIGHT * tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=targets, logits=head_model(features, training=True)))

    @tf.function
    def step(features, labels, batch_groups):
        slot.fill(features, labels, batch_groups)
        update_ops_fn()
        with tf.GradientTape() as tape:
            loss = loss_fn()
            total = loss + head_loss(features, batch_groups)
        grads, state_grad = tape.gradient(total, (variables, state))
        optimizer.apply_gradients(zip(grads, variables))
        multipliers.apply_gradients([(state_grad, state)])
        return loss
    return step, lambda features: head_model(features, training=False)


def _data(rows, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows).astype(np.float32)
    groups = rng.integers(0, 2, rows).astype(np.int64)
    return rng, labels, groups


@pytest.mark.parametrize("kind", ["builtin_image", "team_module"])
def test_the_shared_forward_pass_trains_as_the_separate_passes_did(kind, tmp_path):
    rows = 512
    rng, labels, groups = _data(rows)
    tf.keras.utils.set_random_seed(0)
    build = (lambda: _image_model(rows, np.random.default_rng(1))) \
        if kind == "builtin_image" \
        else (lambda: _team_model(rows, np.random.default_rng(1), tmp_path))
    model, features = build()
    reference_model, _ = build()
    reference_model.set_weights(model.get_weights())
    spec = constraints.parse(SPEC, [0, 1])

    step, head = training.constrained_step(
        model, spec, keras.optimizers.Adam(0.01), keras.optimizers.Adam(0.05),
        HEAD_WEIGHT)
    assert head is not None, "the group head must attach to this model"
    reference, reference_head = _reference_step(
        reference_model, head.trainable_variables, spec, head.groups)

    logits_before = model(features).numpy()
    membership_before = head.logits(features).numpy()
    np.testing.assert_allclose(membership_before, reference_head(features), atol=1e-6)

    batches = tf.data.Dataset.from_tensor_slices((features, labels, groups)).shuffle(
        rows, seed=2).repeat().batch(BATCH, drop_remainder=True).take(STEPS)
    losses, reference_losses = [], []
    for batch in batches:
        losses.append(float(step(*batch)))
        reference_losses.append(float(reference(*batch)))
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-4, atol=1e-5)

    logits = model(features).numpy()
    membership = head.logits(features).numpy()
    # Training moved both outputs well beyond the tolerance they must agree to.
    assert np.abs(logits - logits_before).max() > 0.05
    assert np.abs(membership - membership_before).max() > 0.05
    np.testing.assert_allclose(logits, reference_model(features).numpy(), atol=2e-4)
    np.testing.assert_allclose(membership, reference_head(features).numpy(), atol=2e-4)


def test_a_step_computes_the_hidden_layer_once():
    """Each traced step runs the hidden layer once (TFCO's 7 rate terms and the
    group head read the same pass)."""
    rows = 256
    _, labels, groups = _data(rows)
    tf.keras.utils.set_random_seed(0)
    model, features = _image_model(rows, np.random.default_rng(1))
    hidden = models.logit_layer(model).input
    hidden_layer = hidden._keras_history.layer
    calls = []
    original = hidden_layer.call
    hidden_layer.call = lambda *args, **kwargs: (calls.append(1), original(*args, **kwargs))[1]
    step, head = training.constrained_step(
        model, constraints.parse(SPEC, [0, 1]), keras.optimizers.Adam(0.01),
        keras.optimizers.Adam(0.05), HEAD_WEIGHT)
    assert head is not None
    step(features[:BATCH], labels[:BATCH], groups[:BATCH])
    step(features[BATCH:2 * BATCH], labels[BATCH:2 * BATCH], groups[BATCH:2 * BATCH])
    assert step.experimental_get_tracing_count() >= 1
    assert len(calls) == step.experimental_get_tracing_count()
