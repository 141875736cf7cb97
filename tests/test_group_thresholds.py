"""Post-processing (trainer.mode group_thresholds): `choose` on small synthetic
eval sets, `decide`, and the vectorised bounds against fairgate.metrics.intervals."""
import json

import numpy as np
import pytest

from fairgate.metrics import intervals
from trainer_module import constraints, group_thresholds


def _biased(n=4000, seed=0):
    """Group 0's negatives score like half-positives: one threshold gives group 0
    a much higher FPR than group 1."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n)
    labels = rng.integers(0, 2, n)
    logits = 2.0 * labels - 1.0 + 1.2 * ((groups == 0) & (labels == 0)) + \
        rng.normal(0, 0.8, n)
    return logits.astype(np.float32), labels, groups


def _spec(raw, groups):
    return constraints.parse(raw, sorted(set(groups.tolist())))


def _accuracy(positive, labels):
    return float((positive == (labels == 1)).mean())


@pytest.mark.parametrize("level", [None, 0.75])
def test_bound_is_met_on_eval_and_beats_every_feasible_single_threshold(level):
    logits, labels, groups = _biased()
    spec = _spec({"constraints": [{"rate": "false_positive_rate", "group": 0,
                                   "upper_bound": 0.05}]}, groups)
    thresholds = group_thresholds.choose(spec, logits, labels, groups, level=level)
    assert set(thresholds) == {0, 1}
    assert thresholds[1] == 0.0  # not named by any constraint: the model's own
    margins = logits - group_thresholds.per_example(thresholds, groups)
    _, violations = constraints.measure(spec, margins, labels, groups, level=level)
    assert max(violations) <= 0, violations
    accuracy = _accuracy(group_thresholds.decide(thresholds, logits, groups), labels)
    best_single = 0.0
    for t in group_thresholds.candidate_thresholds(logits, 2000):
        _, v = constraints.measure(spec, logits - t, labels, groups, level=level)
        if max(v) <= 0:
            best_single = max(best_single, _accuracy(logits > t, labels))
    assert best_single > 0
    assert accuracy >= best_single, (accuracy, best_single)


def test_gap_over_two_groups_exhaustive_and_three_groups_coordinate_descent():
    logits, labels, groups = _biased(6000, seed=1)
    spec2 = _spec({"constraints": [{"gap": "false_positive_rate", "groups": [0, 1],
                                    "max_gap": 0.03}]}, groups)
    two = group_thresholds.choose(spec2, logits, labels, groups, level=0.75)
    _, v = constraints.measure(spec2, logits - group_thresholds.per_example(two, groups),
                               labels, groups, level=0.75)
    assert max(v) <= 0 and two[0] != two[1]
    # a third group (text values) and a gap over all three
    names = np.array(["a", "b", "c"])[np.random.default_rng(2).integers(0, 3, len(groups))]
    logits3 = logits + 0.6 * ((names == "c") & (labels == 0))
    spec3 = _spec({"constraints": [{"gap": "false_positive_rate",
                                    "groups": ["a", "b", "c"], "max_gap": 0.05}]}, names)
    three = group_thresholds.choose(spec3, logits3, labels, names.astype(bytes),
                                    level=None)
    assert set(three) == {"a", "b", "c"}  # bytes decoded
    _, v = constraints.measure(spec3, logits3 - group_thresholds.per_example(three, names),
                               labels, names)
    assert max(v) <= 0, v


def test_infeasible_constraints_name_the_constraint():
    logits, labels, groups = _biased(400)
    alone = _spec({"constraints": [{"rate": "false_positive_rate", "group": 0,
                                    "upper_bound": 0.0}]}, groups)
    with pytest.raises(ValueError, match=r"false_positive_rate\(group=0\) <= 0"):
        group_thresholds.choose(alone, logits, labels, groups, level=0.95)
    together = _spec({"constraints": [
        {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.01},
        {"rate": "true_positive_rate", "group": 0, "lower_bound": 0.99}]}, groups)
    with pytest.raises(ValueError, match="together"):
        group_thresholds.choose(together, logits, labels, groups)


def test_decide_matches_keys_after_json_and_uses_the_default_for_unseen_groups():
    thresholds = json.loads(json.dumps({0: 0.5, 1: -0.5}))  # keys become "0", "1"
    logits = np.array([0.6, 0.4, -0.4, -0.6, 0.1, -0.1], np.float32)
    groups = np.array([0, 0, 1, 1, 7, 7])
    assert group_thresholds.decide(thresholds, logits, groups).tolist() == \
        [True, False, True, False, True, False]
    assert group_thresholds.decide(thresholds, logits, groups, default=0.2).tolist()[4:] \
        == [False, False]


def test_vectorised_bounds_equal_fairgate_intervals():
    for x, n in ((0, 10), (3, 40), (17, 200), (199, 200)):
        low, high = group_thresholds._rate_interval(np.array([x]), np.array([n]), 0.9)
        assert np.allclose([low[0], high[0]], intervals.rate_interval(x, n, 0.9))


def test_candidates_keep_every_cut_for_adjacent_and_huge_logits():
    # adjacent float32 logits (a float64 midpoint rounds onto one of them) and
    # logits beyond 2**24 (where min - 1 == min in float32)
    near = np.float32(1.0) + np.arange(6, dtype=np.float32) * np.finfo(np.float32).eps
    huge = np.float32(3e7) + np.arange(4, dtype=np.float32) * 2
    for logits in (near, huge, -huge):
        candidates = group_thresholds.candidate_thresholds(logits)
        assert candidates.dtype == np.float32
        cuts = {int((logits > t).sum()) for t in candidates}
        assert cuts == set(range(len(logits) + 1)), (logits, candidates)
    many = np.random.default_rng(0).normal(0, 1, 5000).astype(np.float32)
    capped = group_thresholds.candidate_thresholds(many, 100)
    assert len(capped) <= 102  # the cap, the all-positive one and 0.0
    assert {0, len(many)} <= {int((many > t).sum()) for t in capped}


@pytest.mark.parametrize("level", [0.75, 0.95])
def test_vectorised_rate_and_gap_bounds_equal_fairgate_intervals_at_two_levels(level):
    counts = [(0, 10), (3, 40), (17, 200), (199, 200), (60, 61), (250, 1000)]
    x = np.array([c[0] for c in counts])
    n = np.array([c[1] for c in counts])
    low, high = group_thresholds._rate_interval(x, n, level)
    expected = np.array([intervals.rate_interval(a, b, level) for a, b in counts])
    np.testing.assert_allclose(np.stack([low, high], 1), expected, rtol=1e-9, atol=1e-12)
    z = intervals.z_value(level)
    xa, xb = x[:, None], x[None, :]
    na, nb = n[:, None], n[None, :]
    upper = group_thresholds._newcombe_upper(xa, na, xb, nb, z)
    expected = np.array([[intervals.newcombe(a, m, b, k, level)[1] for b, k in counts]
                         for a, m in counts])
    np.testing.assert_allclose(upper, expected, rtol=1e-9, atol=1e-12)
    # and the gap constraint's violation is the larger ordered Newcombe bound
    spec = constraints.parse({"constraints": [{"gap": "false_positive_rate",
                                               "groups": [0, 1], "max_gap": 0.1}]}, [0, 1])
    logits, labels, groups = _biased(3000, seed=4)
    table = {g: group_thresholds._Group(g, logits[groups == g], labels[groups == g])
             for g in (0, 1)}
    index = {0: np.arange(len(table[0].candidates))[:, None],
             1: np.arange(len(table[1].candidates))[None, :]}
    violation = group_thresholds._violation(spec.constraints[0], index, table, level)
    for i, j in ((0, 0), (5, 40), (100, 7), (-1, -1)):
        i, j = i % violation.shape[0], j % violation.shape[1]
        fa, fb = (int(table[0].fp[i]), table[0].n_neg), (int(table[1].fp[j]), table[1].n_neg)
        gap = max(intervals.newcombe(*fa, *fb, level)[1],
                  intervals.newcombe(*fb, *fa, level)[1])
        assert violation[i, j] == pytest.approx(gap - 0.1, abs=1e-12)


def test_choose_on_20000_eval_examples_is_fast():
    import time
    logits, labels, groups = _biased(20000, seed=5)
    spec = _spec({"constraints": [{"gap": "false_positive_rate", "groups": [0, 1],
                                   "max_gap": 0.05}]}, groups)
    start = time.perf_counter()
    group_thresholds.choose(spec, logits, labels, groups, level=0.75)
    assert time.perf_counter() - start < 1.0


def test_a_float_group_column_is_refused_in_mode_group_thresholds():
    import tensorflow as tf
    from tensorflow_metadata.proto.v0 import schema_pb2
    from trainer_module import run_fn
    schema = schema_pb2.Schema()
    for name, kind in (("score", schema_pb2.FLOAT), ("region", schema_pb2.BYTES),
                       ("age", schema_pb2.INT)):
        schema.feature.add(name=name, type=kind)
    with pytest.raises(ValueError, match=r"data.group column 'score' is of type FLOAT: "
                                         r"trainer.mode group_thresholds"):
        run_fn._group_dtype(schema, "score", "group_thresholds")
    assert run_fn._group_dtype(schema, "region", "group_thresholds") == tf.string
    assert run_fn._group_dtype(schema, "age", "group_thresholds") == tf.int64
    assert run_fn._group_dtype(schema, "score", "tfco") == tf.float32  # not served
