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


def _eval_config(metrics, *, baseline=False):
    """An EvalConfig holding `metrics` ((class_name, config) pairs of fairgate's
    gate metrics), one model or a candidate and a baseline."""
    import json

    import tensorflow_model_analysis as tfma
    specs = ([tfma.ModelSpec(name="candidate", prediction_key="probabilities"),
              tfma.ModelSpec(name="baseline", prediction_key="probabilities",
                             is_baseline=True)]
             if baseline else [tfma.ModelSpec(prediction_key="probabilities")])
    return tfma.EvalConfig(model_specs=specs, metrics_specs=[tfma.MetricsSpec(
        model_names=[s.name for s in specs] if baseline else [],
        metrics=[tfma.MetricConfig(class_name=name, module="fairgate.metrics.group_metrics",
                                   config=json.dumps(options))
                 for name, options in metrics])])


GATES = [("GroupRate", {"group_key": "g", "group": "a"}), ("GroupRate", {"group_key": "g"}),
         ("GroupRateGap", {"group_key": "g"}),
         ("MinGroupSize", {"group_key": "g", "groups": ["a"]}),
         ("ConditionalRateGap", {"group_key": "g", "condition_key": "c"}),
         ("GroupRate", {"group_key": "g", "threshold": 0.3, "name": "worst_fpr_at_0.3"}),
         ("OverallRate", {}),
         ("Regression", {"metric": "GroupRateGap", "group_key": "g"}),
         ("Regression", {"metric": "OverallRate", "rate": "accuracy"})]


def _combined(config):
    """The combiner computations TFMA runs for `config`, after its de-duplication."""
    from tensorflow_model_analysis.evaluators import (
        metrics_plots_and_validations_evaluator as evaluator)
    from tensorflow_model_analysis.metrics import metric_specs
    computations = metric_specs.to_computations(config.metrics_specs, config)
    return computations, evaluator._filter_and_separate_computations(computations)[0]


def test_every_gate_metric_of_an_eval_config_shares_one_counting_pass_per_model():
    """TFMA runs each distinct computation once, and each one looks every
    example's label and predictions up again: the gate metrics of an EvalConfig,
    whatever group feature, condition and threshold they count, name one
    counting computation per model."""
    from tensorflow_model_analysis.metrics import metric_types
    computations, combined = _combined(_eval_config(GATES))
    assert [c.keys[0].name for c in combined] == ["_fairgate_counts:c,g:0.3,0.5:0"]
    derived = [c for c in computations
               if isinstance(c, metric_types.DerivedMetricComputation)]
    assert len(derived) == len(GATES)
    # With a baseline, the candidate's pass also records the baseline's decisions
    # (for the Regressions); the baseline's own gate metrics count it alone.
    _, combined = _combined(_eval_config(GATES, baseline=True))
    assert sorted((c.keys[0].model_name, c.keys[0].name) for c in combined) == [
        ("baseline", "_fairgate_counts:c,g:0.3,0.5:0"),
        ("candidate", "_fairgate_counts:c,g:0.3,0.5:1")]


def _elements(n, seed=0):
    """`n` examples of groups a/b and strata m/f, with candidate and baseline
    scores that differ by group (binary, single output, as TFMA hands them)."""
    from tensorflow_model_analysis.metrics import metric_types
    rng = np.random.default_rng(seed)
    elements = []
    for _ in range(n):
        group, stratum = rng.choice([b"a", b"b"]), rng.choice([b"m", b"f"])
        label = float(rng.random() < 0.4)
        shift = 0.15 if group == b"b" else 0.0
        candidate, baseline = rng.random() * 0.8 + shift, rng.random()
        elements.append(metric_types.StandardMetricInputs({
            "labels": np.array([label], dtype=np.float32),
            "features": {"g": np.array([group]), "c": np.array([stratum])},
            "predictions": {
                "candidate": {"probabilities": np.array([candidate], dtype=np.float32)},
                "baseline": {"probabilities": np.array([baseline], dtype=np.float32)}}}))
    return elements


def _reference_counts(elements, model, group_key=None, condition_key=None,
                      threshold=0.5, paired=False):
    """Each example counted once into its (group, stratum) cell, by hand."""
    counts = {}
    for e in elements:
        cell_key = (e["features"][group_key][0].decode() if group_key else "",
                    e["features"][condition_key][0].decode()
                    if group_key and condition_key else "")
        label = float(e["labels"][0]) > 0.5
        mine = float(e["predictions"][model]["probabilities"][0]) > threshold
        if paired:
            theirs = float(e["predictions"]["baseline"]["probabilities"][0]) > threshold
            cell = counts.setdefault(cell_key, np.zeros(8))
            cell[4 * label + 2 * mine + theirs] += 1
        else:
            cell = counts.setdefault(cell_key, np.zeros(4))
            cell[(gm.rates.TP if label else gm.rates.FP) if mine
                 else (gm.rates.FN if label else gm.rates.TN)] += 1
    return counts


def test_each_gate_metric_reads_its_own_counts_from_the_shared_pass():
    elements = _elements(600)
    computations, _ = _combined(_eval_config(GATES, baseline=True))
    values = {(k.model_name, k.name): v for k, v in _computed(computations, elements).items()}
    fpr = "false_positive_rate"
    for model in ("candidate", "baseline"):
        by_group = _reference_counts(elements, model, "g")
        assert values[(model, "false_positive_rate/g=a")] == gm.group_rate(by_group, fpr, "a")
        assert values[(model, "worst_group_false_positive_rate")] == \
            gm.group_rate(by_group, fpr)
        assert values[(model, "false_positive_rate_gap")] == gm.rate_gap(by_group, fpr)
        assert values[(model, "min_group_size")] == gm.min_group_size(by_group, ["a"])
        strata = _reference_counts(elements, model, "g", "c")
        assert values[(model, "conditional_false_positive_rate_gap/c")] == \
            gm.conditional_rate_gap(strata, fpr)
        assert values[(model, "conditional_false_positive_rate_gap/c/upper95")] == \
            gm.conditional_rate_gap_interval(strata, fpr, None, 0.95)[1]
        at_03 = _reference_counts(elements, model, "g", threshold=0.3)
        assert values[(model, "worst_fpr_at_0.3")] == gm.group_rate(at_03, fpr)
        assert gm.group_rate(at_03, fpr) != gm.group_rate(by_group, fpr)
        overall = _reference_counts(elements, model)
        assert values[(model, "accuracy")] == gm.overall_rate(overall, "accuracy")
        assert values[(model, "accuracy/lower95")] == \
            gm.overall_rate_interval(overall, "accuracy", 0.95)[0]
    gap = functools.partial(gm.rate_gap, which=fpr, groups=None)
    regression = gm.paired_regression(
        _reference_counts(elements, "candidate", "g", paired=True), gap, False, 0.95)
    assert (values[("candidate", "false_positive_rate_gap/regression")],
            values[("candidate", "false_positive_rate_gap/regression_lower95")],
            values[("candidate", "false_positive_rate_gap/regression_upper95")]) == regression
    accuracy = functools.partial(gm.overall_rate, which="accuracy")
    assert values[("candidate", "accuracy/regression")] == gm.paired_regression(
        _reference_counts(elements, "candidate", paired=True), accuracy, True, 0.95)[0]
    assert values[("baseline", "accuracy/regression")] == 0.0


def test_the_threshold_picks_its_own_decisions_from_the_shared_pass():
    elements = _elements(400, seed=1)
    config = _eval_config([("GroupRate", {"group_key": "g", "threshold": 0.3,
                                          "name": "fpr_at_0.3"}),
                           ("GroupRate", {"group_key": "g", "name": "fpr_at_0.5"})],
                          baseline=True)
    computations, combined = _combined(config)
    assert len(combined) == 2  # one pass per model
    values = {(k.model_name, k.name): v for k, v in _computed(computations, elements).items()}
    for threshold in (0.3, 0.5):
        assert values[("candidate", f"fpr_at_{threshold}")] == gm.group_rate(
            _reference_counts(elements, "candidate", "g", threshold=threshold),
            "false_positive_rate")


@pytest.mark.parametrize("labels, predictions, model, prediction_key", [
    (np.array([1.0]), {"probabilities": np.array([0.7], dtype=np.float32)}, "",
     "probabilities"),
    (np.array([0], dtype=np.int64), np.array([0.2]), "", ""),
    (np.array([True]), {"m": {"probabilities": np.array([0.6])}}, "m", "probabilities"),
    # Read through TFMA's general function: multi-class scores (one pair per
    # class), a dict label, a prediction dict found by TFMA's default keys.
    (np.array([2]), np.array([0.1, 0.3, 0.6]), "", ""),
    ({"y": np.array([1.0])}, {"probabilities": np.array([0.4])}, "", "probabilities"),
    (np.array([1.0]), {"logistic": np.array([0.8])}, "", ""),
])
def test_scores_match_tfmas_general_lookup(labels, predictions, model, prediction_key):
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.metrics import metric_types, metric_util
    specs = [tfma.ModelSpec(name=model, prediction_key=prediction_key, label_key="y")]
    if model:
        specs.append(tfma.ModelSpec(name="other"))
    config = tfma.EvalConfig(model_specs=specs)
    element = metric_types.StandardMetricInputs({"labels": labels,
                                                 "predictions": predictions})
    expected = [(float(np.reshape(l, -1)[0]) > 0.5, float(np.reshape(p, -1)[0]))
                for l, p, _ in metric_util.to_label_prediction_example_weight(
                    element, eval_config=config, model_name=model)]
    assert gm._Scores(config, model, "")(element) == expected


def test_a_binary_models_scores_are_read_without_tfmas_general_lookup(monkeypatch):
    """The direct read is what makes one counting pass cheap: TFMA's general
    function is not called for a single-output binary model."""
    from tensorflow_model_analysis.metrics import metric_util

    def refuse(*args, **kwargs):
        raise AssertionError("general lookup called")
    monkeypatch.setattr(metric_util, "to_label_prediction_example_weight", refuse)
    elements = _elements(50)
    computations, _ = _combined(_eval_config(GATES, baseline=True))
    assert _computed(computations, elements)


def test_a_missing_group_feature_is_named():
    from tensorflow_model_analysis.metrics import metric_types
    computations, _ = _combined(_eval_config([("GroupRate", {"group_key": "young"})]))
    element = metric_types.StandardMetricInputs({
        "labels": np.array([1.0]), "features": {"g": np.array([b"a"])},
        "predictions": {"probabilities": np.array([0.4])}})
    with pytest.raises(ValueError, match="group feature 'young' is not in the evaluated"):
        _computed(computations, [element])
