"""The gate metrics' arithmetic, on confusion counts worked out by hand."""
import math

import numpy as np
import pytest

from fairgate import group_metrics as gm


def cell(tp=0, fp=0, tn=0, fn=0):
    return np.array([tp, fp, tn, fn], dtype=float)


# Two groups, two strata ("m", "f") of a conditioning feature.
COUNTS = {
    ("0", "m"): cell(tp=10, fp=2, tn=8, fn=0),    # FPR 0.2 on 10 negatives
    ("0", "f"): cell(tp=5, fp=1, tn=29, fn=5),    # FPR 1/30
    ("1", "m"): cell(tp=20, fp=6, tn=14, fn=0),   # FPR 0.3 on 20 negatives
    ("1", "f"): cell(tp=5, fp=0, tn=10, fn=5),    # FPR 0.0 on 10 negatives
}


def test_rates_of_one_cell():
    counts = cell(tp=6, fp=2, tn=8, fn=4)
    assert gm.rate(counts, "false_positive_rate") == pytest.approx(0.2)
    assert gm.rate(counts, "false_negative_rate") == pytest.approx(0.4)
    assert gm.rate(counts, "true_positive_rate") == pytest.approx(0.6)
    assert gm.rate(counts, "positive_rate") == pytest.approx(0.4)
    assert gm.rate(counts, "accuracy") == pytest.approx(0.7)
    assert math.isnan(gm.rate(cell(tp=3), "false_positive_rate"))  # no negatives


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


@pytest.mark.parametrize("value, name", [
    (np.array([1]), "1"), (np.array([b"north"]), "north"), (0, "0"),
    (np.array([1.0]), "1"), ("south", "south")])
def test_group_values_have_one_spelling(value, name):
    assert gm.group_name(value) == name


def test_metrics_name_themselves_and_reject_bad_config():
    assert gm.GroupRate(group_key="Young", group=0).name == "false_positive_rate/Young=0"
    assert gm.GroupRate(group_key="Young").name == "worst_group_false_positive_rate"
    assert gm.GroupRateGap(group_key="Young").name == "false_positive_rate_gap"
    assert gm.ConditionalRateGap(group_key="Young", condition_key="Male").name == \
        "conditional_false_positive_rate_gap/Male"
    with pytest.raises(ValueError, match="rate must be one of"):
        gm.GroupRate(group_key="Young", rate="precision")
    with pytest.raises(ValueError, match="list of groups"):
        gm.MinGroupSize(group_key="Young", groups=[])
