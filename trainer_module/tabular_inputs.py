"""Raw tabular columns -> the model's inputs, the same in training and serving.

Every feature is parsed as a variable-length column (a cell may be empty), and
`encode` turns a parsed batch into one [batch, 1] tensor per feature:

* numeric: float32, NaN where the cell is empty (the model imputes the train
  mean and adds a missing indicator, models.tabular_classifier);
* categorical: string, "" where the cell is empty (its own category when train
  had empty cells, else out-of-vocabulary); integer columns listed as
  categorical become their decimal text.

`encode` runs inside the exported serving signature (export.save), so serving
handles empty cells exactly as training did.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional

import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

_DTYPES = {schema_pb2.FLOAT: tf.float32, schema_pb2.INT: tf.int64,
           schema_pb2.BYTES: tf.string}
NUMERIC, CATEGORICAL = "numeric", "categorical"


def kinds_of(schema: schema_pb2.Schema, names: List[str],
             overrides: Mapping[str, Optional[str]]) -> Dict[str, str]:
    """{feature: numeric|categorical}: the override, else strings are categorical
    and numbers numeric."""
    types = {f.name: f.type for f in schema.feature}
    kinds = {}
    for name in names:
        default = CATEGORICAL if types[name] == schema_pb2.BYTES else NUMERIC
        kind = overrides.get(name) or default
        if kind == NUMERIC and types[name] == schema_pb2.BYTES:
            raise ValueError(f"feature '{name}' holds text; it cannot be numeric "
                             "(data.features)")
        kinds[name] = kind
    return kinds


def feature_spec(schema: schema_pb2.Schema, names: List[str]) -> Dict[str, tf.io.VarLenFeature]:
    types = {f.name: f.type for f in schema.feature}
    return {name: tf.io.VarLenFeature(_DTYPES[types[name]]) for name in names}


def _first_and_present(tensor, default):
    """([batch, 1] first value or `default`, [batch, 1] bool present)."""
    if not isinstance(tensor, tf.SparseTensor):
        dense = tf.reshape(tf.reshape(tensor, [tf.shape(tensor)[0], -1])[:, :1], [-1, 1])
        return dense, tf.ones_like(dense, dtype=tf.bool)
    dense = tf.sparse.to_dense(tensor, default_value=default)
    padding = tf.fill([tf.shape(dense)[0], 1], tf.cast(default, dense.dtype))
    first = tf.reshape(tf.concat([dense, padding], axis=1)[:, :1], [-1, 1])
    counts = tf.math.bincount(tf.cast(tensor.indices[:, 0], tf.int32),
                              minlength=tf.shape(dense)[0], maxlength=tf.shape(dense)[0])
    return first, tf.reshape(counts > 0, [-1, 1])


# Traced plainly, not through AutoGraph: it has no Python control flow over
# tensors, and AutoGraph's conversion runs every op of its 12-column traces
# (the eval and train splits' parsing, the serving signature) through
# `converted_call`; the graph is the same either way.
@tf.autograph.experimental.do_not_convert
def encode(parsed: Mapping[str, tf.Tensor], kinds: Mapping[str, str]) -> Dict[str, tf.Tensor]:
    inputs = {}
    for name, kind in kinds.items():
        tensor = parsed[name]
        default = "" if tensor.dtype == tf.string else tf.zeros([], tensor.dtype)
        first, present = _first_and_present(tensor, default)
        if kind == CATEGORICAL:
            text = first if first.dtype == tf.string else tf.strings.as_string(first)
            inputs[name] = tf.where(present, text, tf.constant(""))
        else:
            value = tf.cast(first, tf.float32)
            inputs[name] = tf.where(present, value, tf.constant(float("nan")))
    return inputs
