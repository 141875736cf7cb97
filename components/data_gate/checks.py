"""What the data-validation gate checks, as pure functions over TFDV protos.

ExampleValidator alone never stops a run: it writes anomalies that nothing reads.
The gate reads them, adds the checks that a schema inferred from the training split
cannot express (the label is binary, the group is present, values lie in their
bounds, no NaN; stored images are exactly size*size*3 bytes, not blank, and no
split's brightness is far from train's), and names the split, feature and problem
of each failure.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

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


def image_size_problems(split: str, stats: statistics_pb2.DatasetFeatureStatistics,
                        feature_name: str, image_size: int) -> List[str]:
    """Every example holds one bytes value of exactly size*size*3 bytes.

    Reads TFDV's bytes statistics (min/max bytes per value), which TFDV computes
    when its StatsOptions schema gives the feature an `image_domain` (the
    pipeline's StatisticsGen does); without them, the average string length.
    """
    where = f"split '{split}': feature '{feature_name}'"
    expected = image_size * image_size * 3
    shape = f"{expected} bytes ({image_size}x{image_size}x3 uint8 pixels)"
    feature = _features(stats).get(feature_name)
    if feature is None:
        return [f"{where} is missing (expected one value of {shape} per example)"]
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        return [f"{where} holds numbers; expected one bytes value of {shape} per "
                "example (examples written by an older ExampleGen? re-run it)"]
    common = _common(feature)
    problems = []
    if common.num_missing:
        problems.append(f"{where}: missing in {common.num_missing} of "
                        f"{stats.num_examples} examples")
    if common.min_num_values != 1 or common.max_num_values != 1:
        problems.append(f"{where}: {common.min_num_values} to {common.max_num_values} "
                        "values per example, expected exactly 1")
    if kind == "bytes_stats":
        low, high = int(feature.bytes_stats.min_num_bytes), int(
            feature.bytes_stats.max_num_bytes)
        if (low, high) != (expected, expected):
            found = f"{low}" if low == high else f"{low} to {high}"
            problems.append(f"{where}: every image must be exactly {shape}; found "
                            f"images of {found} bytes (expected {expected})")
    elif kind == "string_stats":
        average = feature.string_stats.avg_length
        if abs(average - expected) > 1e-6:
            problems.append(f"{where}: every image must be exactly {shape}; found "
                            f"an average of {average:g} bytes (expected {expected})")
    return problems


# Pixel checks over the ExampleGen's per-split summaries (fairgate.data.image_summary).
MAX_BLANK_SHARE = 0.01  # of a split's images with one value in every pixel
MAX_BRIGHTNESS_SHIFT = 25.0  # uint8 levels between a split's mean and train's


def pixel_problems(summary: Optional[Mapping], feature_name: str, image_size: int,
                   train_split: str = "train") -> List[str]:
    """No split has many blank images or a mean brightness far from train's."""
    if summary is None:
        return [f"feature '{feature_name}': the examples artifact has no pixel summary "
                "(image_summary.json, written by CelebAExampleGen): pixels cannot be "
                "checked"]
    expected = image_size * image_size * 3
    if summary.get("image_bytes") != expected:
        return [f"feature '{feature_name}': the ExampleGen wrote images of "
                f"{summary.get('image_bytes')} bytes, the run expects {expected} "
                f"({image_size}x{image_size}x3)"]
    splits = summary.get("splits") or {}
    problems = []
    train = splits.get(train_split)
    for split, pixels in sorted(splits.items()):
        where = f"split '{split}': feature '{feature_name}'"
        count, blank = pixels["examples"], pixels["blank_images"]
        if count and blank > MAX_BLANK_SHARE * count:
            problems.append(f"{where}: {blank} of {count} images are blank (one value "
                            f"in every pixel); at most {MAX_BLANK_SHARE:.0%} may be")
        if train and split != train_split and count and \
                abs(pixels["mean_brightness"] - train["mean_brightness"]) > \
                MAX_BRIGHTNESS_SHIFT:
            problems.append(
                f"{where}: mean brightness {pixels['mean_brightness']:.1f} is far from "
                f"train's {train['mean_brightness']:.1f} (more than "
                f"{MAX_BRIGHTNESS_SHIFT:g} of 255 levels apart)")
    return problems


def find_problems(
        statistics: Mapping[str, statistics_pb2.DatasetFeatureStatistics],
        anomalies: Mapping[str, anomalies_pb2.Anomalies],
        label_key: str, group_key: str,
        bounds: Mapping[str, Tuple[float, float]] = (),
        train_split: str = "train",
        image: Optional[Mapping] = None,
        pixel_summary: Optional[Mapping] = None) -> List[str]:
    """All reasons the data must not reach training; empty when it may.

    `image`: {"feature": name, "image_size": n} for image runs (stored uint8
    images); `pixel_summary`: the ExampleGen's image_summary.json."""
    problems = []
    bounds = dict(bounds)
    for split in sorted(statistics):
        stats = statistics[split]
        problems += role_problems(split, stats, label_key, group_key,
                                  is_train=split == train_split)
        problems += bound_problems(split, stats, bounds)
        if image:
            problems += image_size_problems(split, stats, image["feature"],
                                            int(image["image_size"]))
        if split in anomalies:
            problems += anomaly_problems(split, anomalies[split])
    if image:
        problems += pixel_problems(pixel_summary, image["feature"],
                                   int(image["image_size"]), train_split)
    return problems
