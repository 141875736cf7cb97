"""Which columns a tabular run uses, and how label and group values are read.

Pure functions shared by preflight (which reads the CSV files), the CSV
ExampleGen (which writes mapped labels and merged groups), the data gate (which
validates only the run's columns) and the Trainer (which feeds only the features
to the model). No TensorFlow here.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from fairgate.config import feature_kinds
from fairgate.metrics.groups import group_text


class LabelValueError(ValueError):
    """A label cell matches neither data.label_positive nor data.label_negative."""


def resolve_features(columns: Sequence[str], label: str, group: str,
                     kinds: Mapping[str, Optional[str]],
                     exclude: Iterable[str] = ()) -> List[str]:
    """The model's input columns: data.features as listed, or every column but
    label, group and the excluded ones. Unknown names raise KeyError(name)."""
    present = list(columns)
    for name in list(kinds) + list(exclude):
        if name not in present:
            raise KeyError(name)
    if kinds:
        return list(kinds)
    excluded = set(exclude) | {label, group}
    return [c for c in present if c not in excluded]


def names_used(config, condition_columns: Sequence[str] = ()) -> Dict[str, str]:
    """{column: the config key that names it}: every column the run reads by its
    name (label, group, the listed data.features, data.feature_bounds, the gates'
    condition columns, candidate.predictions and baseline_predictions). The single
    definition of "a column the run uses" (a repeated header name whose columns differ is an error only for these,
    fairgate/data/csv_header.py): a key that names a column of the data adds it here.
    Columns taken implicitly (every column a feature) are not among them."""
    data = config.data
    used: Dict[str, str] = {}
    for name in condition_columns:
        used.setdefault(name, "evaluation.eval_config (condition column)")
    for name in data.feature_bounds:
        used.setdefault(name, "data.feature_bounds")
    for name in feature_kinds(data):
        used.setdefault(name, "data.features")
    candidate = config.candidate
    if candidate is not None:
        for key in ("predictions", "baseline_predictions"):
            if getattr(candidate, key):
                used[getattr(candidate, key)] = f"candidate.{key}"
    used[data.group] = "data.group"
    used[data.label] = "data.label"
    return used


def condition_columns(eval_config) -> List[str]:
    """Columns the gates read besides label and group (ConditionalRateGap's
    condition_key), from a rendered tfma.EvalConfig."""
    found = []
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            if not metric.config:
                continue
            try:
                settings = json.loads(metric.config)
            except ValueError:
                continue
            key = settings.get("condition_key") if isinstance(settings, dict) else None
            if key and key not in found:
                found.append(key)
    return found


def same_value(cell: Any, value: Any) -> bool:
    """A CSV cell (text) or a decoded value equals a config value (int or str),
    both in the one spelling of fairgate/metrics/groups.py (labels are spelled alike)."""
    return group_text(cell) == group_text(value)


def mapped_label(cell: Any, positive: Any, negative: Any = None) -> int:
    """1 for data.label_positive; 0 for label_negative, or for anything else when
    no negative value is named. Raises LabelValueError otherwise."""
    if same_value(cell, positive):
        return 1
    if negative is None or same_value(cell, negative):
        return 0
    raise LabelValueError(f"label value {cell!r} is neither the positive value "
                          f"{positive!r} nor the negative value {negative!r}")


def merge_lookup(group_merge: Mapping[str, Sequence[Any]]) -> Dict[str, str]:
    """{original value (as text): merged name} from data.group_merge."""
    return {group_text(value): str(name) for name, values in group_merge.items()
            for value in values}


def merged_group(cell: Any, lookup: Mapping[str, str]) -> str:
    text = group_text(cell)
    return lookup.get(text, text)
