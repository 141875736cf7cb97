"""Constraint specs -> TFCO problem, and the compat layer's compiled step."""
import numpy as np
import pytest
import tensorflow as tf

from trainer_module import constraints, tfco_compat
from trainer_module.constraints import ConstraintSpecError

TUTORIAL = {"constraints": [
    {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


def test_tutorial_spec_parses():
    spec = constraints.parse(TUTORIAL, known_groups=[0, 1])
    assert spec.objective == "error_rate"
    assert constraints.describe(spec) == ["false_positive_rate(group=0) <= 0.05"]
    gap = constraints.parse({"constraints": [
        {"gap": "false_positive_rate", "groups": [0, 1], "max_gap": 0.02}]}, [0, 1])
    assert gap.num_tfco_constraints == 2


@pytest.mark.parametrize("raw,message", [
    ({"constraints": [{"rate": "fpr", "group": 0, "upper_bound": 0.1}]},
     r"constraints\[0\]\.rate: unknown rate 'fpr'"),
    ({"constraints": [{"rate": "false_positive_rate", "group": 0, "upper_bound": 1.5}]},
     r"constraints\[0\]: upper_bound must be a number in \[0, 1\], got 1.5"),
    ({"constraints": [{"rate": "false_positive_rate", "group": 7, "upper_bound": 0.1}]},
     r"constraints\[0\]\.group: unknown group value 7 \(the group feature has: 0, 1\)"),
    ({"constraints": [{"gap": "false_positive_rate", "groups": [0, 0], "max_gap": 0.1}]},
     r"groups: must be two different group values, or more"),
    ({"constraints": [{"rate": "error_rate", "group": 1}]},
     r"exactly one of upper_bound, lower_bound"),
    ({"objective": "accuracy"}, r"objective: unknown rate 'accuracy'"),
    ({"constriants": []}, r"unknown key 'constriants'"),
])
def test_invalid_specs_are_rejected_with_the_entry(raw, message):
    with pytest.raises(ConstraintSpecError, match=message):
        constraints.parse(raw, known_groups=[0, 1])


def _biased_data(n, seed):
    """One feature; group-0 negatives sit close to the positives (high FPR there)."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    label = rng.integers(0, 2, n)
    mean = np.where(label == 1, 1.0, np.where(group == 0, 0.6, 0.0))
    x = (mean + rng.normal(0, 0.3, n)).astype(np.float32)[:, None]
    return x, label.astype(np.float32), group.astype(np.int64)


def _group0_fpr(model, x, y, g):
    predicted = model(x).numpy().ravel() > 0
    negatives = (y == 0) & (g == 0)
    return predicted[negatives].mean()


def test_compiled_step_reduces_a_violated_constraint():
    tf.keras.utils.set_random_seed(0)
    x, y, g = _biased_data(4096, seed=1)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(1,))])
    slot = tfco_compat.BatchSlot()
    spec = constraints.parse(TUTORIAL, known_groups=[0, 1])
    problem = constraints.build_problem(
        spec, lambda: model(slot.features)[:, 0], slot)

    # Unconstrained start: a plain logistic fit puts group 0's FPR far above 5%.
    model.compile(tf.keras.optimizers.Adam(0.05), tf.keras.losses.BinaryCrossentropy(True))
    model.fit(x, y, batch_size=256, epochs=5, verbose=0)
    before = _group0_fpr(model, x, y, g)
    assert before > 0.2

    step = tfco_compat.ConstrainedStep(
        problem, slot, model.trainable_variables,
        optimizer=tf.keras.optimizers.Adam(0.02),
        constraint_optimizer=tf.keras.optimizers.Adam(0.1))
    batches = tf.data.Dataset.from_tensor_slices((x, y, g)).shuffle(4096, seed=0) \
        .batch(256, drop_remainder=True).repeat(20)
    for features, labels, groups in batches:
        step.step(features, labels, groups)
    after = _group0_fpr(model, x, y, g)
    _, violations = step.measure(tf.constant(x), tf.constant(y), tf.constant(g))
    assert after < before / 2, (before, after)
    assert float(violations[0]) < 0.1  # hinge-proxy violation of FPR <= 0.05


def test_find_best_candidate_trades_objective_against_violation():
    # Iterate 0 has the best objective but violates; 1 and 2 are feasible, 1 better.
    objectives = np.array([0.10, 0.12, 0.30])
    violations = np.array([[0.30], [0.0], [-0.01]])
    assert tfco_compat.find_best_candidate_index(objectives, violations) == 1


def test_selection_prefers_feasible_unless_ranking_objectives():
    from trainer_module import selection
    from trainer_module.training import Candidate
    candidates = [Candidate(100, 0.10, [0.20], 0.0), Candidate(200, 0.12, [0.15], 0.0),
                  Candidate(300, 0.30, [-0.01], 0.0), Candidate(400, 0.11, [0.14], 0.0)]
    assert selection.choose(candidates, constrained=True) == 2
    assert selection.choose(candidates, constrained=True, rank_objectives=True) != 2
    assert selection.choose(candidates, constrained=False) == 0


def test_absolute_correlation_penalty():
    from trainer_module.regularizers import absolute_correlation
    labels = tf.zeros(8)
    groups = tf.constant([0, 1] * 4, tf.int64)
    aligned = tf.constant([-3.0, 3.0] * 4)  # score follows group among negatives
    unrelated = tf.constant([-3.0, -3.0, 3.0, 3.0] * 2)
    assert float(absolute_correlation(aligned, labels, groups, 0)) == pytest.approx(1.0, abs=1e-3)
    assert float(absolute_correlation(unrelated, labels, groups, 0)) == pytest.approx(0.0, abs=1e-3)


def test_correlation_step_reduces_score_group_correlation():
    from trainer_module import regularizers, training
    x, y, g = _biased_data(4096, seed=2)
    features = np.concatenate([x, g[:, None].astype(np.float32)], axis=1)  # group visible

    def corr_after(weight):
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
        penalty = None if weight == 0 else (lambda l, y_, g_: weight * regularizers
                                            .absolute_correlation(l, y_, g_, 0))
        step = training.plain_step(model, tf.keras.optimizers.Adam(0.05), penalty)
        for batch in tf.data.Dataset.from_tensor_slices((features, y, g)).batch(256).repeat(5):
            step(*batch)
        logits = model(features)[:, 0]
        return float(regularizers.absolute_correlation(logits, tf.constant(y), tf.constant(g), 0))

    assert corr_after(5.0) < corr_after(0.0) - 0.1


def test_measure_with_a_level_judges_the_confidence_bound():
    from fairgate.metrics import intervals
    spec = constraints.parse({"constraints": [
        {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05},
        {"rate": "true_positive_rate", "group": 1, "lower_bound": 0.6},
        {"gap": "false_positive_rate", "groups": [0, 1], "max_gap": 0.05}]}, [0, 1])
    # Group 0: 10 of 220 negatives flagged (point FPR 0.045, feasible by point);
    # group 1: 30 of 400 negatives flagged, 70 of 100 positives found.
    labels = np.array([0] * 220 + [0] * 400 + [1] * 100)
    groups = np.array([0] * 220 + [1] * 500)
    logits = np.array([1.0] * 10 + [-1.0] * 210 + [1.0] * 30 + [-1.0] * 370
                      + [1.0] * 70 + [-1.0] * 30)
    _, point = constraints.measure(spec, logits, labels, groups)
    assert point[0] == pytest.approx(10 / 220 - 0.05) and point[0] < 0
    _, confident = constraints.measure(spec, logits, labels, groups, level=0.95)
    assert confident[0] == pytest.approx(intervals.wilson(10, 220, 0.95)[1] - 0.05)
    assert confident[0] > 0  # not feasible with 95% confidence
    assert confident[1] == pytest.approx(0.6 - intervals.wilson(70, 100, 0.95)[0])
    assert confident[2:] == pytest.approx([
        intervals.newcombe(10, 220, 30, 400, 0.95)[1] - 0.05,
        intervals.newcombe(30, 400, 10, 220, 0.95)[1] - 0.05])


def test_gap_over_three_groups_bounds_every_pair():
    spec = constraints.parse({"constraints": [
        {"gap": "false_positive_rate", "groups": ["a", "b", "c"], "max_gap": 0.1}]},
        ["a", "b", "c", "d"])
    assert spec.num_tfco_constraints == 6
    assert constraints.describe(spec) == [
        "max - min of false_positive_rate over groups a, b, c <= 0.1"]
    # FPRs: a 0.5 (1 of 2 negatives), b 0.0, c 1.0; group d is not constrained.
    labels = np.array([0, 0, 0, 0, 0, 0, 0])
    groups = np.array(["a", "a", "b", "b", "c", "c", "d"])
    logits = np.array([1, -1, -1, -1, 1, 1, 1])
    _, violations = constraints.measure(spec, logits, labels, groups)
    assert len(violations) == 6
    assert max(violations) == pytest.approx(1.0 - 0.0 - 0.1)  # the largest gap, c - b
    slot = tfco_compat.BatchSlot()
    slot.fill(tf.constant(logits, tf.float32)[:, None], tf.constant(labels, tf.float32),
             tf.constant(groups))
    problem = constraints.build_problem(spec, lambda: slot.features[:, 0], slot)
    assert problem.num_constraints == 6


def test_group_head_names_each_constrained_group_once():
    from trainer_module import group_head
    spec = constraints.parse({"constraints": [
        {"rate": "false_positive_rate", "group": 2, "upper_bound": 0.05},
        {"gap": "true_positive_rate", "groups": [0, 2, 1], "max_gap": 0.1}]},
        known_groups=[0, 1, 2])
    assert group_head.named_groups(spec) == [2, 0, 1]
    assert group_head.named_groups(constraints.parse({}, [0, 1])) == []
    import tf_keras as keras
    inputs = keras.Input(shape=(2,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="logit")(
        keras.layers.Dense(4)(inputs)))
    assert group_head.for_constraints(model, spec, 1.0).groups == [2, 0, 1]
    assert group_head.for_constraints(model, spec, 0.0) is None
    assert group_head.for_constraints(model, constraints.parse({}, [0, 1]), 1.0) is None


def test_constrained_step_with_group_head_learns_the_group_and_exports_without_it():
    """The head's loss reaches the shared hidden layer (it learns to tell the
    groups apart), while the model keeps one output and none of the head's
    variables, so the exported model never sees the group."""
    import tf_keras as keras
    from trainer_module.group_head import GroupHead
    tf.keras.utils.set_random_seed(0)
    x, y, g = _biased_data(4096, seed=4)
    rng = np.random.default_rng(5)
    hair = (g + rng.normal(0, 0.2, len(g))).astype(np.float32)[:, None]  # group cue
    features = np.concatenate([x, hair], axis=1)
    inputs = keras.Input(shape=(2,), name="features")
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="logit")(hidden))
    slot = tfco_compat.BatchSlot()
    spec = constraints.parse(TUTORIAL, known_groups=[0, 1])
    problem = constraints.build_problem(spec, slot.predicted, slot)
    head = GroupHead(model, [0], weight=1.0)
    groups = tf.constant(g)
    before = float(head.loss(features, groups))
    step = tfco_compat.ConstrainedStep(
        problem, slot, model.trainable_variables, tf.keras.optimizers.Adam(0.02),
        tf.keras.optimizers.Adam(0.1), forward=head.forward, auxiliary=head.loss_of,
        auxiliary_variables=head.trainable_variables)
    for batch in tf.data.Dataset.from_tensor_slices((features, y, g)).shuffle(
            4096, seed=0).batch(256, drop_remainder=True).repeat(10):
        step.step(*batch)
    after = float(head.loss(features, groups))
    assert after < before / 3, (before, after)
    predicted_group0 = head.logits(features).numpy().ravel() > 0
    assert (predicted_group0 == (g == 0)).mean() > 0.95
    assert model(features).shape == (len(g), 1)
    head_ids = {id(v) for v in head.trainable_variables}
    assert head_ids and not head_ids & {id(v) for v in model.trainable_variables}


# Group 1: decisions +, +, +, - against labels 1, 1, 0, 0 (one error in four, three
# positive decisions); group 0: -, +, -, + against 1, 0, 1, 1 (three errors, two
# positive decisions). No logit is 0, where "positive" could be read two ways.
SMALL_LOGITS = np.array([2.0, 1.0, 3.0, -1.0, -2.0, 1.0, -1.0, 0.5], np.float32)
SMALL_LABELS = np.array([1, 1, 0, 0, 1, 0, 1, 1], np.float32)
SMALL_GROUPS = np.array([1, 1, 1, 1, 0, 0, 0, 0], np.int64)


def test_an_error_rate_constraint_is_judged_as_an_error_rate():
    """Snapshot selection must judge the rate TFCO trains: an error_rate bound
    was measured as the positive-prediction rate (3/4 instead of 1/4 here)."""
    spec = constraints.parse({"constraints": [
        {"rate": "error_rate", "group": 1, "upper_bound": 0.3},
        {"gap": "error_rate", "groups": [0, 1], "max_gap": 0.1}]}, [0, 1])
    _, point = constraints.measure(spec, SMALL_LOGITS, SMALL_LABELS, SMALL_GROUPS)
    # The gap's pair is (group 0, group 1): 3/4 - 1/4 and 1/4 - 3/4.
    assert point == pytest.approx([1 / 4 - 0.3, 3 / 4 - 1 / 4 - 0.1,
                                   1 / 4 - 3 / 4 - 0.1])
    from fairgate.metrics import intervals
    _, bounded = constraints.measure(spec, SMALL_LOGITS, SMALL_LABELS, SMALL_GROUPS,
                                     level=0.75)
    assert bounded[0] == pytest.approx(intervals.rate_interval(1, 4, 0.75)[1] - 0.3)
    assert bounded[1:] == pytest.approx([
        intervals.newcombe(3, 4, 1, 4, 0.75)[1] - 0.1,
        intervals.newcombe(1, 4, 3, 4, 0.75)[1] - 0.1])


@pytest.mark.parametrize("rate", sorted(constraints.RATES))
def test_measure_agrees_with_the_rate_tfco_trains(rate):
    """For every rate a constraint may name, the exact rate `measure` judges
    snapshots by equals TFCO's own 0-1 value of the constraint it trains."""
    spec = constraints.parse({"objective": rate, "constraints": [
        {"rate": rate, "group": 1, "upper_bound": 0.0},
        {"rate": rate, "group": 0, "upper_bound": 0.0}]}, [0, 1])
    slot = tfco_compat.BatchSlot()
    problem = constraints.build_problem(spec, lambda: slot.features, slot)

    @tf.function
    def tfco_values():
        slot.fill(tf.constant(SMALL_LOGITS), tf.constant(SMALL_LABELS),
                  tf.constant(SMALL_GROUPS))
        with tf.control_dependencies(problem.update_ops()):
            return problem.constraints()

    _, measured = constraints.measure(spec, SMALL_LOGITS, SMALL_LABELS, SMALL_GROUPS)
    assert measured == pytest.approx(tfco_values().numpy().tolist())
