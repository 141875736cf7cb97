"""Group fairness metrics for TFMA, loaded by `module: "fairgate.group_metrics"`.

TFMA 0.47.1 cannot gate on FairnessIndicators sub-metrics or on cross-slice
differences (see STACK_NOTES), so the gates are custom metrics computed on the
overall slice from the group feature of every example. TFMA imports this module by
name in every Beam worker (in-process, multi-processing, or a Kubeflow pod running
the project image), so the gates behave the same everywhere: no patching.

Metrics (each takes `group_key`, the threshold on the score, and a `name`):

* `GroupRate`: a rate (false_positive_rate, false_negative_rate,
  true_positive_rate, positive_rate, accuracy) of one group (`group`), or of the
  worst group when no group is given.
* `GroupRateGap`: largest minus smallest rate among the groups.
* `ConditionalRateGap`: conditional equality (Beutel et al. 2019): within each
  stratum of `condition_key`, the absolute gap between the groups' rates, weighted
  by the stratum's share of the rate's denominator (negatives for FPR).
* `MinGroupSize`: the smallest number of examples among the `groups` the data
  must hold; a missing group counts 0.

Undefined values (a group without examples, fewer than two groups) are NaN, and
TFMA fails every threshold on NaN: a gate never passes by absence.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Dict, Iterable, List, Optional, Tuple

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util

RATES = ("false_positive_rate", "false_negative_rate", "true_positive_rate",
         "positive_rate", "accuracy")

# Confusion counts per cell: true positives, false positives, true negatives,
# false negatives.
TP, FP, TN, FN = range(4)
Counts = Dict[Tuple[str, str], np.ndarray]


def group_name(value: Any) -> str:
    """One spelling for a group value, whether it came as int, bytes or str."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _fraction(counts: np.ndarray, which: str) -> Tuple[float, float]:
    """(numerator, denominator) of `which` for one confusion-count vector."""
    tp, fp, tn, fn = (float(c) for c in counts)
    return {
        "false_positive_rate": (fp, fp + tn),
        "false_negative_rate": (fn, fn + tp),
        "true_positive_rate": (tp, tp + fn),
        "positive_rate": (tp + fp, tp + fp + tn + fn),
        "accuracy": (tp + tn, tp + fp + tn + fn),
    }[which]


def rate(counts: np.ndarray, which: str) -> float:
    """`which` of one confusion-count vector; NaN when its denominator is 0."""
    numerator, denominator_ = _fraction(counts, which)
    return numerator / denominator_ if denominator_ else math.nan


def denominator(counts: np.ndarray, which: str) -> float:
    return _fraction(counts, which)[1]


def by_group(counts: Counts) -> Dict[str, np.ndarray]:
    """Sums the cells over strata."""
    totals: Dict[str, np.ndarray] = {}
    for (group, _), cell in counts.items():
        totals[group] = totals.get(group, np.zeros(4)) + cell
    return totals


def group_rate(counts: Counts, which: str, group: Optional[str] = None) -> float:
    """The rate of `group`, or the worst (largest; smallest for accuracy and
    true_positive_rate) rate among groups when `group` is None."""
    groups = by_group(counts)
    if group is not None:
        return rate(groups[group], which) if group in groups else math.nan
    values = [rate(cell, which) for cell in groups.values()]
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    return min(values) if which in ("accuracy", "true_positive_rate") else max(values)


def rate_gap(counts: Counts, which: str, groups: Optional[List[str]] = None) -> float:
    """max - min of the groups' rates; NaN with fewer than two measurable groups
    or when one of `groups` is absent."""
    totals = by_group(counts)
    names = groups if groups else sorted(totals)
    if len(names) < 2 or any(g not in totals for g in names):
        return math.nan
    values = [rate(totals[g], which) for g in names]
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values) - min(values)


def conditional_rate_gap(counts: Counts, which: str,
                         groups: Optional[List[str]] = None) -> float:
    """Beutel et al.'s conditional equality: sum over strata s of
    w_s * (max_g rate(g, s) - min_g rate(g, s)), w_s the stratum's share of the
    rate's denominator. NaN when some stratum holds examples of the rate's
    denominator but not for every group: the groups cannot be compared there, and
    judging the other strata alone would pass by absence."""
    names = groups if groups else sorted({g for g, _ in counts})
    if len(names) < 2:
        return math.nan
    total_weight, weighted_gap = 0.0, 0.0
    for stratum in sorted({s for _, s in counts}):
        cells = [counts.get((g, stratum)) for g in names]
        present = [c is not None and denominator(c, which) > 0 for c in cells]
        if not any(present):
            continue  # nothing to compare, nothing hidden
        if not all(present):
            return math.nan
        values = [rate(c, which) for c in cells]
        weight = sum(denominator(c, which) for c in cells)
        weighted_gap += weight * (max(values) - min(values))
        total_weight += weight
    return weighted_gap / total_weight if total_weight else math.nan


def min_group_size(counts: Counts, groups: List[str]) -> float:
    totals = by_group(counts)
    return float(min(totals.get(g, np.zeros(4)).sum() for g in groups))


class _GroupCountsCombiner(beam.CombineFn):
    """Accumulates confusion counts per (group, stratum) at one score threshold."""

    def __init__(self, key: metric_types.MetricKey, eval_config, group_key: str,
                 condition_key: Optional[str], threshold: float, summarize):
        self._key = key
        self._eval_config = eval_config
        self._group_key = group_key
        self._condition_key = condition_key
        self._threshold = threshold
        self._summarize = summarize

    def create_accumulator(self) -> Counts:
        return {}

    def add_input(self, accumulator: Counts,
                  element: metric_types.StandardMetricInputs) -> Counts:
        features = element.features or {}
        if self._group_key not in features:
            raise ValueError(
                f"group feature '{self._group_key}' is not in the evaluated examples "
                f"(features: {', '.join(sorted(features))})")
        group = group_name(features[self._group_key])
        stratum = ""
        if self._condition_key:
            if self._condition_key not in features:
                raise ValueError(
                    f"condition feature '{self._condition_key}' is not in the "
                    "evaluated examples")
            stratum = group_name(features[self._condition_key])
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
                element, eval_config=self._eval_config,
                model_name=self._key.model_name, output_name=self._key.output_name):
            positive_label = float(np.reshape(label, -1)[0]) > 0.5
            positive_prediction = float(np.reshape(prediction, -1)[0]) > self._threshold
            cell = accumulator.setdefault((group, stratum), np.zeros(4))
            if positive_prediction:
                cell[TP if positive_label else FP] += 1
            else:
                cell[FN if positive_label else TN] += 1
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Counts]) -> Counts:
        merged: Counts = {}
        for accumulator in accumulators:
            for cell_key, cell in accumulator.items():
                merged[cell_key] = merged.get(cell_key, np.zeros(4)) + cell
        return merged

    def extract_output(self, accumulator: Counts) -> Dict[metric_types.MetricKey, float]:
        return {self._key: float(self._summarize(accumulator))}


def _check_rate(which: str) -> None:
    if which not in RATES:
        raise ValueError(f"rate must be one of {', '.join(RATES)}, got '{which}'")


def _check_groups(groups) -> None:
    if groups is not None and not isinstance(groups, (list, tuple)):
        raise ValueError(f"groups must be a list, got {groups!r}")


def _computations(summarize, *, name: str, group_key: str, threshold: float,
                  condition_key: Optional[str] = None, eval_config=None,
                  model_names=None, output_names=None,
                  example_weighted: bool = False) -> metric_types.MetricComputations:
    if example_weighted:
        raise ValueError(f"{name}: fairgate's group metrics count examples and do not "
                         "support example weights; remove example_weights from the "
                         "metrics spec")
    features = [group_key] + ([condition_key] if condition_key else [])
    computations = []
    for model_name in model_names or [""]:
        for output_name in output_names or [""]:
            key = metric_types.MetricKey(name=name, model_name=model_name,
                                         output_name=output_name,
                                         example_weighted=example_weighted)
            computations.append(metric_types.MetricComputation(
                keys=[key],
                preprocessors=[metric_types.FeaturePreprocessor(feature_keys=features)],
                combiner=_GroupCountsCombiner(key, eval_config, group_key,
                                              condition_key, threshold, summarize)))
    return computations


def _names(groups) -> Optional[List[str]]:
    return [group_name(g) for g in groups] if groups else None


class GroupRate(metric_types.Metric):
    def __init__(self, group_key: str, rate: str = "false_positive_rate",
                 group: Any = None, threshold: float = 0.5, name: str = ""):
        _check_rate(rate)
        super().__init__(_group_rate, group_key=group_key, rate=rate, group=group,
                         threshold=threshold, name=name or (
                             f"{rate}/{group_key}={group_name(group)}"
                             if group is not None else f"worst_group_{rate}"))


def _group_rate(name, group_key, rate, group, threshold, eval_config=None,
                model_names=None, output_names=None, example_weighted=False):
    wanted = None if group is None else group_name(group)
    return _computations(functools.partial(group_rate, which=rate, group=wanted), name=name,
                         group_key=group_key, threshold=threshold,
                         eval_config=eval_config, model_names=model_names,
                         output_names=output_names, example_weighted=example_weighted)


class GroupRateGap(metric_types.Metric):
    def __init__(self, group_key: str, rate: str = "false_positive_rate",
                 groups: Optional[List[Any]] = None, threshold: float = 0.5,
                 name: str = ""):
        _check_rate(rate)
        _check_groups(groups)
        super().__init__(_rate_gap, group_key=group_key, rate=rate, groups=groups,
                         threshold=threshold, name=name or f"{rate}_gap")


def _rate_gap(name, group_key, rate, groups, threshold, eval_config=None,
              model_names=None, output_names=None, example_weighted=False):
    names = _names(groups)
    return _computations(functools.partial(rate_gap, which=rate, groups=names), name=name,
                         group_key=group_key, threshold=threshold,
                         eval_config=eval_config, model_names=model_names,
                         output_names=output_names, example_weighted=example_weighted)


class ConditionalRateGap(metric_types.Metric):
    def __init__(self, group_key: str, condition_key: str,
                 rate: str = "false_positive_rate",
                 groups: Optional[List[Any]] = None, threshold: float = 0.5,
                 name: str = ""):
        _check_rate(rate)
        _check_groups(groups)
        super().__init__(_conditional_gap, group_key=group_key,
                         condition_key=condition_key, rate=rate, groups=groups,
                         threshold=threshold,
                         name=name or f"conditional_{rate}_gap/{condition_key}")


def _conditional_gap(name, group_key, condition_key, rate, groups, threshold,
                     eval_config=None, model_names=None, output_names=None,
                     example_weighted=False):
    names = _names(groups)
    return _computations(functools.partial(conditional_rate_gap, which=rate,
                                           groups=names), name=name,
                         group_key=group_key, condition_key=condition_key,
                         threshold=threshold, eval_config=eval_config,
                         model_names=model_names, output_names=output_names,
                         example_weighted=example_weighted)


class MinGroupSize(metric_types.Metric):
    def __init__(self, group_key: str, groups: List[Any], name: str = ""):
        if not groups:
            raise ValueError("MinGroupSize needs the list of groups the data must hold")
        _check_groups(groups)
        super().__init__(_min_group_size, group_key=group_key, groups=groups,
                         name=name or "min_group_size")


def _min_group_size(name, group_key, groups, eval_config=None, model_names=None,
                    output_names=None, example_weighted=False):
    names = _names(groups)
    return _computations(functools.partial(min_group_size, groups=names), name=name,
                         group_key=group_key, threshold=0.5, eval_config=eval_config,
                         model_names=model_names, output_names=output_names,
                         example_weighted=example_weighted)


for _metric in (GroupRate, GroupRateGap, ConditionalRateGap, MinGroupSize):
    metric_types.register_metric(_metric)
