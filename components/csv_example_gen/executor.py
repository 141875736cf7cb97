"""CsvExampleGen's executor, plus the label mapping and group merging of the config.

The examples it writes are CsvExampleGen's (same columns, types, splits), except
that the label column holds 0/1 when data.label_positive is set, and the group
column holds the merged names of data.group_merge (as strings). Everything
downstream (statistics, the gate, the Trainer, TFMA) therefore sees the mapped
label and the merged groups, and no code outside the examples has to repeat it.
"""
from __future__ import annotations

import json
from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.proto import example_gen_pb2

from fairgate.data import run_columns


def settings_of(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """The mapping settings packed into the ExampleGen's custom_config."""
    raw = exec_properties.get("custom_config")
    if not raw:
        return {}
    config = example_gen_pb2.CustomConfig()
    if isinstance(raw, str):
        json_format.Parse(raw, config)
    else:
        config.CopyFrom(raw)
    if not config.HasField("custom_config"):
        return {}
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return json.loads(json_format.MessageToJson(struct))


def pack_settings(settings: Dict[str, Any]) -> example_gen_pb2.CustomConfig:
    struct = struct_pb2.Struct()
    struct.update(settings)
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def _first_value(feature: tf.train.Feature):
    kind = feature.WhichOneof("kind")
    values = getattr(feature, kind).value if kind else []
    return values[0] if len(values) else None


def map_example(example: tf.train.Example, settings: Dict[str, Any]) -> tf.train.Example:
    """Rewrites label and group of one example as `settings` says."""
    features = example.features.feature
    label = settings.get("label")
    if label and settings.get("label_positive") is not None:
        value = _first_value(features[label])
        if value is None:
            raise ValueError(f"an example has no value in label column '{label}'")
        mapped = run_columns.mapped_label(value, settings["label_positive"],
                                          settings.get("label_negative"))
        features[label].CopyFrom(tf.train.Feature(
            int64_list=tf.train.Int64List(value=[mapped])))
    group = settings.get("group")
    if group and settings.get("group_merge"):
        value = _first_value(features[group])
        if value is not None:
            name = run_columns.merged_group(value, run_columns.merge_lookup(
                settings["group_merge"]))
            features[group].CopyFrom(tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[name.encode("utf-8")])))
    return example


class _CsvToMappedExample(beam.PTransform):
    """TFX's CSV reading (column types inferred as CsvExampleGen does), then the
    mapping. Built per split, like TFX's _CsvToExample."""

    def __init__(self, exec_properties: Dict[str, Any], split_pattern: str):
        super().__init__()
        self._read = csv_executor._CsvToExample(  # pylint: disable=protected-access
            exec_properties, split_pattern)
        self._settings = settings_of(exec_properties)

    def expand(self, pipeline):
        examples = pipeline | "CsvToExample" >> self._read
        if not self._settings:
            return examples
        return examples | "MapLabelAndGroup" >> beam.Map(map_example, self._settings)


class Executor(csv_executor.Executor):
    """CsvExampleGen's executor with the label mapping and group merging."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToMappedExample
