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

REPORT_THRESHOLDS = (0.22, 0.5, 0.75)
FI = "fairness_indicators_metrics"
OVERALL = "Overall"
CHANGE_SUFFIX = " (change vs model in serving)"

SliceMetrics = Dict[str, Dict[metric_types.MetricKey, Any]]


def slice_name(slice_key) -> str:
    """'Overall' or 'column=value' (a TFMA SliceKey proto)."""
    parts = []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind)
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        parts.append(f"{single.column}={value}")
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
            total = matrix["tp"] + matrix["fp"] + matrix["tn"] + matrix["fn"]
            fi = f"@{threshold:.2f}"
            per_threshold[f"{threshold:.2f}"] = {
                "examples": int(total),
                "accuracy": (matrix["tp"] + matrix["tn"]) / total if total else None,
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


def checks(evaluation: Evaluation) -> List[Dict[str, Any]]:
    """Every gate of the EvalConfig with the candidate's value and TFMA's verdict.

    Without a blessed baseline (the first blessing) TFMA drops the change gates
    from the config it runs, so they are not listed; the report says so.
    """
    config = evaluation.config
    failed = _failed_keys(evaluation)
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
                check = {
                    "name": key.name + (CHANGE_SUFFIX if change else ""),
                    "slice": slice_, "kind": "change" if change else "value",
                    "value": value, "bound": _bound(threshold),
                    "passed": (slice_, key) not in failed,
                }
                if (slice_, key) in failed and failed[(slice_, key)].strip():
                    check["note"] = " ".join(failed[(slice_, key)].split())
                result.append(check)
    # A failure TFMA recorded that no threshold above explains (e.g. a metric that
    # was never computed) is still a failed check.
    listed = {(c["slice"], c["name"]) for c in result if not c["passed"]}
    for (slice_, key), message in failed.items():
        if (slice_, key.name) not in listed and \
                (slice_, key.name + CHANGE_SUFFIX) not in listed:
            result.append({"name": key.name, "slice": slice_, "kind": "value",
                           "value": None, "bound": {}, "passed": False,
                           "note": " ".join(message.split()) or "not computed"})
    return result


def group_sizes(evaluation: Evaluation, group: str, groups: List[str],
                model_name: str) -> Dict[str, int]:
    """Test examples per expected group (0 for a group with no slice)."""
    sizes = {}
    for value in groups:
        count = evaluation.value(f"{group}={value}", "example_count", model_name)
        sizes[str(value)] = int(count) if count is not None else 0
    return sizes


def reasons(check_list: List[Dict[str, Any]], sizes: Dict[str, int],
            group: str) -> List[str]:
    """Plain-language reasons for every failed check."""
    out = []
    for check in check_list:
        if check["passed"]:
            continue
        bound = " and ".join(f"{'>=' if side == 'lower' else '<='} {limit:g}"
                             for side, limit in check["bound"].items())
        value = "not computed" if check["value"] is None else f"{check['value']:.4f}"
        line = f"{check['name']} on {check['slice']} is {value}"
        if bound:
            line += f"; the gate is {bound}"
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
