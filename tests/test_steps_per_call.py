"""The training loop runs the steps between two snapshots in one compiled call
(training.steps_per_call) and trains exactly what one call per batch trained:
the same losses, snapshots, eval measures and chosen snapshot, bit for bit, for
the constrained (TFCO, with the group head; XLA for images), plain and
correlation steps. The comparison is strict enough to see one batch skipped or
repeated."""
import logging

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tests import tiny_models
from trainer_module import constraints, regularizers, selection, training

ROWS, BATCH, STEPS, EVERY = tiny_models.ROWS, 32, 30, 7  # snapshots at 7, 14, 21, 28 and 30
TABULAR_SPEC = {"constraints": [
    {"gap": "false_positive_rate", "groups": ["north", "south"], "max_gap": 0.05}]}
IMAGE_SPEC = {"constraints": [
    {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


def _trainer(kind):
    """(model, step, data, spec) as run_fn sets them up for `kind`."""
    tf.keras.utils.set_random_seed(0)
    image = kind == "constrained_image_xla"
    model, features, labels, groups = (tiny_models.image if image else tiny_models.tabular)(1)
    spec = constraints.parse(IMAGE_SPEC, [0, 1]) if image else \
        constraints.parse(TABULAR_SPEC, ["north", "south"])
    optimizer = keras.optimizers.Adam(0.01)
    if kind.startswith("constrained"):
        step, head = training.constrained_step(
            model, spec, optimizer, keras.optimizers.Adam(0.05), 1.0, jit_compile=image)
        assert head is not None, "the group head must attach to this model"
    elif kind == "correlation":
        step = training.plain_step(model, optimizer, lambda logits, y, g: 2.0 *
                                   regularizers.absolute_correlation(logits, y, g, "south"))
    else:
        step = training.plain_step(model, optimizer)
    return model, step, (features, labels, groups), spec


def _batches(data):
    """Endless shuffled batches, as run_fn's train batches."""
    return tf.data.Dataset.from_tensor_slices(data).shuffle(
        ROWS, seed=2, reshuffle_each_iteration=True).repeat().batch(
            BATCH, drop_remainder=True).prefetch(2)


def _evaluate(model, data, spec):
    scorer = training.SplitScorer(model, data[0])
    return lambda current: constraints.measure(spec, scorer(), data[1], data[2])


def _one_call_per_batch(model, step, batches, evaluate, num_steps=STEPS, every=EVERY):
    """The loop before steps_per_call: the compiled step called once per batch."""
    snapshots, candidates = [], []
    for index, (features, labels, groups) in enumerate(batches.take(num_steps), 1):
        loss = step(features, labels, groups)
        if index % every and index != num_steps:
            continue
        objective, violations = evaluate(model)
        candidates.append(training.Candidate(
            index, float(objective), [float(v) for v in violations], float(loss)))
        snapshots.append(model.get_weights())
    return snapshots, candidates


def _skipping(batches, at):
    return batches.take(at).concatenate(batches.skip(at + 1))


def _repeating(batches, at):
    return batches.take(at + 1).concatenate(batches.skip(at))


def _same(a, b):
    """Whether two loops' (snapshots, candidates) agree to rtol 1e-6."""
    (snapshots_a, candidates_a), (snapshots_b, candidates_b) = a, b
    if [c.step for c in candidates_a] != [c.step for c in candidates_b]:
        return False
    numbers = lambda cs: np.array([[c.train_loss, c.objective, *c.violations]  # noqa: E731
                                   for c in cs])
    if not np.allclose(numbers(candidates_a), numbers(candidates_b), rtol=1e-6, atol=0):
        return False
    return all(np.allclose(x, y, rtol=1e-6, atol=0)
               for wa, wb in zip(snapshots_a, snapshots_b) for x, y in zip(wa, wb))


@pytest.mark.parametrize("kind", ["constrained", "plain", "correlation",
                                  "constrained_image_xla"])
def test_steps_per_call_train_what_one_call_per_batch_trained(kind, tmp_path):
    model, step, data, spec = _trainer(kind)
    reference_model, reference_step, _, _ = _trainer(kind)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                    reference_model.get_weights()))
    before = model.get_weights()

    snapshots, candidates = training.train_with_snapshots(
        model, step, _batches(data), STEPS, EVERY, _evaluate(model, data, spec),
        str(tmp_path / "tb"))
    reference = _one_call_per_batch(reference_model, reference_step, _batches(data),
                                    _evaluate(reference_model, data, spec))

    assert [c.step for c in candidates] == [7, 14, 21, 28, 30]
    assert [c.step for c in reference[1]] == [7, 14, 21, 28, 30]
    # Bit for bit: the losses, measures and every snapshot's weights.
    assert [(c.train_loss, c.objective, c.violations) for c in candidates] == \
        [(c.train_loss, c.objective, c.violations) for c in reference[1]]
    for mine, theirs in zip(snapshots, reference[0]):
        assert all(np.array_equal(a, b) for a, b in zip(mine, theirs))
    constrained = kind.startswith("constrained")
    assert selection.choose(candidates, constrained) == \
        selection.choose(reference[1], constrained)
    # Training moved the weights, and the comparison sees one batch skipped or
    # repeated at step 10 (between two snapshots).
    assert max(np.abs(a - b).max() for a, b in zip(snapshots[-1], before)) > 0.01
    for changed in (_skipping, _repeating):
        other_model, other_step, _, _ = _trainer(kind)
        other = _one_call_per_batch(other_model, other_step,
                                    changed(_batches(data), 9),
                                    _evaluate(other_model, data, spec))
        assert not _same((snapshots, candidates), other), changed.__name__


def _counting_calls(monkeypatch):
    """The step counts of every compiled call train_with_snapshots makes."""
    counts = []
    per_call = training.steps_per_call

    def counted(step):
        run = per_call(step)
        def call(iterator, count):
            counts.append(int(count))
            return run(iterator, count)
        return call
    monkeypatch.setattr(training, "steps_per_call", counted)
    return counts


def test_the_steps_between_snapshots_run_in_one_compiled_call(tmp_path, monkeypatch):
    """One call per snapshot interval; Python enters the step once, to trace it
    inside that call (one call per batch entered it once per batch)."""
    model, step, data, spec = _trainer("plain")
    entered = []

    def counted(*batch):
        entered.append(1)
        return step(*batch)
    calls = _counting_calls(monkeypatch)
    training.train_with_snapshots(model, counted, _batches(data), STEPS, EVERY,
                                  _evaluate(model, data, spec), str(tmp_path / "tb"))
    assert calls == [7, 7, 7, 7, 2]
    assert len(entered) == 1
    assert step.experimental_get_tracing_count() == 1


def test_snapshots_far_apart_take_several_calls_each(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "MAX_STEPS_PER_CALL", 4)
    calls = _counting_calls(monkeypatch)
    model, step, data, spec = _trainer("constrained")
    result = training.train_with_snapshots(
        model, step, _batches(data), STEPS, EVERY, _evaluate(model, data, spec),
        str(tmp_path / "tb"))
    assert calls == [4, 3] * 4 + [2]
    reference_model, reference_step, _, _ = _trainer("constrained")
    reference = _one_call_per_batch(reference_model, reference_step, _batches(data),
                                    _evaluate(reference_model, data, spec))
    assert [c.step for c in result[1]] == [7, 14, 21, 28, 30]
    assert _same(result, reference)


def test_finite_batches_stop_the_loop_as_before(tmp_path):
    """Batches that end before the budget: the snapshots up to their end, as one
    call per batch gave (the steps after the last snapshot are trained but not
    kept); none at all is the empty-split error."""
    finite = lambda data: tf.data.Dataset.from_tensor_slices(data).batch(  # noqa: E731
        BATCH, drop_remainder=True).repeat(3)  # 24 batches of a budget of 30
    model, step, data, spec = _trainer("plain")
    snapshots, candidates = training.train_with_snapshots(
        model, step, finite(data), STEPS, EVERY, _evaluate(model, data, spec),
        str(tmp_path / "tb"))
    reference_model, reference_step, _, _ = _trainer("plain")
    reference = _one_call_per_batch(reference_model, reference_step, finite(data),
                                    _evaluate(reference_model, data, spec))
    assert [c.step for c in candidates] == [c.step for c in reference[1]] == [7, 14, 21]
    assert _same((snapshots, candidates), reference)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(),
                                                    reference_model.get_weights()))
    with pytest.raises(ValueError, match="train split is empty"):
        training.train_with_snapshots(
            model, step, finite(data).take(0), STEPS, EVERY,
            _evaluate(model, data, spec), str(tmp_path / "tb2"))


def test_progress_counts_steps_to_the_end(tmp_path, caplog):
    model, step, data, spec = _trainer("plain")
    with caplog.at_level(logging.INFO, logger="fairgate.progress"):
        training.train_with_snapshots(model, step, _batches(data), STEPS, EVERY,
                                      _evaluate(model, data, spec), str(tmp_path / "tb"),
                                      what="Trainer (mode none)")
    lines = [r.getMessage() for r in caplog.records if r.name == "fairgate.progress"]
    assert lines[-1].startswith(
        "Progress: Trainer (mode none): training: 100% (30/30 steps), ")


def test_the_split_scorer_scores_every_row_once_in_order():
    """Chunks cut once as tensors: the logits a tf.data pass over the split
    gave, bit for bit, over a split that does not fill its last chunk."""
    model, features, _, _ = tiny_models.tabular(2)
    scorer = training.SplitScorer(model, features, batch_size=100)
    compiled = tf.function(lambda chunk: model(chunk, training=False))
    reference = np.concatenate([compiled(chunk).numpy().reshape(-1)
                                for chunk in tf.data.Dataset.from_tensor_slices(
                                    features).batch(100)])
    logits = scorer()
    assert logits.shape == (ROWS,)
    assert np.array_equal(logits, reference)
    assert np.array_equal(scorer(), logits)
