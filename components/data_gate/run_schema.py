"""The run's schema: the inferred schema cut down to the columns the run uses.

A tabular run uses its label, its group, its features (data.features, or every
column but those in data.exclude_features) and the gates' condition columns;
other columns (IDs, names, free text) are neither validated nor parsed by the
Trainer or TFMA. Feature columns may be missing in any example (the model
imputes them), and categorical features may hold values unseen in training up to
data.unseen_category_tolerance of their mass (TFDV's min_domain_mass).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from fairgate.data import run_columns


class UnknownColumnError(ValueError):
    """A column the config names is not in the data."""


def restrict(schema: schema_pb2.Schema, label: str, group: str,
             kinds: Dict[str, Optional[str]], exclude: Sequence[str],
             condition_keys: Sequence[str], tolerance: float,
             relax_presence: bool = True) -> Tuple[schema_pb2.Schema, List[str]]:
    """(run schema, feature names). Raises UnknownColumnError naming the column.
    `relax_presence`: features may be empty in any example (an inferred schema;
    a curated one keeps its presence and shape requirements)."""
    names = [f.name for f in schema.feature]
    try:
        features = run_columns.resolve_features(names, label, group, kinds, exclude)
    except KeyError as error:
        raise UnknownColumnError(
            f"column '{error.args[0]}' named by data.features / "
            f"data.exclude_features is not in the data (columns: "
            f"{', '.join(names)})") from None
    for key in condition_keys:
        if key not in names:
            raise UnknownColumnError(f"condition column '{key}' of a gate is not in "
                                     f"the data (columns: {', '.join(names)})")
    keep = {label, group, *features, *condition_keys}
    result = schema_pb2.Schema()
    result.CopyFrom(schema)
    del result.feature[:]
    for feature in schema.feature:
        if feature.name not in keep:
            continue
        kept = result.feature.add()
        kept.CopyFrom(feature)
        if relax_presence and feature.name in features and \
                feature.name not in (label, group) and feature.name not in condition_keys:
            # Missing cells are the model's business (imputed inside it).
            kept.ClearField("shape")
            kept.presence.min_fraction = 0.0
        if feature.name in features:
            if tolerance > 0 and (kept.HasField("string_domain") or kept.domain):
                kept.distribution_constraints.min_domain_mass = 1.0 - tolerance
    return result, features


def restrict_statistics(stats: statistics_pb2.DatasetFeatureStatistics,
                        schema: schema_pb2.Schema
                        ) -> statistics_pb2.DatasetFeatureStatistics:
    """The statistics of the schema's columns only."""
    keep = {f.name for f in schema.feature}
    result = statistics_pb2.DatasetFeatureStatistics()
    result.CopyFrom(stats)
    del result.features[:]
    for feature in stats.features:
        if (".".join(feature.path.step) or feature.name) in keep:
            result.features.add().CopyFrom(feature)
    return result
