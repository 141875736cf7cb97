"""DataValidationGate: the component that stops a run before training on bad data."""
from __future__ import annotations

import json
from typing import Mapping, Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.data_gate import executor


class TrainSplitFacts(types.Artifact):
    """A folder with data_record.json: the train split's facts the report shows
    (features, leakage guard, train examples per group), computed once per run;
    empty for image runs and runs that train nothing."""
    TYPE_NAME = "fairgate.TrainSplitFacts"  # namespaced, as KFP v2 requires


class DataValidationGateSpec(ComponentSpec):
    PARAMETERS = {
        "label_key": ExecutionParameter(type=str),
        "group_key": ExecutionParameter(type=str),
        "feature_bounds": ExecutionParameter(type=str, optional=True),
        # JSON {features: {name: kind|null}, exclude_features: [...],
        # condition_keys: [...], unseen_category_tolerance: x, train_facts:
        # bool, leakage_threshold: x}: a tabular run, validated on its own columns
        # (run_schema.py), with its train split's facts when train_facts is set.
        # Empty: every column.
        "run_columns": ExecutionParameter(type=str, optional=True),
        # JSON {feature: name, image_size: n}: an image run, whose stored images
        # must be exactly n*n*3 bytes and pass the pixel checks. Empty: none.
        "image": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {
        # Image runs: its image_summary.json (the ExampleGen's pixel summaries);
        # tabular runs that train: its train split (train_facts.py).
        "examples": ChannelParameter(type=standard_artifacts.Examples, optional=True),
        "statistics": ChannelParameter(type=standard_artifacts.ExampleStatistics),
        "schema": ChannelParameter(type=standard_artifacts.Schema),
        "anomalies": ChannelParameter(type=standard_artifacts.ExampleAnomalies),
    }
    OUTPUTS = {"validated_schema": ChannelParameter(type=standard_artifacts.Schema),
               # Tabular runs that train: data_record.json (train_facts.py).
               "train_facts": ChannelParameter(type=TrainSplitFacts)}


class DataValidationGate(base_component.BaseComponent):
    """Fails the run, naming split, feature and problem, when the data is not fit.

    It fails on any ExampleValidator anomaly, a missing or non-binary label, a
    missing group, numeric features outside their bounds or holding NaN, and, in
    image runs, stored images that are not exactly size*size*3 bytes, splits with
    blank images or a mean brightness far from train's. On success it outputs
    `validated_schema`, which the Trainer consumes.

    Args:
      statistics, schema, anomalies: StatisticsGen / SchemaGen / ExampleValidator
        outputs.
      label_key, group_key: the label and group feature names.
      feature_bounds: optional {feature: (low, high)} for numeric features.
      run_columns: optional, for tabular runs: the columns the run uses (see
        run_schema.py); only they are validated, and `validated_schema` holds
        only them.
      image: optional, for image runs: {"feature": name, "image_size": n}.
      examples: the ExampleGen's output, for its pixel summaries (image runs)
        or its train split's facts (tabular runs that train: the `train_facts`
        output, read by the report).
    """

    SPEC_CLASS = DataValidationGateSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel,
                 anomalies: types.BaseChannel, label_key: str, group_key: str,
                 feature_bounds: Optional[Mapping[str, Sequence[float]]] = None,
                 run_columns: Optional[Mapping[str, object]] = None,
                 image: Optional[Mapping[str, object]] = None,
                 examples: Optional[types.BaseChannel] = None):
        super().__init__(spec=DataValidationGateSpec(
            statistics=statistics, schema=schema, anomalies=anomalies,
            examples=examples,
            image=json.dumps(image, sort_keys=True) if image else "",
            label_key=label_key, group_key=group_key,
            feature_bounds=json.dumps(
                {k: list(v) for k, v in sorted((feature_bounds or {}).items())}),
            run_columns=json.dumps(run_columns, sort_keys=True) if run_columns else "",
            validated_schema=types.Channel(type=standard_artifacts.Schema),
            train_facts=types.Channel(type=TrainSplitFacts)))
