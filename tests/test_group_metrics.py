"""The gate metrics' arithmetic, on confusion counts worked out by hand."""
import functools
import math

import numpy as np
import pytest

from fairgate.metrics import group_metrics as gm


def cell(tp=0, fp=0, tn=0, fn=0):
    return np.array([tp, fp, tn, fn], dtype=float)


# Two groups, two strata ("m", "f") of a conditioning feature.
COUNTS = {
    ("0", "m"): cell(tp=10, fp=2, tn=8, fn=0),    # FPR 0.2 on 10 negatives
    ("0", "f"): cell(tp=5, fp=1, tn=29, fn=5),    # FPR 1/30
    ("1", "m"): cell(tp=20, fp=6, tn=14, fn=0),   # FPR 0.3 on 20 negatives
    ("1", "f"): cell(tp=5, fp=0, tn=10, fn=5),    # FPR 0.0 on 10 negatives
}


def test_group_rate_named_group_and_worst_group():
    # Group 0: fp 3 of 40 negatives; group 1: fp 6 of 30.
    assert gm.group_rate(COUNTS, "false_positive_rate", "0") == pytest.approx(3 / 40)
    assert gm.group_rate(COUNTS, "false_positive_rate", "1") == pytest.approx(6 / 30)
    assert gm.group_rate(COUNTS, "false_positive_rate") == pytest.approx(6 / 30)
    # For accuracy the worst group is the lowest: 0 -> 52/60, 1 -> 49/60.
    assert gm.group_rate(COUNTS, "accuracy") == pytest.approx(49 / 60)
    assert math.isnan(gm.group_rate(COUNTS, "false_positive_rate", "2"))


def test_gap_is_nan_when_a_listed_group_is_absent():
    assert gm.rate_gap(COUNTS, "false_positive_rate") == pytest.approx(6 / 30 - 3 / 40)
    assert math.isnan(gm.rate_gap(COUNTS, "false_positive_rate", ["0", "1", "2"]))
    only_one = {k: v for k, v in COUNTS.items() if k[0] == "0"}
    assert math.isnan(gm.rate_gap(only_one, "false_positive_rate"))


def test_conditional_gap_weights_strata_by_negatives():
    # Stratum m: |0.2 - 0.3| on 30 negatives; stratum f: |1/30 - 0| on 40.
    expected = (30 * 0.1 + 40 * (1 / 30)) / 70
    assert gm.conditional_rate_gap(COUNTS, "false_positive_rate") == \
        pytest.approx(expected)
    # A stratum where one group has negatives and the other none cannot be
    # compared; judging the other stratum alone would pass by absence: NaN.
    partial = dict(COUNTS)
    partial[("1", "f")] = cell(tp=5, fn=5)
    assert math.isnan(gm.conditional_rate_gap(partial, "false_positive_rate"))
    # A stratum without negatives at all hides nothing: it is left out.
    no_negatives = {**COUNTS, ("0", "x"): cell(tp=3), ("1", "x"): cell(fn=2)}
    assert gm.conditional_rate_gap(no_negatives, "false_positive_rate") == \
        pytest.approx(expected)
    # The marginal gap can hide what strata show (and vice versa).
    assert gm.conditional_rate_gap(COUNTS, "false_positive_rate") != \
        pytest.approx(gm.rate_gap(COUNTS, "false_positive_rate"))


def test_min_group_size_counts_a_missing_group_as_zero():
    assert gm.min_group_size(COUNTS, ["0", "1"]) == 60
    assert gm.min_group_size(COUNTS, ["0", "1", "2"]) == 0


def test_metrics_name_themselves_and_reject_bad_config():
    assert gm.GroupRate(group_key="Young", group=0).name == "false_positive_rate/Young=0"
    assert gm.GroupRate(group_key="Young").name == "worst_group_false_positive_rate"
    assert gm.GroupRateGap(group_key="Young").name == "false_positive_rate_gap"
    assert gm.ConditionalRateGap(group_key="Young", condition_key="Male").name == \
        "conditional_false_positive_rate_gap/Male"
    with pytest.raises(ValueError, match="rate must be one of"):
        gm.GroupRate(group_key="Young", rate="precision")
    # positive_rate is an alias: it measures positive_prediction_rate and keeps
    # its spelling in the default name (thresholds and dashboards key on it).
    alias = gm.GroupRate(group_key="Young", rate="positive_rate")
    assert alias.name == "worst_group_positive_rate"
    # Positive decisions: group 0 18 of 60, group 1 31 of 60 (the worst).
    assert gm.group_rate(COUNTS, "positive_rate") == \
        gm.group_rate(COUNTS, "positive_prediction_rate") == pytest.approx(31 / 60)
    assert gm.GroupRate(group_key="Young", group=0.0).name == "false_positive_rate/Young=0"
    with pytest.raises(ValueError, match="list of groups"):
        gm.MinGroupSize(group_key="Young", groups=[])


# --- Confidence bounds, against independent references (scipy on the same counts;
# Newcombe 1998's published example). -----------------------------------------------

from scipy import stats  # noqa: E402

from fairgate.metrics import intervals  # noqa: E402


def _scipy_bounds(x, n, level, method):
    # scipy's intervals are two-sided: each end of a (2 * level - 1) interval is a
    # one-sided `level` bound.
    ci = stats.binomtest(x, n).proportion_ci(2 * level - 1, method)
    return ci.low, ci.high


@pytest.mark.parametrize("x, n, level", [(12, 240, 0.95), (65, 750, 0.95),
                                         (30, 100, 0.99), (500, 1971, 0.9)])
def test_wilson_matches_scipy(x, n, level):
    assert intervals.wilson(x, n, level) == pytest.approx(
        _scipy_bounds(x, n, level, "wilson"), abs=1e-10)
    assert intervals.rate_interval(x, n, level) == pytest.approx(
        _scipy_bounds(x, n, level, "wilson"), abs=1e-10)


@pytest.mark.parametrize("x, n", [(0, 40), (3, 40), (38, 40), (2, 7)])
def test_small_counts_use_clopper_pearson(x, n):
    assert intervals.rate_method(x, n) == "clopper-pearson"
    assert intervals.rate_interval(x, n, 0.95) == pytest.approx(
        _scipy_bounds(x, n, 0.95, "exact"), abs=1e-8)
    assert math.isnan(intervals.rate_interval(0, 0, 0.95)[0])


def test_newcombe_reproduces_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, Table II example (a):
    # 56/70 - 48/80 = 0.2, method 10 (hybrid score) 95% CI 0.0524 to 0.3339.
    low, high = intervals.newcombe(56, 70, 48, 80, level=0.975)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_newcombe_from_scipy_wilson_intervals():
    x1, n1, x2, n2, level = 30, 750, 15, 240, 0.95
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _scipy_bounds(x1, n1, level, "wilson")
    l2, u2 = _scipy_bounds(x2, n2, level, "wilson")
    expected = (p1 - p2 - math.hypot(p1 - l1, u2 - p2),
                p1 - p2 + math.hypot(u1 - p1, p2 - l2))
    assert intervals.newcombe(x1, n1, x2, n2, level) == pytest.approx(expected)


def test_gap_bounds_over_groups():
    a, b, c = (15, 240), (65, 750), (20, 300)
    two = intervals.gap_interval([a, b], 0.95)
    # Two groups: the upper bound is the larger Newcombe upper bound of either
    # ordering at the same level; the lower bound is Bonferroni over the two.
    assert two[1] == pytest.approx(max(intervals.newcombe(*a, *b, 0.95)[1],
                                       intervals.newcombe(*b, *a, 0.95)[1]))
    assert two[0] == max(0.0, intervals.newcombe(*b, *a, 0.975)[0])
    three = intervals.gap_interval([a, b, c], 0.95)
    assert three[1] >= two[1]
    point = 65 / 750 - 15 / 240
    assert three[0] <= point <= three[1]


def test_gate_metric_intervals_from_counts():
    fpr0 = intervals.rate_interval(3, 40, 0.95)  # group 0: 3 of 40 negatives
    assert gm.group_rate_interval(COUNTS, "false_positive_rate", "0", 0.95) == fpr0
    worst = gm.group_rate_interval(COUNTS, "false_positive_rate", None, 0.95)
    assert worst[1] == max(fpr0[1], intervals.rate_interval(6, 30, 0.95)[1])
    assert gm.overall_rate_interval(COUNTS, "accuracy", 0.95) == \
        intervals.rate_interval(101, 120, 0.95)
    gap = gm.rate_gap_interval(COUNTS, "false_positive_rate", None, 0.95)
    assert gap == intervals.gap_interval([(3, 40), (6, 30)], 0.95)
    low, high = gm.conditional_rate_gap_interval(COUNTS, "false_positive_rate", None,
                                                 0.95)
    point = gm.conditional_rate_gap(COUNTS, "false_positive_rate")
    assert low <= point <= high
    # Each stratum at level 1 - 0.05 / 2 (Bonferroni over the two strata).
    m = intervals.gap_interval([(2, 10), (6, 20)], 0.975)
    f = intervals.gap_interval([(1, 30), (0, 10)], 0.975)
    assert high == pytest.approx((30 * m[1] + 40 * f[1]) / 70)
    partial = dict(COUNTS)
    partial[("1", "f")] = cell(tp=5, fn=5)
    assert math.isnan(gm.conditional_rate_gap_interval(
        partial, "false_positive_rate", None, 0.95)[1])


def _paired(table):
    """{(group, stratum): {(label, candidate, baseline): count}} -> joint cells."""
    result = {}
    for cell_key, entries in table.items():
        joint = np.zeros(8)
        for (label, mine, theirs), count in entries.items():
            joint[4 * label + 2 * mine + theirs] = count
        result[cell_key] = joint
    return result


def test_paired_regression_is_zero_for_the_same_decisions():
    same = _paired({("0", ""): {(0, 1, 1): 30, (0, 0, 0): 200, (1, 1, 1): 150},
                    ("1", ""): {(0, 1, 1): 20, (0, 0, 0): 300, (1, 0, 0): 100}})
    gap = functools.partial(gm.rate_gap, which="false_positive_rate", groups=None)
    assert gm.paired_regression(same, gap, False, 0.95) == (0.0, 0.0, 0.0)


def test_paired_accuracy_regression_matches_the_discordant_pairs_formula():
    # 1,000 examples; the candidate alone is right on b = 40, the baseline alone on
    # c = 70: accuracy drops by (c - b) / n = 0.03. Paired normal reference (the
    # McNemar variance): se = sqrt(b + c - (c - b)^2 / n) / n.
    b, c, n = 40, 70, 1000
    table = _paired({("0", ""): {(1, 1, 0): b, (1, 0, 1): c, (1, 1, 1): 600,
                                 (0, 0, 0): n - b - c - 600}})
    accuracy = functools.partial(gm.overall_rate, which="accuracy")
    regression, low, high = gm.paired_regression(table, accuracy, True, 0.95)
    assert regression == pytest.approx(0.03)
    se = math.sqrt(b + c - (c - b) ** 2 / n) / n
    z = stats.norm.ppf(0.95)
    assert low == pytest.approx(0.03 - z * se, abs=0.003)
    assert high == pytest.approx(0.03 + z * se, abs=0.003)
    assert gm.paired_regression(table, accuracy, True, 0.95) == (regression, low, high)


def test_regression_metric_pairs_candidate_and_baseline_predictions():
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_types
    config = tfma.EvalConfig(model_specs=[
        tfma.ModelSpec(name="candidate"), tfma.ModelSpec(name="baseline",
                                                         is_baseline=True)])
    metric = gm.Regression(metric="GroupRateGap", group_key="g",
                           rate="false_positive_rate")
    assert metric.name == "false_positive_rate_gap/regression_lower95"
    computations = metric.computations(eval_config=config,
                                       model_names=["candidate", "baseline"])
    rng = np.random.default_rng(0)
    elements = []
    for i in range(2000):  # negatives; the candidate flags group b 20% more often
        group = b"a" if i % 2 else b"b"
        u = rng.random()
        elements.append(metric_types.StandardMetricInputs({
            "labels": np.array([0.0]), "features": {"g": np.array([group])},
            "predictions": {"baseline": np.array([0.9 if u < 0.1 else 0.1]),
                            "candidate": np.array([
                                0.9 if u < (0.3 if group == b"b" else 0.1) else 0.1])}}))
    values = {(k.model_name, k.name): v for k, v in _computed(computations, elements).items()}
    regression = values[("candidate", "false_positive_rate_gap/regression")]
    assert regression == pytest.approx(0.2, abs=0.03)
    assert 0.1 < values[("candidate", metric.name)] < regression
    assert values[("baseline", metric.name)] == 0.0
    # Without a baseline in the config (the first run) nothing is compared.
    alone = gm.Regression(metric="GroupRateGap", group_key="g").computations(
        eval_config=tfma.EvalConfig(model_specs=[tfma.ModelSpec()]))
    assert all(math.isnan(v) for v in _computed(alone, elements[:10]).values())


def _computed(computations, elements):
    """What TFMA computes from `computations` on `elements` (one slice): each
    distinct combiner over the elements, then the derived metrics in order;
    the private counts (names starting "_") are dropped, as TFMA drops them."""
    from tensorflow_model_analysis.metrics import metric_types
    out, done = {}, set()
    for computation in computations:
        if isinstance(computation, metric_types.DerivedMetricComputation):
            out.update(computation.result(out))
        elif computation not in done:
            done.add(computation)
            combiner = computation.combiner
            accumulator = combiner.create_accumulator()
            for element in elements:
                accumulator = combiner.add_input(accumulator, element)
            out.update(combiner.extract_output(accumulator))
    return {k: v for k, v in out.items() if not k.name.startswith("_")}


def test_policy_picks_the_gated_bound():
    point = gm.GroupRate(group_key="Young", group=0)
    assert point.name == "false_positive_rate/Young=0" and point.policy == "point"
    confident = gm.GroupRate(group_key="Young", group=0, policy="confidence")
    assert confident.name == "false_positive_rate/Young=0/upper95"
    assert gm.OverallRate(policy="confidence", level=0.99).name == "accuracy/lower99"
    assert gm.GroupRateGap(group_key="Young", policy="confidence",
                           level=0.975).name == "false_positive_rate_gap/upper97.5"
    with pytest.raises(ValueError, match="policy must be one of point, confidence"):
        gm.GroupRate(group_key="Young", policy="bayes")
    with pytest.raises(ValueError, match="level must be a number strictly between"):
        gm.GroupRate(group_key="Young", policy="confidence", level=1.0)
    with pytest.raises(ValueError, match="metric must be one of"):
        gm.Regression(metric="MinGroupSize", group_key="Young")


@pytest.mark.parametrize("kind, options", [
    ("GroupRate", {"group": 0}), ("GroupRate", {}), ("OverallRate", {}),
    ("GroupRateGap", {}), ("ConditionalRateGap", {})])
def test_every_gate_metric_emits_point_and_bounds(kind, options):
    rate = "accuracy" if kind == "OverallRate" else "false_positive_rate"
    quantity = gm._quantity(kind, "q", rate, options.get("group"))
    out = quantity.outputs(COUNTS, level=0.95)
    assert set(out) == {"q", "q/lower95", "q/upper95"}
    assert out["q/lower95"] <= out["q"] <= out["q/upper95"]


def test_gate_metrics_that_need_the_same_counts_share_one_counting_pass():
    """TFMA runs each distinct computation once: the gate metrics on one group
    feature and threshold count the examples once per model, and a metric on
    other counts (a condition feature, another threshold) counts its own."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.evaluators import (
        metrics_plots_and_validations_evaluator as evaluator)
    from tensorflow_model_analysis.metrics import metric_types
    config = tfma.EvalConfig(model_specs=[tfma.ModelSpec()])
    metrics = [gm.GroupRate(group_key="g", group="a"), gm.GroupRate(group_key="g"),
               gm.GroupRateGap(group_key="g"), gm.MinGroupSize(group_key="g", groups=["a"]),
               gm.ConditionalRateGap(group_key="g", condition_key="c"),
               gm.GroupRate(group_key="g", threshold=0.3), gm.OverallRate()]
    computations = [c for m in metrics for c in m.computations(eval_config=config)]
    combined = [c for c in evaluator._filter_and_separate_computations(computations)[0]]
    assert sorted(c.keys[0].name for c in combined) == sorted([
        "_fairgate__GroupCountsCombiner:::0.5",
        "_fairgate__GroupCountsCombiner:g:c:0.5",
        "_fairgate__GroupCountsCombiner:g::0.3",
        "_fairgate__GroupCountsCombiner:g::0.5"])
    derived = [c for c in computations
               if isinstance(c, metric_types.DerivedMetricComputation)]
    assert len(derived) == len(metrics)
