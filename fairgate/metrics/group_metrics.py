"""Group fairness metrics for TFMA, loaded by `module: "fairgate.metrics.group_metrics"`.

TFMA 0.47.1 cannot gate on FairnessIndicators sub-metrics (a threshold on one is
never matched: "Metric not found.") or on cross-slice differences (any cross-slice
threshold fails validation with `missing_cross_slices`), so the gates are custom
metrics computed on the overall slice from the group feature of every example. TFMA imports this module by
name in every Beam worker (in-process, multi-processing, or a Kubeflow pod running
the project image), so the gates behave the same everywhere: no patching.

Metrics (each takes `group_key`, the threshold on the score, and a `name`):

* `GroupRate`: a rate (fairgate/metrics/rates.py: accuracy, error_rate,
  false_positive_rate, false_negative_rate, true_positive_rate,
  positive_prediction_rate, alias positive_rate) of one group (`group`), or of
  the worst group when no group is given. Default metric names keep the rate's
  spelling as written in the config (`worst_group_positive_rate`).
* `GroupRateGap`: largest minus smallest rate among the groups.
* `ConditionalRateGap`: conditional equality (Beutel et al. 2019): within each
  stratum of `condition_key`, the absolute gap between the groups' rates, weighted
  by the stratum's share of the rate's denominator (negatives for FPR).
* `OverallRate`: a rate over all examples (e.g. accuracy).
* `MinGroupSize`: the smallest number of examples among the `groups` the data
  must hold; a missing group counts 0.
* `Regression`: how much worse the candidate is than the baseline model on one
  of the quantities above, on the same examples (paired, seeded bootstrap).

Policies (config keys `policy`, `level`): every metric with an interval emits its
point value and its bounds (`<name>/lower95`, `<name>/upper95` at `level`, see
fairgate/metrics/intervals.py). Under `"policy": "point"` (the default) thresholds
compare the point value; under `"policy": "confidence"` the metric's name, and so
its thresholds, is the bound on the bad side (upper for FPR and gaps, lower for
accuracy and TPR): "upper 95% bound of FPR <= 0.10".

Undefined values (a group without examples, fewer than two groups) are NaN, and
TFMA fails every threshold on NaN: a gate never passes by absence.
"""
from __future__ import annotations

import functools
import json
import math
from typing import Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

from fairgate.metrics import intervals, rates
from fairgate.metrics.eval_config import GATE_MODULES
from fairgate.metrics.groups import group_text

# Confusion counts per (group, stratum) cell, indexed as fairgate/metrics/rates.py's
# TP, FP, TN, FN: a length-4 vector, or a (4, R) array holding R bootstrap
# replicates' counts. The quantities below are element-wise over the replicates (a
# float for one vector, an (R,) array otherwise), so the paired bootstrap evaluates
# every replicate in one call with the same arithmetic as the observed value.
Counts = Dict[Tuple[str, str], np.ndarray]


def _denominator(counts: np.ndarray, which: str):
    return rates.fraction(counts, which)[1]


def _scalar(value):
    """A float for a 0-d result (one count vector), the array otherwise."""
    return float(value) if np.ndim(value) == 0 else value


def _total(cells: Iterable[np.ndarray]) -> np.ndarray:
    """The sum of count cells (zeros when there are none); integer counts, so
    the sum is exact in any order."""
    total = None
    for cell in cells:
        total = np.array(cell, dtype=float) if total is None else total + cell
    return np.zeros(4) if total is None else total


def by_group(counts: Counts) -> Dict[str, np.ndarray]:
    """Sums the cells over strata."""
    cells: Dict[str, List[np.ndarray]] = {}
    for (group, _), cell in counts.items():
        cells.setdefault(group, []).append(cell)
    return {group: _total(group_cells) for group, group_cells in cells.items()}


def group_rate(counts: Counts, which: str, group: Optional[str] = None):
    """The rate of `group`, or the worst (largest; smallest for accuracy and
    true_positive_rate) rate among groups when `group` is None; NaN when a
    group has no example of the rate's denominator."""
    groups = by_group(counts)
    if group is not None:
        return rates.value(groups[group], which) if group in groups else math.nan
    if not groups:
        return math.nan
    values = [rates.value(cell, which) for cell in groups.values()]
    worst = np.min if rates.get(which).higher_is_better else np.max
    return _scalar(worst(values, axis=0))  # NaN when any group's rate is NaN


def rate_gap(counts: Counts, which: str, groups: Optional[List[str]] = None):
    """max - min of the groups' rates; NaN with fewer than two measurable groups
    or when one of `groups` is absent."""
    totals = by_group(counts)
    names = groups if groups else sorted(totals)
    if len(names) < 2 or any(g not in totals for g in names):
        return math.nan
    values = np.array([rates.value(totals[g], which) for g in names])
    return _scalar(values.max(axis=0) - values.min(axis=0))  # NaN propagates


def conditional_rate_gap(counts: Counts, which: str,
                         groups: Optional[List[str]] = None):
    """Beutel et al.'s conditional equality: sum over strata s of
    w_s * (max_g rate(g, s) - min_g rate(g, s)), w_s the stratum's share of the
    rate's denominator. NaN when some stratum holds examples of the rate's
    denominator but not for every group: the groups cannot be compared there, and
    judging the other strata alone would pass by absence."""
    names = groups if groups else sorted({g for g, _ in counts})
    if len(names) < 2:
        return math.nan
    total_weight, weighted_gap, undefined = 0.0, 0.0, False
    for stratum in sorted({s for _, s in counts}):
        cells = [counts.get((g, stratum)) for g in names]
        if all(c is None for c in cells):
            continue  # a stratum of groups not compared
        shape = np.shape(next(c for c in cells if c is not None))[1:]
        denominators = [np.zeros(shape) if c is None else _denominator(c, which)
                        for c in cells]
        present = np.array([d > 0 for d in denominators])
        compared = present.all(axis=0)
        undefined = undefined | (present.any(axis=0) & ~compared)
        if not compared.any():
            continue  # nothing to compare, nothing hidden
        with np.errstate(invalid="ignore"):  # NaN where not compared, not used
            values = np.array([rates.value(c, which) if c is not None
                               else np.full(shape, math.nan) for c in cells])
            gap = values.max(axis=0) - values.min(axis=0)
            weight = sum(denominators)
            weighted_gap = weighted_gap + np.where(compared, weight * gap, 0.0)
            total_weight = total_weight + np.where(compared, weight, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(undefined | (total_weight == 0), math.nan,
                         weighted_gap / np.where(total_weight == 0, 1.0, total_weight))
    return _scalar(value)


def min_group_size(counts: Counts, groups: List[str]) -> float:
    totals = by_group(counts)
    return float(min(totals.get(g, np.zeros(4)).sum() for g in groups))


# --- Confidence bounds (fairgate/metrics/intervals.py) of the same quantities. ----------

POLICIES = ("point", "confidence")
DEFAULT_LEVEL = 0.95


def bad_side(which: str) -> str:
    """The side of a rate's interval a gate checks: the upper bound for rates
    that should be small (FPR, FNR, gaps), the lower one for accuracy and TPR."""
    return "lower" if rates.get(which).higher_is_better else "upper"


def bound_name(point_name: str, side: str, level: float) -> str:
    """'false_positive_rate/Young=0' -> 'false_positive_rate/Young=0/upper95'."""
    return f"{point_name}/{side}{level * 100:g}"


def _fractions(cells: Dict[str, np.ndarray], which: str,
               names: Iterable[str]) -> List[Tuple[float, float]]:
    return [rates.fraction(cells[g], which) for g in names]


def group_rate_interval(counts: Counts, which: str, group: Optional[str],
                        level: float) -> Tuple[float, float]:
    groups = by_group(counts)
    if group is not None:
        return intervals.rate_interval(*rates.fraction(groups[group], which), level) \
            if group in groups else intervals.NAN_INTERVAL
    if math.isnan(group_rate(counts, which)):
        return intervals.NAN_INTERVAL
    return intervals.worst_rate_interval(_fractions(groups, which, sorted(groups)),
                                         level, rates.get(which).higher_is_better)


def overall_rate(counts: Counts, which: str):
    return rates.value(_total(counts.values()), which)


def overall_rate_interval(counts: Counts, which: str,
                          level: float) -> Tuple[float, float]:
    return intervals.rate_interval(*rates.fraction(_total(counts.values()), which),
                                   level)


def rate_gap_interval(counts: Counts, which: str, groups: Optional[List[str]],
                      level: float) -> Tuple[float, float]:
    if math.isnan(rate_gap(counts, which, groups)):
        return intervals.NAN_INTERVAL
    totals = by_group(counts)
    return intervals.gap_interval(
        _fractions(totals, which, groups if groups else sorted(totals)), level)


def conditional_rate_gap_interval(counts: Counts, which: str,
                                  groups: Optional[List[str]],
                                  level: float) -> Tuple[float, float]:
    if math.isnan(conditional_rate_gap(counts, which, groups)):
        return intervals.NAN_INTERVAL
    names = groups if groups else sorted({g for g, _ in counts})
    strata = []
    for stratum in sorted({s for _, s in counts}):
        cells = [counts.get((g, stratum)) for g in names]
        if all(c is not None and _denominator(c, which) > 0 for c in cells):
            strata.append([rates.fraction(c, which) for c in cells])
    return intervals.conditional_gap_interval(strata, level)


class Quantity:
    """What one gate metric measures, from confusion counts: the point value and
    its bounds. `name` is the point value's metric name."""

    def __init__(self, name: str, which: str, point, interval):
        self.name, self.which = name, which
        self.point, self.interval = point, interval

    @property
    def side(self) -> str:
        return bad_side(self.which)

    def outputs(self, counts: Counts, level: float) -> Dict[str, float]:
        low, high = self.interval(counts, level=level)
        return {self.name: float(self.point(counts)),
                bound_name(self.name, "lower", level): float(low),
                bound_name(self.name, "upper", level): float(high)}


# --- TFMA combiner: one counting pass per model. ---------------------------------
#
# Every gate metric of an EvalConfig reads the same table: per example, the values
# of every feature a gate metric groups or conditions by, the label, the model's
# decision at every score threshold a gate metric uses and, for the candidate when
# a Regression compares it with a baseline, the baseline's decisions too. Each
# metric's own (group, stratum) counts are sums over that table, so TFMA looks up
# each example's label and predictions once per model and slice, not once per
# distinct group feature, condition and threshold.

class CountingPlan(NamedTuple):
    """What the counting pass of one model records: the features keying a cell
    (sorted), the score thresholds decisions are taken at (sorted), and whether
    the baseline's decisions are recorded beside the model's. `roles` names each
    feature's use ("group" or "condition") for error messages."""
    features: Tuple[str, ...]
    thresholds: Tuple[float, ...]
    paired: bool
    roles: Tuple[str, ...] = ()

    @property
    def key_name(self) -> str:
        """The counts' private metric name (TFMA drops names starting with "_"):
        metrics with the same plan name the same computation, so TFMA runs it
        once."""
        return (f"_fairgate_counts:{','.join(self.features)}:"
                f"{','.join(repr(t) for t in self.thresholds)}:{int(self.paired)}")


# One row of the table: (feature values as group_text, in plan.features' order;
# positive label; the model's decisions at plan.thresholds, then the baseline's when
# paired) -> number of examples.
Table = Dict[Tuple[Tuple[str, ...], bool, Tuple[bool, ...]], int]


class _Needs(NamedTuple):
    """What one gate metric counts."""
    group_key: Optional[str]
    condition_key: Optional[str]  # only with a group_key: no group, no strata
    threshold: float
    paired: bool


def _needs(group_key: Optional[str] = None, condition_key: Optional[str] = None,
           threshold: float = 0.5, paired: bool = False, **_) -> _Needs:
    """A metric's _Needs from its arguments (a Metric's `kwargs`)."""
    group_key = group_key or None
    return _Needs(group_key, (condition_key or None) if group_key else None,
                  float(threshold), paired)


def _metric_options(text: str) -> Dict[str, Any]:
    """A MetricConfig's JSON config, braces optional, as TFMA reads it."""
    text = text.strip()
    return json.loads(text if text.startswith("{") else "{" + text + "}")


def _config_needs(eval_config) -> List[_Needs]:
    """What every fairgate gate metric of `eval_config` counts. A metric whose
    config does not build is left out here: it fails in its own computations."""
    found = []
    for spec in (eval_config.metrics_specs if eval_config else []):
        for metric in spec.metrics:
            cls = _COUNTING_METRICS.get(metric.class_name)
            if cls is None or metric.module not in GATE_MODULES:
                continue
            try:
                instance = cls(**_metric_options(metric.config))
            except (TypeError, ValueError):
                continue
            found.append(_needs(**{**instance.kwargs, "paired": cls is Regression}))
    return found


def counting_plan(eval_config, model_name: str, own: _Needs) -> CountingPlan:
    """The plan of `model_name`'s counting pass: what `own` (the metric asking)
    and every other gate metric of `eval_config` count for that model. Every gate
    metric of one EvalConfig gets the same plan, and so shares one pass."""
    candidate = _role(eval_config, model_name) == "candidate"
    # A Regression counts only for the candidate (the others emit constants).
    needs = [n for n in _config_needs(eval_config) + [own] if candidate or not n.paired]
    paired = any(n.paired for n in needs)
    groups = {n.group_key for n in needs if n.group_key}
    features = tuple(sorted(groups | {n.condition_key for n in needs if n.condition_key}))
    return CountingPlan(features, tuple(sorted({n.threshold for n in needs})), paired,
                        tuple("group" if k in groups else "condition" for k in features))


def _prediction_key(eval_config, model_name: str) -> str:
    """The model spec's prediction_key, the spec matched as TFMA's
    `to_label_prediction_example_weight` matches it."""
    for spec in (eval_config.model_specs if eval_config else []):
        spec_name = spec.name if len(eval_config.model_specs) > 1 else ""
        if spec_name == model_name:
            return spec.prediction_key
    return ""


def _numeric_value(value) -> Optional[float]:
    if type(value) is np.ndarray and value.size == 1 and value.dtype.kind in "biuf":
        return float(value.reshape(-1)[0])
    return None


class _Scores:
    """(positive label, score) pairs of one example for one model.

    A single-output binary model's label and score are single numbers in TFMA's
    StandardMetricInputs: they are read directly, after the lookups TFMA's
    `to_label_prediction_example_weight` would make (model name, output name,
    the model spec's prediction_key). Anything else (a dict label, sparse,
    string or multi-class labels and predictions, a prediction dict without the
    prediction_key) goes through that general function, which also raises
    TFMA's errors for what it cannot pair."""

    def __init__(self, eval_config, model_name: str, output_name: str):
        self._eval_config = eval_config
        self._model_name, self._output_name = model_name, output_name
        self._prediction_key = _prediction_key(eval_config, model_name)

    def _direct(self, element) -> Optional[Tuple[bool, float]]:
        label = _numeric_value(element.label)
        if label is None:
            return None
        prediction = element.prediction
        for name in (self._model_name, self._output_name):
            if name:  # TFMA requires a dict holding the name here
                if not isinstance(prediction, dict) or name not in prediction:
                    return None
                prediction = prediction[name]
        if isinstance(prediction, dict):  # TFMA looks the prediction_key up in a dict
            if not self._prediction_key or self._prediction_key not in prediction:
                return None
            prediction = prediction[self._prediction_key]
        score = _numeric_value(prediction)
        return None if score is None else (label > 0.5, score)

    def __call__(self, element) -> List[Tuple[bool, float]]:
        direct = self._direct(element)
        if direct is not None:
            return [direct]
        return [(float(np.reshape(label, -1)[0]) > 0.5,
                 float(np.reshape(prediction, -1)[0]))
                for label, prediction, _ in metric_util.to_label_prediction_example_weight(
                    element, eval_config=self._eval_config, model_name=self._model_name,
                    output_name=self._output_name)]


def _feature_text(features, key: str, role: str) -> str:
    if key not in features:
        raise ValueError(f"{role} feature '{key}' is not in the evaluated examples "
                         f"(features: {', '.join(sorted(features))})")
    return group_text(features[key])


class _GateCountsCombiner(beam.CombineFn):
    """Counts one model's examples into a `Table` (`CountingPlan`), output whole
    under one private key; each gate metric derives its counts from it."""

    def __init__(self, key: metric_types.MetricKey, eval_config, plan: CountingPlan):
        self._key = key
        self._plan = plan
        self._scores = _Scores(eval_config, key.model_name, key.output_name)
        self._baseline_scores = _Scores(eval_config, _baseline_name(eval_config),
                                        key.output_name) if plan.paired else None

    def create_accumulator(self) -> Table:
        return {}

    def add_input(self, accumulator: Table,
                  element: metric_types.StandardMetricInputs) -> Table:
        features = element.features or {}
        values = tuple(_feature_text(features, k, role)
                       for k, role in zip(self._plan.features, self._plan.roles))
        thresholds = self._plan.thresholds
        pairs = self._scores(element)
        if self._baseline_scores is None:
            rows = [(values, label, tuple(score > t for t in thresholds))
                    for label, score in pairs]
        else:  # the label is the candidate's, as TFMA pairs them
            rows = [(values, label, tuple(score > t for t in thresholds)
                     + tuple(other > t for t in thresholds))
                    for (label, score), (_, other) in zip(pairs,
                                                          self._baseline_scores(element))]
        for row in rows:
            accumulator[row] = accumulator.get(row, 0) + 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Table]) -> Table:
        accumulators = iter(accumulators)
        merged = dict(next(accumulators, {}))
        for accumulator in accumulators:
            for row, count in accumulator.items():
                merged[row] = merged.get(row, 0) + count
        return merged

    def extract_output(self, accumulator: Table) -> Dict[metric_types.MetricKey, Table]:
        return {self._key: accumulator}


def counts_from_table(table: Table, plan: CountingPlan, needs: _Needs) -> Counts:
    """One metric's confusion counts per (group, stratum) cell from the table;
    with `needs.paired`, the joint counts of the paired cells below instead."""
    group = plan.features.index(needs.group_key) if needs.group_key else None
    stratum = plan.features.index(needs.condition_key) if needs.condition_key else None
    at = plan.thresholds.index(needs.threshold)
    baseline_at = len(plan.thresholds) + at
    counts: Counts = {}
    for (values, label, decisions), n in table.items():
        cell_key = (values[group] if group is not None else "",
                    values[stratum] if stratum is not None else "")
        if needs.paired:
            cell = counts.setdefault(cell_key, np.zeros(8))
            cell[4 * int(label) + 2 * int(decisions[at]) + int(decisions[baseline_at])] += n
        else:
            cell = counts.setdefault(cell_key, np.zeros(4))
            if decisions[at]:
                cell[rates.TP if label else rates.FP] += n
            else:
                cell[rates.FN if label else rates.TN] += n
    return counts


def _baseline_name(eval_config) -> Optional[str]:
    for spec in (eval_config.model_specs if eval_config else []):
        if spec.is_baseline:
            return spec.name
    return None


BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 20240610


# Paired cells: index label * 4 + candidate positive * 2 + baseline positive; a
# length-8 vector, or (8, R) for R bootstrap replicates.
def split_paired(paired: Dict[Tuple[str, str], np.ndarray]) -> Tuple[Counts, Counts]:
    """Joint (label, candidate, baseline) counts -> each model's confusion counts."""
    candidate, baseline = {}, {}
    for cell_key, joint in paired.items():
        # [label, candidate positive, baseline positive, replicates...]
        t = np.asarray(joint).reshape((2, 2, 2) + np.shape(joint)[1:])
        for counts, predicted in ((candidate, t.sum(axis=2)), (baseline, t.sum(axis=1))):
            counts[cell_key] = np.array([predicted[1, 1], predicted[0, 1],
                                         predicted[0, 0], predicted[1, 0]])
    return candidate, baseline


def paired_bootstrap(paired: Dict[Tuple[str, str], np.ndarray], statistic,
                     replicates: int = BOOTSTRAP_REPLICATES,
                     seed: int = BOOTSTRAP_SEED) -> Tuple[np.ndarray, np.ndarray]:
    """(observed, samples) of `statistic(candidate_counts, baseline_counts)` (a
    sequence of k values) on the joint table and on `replicates` seeded bootstrap
    resamples of it: the table of (group, stratum, label, candidate decision,
    baseline decision) is resampled as one multinomial over examples, so the
    pairing is kept. `samples` is (replicates, k); empty (0, k) when the table
    holds no example.

    All replicates are drawn at once and `statistic` is called once on them: its
    counts then hold (4, replicates) arrays, and it must be element-wise over
    that last axis, as the quantities above are (a value the same for every
    replicate, e.g. NaN for a missing group, may stay a number)."""
    observed = np.asarray(statistic(*split_paired(paired)), dtype=float)
    keys = sorted(paired)
    flat = np.concatenate([paired[k] for k in keys]) if keys else np.zeros(0)
    total = int(flat.sum())
    if total == 0:
        return observed, np.zeros((0, observed.size))
    draws = np.random.default_rng(seed).multinomial(total, flat / total,
                                                    size=replicates)
    resampled = {k: draws[:, 8 * i:8 * i + 8].T for i, k in enumerate(keys)}
    values = statistic(*split_paired(resampled))
    samples = np.zeros((replicates, observed.size))
    for column, value in enumerate(values):
        samples[:, column] = value
    return observed, samples


def paired_regression(paired: Dict[Tuple[str, str], np.ndarray], point,
                      higher_is_better: bool, level: float,
                      replicates: int = BOOTSTRAP_REPLICATES,
                      seed: int = BOOTSTRAP_SEED) -> Tuple[float, float, float]:
    """(regression, lower, upper): how much worse the candidate is than the
    baseline on the same examples (candidate - baseline; baseline - candidate when
    higher is better), with percentile bounds from the paired bootstrap
    (`paired_bootstrap`)."""
    def regression(candidate, baseline):
        change = np.asarray(point(candidate), dtype=float) - \
            np.asarray(point(baseline), dtype=float)
        return [-change if higher_is_better else change]

    observed, samples = paired_bootstrap(paired, regression, replicates, seed)
    if samples.size == 0 or math.isnan(observed[0]):
        return float(observed[0]), math.nan, math.nan
    low, high = intervals.quantile_bounds(samples[:, 0], level)
    return float(observed[0]), low, high


def _role(eval_config, model_name: str) -> str:
    baseline = _baseline_name(eval_config)
    if baseline is None:
        return "alone"
    return "baseline" if model_name == baseline else "candidate"


def _regression(paired, role: str, quantity: Quantity, level: float,
                names: Tuple[str, str, str]) -> Dict[str, float]:
    """The paired regression of `quantity` with its bounds. The baseline compared
    with itself has no regression (0). Without a baseline in the EvalConfig (the
    first run) the values are NaN; the change thresholds that use them are then
    dropped by TFMA."""
    if role == "baseline":
        values = (0.0, 0.0, 0.0)
    elif role == "alone":
        values = (math.nan, math.nan, math.nan)
    else:
        values = paired_regression(paired, quantity.point,
                                   rates.get(quantity.which).higher_is_better, level)
    return {name: float(value) for name, value in zip(names, values)}


# --- Metric classes. ---------------------------------------------------------------

def _check_rate(which: str) -> None:
    if rates.canonical(which) not in rates.TABLE:
        raise ValueError(f"rate must be one of {', '.join(rates.RATES)} (or the alias "
                         f"{', '.join(rates.ALIASES)}), got '{which}'")


def _check_groups(groups) -> None:
    if groups is not None and not isinstance(groups, (list, tuple)):
        raise ValueError(f"groups must be a list, got {groups!r}")


def _check_policy(policy: str, level) -> float:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got "
                         f"'{policy}'")
    return intervals.check_level(level)


def _derive(metrics, counts_key: Optional[metric_types.MetricKey],
            key: metric_types.MetricKey, plan: CountingPlan, needs: _Needs,
            summarize) -> Dict[metric_types.MetricKey, float]:
    counts = {} if counts_key is None else counts_from_table(metrics[counts_key], plan,
                                                             needs)
    return {key._replace(name=name): value for name, value in summarize(counts).items()}


def _computations(needs: _Needs, summarize, *, name: str, names: List[str],
                  eval_config=None, model_names=None, output_names=None,
                  example_weighted: bool = False) -> metric_types.MetricComputations:
    """Per model and output (TFMA's `model_names`, `output_names`): the model's
    counting pass (`counting_plan`: the same computation for every gate metric of
    the EvalConfig, so TFMA runs it once per model), then the metric values
    `names` derived from the counts `needs` selects by `summarize(key)(counts)`."""
    if example_weighted:
        raise ValueError(f"{name}: fairgate's group metrics count examples and do not "
                         "support example weights; remove example_weights from the "
                         "metrics spec")
    computations = []
    for model_name in model_names or [""]:
        plan = counting_plan(eval_config, model_name, needs)
        # A Regression of the baseline, or with no baseline, reads no counts.
        counted = not needs.paired or plan.paired
        for output_name in output_names or [""]:
            key = metric_types.MetricKey(name=name, model_name=model_name,
                                         output_name=output_name,
                                         example_weighted=example_weighted)
            counts_key = key._replace(name=plan.key_name) if counted else None
            if counted:
                computations.append(metric_types.MetricComputation(
                    keys=[counts_key],
                    preprocessors=[metric_types.FeaturePreprocessor(
                        feature_keys=list(plan.features))],
                    combiner=_GateCountsCombiner(counts_key, eval_config, plan)))
            computations.append(metric_types.DerivedMetricComputation(
                keys=[key._replace(name=n) for n in names],
                result=functools.partial(_derive, counts_key=counts_key, key=key,
                                         plan=plan, needs=needs,
                                         summarize=summarize(key))))
    return computations


def _names(groups) -> Optional[List[str]]:
    return [group_text(g) for g in groups] if groups else None


def _quantity(kind: str, name: str, rate: str, group=None, groups=None) -> Quantity:
    """The Quantity of a metric class's config (shared by the gate metrics and
    Regression, which judges the same quantities against the baseline)."""
    names = _names(groups)
    if kind == "GroupRate":
        wanted = None if group is None else group_text(group)
        return Quantity(name, rate, functools.partial(group_rate, which=rate, group=wanted),
                        functools.partial(group_rate_interval, which=rate, group=wanted))
    if kind == "OverallRate":
        return Quantity(name, rate, functools.partial(overall_rate, which=rate),
                        functools.partial(overall_rate_interval, which=rate))
    if kind == "GroupRateGap":
        return Quantity(name, rate, functools.partial(rate_gap, which=rate, groups=names),
                        functools.partial(rate_gap_interval, which=rate, groups=names))
    if kind == "ConditionalRateGap":
        return Quantity(name, rate,
                        functools.partial(conditional_rate_gap, which=rate, groups=names),
                        functools.partial(conditional_rate_gap_interval, which=rate,
                                          groups=names))
    raise ValueError(f"no interval for metric '{kind}' (metrics with intervals: "
                     f"{', '.join(INTERVAL_METRICS)})")


def _default_name(kind: str, rate: str, group_key=None, group=None,
                  condition_key=None) -> str:
    if kind == "GroupRate":
        return (f"{rate}/{group_key}={group_text(group)}" if group is not None
                else f"worst_group_{rate}")
    if kind == "OverallRate":
        return rate
    if kind == "GroupRateGap":
        return f"{rate}_gap"
    return f"conditional_{rate}_gap/{condition_key}"


class _GateMetric(metric_types.Metric):
    """A gate metric with an interval. It emits the point value (`point_name`)
    and its bounds (`<point_name>/lower95`, `/upper95` at `level`). Thresholds
    attach to `name`: the point value under policy "point", the bound on the bad
    side (upper for FPR and gaps, lower for accuracy) under "confidence"."""

    KIND = ""

    def __init__(self, *, rate: str, name: str = "", policy: str = "point",
                 level: float = DEFAULT_LEVEL, **kwargs):
        _check_rate(rate)
        level = _check_policy(policy, level)
        point_name = name or _default_name(self.KIND, rate, kwargs.get("group_key"),
                                           kwargs.get("group"),
                                           kwargs.get("condition_key"))
        super().__init__(_gate_computations, kind=self.KIND, rate=rate,
                         name=point_name, policy=policy, level=level, **kwargs)
        self.point_name = point_name
        self.policy, self.level, self.side = policy, level, bad_side(rate)
        self.lower_name = bound_name(point_name, "lower", level)
        self.upper_name = bound_name(point_name, "upper", level)
        if policy == "confidence":  # what TFMA's thresholds compare
            self.name = bound_name(point_name, self.side, level)


def _gate_computations(kind, rate, name, policy, level, group_key=None, group=None,
                       groups=None, condition_key=None, threshold=0.5,
                       eval_config=None, model_names=None, output_names=None,
                       example_weighted=False):
    del policy  # the same values are emitted; the policy only picks the gated name
    quantity = _quantity(kind, name, rate, group, groups)

    return _computations(
        _needs(group_key, condition_key, threshold),
        lambda key: functools.partial(quantity.outputs, level=level),
        name=name, names=[name, bound_name(name, "lower", level),
                          bound_name(name, "upper", level)],
        eval_config=eval_config, model_names=model_names,
        output_names=output_names, example_weighted=example_weighted)


class GroupRate(_GateMetric):
    """A rate of one group (`group`), or of the worst group when none is given."""
    KIND = "GroupRate"

    def __init__(self, group_key: str, rate: str = "false_positive_rate",
                 group: Any = None, threshold: float = 0.5, name: str = "",
                 policy: str = "point", level: float = DEFAULT_LEVEL):
        super().__init__(rate=rate, name=name, policy=policy, level=level,
                         group_key=group_key, group=group, threshold=threshold)


class OverallRate(_GateMetric):
    """A rate over all examples (e.g. accuracy), with its interval."""
    KIND = "OverallRate"

    def __init__(self, rate: str = "accuracy", threshold: float = 0.5, name: str = "",
                 policy: str = "point", level: float = DEFAULT_LEVEL):
        super().__init__(rate=rate, name=name, policy=policy, level=level,
                         threshold=threshold)


class GroupRateGap(_GateMetric):
    """Largest minus smallest rate among the groups."""
    KIND = "GroupRateGap"

    def __init__(self, group_key: str, rate: str = "false_positive_rate",
                 groups: Optional[List[Any]] = None, threshold: float = 0.5,
                 name: str = "", policy: str = "point", level: float = DEFAULT_LEVEL):
        _check_groups(groups)
        super().__init__(rate=rate, name=name, policy=policy, level=level,
                         group_key=group_key, groups=groups, threshold=threshold)


class ConditionalRateGap(_GateMetric):
    """Beutel et al.'s conditional equality within strata of `condition_key`."""
    KIND = "ConditionalRateGap"

    def __init__(self, group_key: str, condition_key: str,
                 rate: str = "false_positive_rate",
                 groups: Optional[List[Any]] = None, threshold: float = 0.5,
                 name: str = "", policy: str = "point", level: float = DEFAULT_LEVEL):
        _check_groups(groups)
        super().__init__(rate=rate, name=name, policy=policy, level=level,
                         group_key=group_key, condition_key=condition_key,
                         groups=groups, threshold=threshold)


INTERVAL_METRICS = ("GroupRate", "OverallRate", "GroupRateGap", "ConditionalRateGap")


class Regression(metric_types.Metric):
    """How much worse the candidate is than the baseline model on one of the
    quantities above, judged on the same test examples (paired).

    Config: `metric` (one of INTERVAL_METRICS) and that metric's arguments, plus
    `level`. Emits, for the candidate, `<point name>/regression` (candidate -
    baseline; baseline - candidate for accuracy and TPR) and its bounds
    `/regression_lower95`, `/regression_upper95` from a seeded paired bootstrap;
    for the baseline 0. Thresholds attach to the lower bound: the gate is a
    change_threshold `LOWER_IS_BETTER absolute { value: margin }`, which fails only
    when the data show, at `level`, a regression larger than the margin. TFMA
    drops change thresholds when there is no baseline (the first run), so the
    gate is skipped then, as every change gate is.
    """

    def __init__(self, metric: str, rate: str = "false_positive_rate",
                 group_key: Optional[str] = None, group: Any = None,
                 groups: Optional[List[Any]] = None, condition_key: Optional[str] = None,
                 threshold: float = 0.5, name: str = "", level: float = DEFAULT_LEVEL):
        if metric not in INTERVAL_METRICS:
            raise ValueError(f"metric must be one of {', '.join(INTERVAL_METRICS)}, "
                             f"got '{metric}'")
        # Without them the regression is NaN on every run with a baseline: the
        # gate could bless a first model and never a retrain.
        if metric != "OverallRate" and not group_key:
            raise ValueError(f"group_key is required for a Regression on {metric}")
        if metric == "ConditionalRateGap" and not condition_key:
            raise ValueError("condition_key is required for a Regression on "
                             "ConditionalRateGap")
        _check_rate(rate)
        _check_groups(groups)
        level = intervals.check_level(level)
        point_name = name or _default_name(metric, rate, group_key, group, condition_key)
        super().__init__(_regression_computations, metric=metric, rate=rate,
                         group_key=group_key, group=group, groups=groups,
                         condition_key=condition_key, threshold=threshold,
                         name=point_name, level=level)
        self.point_name = point_name
        self.policy, self.level, self.side = "confidence", level, "lower"
        names = regression_names(point_name, level)
        self.regression_name, self.lower_name, self.upper_name = names
        self.name = self.lower_name


def regression_names(point_name: str, level: float) -> Tuple[str, str, str]:
    base = f"{point_name}/regression"
    return (base, f"{base}_lower{level * 100:g}", f"{base}_upper{level * 100:g}")


def _regression_computations(metric, rate, group_key, group, groups, condition_key,
                             threshold, name, level, eval_config=None,
                             model_names=None, output_names=None,
                             example_weighted=False):
    quantity = _quantity(metric, name, rate, group, groups)
    names = regression_names(name, level)
    return _computations(
        _needs(group_key, condition_key, threshold, paired=True),
        lambda key: functools.partial(_regression, role=_role(eval_config, key.model_name),
                                      quantity=quantity, level=level, names=names),
        name=name, names=list(names), eval_config=eval_config,
        model_names=model_names, output_names=output_names,
        example_weighted=example_weighted)


class MinGroupSize(metric_types.Metric):
    def __init__(self, group_key: str, groups: List[Any], name: str = ""):
        if not groups:
            raise ValueError("MinGroupSize needs the list of groups the data must hold")
        _check_groups(groups)
        super().__init__(_min_group_size, group_key=group_key, groups=groups,
                         name=name or "min_group_size")


def _named_min_group_size(counts: Counts, name: str, groups: List[str]):
    return {name: min_group_size(counts, groups)}


def _min_group_size(name, group_key, groups, eval_config=None, model_names=None,
                    output_names=None, example_weighted=False):
    names = _names(groups)
    return _computations(
        _needs(group_key),
        lambda key: functools.partial(_named_min_group_size, name=name, groups=names),
        name=name, names=[name], eval_config=eval_config, model_names=model_names,
        output_names=output_names, example_weighted=example_weighted)


# The metrics that count through the shared pass, by EvalConfig class_name.
_COUNTING_METRICS = {m.__name__: m for m in (GroupRate, OverallRate, GroupRateGap,
                                              ConditionalRateGap, Regression,
                                              MinGroupSize)}

for _metric in _COUNTING_METRICS.values():
    metric_types.register_metric(_metric)
