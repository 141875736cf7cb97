"""Side effects of a mitigation: what the candidate made worse than a reference
model, judged on the same test examples. Pure functions over per-example
decisions and the paired table of counts; the SideEffectCheck component scores
the models, the report and the CLI print what this module returns.

Compared at threshold 0.5, for the groups the run lists (`evaluation.groups`):

* each group's false positive rate, false negative rate and error rate (worse =
  higher); a group's own positive prediction rate has no worse direction, so it
  is not compared;
* the gap of each of the four rates between the groups (largest minus smallest
  over the groups, as the gates take it; worse = larger).

Change = candidate minus reference, with its one-sided 95% bounds from the
paired, seeded bootstrap the change gates use (`group_metrics.paired_bootstrap`:
the joint table of (group, label, candidate decision, reference decision) is
resampled as one multinomial). A change is a **side effect** when its lower
bound exceeds the margin (default 0.02), whether or not a gate bounds the rate:
passing a bound does not make a doubling invisible. The quantities the
Trainer's constraints target are listed apart, as the intended effect, and are
never side effects.

Multiplicity. Under policy `warn` each comparison is judged at one-sided 95%
(a reviewer's list: more sensitive, no correction). Under `gate` a side effect
blocks the blessing only when it survives Holm's step-down correction over the
m comparisons made (the intended ones excluded): with the p-values
p_i = share of bootstrap replicates whose change is at most the margin, sorted
p_(1) <= ... <= p_(m), H_(j) is rejected while p_(j) <= alpha / (m - j + 1),
alpha = 1 - level. The family-wise rate of blocking a model whose every change
is at most the margin stays at most alpha, whatever the dependence between the
comparisons.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from fairgate.config import (SIDE_EFFECT_POLICIES as POLICIES, SIDE_EFFECT_RATES as RATES,
                             SideEffectsConfig)
from fairgate.metrics import group_metrics, intervals
from fairgate.metrics.groups import group_text

# Rates compared per group; the positive prediction rate only as a gap.
GROUP_RATES = ("false_positive_rate", "false_negative_rate", "error_rate")
# The schema's defaults (evaluation.side_effects), for callers outside a config.
DEFAULT_POLICY = SideEffectsConfig.model_fields["policy"].default
DEFAULT_MARGIN = SideEffectsConfig.model_fields["margin"].default
LEVEL = 0.95
THRESHOLD = 0.5
# A constraint on the true positive rate moves the false negative rate (1 - TPR).
_CONSTRAINED_AS = {"true_positive_rate": "false_negative_rate"}
_WORDS = {"false_positive_rate": "false positive rate",
          "false_negative_rate": "false negative rate",
          "error_rate": "error rate",
          "positive_prediction_rate": "positive prediction rate"}
# What each rate is a share of: the sample size quoted with it.
DENOMINATOR = {"false_positive_rate": "negatives", "false_negative_rate": "positives",
               "error_rate": "examples", "positive_prediction_rate": "examples"}
# What the candidate was compared with (the report names it in these words).
REFERENCES = {
    "unconstrained": "the unconstrained model",
    "serving": "the model in serving",
    "baseline_predictions": "the scores of candidate.baseline_predictions (the "
                            "model in serving, on the same rows)",
}

Table = Dict[Tuple[str, str], np.ndarray]


def paired_table(groups: Sequence[Any], labels: Sequence[Any],
                 candidate: Sequence[bool], reference: Sequence[bool]) -> Table:
    """Per-example group, label (positive when > 0.5) and both models' positive
    decisions -> the joint table of group_metrics' paired layout (cell index
    label * 4 + candidate * 2 + reference, stratum "")."""
    names = np.array([group_text(g) for g in groups], dtype=object)
    label = np.asarray(labels, dtype=float).reshape(-1) > 0.5
    mine = np.asarray(candidate, dtype=bool).reshape(-1)
    theirs = np.asarray(reference, dtype=bool).reshape(-1)
    if not len(names) == len(label) == len(mine) == len(theirs):
        raise ValueError(f"per-example arrays differ in length: {len(names)} groups, "
                         f"{len(label)} labels, {len(mine)} and {len(theirs)} decisions")
    cell = 4 * label.astype(int) + 2 * mine.astype(int) + theirs.astype(int)
    return {(name, ""): np.bincount(cell[names == name], minlength=8).astype(float)
            for name in sorted(set(names))}


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One quantity compared: a group's rate (`kind` "rate", one group) or the
    largest gap of a rate among the groups (`kind` "gap")."""
    kind: str
    rate: str
    groups: Tuple[str, ...]

    def value(self, counts: group_metrics.Counts):
        if self.kind == "rate":
            return group_metrics.group_rate(counts, self.rate, self.groups[0])
        return group_metrics.rate_gap(counts, self.rate, list(self.groups))

    def name(self, group_key: str) -> str:
        if self.kind == "rate":
            return f"{self.rate}/{group_key}={self.groups[0]}"
        return f"{self.rate}_gap"


def comparisons(rates: Iterable[str], groups: Sequence[Any]) -> List[Comparison]:
    """Every group's rate (GROUP_RATES among `rates`), then every rate's gap."""
    names = tuple(group_text(g) for g in groups)
    rates = list(rates)
    return ([Comparison("rate", r, (g,)) for r in rates if r in GROUP_RATES
             for g in names] +
            [Comparison("gap", r, names) for r in rates])


def intended_targets(constraints: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The quantities a trainer constraint spec (trainer_module/constraints.py,
    already validated) bounds, as comparisons' (kind, rate, groups): a rate bound
    targets its group's rate, a gap its rate's gap among its groups."""
    targets = []
    for entry in (constraints or {}).get("constraints") or []:
        if "gap" in entry:
            targets.append({"kind": "gap",
                            "rate": _CONSTRAINED_AS.get(entry["gap"], entry["gap"]),
                            "groups": [group_text(g)
                                       for g in entry["groups"]]})
        else:
            targets.append({"kind": "rate",
                            "rate": _CONSTRAINED_AS.get(entry["rate"], entry["rate"]),
                            "groups": [group_text(entry["group"])]})
    return targets


def is_intended(comparison: Comparison, targets: Iterable[Dict[str, Any]]) -> bool:
    """A gap constraint over some of the listed groups targets their gap."""
    for target in targets:
        if target["kind"] != comparison.kind or target["rate"] != comparison.rate:
            continue
        if comparison.kind == "rate" and target["groups"] == list(comparison.groups):
            return True
        if comparison.kind == "gap" and set(target["groups"]) <= set(comparison.groups):
            return True
    return False


def holm(p_values: Sequence[float], alpha: float) -> List[bool]:
    """Holm's step-down rejections: sorted ascending, H_(j) is rejected while
    p_(j) <= alpha / (m - j + 1) (j from 1); the first acceptance stops it."""
    m = len(p_values)
    rejected = [False] * m
    for j, i in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if not p_values[i] <= alpha / (m - j):
            break
        rejected[i] = True
    return rejected


def sample_sizes(table: Table) -> Dict[str, Dict[str, int]]:
    """{group: {examples, negatives, positives}} of the paired table."""
    sizes = {}
    for (group, _), cells in sorted(table.items()):
        by_label = np.asarray(cells).reshape(2, 4).sum(axis=1)
        entry = sizes.setdefault(group, {"examples": 0, "negatives": 0, "positives": 0})
        entry["negatives"] += int(by_label[0])
        entry["positives"] += int(by_label[1])
        entry["examples"] += int(by_label.sum())
    return sizes


def measure(table: Table, *, rates: Sequence[str], groups: Sequence[Any],
            margin: float = DEFAULT_MARGIN, policy: str = DEFAULT_POLICY,
            intended: Iterable[Dict[str, Any]] = (), level: float = LEVEL,
            replicates: int = group_metrics.BOOTSTRAP_REPLICATES,
            seed: int = group_metrics.BOOTSTRAP_SEED) -> Dict[str, Any]:
    """Every comparison's before (reference), after (candidate), change and its
    one-sided `level` bounds, p-value and verdict, on the paired table.

    Returns {"changes": [row], "comparisons": m, "policy", "margin",
    "correction", "alpha"}; a row is
    {kind, rate, groups, before, after, change, interval, p_value, intended,
    measured, side_effect, holm}. `holm` is None under `warn` and for rows not
    tested (intended or unmeasurable: a group without examples of the rate's
    denominator in the test split)."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got '{policy}'")
    level = intervals.check_level(level)
    targets = list(intended)
    compared = comparisons(rates, groups)
    k = len(compared)

    def statistic(candidate, reference):
        return [c.value(candidate) for c in compared] + \
            [c.value(reference) for c in compared]

    observed, samples = group_metrics.paired_bootstrap(table, statistic,
                                                       replicates, seed)
    changes = samples[:, :k] - samples[:, k:]
    rows = []
    for i, comparison in enumerate(compared):
        after, before = float(observed[i]), float(observed[k + i])
        change = after - before
        measured = not math.isnan(change) and changes.shape[0] > 0
        low, high = (intervals.quantile_bounds(changes[:, i], level)
                     if measured else intervals.NAN_INTERVAL)
        measured = measured and not math.isnan(low)
        defined = changes[:, i][~np.isnan(changes[:, i])] if measured else []
        rows.append({
            "kind": comparison.kind, "rate": comparison.rate,
            "groups": list(comparison.groups),
            "before": before, "after": after, "change": change,
            "interval": [float(low), float(high)] if measured else None,
            "level": level,
            "p_value": float(np.mean(defined <= margin)) if measured else None,
            "intended": is_intended(comparison, targets), "measured": measured,
            "side_effect": False, "holm": None,
        })
    tested = [r for r in rows if r["measured"] and not r["intended"]]
    alpha = 1 - level
    if policy == "gate":
        for row, rejected in zip(tested, holm([r["p_value"] for r in tested], alpha)):
            row["holm"] = rejected
    for row in tested:
        row["side_effect"] = row["interval"][0] > margin and \
            (policy == "warn" or row["holm"])
    return {"changes": rows, "comparisons": len(tested), "policy": policy,
            "margin": margin, "correction": "holm" if policy == "gate" else "none",
            "alpha": alpha}


def _group_list(group_key: str, names: Sequence[str]) -> str:
    labels = [f"{group_key}={g}" for g in names]
    return " and ".join(labels) if len(labels) == 2 else ", ".join(labels)


def _sample(row: Dict[str, Any], group_key: str,
            sizes: Dict[str, Dict[str, int]]) -> str:
    kind = DENOMINATOR[row["rate"]]
    return f"[{kind}: " + ", ".join(
        f"{group_key}={g} {sizes.get(g, {}).get(kind, 0)}" for g in row["groups"]) + "]"


def describe(row: Dict[str, Any], group_key: str, reference: str,
             sizes: Dict[str, Dict[str, int]]) -> str:
    """One plain-language line, with the sample sizes behind it, e.g. "false
    negative rate gap between Young=0 and Young=1 grew from 0.077 to 0.670
    (lower 95% bound of the change +0.600) against the unconstrained model
    [positives: Young=0 218, Young=1 732]"."""
    words = _WORDS[row["rate"]]
    if row["kind"] == "gap":
        among = "between" if len(row["groups"]) == 2 else "(largest) among"
        what = f"{words} gap {among} {_group_list(group_key, row['groups'])}"
    else:
        what = f"{words} of {group_key}={row['groups'][0]}"
    sample = _sample(row, group_key, sizes)
    if not row["measured"]:
        return f"{what} not measured (a group has no examples for it) {sample}"
    grew = "grew" if row["change"] > 0 else ("fell" if row["change"] < 0 else "stayed")
    low, high = row["interval"]
    level = f"{row['level'] * 100:g}%"
    evidence = (f"lower {level} bound of the change {low:+.3f}" if row["side_effect"]
                else f"change {row['change']:+.3f}, one-sided {level} bounds "
                     f"[{low:+.3f}, {high:+.3f}]")
    return (f"{what} {grew} from {row['before']:.3f} to {row['after']:.3f} "
            f"({evidence}) against {reference} {sample}")


def summarize(result: Dict[str, Any], *, group_key: str, reference: str,
              reference_description: str,
              sizes: Dict[str, Dict[str, int]]) -> Dict[str, Any]:
    """The report's view of `measure`'s result: the side effects, the intended
    effects, one line each, and the lines the verdict shows."""
    rows, policy, margin = result["changes"], result["policy"], result["margin"]
    for row in rows:
        row["reference"] = reference
        row["quantity"] = Comparison(row["kind"], row["rate"],
                                     tuple(row["groups"])).name(group_key)
        row["sample"] = {DENOMINATOR[row["rate"]]: {
            g: sizes.get(g, {}).get(DENOMINATOR[row["rate"]], 0) for g in row["groups"]}}
        row["description"] = describe(row, group_key, reference_description, sizes)
    found = [r for r in rows if r["side_effect"]]
    m = result["comparisons"]
    how = (f"{m} comparisons, margin {margin:g}, one-sided "
           f"{(1 - result['alpha']) * 100:g}% paired bootstrap"
           + (", Holm-corrected" if result["correction"] == "holm" else ""))
    if found:
        lines = [f"side effect: {r['description']}" for r in found]
    else:
        lines = [f"no side effects found against {reference_description} ({how})"]
    return {
        "measured": True, "reference": reference,
        "reference_description": reference_description,
        "policy": policy, "margin": margin, "level": 1 - result["alpha"],
        "threshold": THRESHOLD, "comparisons": m, "correction": result["correction"],
        "method": how, "group_sizes": sizes,
        "side_effects": found,
        "intended": [r for r in rows if r["intended"]],
        "changes": rows,
        "lines": lines,
        # Under `gate` the found side effects block the blessing.
        "blocks": policy == "gate" and bool(found),
    }


def not_measured(why: str, policy: str, margin: float) -> Dict[str, Any]:
    """The record when no reference exists (e.g. the first run of a mode without
    an unconstrained model): nothing is compared, and a gate has nothing to judge,
    as the change gates before the first push."""
    return {"measured": False, "why": why, "reference": None, "policy": policy,
            "margin": margin, "comparisons": 0, "side_effects": [], "intended": [],
            "changes": [], "lines": [f"side effects were not measured: {why}"],
            "blocks": False}
