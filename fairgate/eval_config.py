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
EVAL_CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "eval_configs")


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
        return text_format.Parse(PLACEHOLDER.sub(fill, text), tfma.EvalConfig())
    except text_format.ParseError as error:
        raise EvalConfigError(f"eval config {path} is not a valid EvalConfig text "
                              f"proto: {error}") from None


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
