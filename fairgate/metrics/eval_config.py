"""EvalConfigs are text protos in eval_configs/; this fills their placeholders.

`${label}`, `${group}` and `${groups}` (a JSON list) come from the run config, so
one file serves every dataset with the same gates. Anything else in the file is
TFMA's EvalConfig as written.
"""
from __future__ import annotations

import json
import os
import re
from typing import Any, List

import tensorflow_model_analysis as tfma
from google.protobuf import text_format

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")
# eval_configs/ at the repository root, two levels above fairgate/metrics/.
EVAL_CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "eval_configs")


class EvalConfigError(ValueError):
    """The EvalConfig file is invalid; the message names the file."""


def default_path(source: str) -> str:
    name = "celeba.pbtxt" if source in ("embedded_celeba", "tfds") else "tabular.pbtxt"
    return os.path.join(EVAL_CONFIG_DIR, name)


def render(path: str, *, label: str, group: str, groups: List[Any]) -> tfma.EvalConfig:
    values = {"label": label, "group": group, "groups": json.dumps(list(groups))}
    try:
        with open(path) as f:
            text = f.read()
    except OSError as error:
        raise EvalConfigError(f"eval config {path} cannot be read: {error}") from None

    def fill(match):
        if match.group(1) not in values:
            raise EvalConfigError(
                f"eval config {path}: unknown placeholder ${{{match.group(1)}}} "
                f"(known: {', '.join('${%s}' % k for k in values)})")
        return values[match.group(1)]

    try:
        config = text_format.Parse(PLACEHOLDER.sub(fill, text), tfma.EvalConfig())
    except text_format.ParseError as error:
        raise EvalConfigError(f"eval config {path} is not a valid EvalConfig text "
                              f"proto: {error}") from None
    check_policies(config, path)
    return config


GATE_MODULE = "fairgate.metrics.group_metrics"
# The gate metrics' module before it moved into fairgate/metrics/: EvalConfigs that
# name it keep working (fairgate/group_metrics.py re-exports the metric classes).
GATE_MODULES = (GATE_MODULE, "fairgate.group_metrics")
POLICY_KEYS = ("policy", "level")


def of_run(config) -> tfma.EvalConfig:
    """The run's EvalConfig: evaluation.eval_config (or the source's default)
    rendered for the config's label, group and groups."""
    data = config.data
    return render(config.evaluation.resolved_eval_config(data.source), label=data.label,
                  group=data.group, groups=config.evaluation.groups)


def _thresholds(metric) -> list:
    found = [metric.threshold] if metric.HasField("threshold") else []
    return found + [t.threshold for t in metric.per_slice_thresholds] + \
        [t.threshold for t in metric.cross_slice_thresholds]


def check_policies(config: tfma.EvalConfig, path: str) -> None:
    """Each gate's policy is one fairgate knows and fits its metric and threshold.

    `policy` / `level` only on fairgate metrics with an interval (level strictly
    between 0.5 and 1); under "confidence" a value threshold must bound the side
    the metric gates (an upper_bound for FPR and gaps, a lower_bound for accuracy)
    and change thresholds belong on a `Regression` metric; a `Regression` takes
    only `change_threshold { direction: LOWER_IS_BETTER absolute { value: margin
    >= 0 } }`. Errors name the file, the metric's place and the key."""
    from fairgate.metrics import group_metrics as gm  # the classes TFMA will build

    for i, spec in enumerate(config.metrics_specs):
        for j, metric in enumerate(spec.metrics):
            where = f"eval config {path}: metrics_specs[{i}].metrics[{j}] " \
                    f"({metric.class_name})"
            try:
                options = json.loads(metric.config) if metric.config.strip() else {}
            except ValueError as error:
                if metric.module in GATE_MODULES:
                    raise EvalConfigError(f"{where}: config is not JSON: {error}") \
                        from None
                continue
            if not isinstance(options, dict):
                options = {}
            ours = metric.module in GATE_MODULES
            with_interval = ours and metric.class_name in gm.INTERVAL_METRICS
            for key in POLICY_KEYS:
                if key in options and not with_interval and not (
                        key == "level" and ours and metric.class_name == "Regression"):
                    raise EvalConfigError(
                        f"{where}: config key '{key}' needs a metric with an interval "
                        f"({', '.join(gm.INTERVAL_METRICS)} from {GATE_MODULE}); "
                        f"{metric.class_name} has none")
            if not ours:
                continue
            cls = getattr(gm, metric.class_name, None)
            if cls is None:
                raise EvalConfigError(f"{where}: {GATE_MODULE} has no metric "
                                      f"'{metric.class_name}'")
            try:
                instance = cls(**options)
            except (TypeError, ValueError) as error:
                key = next((k for k in options if k in str(error)), "config")
                raise EvalConfigError(f"{where}: '{key}': {error}") from None
            _check_thresholds(instance, metric, where)


def _check_thresholds(instance, metric, where: str) -> None:
    regression = metric.class_name == "Regression"
    confident = not regression and getattr(instance, "policy", "point") == "confidence"
    for threshold in _thresholds(metric):
        if threshold.HasField("value_threshold"):
            if regression:
                raise EvalConfigError(
                    f"{where}: a Regression gate is a change_threshold (LOWER_IS_BETTER,"
                    " absolute margin), not a value_threshold")
            if confident:
                bound = threshold.value_threshold
                wrong = "lower_bound" if instance.side == "upper" else "upper_bound"
                if bound.HasField(wrong):
                    raise EvalConfigError(
                        f"{where}: under policy 'confidence' the gate compares the "
                        f"{instance.side} {instance.level * 100:g}% bound "
                        f"({instance.name}), so its value_threshold takes "
                        f"{instance.side}_bound only, not {wrong}")
        if threshold.HasField("change_threshold"):
            change = threshold.change_threshold
            if confident:
                raise EvalConfigError(
                    f"{where}: a change_threshold under policy 'confidence' would "
                    "compare two models' bounds; put the change gate on a "
                    "'Regression' metric (see eval_configs/README.md)")
            if regression and (
                    change.direction != tfma.MetricDirection.LOWER_IS_BETTER
                    or not change.HasField("absolute") or change.HasField("relative")
                    or change.absolute.value < 0):
                raise EvalConfigError(
                    f"{where}: a Regression gate takes change_threshold {{ direction: "
                    "LOWER_IS_BETTER absolute { value: margin } } with margin >= 0 "
                    "(the largest regression tolerated)")


def has_gates(config: tfma.EvalConfig) -> bool:
    """At least one value threshold. Change thresholds alone never bless: without
    a blessed baseline TFMA drops them, writes no blessing, and so no model would
    ever become the baseline."""
    thresholds = []
    for spec in config.metrics_specs:
        thresholds += list(spec.thresholds.values())
        thresholds += [t.threshold for p in spec.per_slice_thresholds.values()
                       for t in p.thresholds]
        for metric in spec.metrics:
            if metric.HasField("threshold"):
                thresholds.append(metric.threshold)
            thresholds += [t.threshold for t in metric.per_slice_thresholds]
    return any(t.HasField("value_threshold") for t in thresholds)


def without_gates(config: tfma.EvalConfig) -> tfma.EvalConfig:
    """The same metrics with every threshold removed: measures a model for the
    report without judging it (the Evaluator then writes no blessing)."""
    stripped = tfma.EvalConfig()
    stripped.CopyFrom(config)
    for spec in stripped.metrics_specs:
        spec.ClearField("thresholds")
        spec.ClearField("per_slice_thresholds")
        spec.ClearField("cross_slice_thresholds")
        for metric in spec.metrics:
            metric.ClearField("threshold")
            metric.ClearField("per_slice_thresholds")
            metric.ClearField("cross_slice_thresholds")
    return stripped


def report_only(config: tfma.EvalConfig) -> tfma.EvalConfig:
    """What the report reads of a model that is measured but never judged (the
    unconstrained model): the report metrics (confusion matrices, Fairness
    Indicators, calibration), without the gate metrics (fairgate.metrics.group_metrics:
    their intervals and bootstrap regressions only serve thresholds) and
    without any threshold."""
    stripped = without_gates(config)
    kept = []
    for spec in stripped.metrics_specs:
        metrics = [m for m in spec.metrics if m.module not in GATE_MODULES]
        if not metrics:
            continue
        del spec.metrics[:]
        spec.metrics.extend(metrics)
        kept.append(spec)
    del stripped.metrics_specs[:]
    stripped.metrics_specs.extend(kept)
    return stripped


def for_scores(config: tfma.EvalConfig, score: str, baseline_score: str = "",
               *, from_model: bool) -> tfma.EvalConfig:
    """`config` judging a candidate trained elsewhere: its ModelSpec's score is
    `score` (the SavedModel's output, `from_model`, or a column of the examples
    when not, which TFMA reads without a model), and with `baseline_score` (a
    column) a baseline ModelSpec reads the serving model's scores from it."""
    judged = tfma.EvalConfig()
    judged.CopyFrom(config)
    spec = judged.model_specs[0]
    spec.prediction_key = score
    if not from_model:
        spec.ClearField("signature_name")
    del judged.model_specs[1:]
    if baseline_score:
        spec.name = tfma.CANDIDATE_KEY
        baseline = judged.model_specs.add()
        baseline.CopyFrom(spec)
        baseline.name, baseline.is_baseline, baseline.prediction_key = \
            tfma.BASELINE_KEY, True, baseline_score
    return judged
