"""Post-processing (trainer.mode group_thresholds): `choose` on small synthetic
eval sets, `decide`, and the vectorised bounds against fairgate.intervals."""
import json

import numpy as np
import pytest

from fairgate import intervals
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
