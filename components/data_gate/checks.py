"""What the data-validation gate checks, as pure functions over TFDV protos.

ExampleValidator alone never stops a run: it writes anomalies that nothing reads.
The gate reads them, adds the checks that a schema inferred from the training split
cannot express (the label is binary, the group is present, values lie in their
bounds, no NaN), and names the split, feature and problem of each failure.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Sequence, Tuple

from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

FeatureStats = statistics_pb2.FeatureNameStatistics


def _features(stats: statistics_pb2.DatasetFeatureStatistics) -> Dict[str, FeatureStats]:
    return {".".join(f.path.step) or f.name: f for f in stats.features}


def _common(feature: FeatureStats):
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        return feature.num_stats.common_stats
    if kind == "string_stats":
        return feature.string_stats.common_stats
    if kind == "bytes_stats":
        return feature.bytes_stats.common_stats
    return None


def _num_nan(feature: FeatureStats) -> int:
    return max((h.num_nan for h in feature.num_stats.histograms), default=0)


# Anomalies that data.unseen_category_tolerance can relax.
UNSEEN_VALUES = ("ENUM_TYPE_UNEXPECTED_STRING_VALUES", "ENUM_TYPE_UNEXPECTED_INT_VALUES")
UNSEEN_HINT = (" (categorical values never seen in training; data.unseen_category_"
               "tolerance allows a share of them, e.g. 0.02)")


def anomaly_problems(split: str, anomalies: anomalies_pb2.Anomalies) -> List[str]:
    problems = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        types = [anomalies_pb2.AnomalyInfo.Type.Name(r.type) for r in info.reason]
        reasons = "; ".join(
            f"{kind}: {r.description}" for kind, r in zip(types, info.reason)
        ) or info.description
        if any(kind in UNSEEN_VALUES for kind in types):
            reasons += UNSEEN_HINT
        problems.append(f"split '{split}': feature '{feature}': {reasons}")
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        reasons = "; ".join(r.description for r in info.reason) or info.description
        problems.append(f"split '{split}': dataset: {reasons}")
    return problems


def role_problems(split: str, stats: statistics_pb2.DatasetFeatureStatistics,
                  label_key: str, group_key: str, is_train: bool) -> List[str]:
    """The label is a complete 0/1 integer; the group is complete (and varies in train)."""
    where = f"split '{split}'"
    if stats.num_examples == 0:
        return [f"{where}: no examples"]
    features = _features(stats)
    problems = []
    for role, key in (("label", label_key), ("group", group_key)):
        if key not in features:
            problems.append(f"{where}: {role} feature '{key}' is missing "
                            f"(features present: {', '.join(sorted(features)[:12])}"
                            f"{', ...' if len(features) > 12 else ''})")
            continue
        common = _common(features[key])
        missing = common.num_missing if common else 0
        if missing:
            problems.append(f"{where}: {role} feature '{key}' is missing in "
                            f"{missing} of {stats.num_examples} examples")
    label = features.get(label_key)
    if label is not None:
        if label.type != statistics_pb2.FeatureNameStatistics.INT:
            problems.append(
                f"{where}: label feature '{label_key}' must be integer 0/1, got type "
                f"{statistics_pb2.FeatureNameStatistics.Type.Name(label.type)} "
                "(data.label_positive maps other label values to 0/1)")
        elif label.num_stats.min < 0 or label.num_stats.max > 1:
            problems.append(
                f"{where}: label feature '{label_key}' has values outside {{0, 1}} "
                f"(min {label.num_stats.min:g}, max {label.num_stats.max:g}; "
                "data.label_positive maps other label values to 0/1)")
        elif is_train and label.num_stats.min == label.num_stats.max:
            problems.append(f"{where}: label feature '{label_key}' has a single value "
                            f"({label.num_stats.min:g}): nothing to learn")
    group = features.get(group_key)
    if group is not None and is_train and _single_valued(group):
        problems.append(f"{where}: group feature '{group_key}' has a single value: "
                        "there are no groups to compare")
    return problems


def _single_valued(feature: FeatureStats) -> bool:
    if feature.WhichOneof("stats") == "num_stats":
        return feature.num_stats.min == feature.num_stats.max
    if feature.WhichOneof("stats") == "string_stats":
        return feature.string_stats.unique <= 1
    return False


def bound_problems(split: str, stats: statistics_pb2.DatasetFeatureStatistics,
                   bounds: Mapping[str, Sequence[float]]) -> List[str]:
    """Numeric features stay within their [low, high] bounds and hold no NaN."""
    features = _features(stats)
    problems = []
    for name, (low, high) in sorted(bounds.items()):
        feature = features.get(name)
        if feature is None or feature.WhichOneof("stats") != "num_stats":
            continue  # a missing feature is the schema's business (an anomaly)
        nans = _num_nan(feature)
        if nans:
            problems.append(f"split '{split}': feature '{name}': {nans} NaN values")
        lo, hi = feature.num_stats.min, feature.num_stats.max
        if (not math.isnan(lo) and lo < low) or (not math.isnan(hi) and hi > high):
            problems.append(f"split '{split}': feature '{name}': values outside "
                            f"[{low:g}, {high:g}] (min {lo:g}, max {hi:g})")
    return problems


def find_problems(
        statistics: Mapping[str, statistics_pb2.DatasetFeatureStatistics],
        anomalies: Mapping[str, anomalies_pb2.Anomalies],
        label_key: str, group_key: str,
        bounds: Mapping[str, Tuple[float, float]] = (),
        train_split: str = "train") -> List[str]:
    """All reasons the data must not reach training; empty when it may."""
    problems = []
    bounds = dict(bounds)
    for split in sorted(statistics):
        stats = statistics[split]
        problems += role_problems(split, stats, label_key, group_key,
                                  is_train=split == train_split)
        problems += bound_problems(split, stats, bounds)
        if split in anomalies:
            problems += anomaly_problems(split, anomalies[split])
    return problems
