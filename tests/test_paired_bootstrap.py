"""The paired bootstrap, evaluated for all replicates at once, against the
per-replicate loop it replaced: the same seeded draws reduced one replicate at a
time by the scalar arithmetic the gates used before (tests/bootstrap_reference.py,
copied as it was at commit e44ed6b). Every observed value, replicate, bound and
verdict must be the same bits, so no gate's verdict and no report figure moves:
a changed RNG stream, draw order or reduction fails here."""
import math

import numpy as np
import pytest

from fairgate.metrics import group_metrics as gm
from fairgate.metrics import intervals, rates
from fairgate.metrics import side_effects as se
from tests import bootstrap_reference as old


# --- Tables and quantities. --------------------------------------------------------

def _tables(seed=11, count=14):
    """Random joint tables over up to three groups and three strata, with empty
    groups (all-zero cells), tiny groups (1-3 examples), missing cells, one-sided
    label mixes; the first is empty, the second holds a single example, the
    third a group with one negative in a stratum."""
    rng = np.random.default_rng(seed)
    one_negative = np.array([1, 0, 0, 0, 9, 3, 2, 20], dtype=float)
    tables = [{("a", ""): np.zeros(8), ("b", ""): np.zeros(8)},
              {("a", ""): np.eye(8)[5], ("b", ""): np.zeros(8)},
              # b's one negative in stratum m is missing from some replicates
              {("a", "m"): np.full(8, 10.0), ("b", "m"): one_negative,
               ("a", "f"): np.full(8, 5.0), ("b", "f"): np.full(8, 4.0)}]
    while len(tables) < count:
        groups = ["a", "b", "c"][:rng.integers(1, 4)]
        strata = ["", "m", "f"][:rng.integers(1, 4)]
        table = {}
        for g in groups:
            for s in strata:
                if rng.random() < 0.15:
                    continue  # a cell missing altogether
                size = rng.choice([0, 1, 2, 3, 12, 150])
                p = rng.dirichlet(np.ones(8) * rng.choice([0.2, 1.0]))
                table[(g, s)] = rng.multinomial(size, p).astype(float)
        tables.append(table)
    return tables


# Rates of each denominator (negatives, positives, examples), both directions.
WHICH = ("false_positive_rate", "accuracy", "true_positive_rate", "error_rate")


def _quantities(new):
    """(name, function of counts) for every quantity a gate can bootstrap: the
    vectorised functions (`new`) or the reference ones."""
    group_rate = gm.group_rate if new else old.group_rate
    rate_gap = gm.rate_gap if new else old.rate_gap
    conditional = gm.conditional_rate_gap if new else old.conditional_rate_gap
    overall = gm.overall_rate if new else old.overall_rate
    out = []
    for which in WHICH:
        out.append((f"worst {which}", lambda c, w=which: group_rate(c, w)))
        out.append((f"{which} of a", lambda c, w=which: group_rate(c, w, "a")))
        out.append((f"{which} overall", lambda c, w=which: overall(c, w)))
        out.append((f"{which} gap", lambda c, w=which: rate_gap(c, w)))
        out.append((f"{which} gap a b", lambda c, w=which: rate_gap(c, w, ["a", "b"])))
        out.append((f"conditional {which} gap", lambda c, w=which: conditional(c, w)))
        out.append((f"conditional {which} gap a b",
                    lambda c, w=which: conditional(c, w, ["a", "b"])))
    return out


def _same_bits(new, reference):
    new, reference = np.asarray(new, dtype=float), np.asarray(reference, dtype=float)
    assert new.shape == reference.shape
    assert (np.isnan(new) == np.isnan(reference)).all()
    # NaNs as one pattern, everything else (the sign of a zero included) bit for bit.
    assert np.where(np.isnan(new), np.nan, new).tobytes() == \
        np.where(np.isnan(reference), np.nan, reference).tobytes()


# --- The tests. --------------------------------------------------------------------

REPLICATES = 80

@pytest.mark.parametrize("index", range(14))
def test_every_quantity_and_replicate_is_the_loops_to_the_bit(index):
    table = _tables()[index]
    names = [name for name, _ in _quantities(new=True)]
    new_functions = [f for _, f in _quantities(new=True)]
    old_functions = [f for _, f in _quantities(new=False)]

    def vectorised(candidate, baseline):
        return [f(candidate) for f in new_functions] + \
            [f(baseline) for f in new_functions]

    def reference(candidate, baseline):
        return [f(candidate) for f in old_functions] + \
            [f(baseline) for f in old_functions]

    observed, samples = gm.paired_bootstrap(table, vectorised, replicates=REPLICATES,
                                            seed=index)
    want_observed, want_samples = old.loop_bootstrap(table, reference, REPLICATES, index)
    _same_bits(observed, want_observed)
    _same_bits(samples, want_samples)
    assert samples.shape == ((0 if index == 0 else REPLICATES), 2 * len(names))
    for column in range(samples.shape[1]):
        _same_bits(intervals.quantile_bounds(samples[:, column], 0.95),
                   old.quantile_bounds(list(want_samples[:, column]), 0.95))


def test_the_tables_reach_every_branch():
    """The tables above hold what the vectorised reductions special-case: some
    replicates (not all) where a group has no example of a rate's denominator,
    and some where a stratum holds it for one group only."""
    nan_in_some_replicates = partial_strata = 0
    for index, table in enumerate(_tables()):
        _, samples = old.loop_bootstrap(table, lambda c, b: [
            old.rate_gap(c, "false_positive_rate"),
            old.conditional_rate_gap(c, "false_positive_rate")], REPLICATES, index)
        if samples.size:
            gap_nan = np.isnan(samples[:, 0])
            nan_in_some_replicates += bool(gap_nan.any() and not gap_nan.all())
            conditional_nan = np.isnan(samples[:, 1])
            partial_strata += bool(conditional_nan.any() and not conditional_nan.all())
    assert nan_in_some_replicates >= 2 and partial_strata >= 2


APART = {("a", "m"): np.array([30, 4, 3, 2, 5, 6, 2, 40], dtype=float),
         ("b", "m"): np.array([20, 1, 6, 2, 2, 9, 1, 30], dtype=float),
         ("a", "f"): np.array([25, 2, 2, 1, 3, 2, 4, 20], dtype=float),
         ("b", "f"): np.array([40, 3, 5, 9, 6, 1, 2, 35], dtype=float)}
# The models disagree on one negative in 260: accuracy's replicates mostly show no
# change and TPR's none, so bounds are zeros, whose sign (-0.0 where higher is
# better) must not move.
ALMOST_SAME = {("a", "m"): np.array([30, 0, 0, 8, 12, 0, 0, 40], dtype=float),
               ("b", "m"): np.array([20, 1, 0, 9, 9, 0, 0, 30], dtype=float),
               ("a", "f"): np.array([25, 0, 0, 1, 3, 0, 0, 20], dtype=float),
               ("b", "f"): np.array([40, 0, 0, 9, 6, 0, 0, 35], dtype=float)}


@pytest.mark.parametrize("table", [APART, ALMOST_SAME], ids=["apart", "almost_same"])
@pytest.mark.parametrize("metric, which", [("GroupRateGap", "false_positive_rate"),
                                           ("OverallRate", "accuracy"),
                                           ("GroupRate", "true_positive_rate"),
                                           ("ConditionalRateGap", "false_positive_rate")])
def test_a_change_gate_at_its_defaults_is_the_loops_to_the_bit(metric, which, table):
    """paired_regression as the Evaluator's change gates call it: 2,000 replicates,
    the project's seed; accuracy and TPR negated (higher is better)."""
    quantity = gm._quantity(metric, "q", which)
    reference = {"GroupRateGap": lambda c: old.rate_gap(c, which),
                 "OverallRate": lambda c: old.overall_rate(c, which),
                 "GroupRate": lambda c: old.group_rate(c, which),
                 "ConditionalRateGap":
                     lambda c: old.conditional_rate_gap(c, which)}[metric]
    higher_is_better = rates.get(which).higher_is_better
    got = gm.paired_regression(table, quantity.point, higher_is_better, 0.95)

    def change(candidate, baseline):
        delta = float(reference(candidate)) - float(reference(baseline))
        return [-delta if higher_is_better else delta]

    observed, samples = old.loop_bootstrap(table, change, gm.BOOTSTRAP_REPLICATES,
                                        gm.BOOTSTRAP_SEED)
    want = (observed[0],) + tuple(old.quantile_bounds(list(samples[:, 0]), 0.95))
    _same_bits(got, want)
    assert not math.isnan(got[1]) and got[1] <= got[2]
    if table is ALMOST_SAME and higher_is_better:
        assert 0.0 in got  # a -0.0 (its sign checked above)


def test_side_effects_measure_is_the_loops_to_the_bit():
    """The side-effect check's comparisons (every group's rates, every gap),
    their bounds, p-values and verdicts from the loop's replicates."""
    rng = np.random.default_rng(3)
    n = 900
    group = np.where(rng.random(n) < 0.3, "a", "b")
    label = rng.random(n) < 0.4
    reference = np.where(label, rng.random(n) > 0.2, rng.random(n) < 0.1)
    candidate = np.where(rng.random(n) < 0.08, ~reference, reference)
    table = se.paired_table(group, label, candidate, reference)
    result = se.measure(table, rates=se.RATES, groups=["a", "b"], margin=0.0,
                        replicates=400)
    compared = se.comparisons(se.RATES, ["a", "b"])

    def old_value(comparison, counts):
        if comparison.kind == "rate":
            return old.group_rate(counts, comparison.rate, comparison.groups[0])
        return old.rate_gap(counts, comparison.rate, list(comparison.groups))

    observed, samples = old.loop_bootstrap(
        table, lambda c, r: [old_value(x, c) for x in compared] +
        [old_value(x, r) for x in compared], 400, gm.BOOTSTRAP_SEED)
    k = len(compared)
    changes = samples[:, :k] - samples[:, k:]
    assert len(result["changes"]) == k
    for i, row in enumerate(result["changes"]):
        _same_bits([row["after"], row["before"]], [observed[i], observed[k + i]])
        low, high = old.quantile_bounds(list(changes[:, i]), 0.95)
        _same_bits(row["interval"], [low, high])
        defined = changes[:, i][~np.isnan(changes[:, i])]
        assert row["p_value"] == float(np.mean(defined <= 0.0))
        assert row["side_effect"] == (low > 0.0)
    assert any(r["side_effect"] for r in result["changes"])
    assert not all(r["side_effect"] for r in result["changes"])
