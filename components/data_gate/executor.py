"""Executor of DataValidationGate: reads statistics and anomalies, passes or stops."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import anomalies_util, stats_util
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.data_gate import checks, run_schema, train_facts
from fairgate import progress
from fairgate.data import image_summary, leakage
from trainer_module import tabular_inputs


class DataValidationError(ValueError):
    """The data failed validation; nothing downstream of the gate may run."""


def _by_split(artifact: types.Artifact, file_name: str, load) -> Dict[str, Any]:
    loaded = {}
    for split in artifact_utils.decode_split_names(artifact.split_names):
        path = os.path.join(artifact_utils.get_split_uri([artifact], split), file_name)
        if tf.io.gfile.exists(path):
            loaded[split] = load(path)
    return loaded


class Executor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        statistics = _by_split(
            artifact_utils.get_single_instance(input_dict["statistics"]),
            "FeatureStats.pb",
            lambda p: stats_util.load_stats_binary(p).datasets[0])
        anomalies = _by_split(
            artifact_utils.get_single_instance(input_dict["anomalies"]),
            "SchemaDiff.pb", anomalies_util.load_anomalies_binary)
        bounds = json.loads(exec_properties.get("feature_bounds") or "{}")
        source = io_utils.get_only_uri_in_dir(
            artifact_utils.get_single_uri(input_dict["schema"]))
        schema = io_utils.parse_pbtxt_file(source, schema_pb2.Schema())
        columns = json.loads(exec_properties.get("run_columns") or "{}")
        features: List[str] = []
        if columns:
            # A tabular run: validate its own columns against its own schema
            # (ExampleValidator's anomalies cover every column, strictly).
            try:
                schema, features = run_schema.restrict(
                    schema, exec_properties["label_key"], exec_properties["group_key"],
                    columns.get("features") or {}, columns.get("exclude_features") or [],
                    columns.get("condition_keys") or [],
                    float(columns.get("unseen_category_tolerance") or 0.0),
                    relax_presence=not columns.get("curated_schema"))
            except run_schema.UnknownColumnError as error:
                raise DataValidationError(f"Data validation failed: {error}") from None
            statistics = {split: run_schema.restrict_statistics(stats, schema)
                          for split, stats in statistics.items()}
            anomalies = {split: tfdv.validate_statistics(
                statistics_pb2.DatasetFeatureStatisticsList(datasets=[stats]), schema)
                for split, stats in statistics.items()}
            # The columns checked: a model's features when this run trains one,
            # the score columns and any others when it judges scores.
            progress.logger.info("DataValidationGate: validated the columns %s "
                                 "(besides label and group)", ", ".join(features))
        image = json.loads(exec_properties.get("image") or "{}")
        pixel_summary = None
        if image and input_dict.get("examples"):
            pixel_summary = image_summary.read(
                artifact_utils.get_single_uri(input_dict["examples"]))
        problems = checks.find_problems(
            statistics, anomalies,
            label_key=exec_properties["label_key"],
            group_key=exec_properties["group_key"],
            bounds={name: tuple(pair) for name, pair in bounds.items()},
            image=image or None, pixel_summary=pixel_summary)
        if problems:
            raise DataValidationError(
                f"Data validation failed on {len(problems)} check(s); the run stops "
                "before training:\n  - " + "\n  - ".join(problems))
        progress.logger.info("DataValidationGate: splits %s passed (label %s, group %s)",
                             sorted(statistics), exec_properties["label_key"],
                             exec_properties["group_key"])
        # The validated schema is the gate's output: what trains on it depends on
        # the gate, so nothing trains on data that did not pass.
        target = os.path.join(
            artifact_utils.get_single_uri(output_dict["validated_schema"]), "schema.pbtxt")
        io_utils.write_pbtxt_file(target, schema)
        if columns.get("train_facts") and input_dict.get("examples") and \
                output_dict.get("train_facts"):
            examples = artifact_utils.get_single_instance(input_dict["examples"])
            kinds = tabular_inputs.kinds_of(schema, features,
                                            columns.get("features") or {})
            facts = train_facts.write(
                artifact_utils.get_split_uri([examples], "train"), schema,
                exec_properties["label_key"], exec_properties["group_key"], kinds,
                artifact_utils.get_single_uri(output_dict["train_facts"]),
                threshold=float(columns.get("leakage_threshold") or leakage.THRESHOLD))
            progress.logger.info("DataValidationGate: train split facts of %d "
                                 "examples (leakage guard, groups) recorded",
                                 facts["train_examples"])
