"""The rate table (fairgate/metrics/rates.py) against rates computed straight from
decisions and labels, and the one spelling of a group value (fairgate/metrics/groups.py)."""
import math
import subprocess
import sys

import numpy as np
import pytest

from fairgate.metrics import rates
from fairgate.metrics.groups import group_array, group_text, group_value

# Each rate as the textbook defines it, from decisions and labels directly (an
# independent reference for the table's cells and populations).
REFERENCE = {
    "accuracy": lambda d, y: np.mean(d == y),
    "error_rate": lambda d, y: np.mean(d != y),
    "false_positive_rate": lambda d, y: np.mean(d[~y]),
    "false_negative_rate": lambda d, y: np.mean(~d[y]),
    "true_positive_rate": lambda d, y: np.mean(d[y]),
    "positive_prediction_rate": lambda d, y: np.mean(d),
}


def test_the_table_holds_every_rate_once_under_its_canonical_name():
    assert sorted(rates.RATES) == sorted(REFERENCE)
    assert rates.canonical("positive_rate") == "positive_prediction_rate"
    assert rates.canonical("precision") == "precision"  # the caller rejects it
    with pytest.raises(ValueError, match="unknown rate 'precision'"):
        rates.get("precision")


@pytest.mark.parametrize("which", sorted(REFERENCE))
def test_rates_match_their_definition_on_random_decisions(which):
    rng = np.random.default_rng(7)
    decisions = rng.random(500) < 0.4
    labels = rng.random(500) < 0.3
    counts = rates.confusion_counts(decisions, labels.astype(int))
    assert counts.sum() == 500
    expected = REFERENCE[which](decisions, labels)
    assert rates.value(counts, which) == pytest.approx(expected, abs=1e-12)
    mask = rng.random(500) < 0.5
    masked = rates.confusion_counts(decisions, labels.astype(int), mask)
    assert rates.value(masked, which) == pytest.approx(
        REFERENCE[which](decisions[mask], labels[mask]), abs=1e-12)


def test_rates_of_one_cell_and_the_alias():
    counts = np.array([6, 2, 8, 4], dtype=float)  # TP, FP, TN, FN
    assert rates.value(counts, "false_positive_rate") == pytest.approx(0.2)
    assert rates.value(counts, "false_negative_rate") == pytest.approx(0.4)
    assert rates.value(counts, "true_positive_rate") == pytest.approx(0.6)
    assert rates.value(counts, "positive_rate") == pytest.approx(0.4)
    assert rates.value(counts, "positive_prediction_rate") == pytest.approx(0.4)
    assert rates.value(counts, "accuracy") == pytest.approx(0.7)
    assert rates.value(counts, "error_rate") == pytest.approx(0.3)
    assert rates.fraction(counts, "false_positive_rate") == (2, 10)
    assert math.isnan(rates.value(np.array([3, 0, 0, 0]), "false_positive_rate"))


def test_fraction_is_element_wise_over_arrays():
    tp, fp = np.array([0, 3, 5]), np.array([4, 2, 0])
    events, examples = rates.fraction((tp, fp, 4 - fp, 5 - tp), "error_rate")
    assert events.tolist() == [4 + 5, 2 + 2, 0 + 0]
    assert examples.tolist() == [9, 9, 9]


def test_population_behind_a_metric_name():
    assert rates.population_named_in("worst_group_false_positive_rate") == "negatives"
    assert rates.population_named_in("true_positive_rate/Young=1/lower95") == "positives"
    assert rates.population_named_in("positive_rate_gap") == "examples"
    assert rates.population_named_in("accuracy") == "examples"


@pytest.mark.parametrize("value, expected", [
    (0, 0), (np.int64(1), 1), (1.0, 1), (np.float32(1.0), 1), (0.5, 0.5),
    (b"north", "north"), (np.bytes_(b"north"), "north"), (" north ", "north"),
    (np.array([1]), 1), (np.array([b"north"]), "north"), (np.array([1.0]), 1),
    (np.array([], dtype=np.int64), ""), (None, None)])
def test_a_group_value_has_one_spelling(value, expected):
    assert group_value(value) == expected
    assert type(group_value(value)) is type(expected)
    assert group_text(value) == str(expected)


def test_group_columns_compare_with_config_values():
    text = group_array(np.array([b"a", b"b ", b"a"]))
    assert (text == "a").tolist() == [True, False, True]
    assert (text == "b").tolist() == [False, True, False]
    numbers = group_array(np.array([[0], [1], [1]], np.int64))
    assert numbers.dtype == np.int64 and (numbers == 1).tolist() == [False, True, True]


def test_rates_and_groups_import_without_tensorflow():
    code = ("import sys; import fairgate.metrics.rates, fairgate.metrics.groups, fairgate.data.run_columns; "
            "sys.exit('tensorflow' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
