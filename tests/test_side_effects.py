"""Side-effect statistics (fairgate/metrics/side_effects.py) against independent
computations: rates straight from per-example numpy masks, intervals from a
direct index bootstrap with its own generator, Holm by hand."""
import numpy as np
import pytest

from fairgate import config as config_lib
from fairgate.metrics import side_effects as se

GROUPS = ["a", "b"]


def _examples(seed=0, n=1200, b_fpr_rise=0.0, b_fnr_rise=0.0, noise_flips=0):
    """Per-example (group, label, reference decision, candidate decision): the
    reference has FPR ~0.10 and FNR ~0.15 in both groups; the candidate equals it
    except that group b's negatives / positives flip at the given extra rates
    and `noise_flips` random examples swap in both directions."""
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(n) < 0.4, "a", "b")
    label = rng.random(n) < 0.45
    reference = np.where(label, rng.random(n) > 0.15, rng.random(n) < 0.10)
    candidate = reference.copy()
    b_neg = (group == "b") & ~label & ~reference
    candidate[b_neg & (rng.random(n) < b_fpr_rise / 0.9)] = True
    b_pos = (group == "b") & label & reference
    candidate[b_pos & (rng.random(n) < b_fnr_rise / 0.85)] = False
    if noise_flips:
        flip = rng.choice(n, noise_flips, replace=False)
        candidate[flip] = ~candidate[flip]
    return group, label, reference, candidate


def _rate(group, label, decision, which, g):
    mask = group == g
    if which == "false_positive_rate":
        return decision[mask & ~label].mean()
    if which == "false_negative_rate":
        return (~decision[mask & label]).mean()
    if which == "error_rate":
        return (decision[mask] != label[mask]).mean()
    return decision[mask].mean()


def _direct_bootstrap(group, label, reference, candidate, which, kind,
                      replicates=4000, seed=12345):
    """The change's one-sided 95% bounds from resampling example indices."""
    rng = np.random.default_rng(seed)
    n = len(group)
    changes = []
    for _ in range(replicates):
        i = rng.integers(0, n, n)
        values = []
        for decision in (candidate[i], reference[i]):
            rates = [_rate(group[i], label[i], decision, which, g) for g in GROUPS]
            values.append(rates[1] if kind == "rate" else max(rates) - min(rates))
        changes.append(values[0] - values[1])
    return np.quantile(changes, [0.05, 0.95])


def _row(result, kind, rate, groups=("b",)):
    return next(r for r in result["changes"] if r["kind"] == kind and r["rate"] == rate
                and (kind == "gap" or r["groups"] == list(groups)))


def test_a_raised_rate_is_a_side_effect_with_the_sign_and_interval_of_a_direct_bootstrap():
    group, label, reference, candidate = _examples(b_fpr_rise=0.12)
    table = se.paired_table(group, label, candidate, reference)
    result = se.measure(table, rates=se.RATES, groups=GROUPS)
    fpr_b = _row(result, "rate", "false_positive_rate")
    assert fpr_b["before"] == pytest.approx(
        _rate(group, label, reference, "false_positive_rate", "b"))
    assert fpr_b["after"] == pytest.approx(
        _rate(group, label, candidate, "false_positive_rate", "b"))
    assert fpr_b["change"] > 0.08 and fpr_b["side_effect"]
    low, high = _direct_bootstrap(group, label, reference, candidate,
                                  "false_positive_rate", "rate")
    assert fpr_b["interval"] == pytest.approx([low, high], abs=0.006)
    assert low > se.DEFAULT_MARGIN
    gap = _row(result, "gap", "false_positive_rate")
    low, high = _direct_bootstrap(group, label, reference, candidate,
                                  "false_positive_rate", "gap")
    assert gap["interval"] == pytest.approx([low, high], abs=0.006)
    assert gap["side_effect"] and gap["change"] > 0
    # Group a's decisions did not move: no change, not a side effect.
    fpr_a = _row(result, "rate", "false_positive_rate", ("a",))
    assert fpr_a["change"] == 0 and not fpr_a["side_effect"]
    assert result["comparisons"] == 3 * 2 + 4


def test_a_model_whose_rates_moved_within_noise_has_no_side_effects():
    group, label, reference, candidate = _examples(seed=3, noise_flips=20)
    table = se.paired_table(group, label, candidate, reference)
    for policy in se.POLICIES:
        result = se.measure(table, rates=se.RATES, groups=GROUPS, policy=policy)
        assert not [r for r in result["changes"] if r["side_effect"]]
        assert any(r["change"] != 0 for r in result["changes"])
    # Seeded: the same table gives the same bounds.
    again = se.measure(table, rates=se.RATES, groups=GROUPS)
    assert [r["interval"] for r in again["changes"]] == \
        [r["interval"] for r in se.measure(table, rates=se.RATES,
                                           groups=GROUPS)["changes"]]


def test_an_improvement_is_not_a_side_effect_and_constrained_rates_are_listed_apart():
    group, label, reference, candidate = _examples(b_fnr_rise=0.2)
    # The candidate's b FNR rose: as a constraint target it is intended.
    table = se.paired_table(group, label, candidate, reference)
    targets = se.intended_targets({"constraints": [
        {"rate": "true_positive_rate", "group": "b", "lower_bound": 0.5}]})
    result = se.measure(table, rates=se.RATES, groups=GROUPS, intended=targets)
    fnr_b = _row(result, "rate", "false_negative_rate")
    assert fnr_b["intended"] and not fnr_b["side_effect"]
    assert result["comparisons"] == 3 * 2 + 4 - 1
    # Swapped roles, the same change is an improvement (negative), never flagged.
    reverse = se.measure(se.paired_table(group, label, reference, candidate),
                         rates=se.RATES, groups=GROUPS)
    row = _row(reverse, "rate", "false_negative_rate")
    assert row["change"] < -0.1 and not row["side_effect"]
    assert row["interval"][1] < 0


def test_holm_against_a_worked_example():
    # alpha 0.05, m = 4: sorted 0.005 <= 0.0125, 0.01 <= 0.0167, 0.03 > 0.025: stop.
    assert se.holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    assert se.holm([0.2, 0.001], 0.05) == [False, True]
    assert se.holm([], 0.05) == []


def test_under_gate_a_borderline_change_does_not_survive_holm():
    group, label, reference, candidate = _examples(seed=1, n=2000, b_fpr_rise=0.045)
    table = se.paired_table(group, label, candidate, reference)
    warn = se.measure(table, rates=se.RATES, groups=GROUPS, policy="warn")
    gate = se.measure(table, rates=se.RATES, groups=GROUPS, policy="gate")
    row_w = _row(warn, "rate", "false_positive_rate")
    row_g = _row(gate, "rate", "false_positive_rate")
    m = gate["comparisons"]
    assert row_w["side_effect"]  # its lower 95% bound clears the margin ...
    assert 0.05 / m < row_g["p_value"] < 0.05  # ... but not Holm's first step
    assert row_g["holm"] is False and not row_g["side_effect"]


def test_the_summary_states_the_comparisons_and_sample_sizes():
    group, label, reference, candidate = _examples(b_fnr_rise=0.3)
    table = se.paired_table(group, label, candidate, reference)
    sizes = se.sample_sizes(table)
    assert sizes["b"]["positives"] == int(((group == "b") & label).sum())
    result = se.measure(table, rates=se.RATES, groups=GROUPS)
    summary = se.summarize(result, group_key="region", reference="unconstrained",
                           reference_description="the unconstrained model",
                           sizes=sizes)
    [line] = [x for x in summary["lines"] if "false negative rate of region=b" in x]
    assert line.startswith("side effect: false negative rate of region=b grew from")
    assert f"[positives: region=b {sizes['b']['positives']}]" in line
    assert "against the unconstrained model" in line
    gap = next(r for r in summary["side_effects"] if r["quantity"] ==
               "false_negative_rate_gap")
    assert "gap between region=a and region=b grew" in gap["description"]
    calm = se.summarize(se.measure(se.paired_table(group, label, reference, reference),
                                   rates=se.RATES, groups=GROUPS, policy="gate"),
                        group_key="region", reference="serving",
                        reference_description="the model in serving", sizes=sizes)
    assert calm["lines"] == ["no side effects found against the model in serving "
                             "(10 comparisons, margin 0.02, one-sided 95% paired "
                             "bootstrap, Holm-corrected)"]
    assert not calm["blocks"]


def test_a_missing_group_is_not_measured_rather_than_passed():
    group, label, reference, candidate = _examples(b_fpr_rise=0.2)
    table = se.paired_table(group, label, candidate, reference)
    result = se.measure(table, rates=["false_positive_rate"], groups=["a", "b", "c"])
    assert [r["measured"] for r in result["changes"]] == [True, True, False, False]
    assert result["comparisons"] == 2


@pytest.mark.parametrize("side_effects, key, message", [
    ({"policy": "block"}, "evaluation.side_effects.policy", "warn, gate"),
    ({"margin": 1.5}, "evaluation.side_effects.margin", "between 0 and 1"),
    ({"rates": ["true_positive_rate"]}, "evaluation.side_effects.rates[0]",
     "positive_prediction_rate"),
    ({"rates": []}, "evaluation.side_effects.rates", "at least one"),
    ({"gate": True}, "evaluation.side_effects.gate", "known keys"),
])
def test_bad_side_effect_settings_name_the_key_and_the_file(side_effects, key, message):
    with pytest.raises(config_lib.ConfigError) as error:
        config_lib.from_dict({"evaluation": {"side_effects": side_effects}},
                             origin="run.yaml")
    assert key in str(error.value) and "run.yaml" in str(error.value)
    assert message in str(error.value)


def test_side_effect_settings_default_to_warn_on_every_rate():
    settings = config_lib.from_dict({}).evaluation.side_effects
    assert (settings.policy, settings.margin, list(settings.rates)) == \
        ("warn", 0.02, list(se.RATES))
