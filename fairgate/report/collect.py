"""Reads the Evaluators' TFMA outputs into the report's plain data (report.json).

Everything here is read back from what TFMA wrote: the EvalConfig it ran
(`eval_config.json`), its metrics per slice, and its validation result. The
verdict is TFMA's; this module only lays it out, check by check.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, List, Optional, Tuple

import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_specs, metric_types
from tensorflow_model_analysis.writers import eval_config_writer

from fairgate.metrics import intervals
from fairgate.metrics import rates as rate_table  # `rates` names the report's per-group rows
from fairgate.metrics.groups import group_text

REPORT_THRESHOLDS = (0.22, 0.5, 0.75)
INTERVAL_LEVEL = 0.95  # the report's per-group error bars
FI = "fairness_indicators_metrics"
OVERALL = "Overall"
# What a change gate compares the candidate with, unless the Evaluator's record
# names something else (candidate.baseline_predictions: a score column).
CHANGE_AGAINST = "model in serving"


def change_suffix(against: str = CHANGE_AGAINST) -> str:
    """The suffix of a change gate's name in the report."""
    return f" (change vs {against})"

SliceMetrics = Dict[str, Dict[metric_types.MetricKey, Any]]


def slice_name(slice_key) -> str:
    """'Overall' or 'column=value' (a TFMA SliceKey proto)."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        parts.append(f"{single.column}={group_text(getattr(single, kind))}")
    return ", ".join(parts) or OVERALL


def _value(metric_value) -> Any:
    kind = metric_value.WhichOneof("type")
    if kind == "double_value":
        return metric_value.double_value.value
    if kind == "confusion_matrix_at_thresholds":
        return [{"threshold": m.threshold, "tp": m.true_positives,
                 "fp": m.false_positives, "tn": m.true_negatives,
                 "fn": m.false_negatives}
                for m in metric_value.confusion_matrix_at_thresholds.matrices]
    return None


class Evaluation:
    """One Evaluator output: its EvalConfig, metrics by slice, validation result."""

    def __init__(self, uri: str):
        self.uri = uri
        run = eval_config_writer.load_eval_run(uri)
        self.config: tfma.EvalConfig = run[0]
        self.model_locations: Dict[str, str] = run[3] or {}
        self.metrics: SliceMetrics = {}
        for per_slice in tfma.load_metrics(uri):
            values = self.metrics.setdefault(slice_name(per_slice.slice_key), {})
            for item in per_slice.metric_keys_and_values:
                values[metric_types.MetricKey.from_proto(item.key)] = _value(item.value)
        self.validation = tfma.load_validation_result(uri)
        baseline = [s.name for s in self.config.model_specs if s.is_baseline]
        self.baseline_name: Optional[str] = baseline[0] if baseline else None
        names = [s.name for s in self.config.model_specs if not s.is_baseline]
        self.candidate_name: str = names[0] if names else ""

    def value(self, slice_: str, name: str, model_name: str,
              is_diff: bool = False) -> Any:
        for key, value in self.metrics.get(slice_, {}).items():
            if (key.name == name and key.model_name == model_name
                    and key.is_diff == is_diff and not key.sub_key):
                return value
        return None

    def group_slices(self, group: str) -> List[str]:
        prefix = f"{group}="
        return sorted(s for s in self.metrics if s.startswith(prefix) and "," not in s)


def _number(value: Any) -> Optional[float]:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _interval(pair) -> Optional[List[float]]:
    low, high = (_number(v) for v in pair)
    return None if low is None or high is None else [low, high]


def group_rates(evaluation: Evaluation, group: str, model_name: str
                ) -> Dict[str, Dict[str, Dict[str, Optional[float]]]]:
    """{slice: {threshold: {accuracy, false_positive_rate, false_negative_rate,
    examples}}} for the overall slice and every group slice."""
    result = {}
    for slice_ in [OVERALL] + evaluation.group_slices(group):
        per_threshold = {}
        matrices = evaluation.value(slice_, "confusion_matrix_at_thresholds",
                                    model_name) or []
        for threshold in REPORT_THRESHOLDS:
            matrix = next((m for m in matrices
                           if abs(m["threshold"] - threshold) < 1e-6), None)
            if matrix is None:
                continue
            # In rate_table's order: TP, FP, TN, FN.
            counts = [matrix[cell] for cell in ("tp", "fp", "tn", "fn")]
            fi = f"@{threshold:.2f}"

            def bounds(which):  # one-sided 95% bounds: the figures' error bars
                return _interval(intervals.rate_interval(
                    *rate_table.fraction(counts, which), INTERVAL_LEVEL))

            per_threshold[f"{threshold:.2f}"] = {
                **{population: int(sum(counts[i] for i in cells))
                   for population, cells in rate_table.POPULATIONS.items()},
                "false_positive_rate_interval": bounds(rate_table.FALSE_POSITIVE_RATE),
                "false_negative_rate_interval": bounds(rate_table.FALSE_NEGATIVE_RATE),
                "accuracy": _number(rate_table.value(counts, rate_table.ACCURACY)),
                # FairnessIndicators' own values, as TFMA reports them.
                "false_positive_rate": _number(evaluation.value(
                    slice_, f"{FI}/false_positive_rate{fi}", model_name)),
                "false_negative_rate": _number(evaluation.value(
                    slice_, f"{FI}/false_negative_rate{fi}", model_name)),
            }
        result[slice_] = per_threshold
    return result


def _failed_keys(evaluation: Evaluation) -> Dict[Tuple[str, Any], str]:
    failed = {}
    for per_slice in evaluation.validation.metric_validations_per_slice:
        slice_ = slice_name(per_slice.slice_key)
        for failure in per_slice.failures:
            key = metric_types.MetricKey.from_proto(failure.metric_key)
            failed[(slice_, key)] = failure.message
    return failed


def _bound(threshold) -> Dict[str, float]:
    if isinstance(threshold, tfma.GenericValueThreshold):
        bound = {}
        if threshold.HasField("lower_bound"):
            bound["lower"] = threshold.lower_bound.value
        if threshold.HasField("upper_bound"):
            bound["upper"] = threshold.upper_bound.value
        return bound
    higher = threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    return {("lower" if higher else "upper"): threshold.absolute.value}


def _applicable_slices(slice_spec, metrics: SliceMetrics) -> List[str]:
    """The slices (by name) a threshold's slicing spec covers, as TFMA applies it:
    None covers every single slice; a SlicingSpec the slices with its keys (and
    values); cross-slice gates are not listed (fairgate's configs have none, and
    they are broken in TFMA 0.47.1)."""
    if slice_spec is None:
        return sorted(s for s in metrics)
    if not isinstance(slice_spec, tfma.SlicingSpec):
        return []
    wanted_values = {f"{k}={v}" for k, v in slice_spec.feature_values.items()}
    wanted_keys = set(slice_spec.feature_keys) | set(slice_spec.feature_values)
    if not wanted_keys:
        return [OVERALL]
    result = []
    for name in metrics:
        parts = [] if name == OVERALL else name.split(", ")
        if {p.split("=", 1)[0] for p in parts} == wanted_keys and \
                wanted_values <= set(parts):
            result.append(name)
    return sorted(result)


def _gate_metrics(config: tfma.EvalConfig) -> Dict[str, Any]:
    """{gated metric name: fairgate metric instance} for the metrics with an
    interval (their policy, level, point and bound names)."""
    from fairgate.metrics import group_metrics
    from fairgate.metrics.eval_config import GATE_MODULES
    found = {}
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if metric.module not in GATE_MODULES or \
                    not hasattr(group_metrics, metric.class_name):
                continue
            try:
                instance = getattr(group_metrics, metric.class_name)(
                    **(json.loads(metric.config) if metric.config else {}))
            except (TypeError, ValueError):
                continue
            if hasattr(instance, "point_name"):
                found[instance.name] = instance
    return found


def _evidence(evaluation: Evaluation, slice_: str, key, instance) -> Dict[str, Any]:
    """Policy, level, point value and interval of one gate, for the report."""
    if instance is None:
        return {"policy": "point", "level": None, "point": None, "interval": None,
                "compared": "point value"}
    model = key.model_name

    def value(name):
        return _number(evaluation.value(slice_, name, model))

    if hasattr(instance, "regression_name"):
        point, low, high = (value(n) for n in (instance.regression_name,
                                               instance.lower_name,
                                               instance.upper_name))
        compared = f"lower {instance.level * 100:g}% bound of the regression"
    else:
        point, low, high = (value(n) for n in (instance.point_name, instance.lower_name,
                                               instance.upper_name))
        compared = (f"{instance.side} {instance.level * 100:g}% bound"
                    if instance.policy == "confidence" else "point value")
    return {"policy": instance.policy, "level": instance.level,
            "point": point,
            "interval": None if low is None or high is None else [low, high],
            "compared": compared, "quantity": instance.point_name}


def checks(evaluation: Evaluation, against: str = CHANGE_AGAINST) -> List[Dict[str, Any]]:
    """Every gate of the EvalConfig with the candidate's value and TFMA's verdict.

    `value` is what TFMA compared with the bound: the point value under policy
    "point", the one-sided bound under "confidence", and for a change gate the
    difference from the baseline (for a Regression gate: the lower bound of the
    regression). `point` and `interval` are the quantity's point value and its
    bounds, `policy` and `level` the gate's.

    Without a baseline (nothing in serving yet) TFMA drops the change gates
    from the config it runs, so they are not listed; the report says so.
    `against` names the baseline in a change gate's name.
    """
    suffix = change_suffix(against)
    config = evaluation.config
    failed = _failed_keys(evaluation)
    gate_metrics = _gate_metrics(config)
    thresholds = metric_specs.metric_thresholds_from_metrics_specs(
        config.metrics_specs, eval_config=config)
    result = []
    for key, pairs in thresholds.items():
        if evaluation.baseline_name is not None and \
                key.model_name == evaluation.baseline_name:
            continue
        for slice_spec, threshold in pairs:
            for slice_ in _applicable_slices(slice_spec, evaluation.metrics):
                change = isinstance(threshold, tfma.GenericChangeThreshold)
                value = _number(evaluation.metrics.get(slice_, {}).get(key))
                instance = gate_metrics.get(key.name)
                if change and instance is not None and \
                        not hasattr(instance, "regression_name"):
                    instance = None  # a point change gate: no interval
                check = {
                    "name": key.name + (suffix if change else ""),
                    "slice": slice_, "kind": "change" if change else "value",
                    "value": value, "bound": _bound(threshold),
                    "passed": (slice_, key) not in failed,
                    **_evidence(evaluation, slice_, key, instance),
                }
                if (slice_, key) in failed and failed[(slice_, key)].strip():
                    check["note"] = " ".join(failed[(slice_, key)].split())
                result.append(check)
    # A failure TFMA recorded that no threshold above explains (e.g. a metric that
    # was never computed) is still a failed check.
    listed = {(c["slice"], c["name"]) for c in result if not c["passed"]}
    for (slice_, key), message in failed.items():
        if (slice_, key.name) not in listed and \
                (slice_, key.name + suffix) not in listed:
            result.append({"name": key.name, "slice": slice_, "kind": "value",
                           "value": None, "bound": {}, "passed": False,
                           "policy": "point", "level": None, "point": None,
                           "interval": None, "compared": "point value",
                           "note": " ".join(message.split()) or "not computed"})
    return result


def group_sizes(evaluation: Evaluation, group: str, groups: List[Any],
                model_name: str) -> Dict[str, int]:
    """Test examples per expected group (0 for a group with no slice), keyed by
    the group's text as slice names spell it."""
    sizes = {}
    for value in map(group_text, groups):
        count = evaluation.value(f"{group}={value}", "example_count", model_name)
        sizes[value] = int(count) if count is not None else 0
    return sizes


def _limit(check) -> str:
    return " and ".join(f"{'>=' if side == 'lower' else '<='} {limit:g}"
                        for side, limit in check["bound"].items())


def _reason(check) -> str:
    """One plain-language line: what was compared, with what, and why it failed."""
    value = check["value"]
    interval = check.get("interval")
    spread = (f" (point {check['point']:.4f}, interval [{interval[0]:.4f}, "
              f"{interval[1]:.4f}])" if interval and check.get("point") is not None
              else "")
    if value is None:
        line = f"{check['name']} on {check['slice']} is not computed"
        return line + (f"; the gate is {_limit(check)}" if check["bound"] else "")
    if check["kind"] == "change" and check.get("policy") == "confidence":
        margin = check["bound"].get("upper")
        return (f"{check.get('quantity', check['name'])} regressed against the baseline "
                f"model: the {check['compared']} is {value:.3f} > margin {margin:g} "
                f"(paired, same test examples; regression {check['point']:+.4f}, "
                f"interval [{interval[0]:+.4f}, {interval[1]:+.4f}])"
                if interval and check.get("point") is not None and margin is not None
                else f"{check['name']} on {check['slice']} is {value:.4f}; the gate is "
                     f"{_limit(check)}")
    if check.get("policy") == "confidence":
        side, limit = next(iter(check["bound"].items()), (None, None))
        sign = "<" if side == "lower" else ">"
        if limit is not None:
            return (f"{check['compared']} of {check.get('quantity', check['name'])} "
                    f"is {value:.3f} {sign} {limit:g}{spread}")
    line = f"{check['name']} on {check['slice']} is {value:.4f}"
    if check["bound"]:
        line += f"; the gate is {_limit(check)}"
    return line + spread


def _sample(check, group: str, rates: Optional[Dict[str, Any]]) -> str:
    """The sample sizes behind a fairness number: the groups' negatives for an
    FPR, positives for FNR/TPR, examples otherwise (test split, threshold 0.5)."""
    if not rates:
        return ""
    name = check.get("quantity") or check["name"]
    kind = rate_table.population_named_in(name)
    parts = []
    for slice_, per_threshold in sorted(rates.items()):
        row = per_threshold.get("0.50")
        if slice_.startswith(f"{group}=") and row and kind in row:
            parts.append(f"{slice_} {row[kind]}")
    return f" [{kind}: {', '.join(parts)}]" if parts else ""


def reasons(check_list: List[Dict[str, Any]], sizes: Dict[str, int],
            group: str, rates: Optional[Dict[str, Any]] = None) -> List[str]:
    """Plain-language reasons for every failed check; `rates` (the candidate's
    group_rates) adds the sample sizes behind each number."""
    out = []
    for check in check_list:
        if check["passed"]:
            continue
        line = _reason(check)
        if not check["name"].startswith("min_group_size"):
            line += _sample(check, group, rates)
        if check.get("note"):
            line += f" ({check['note']})"
        if check["name"].startswith("min_group_size"):
            short = [f"{group}={g} has {n} examples" for g, n in sizes.items()
                     if "lower" in check["bound"] and n < check["bound"]["lower"]]
            if short:
                line += " (" + "; ".join(short) + ")"
        out.append(line)
    return out


def training_history(model_uri: str) -> Optional[Dict[str, Any]]:
    """The Trainer's candidates.json (snapshots, violations, the chosen one)."""
    path = os.path.join(model_uri, "candidates.json")
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


CALIBRATION_PLOT = "calibration_plot"


def calibration_bins(evaluation: Evaluation, model_name: str,
                     slice_: str = OVERALL) -> List[Dict[str, Any]]:
    """The reliability curve of one model on the evaluated split, from TFMA's
    CalibrationPlot (eval_configs/*.pbtxt): per score bin, its bounds, the
    examples in it, the mean predicted probability and the observed positive
    rate. Empty bins and TFMA's open-ended edge bins without examples are left
    out; [] when the EvalConfig has no CalibrationPlot."""
    bins = []
    for per_slice in tfma.load_plots(evaluation.uri):
        if slice_name(per_slice.slice_key) != slice_:
            continue
        for item in per_slice.plot_keys_and_values:
            # TFMA 0.47 writes plot keys without their name: a calibration
            # histogram is recognised by its value.
            if item.key.model_name != model_name or \
                    not item.value.HasField("calibration_histogram_buckets") or \
                    item.key.name not in ("", CALIBRATION_PLOT):
                continue
            for bucket in item.value.calibration_histogram_buckets.buckets:
                n = bucket.num_weighted_examples.value
                if n <= 0:
                    continue
                bins.append({
                    "lower": max(0.0, bucket.lower_threshold_inclusive),
                    "upper": min(1.0, bucket.upper_threshold_exclusive),
                    "examples": int(round(n)),
                    "mean_prediction": bucket.total_weighted_refined_prediction.value / n,
                    "positive_rate": bucket.total_weighted_label.value / n,
                })
    return bins


def _model_record(model_uri: str, name: str) -> Optional[Dict[str, Any]]:
    path = os.path.join(model_uri, name)
    if not model_uri or not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def calibration_fit(model_uri: str) -> Optional[Dict[str, Any]]:
    """The Trainer's calibration.json (scale fitted on eval, log-loss and ECE
    before / after)."""
    return _model_record(model_uri, "calibration.json")


def group_thresholds(model_uri: str) -> Optional[Dict[str, Any]]:
    """The Trainer's group_thresholds.json (mode group_thresholds only)."""
    return _model_record(model_uri, "group_thresholds.json")
