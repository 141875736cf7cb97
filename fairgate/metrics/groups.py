"""The one spelling of a group value, wherever it comes from.

A group value reaches fairgate as a config value (int or str, or a float when it
passed through a proto Struct), a tf.Example feature (bytes or int64, as a numpy
array in TFMA's features), a TFMA slice key (bytes, int or float), a CSV cell
(text) or a numpy scalar or array (the Trainer's splits). `group_value` turns
each into one Python value, so `0`, `0.0`, `np.int64(0)` and `np.array([0])` are
the same group, and `b"north"`, `" north "` and `"north"` are too; `group_text`
is its text (JSON keys, slice names, metric names). Plain Python and numpy only:
the data checks, the Trainer and the report import it.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def group_value(value: Any) -> Any:
    """int or str (bool, float, None as given): bytes decoded as UTF-8, numpy
    scalars and one-element arrays to their Python value (an empty array to ""),
    whole floats to int, surrounding blanks dropped."""
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        value = value.strip()
    return value


def group_text(value: Any) -> str:
    """The group value as text: '0', 'north'."""
    return str(group_value(value))


def group_array(values: Any) -> np.ndarray:
    """A column of group values, flattened: numeric columns as they are (numpy
    compares 0 and 0.0 equal), text and bytes columns as an object array of
    `group_value`s (so `column == "north"` matches b"north")."""
    values = np.asarray(values).reshape(-1)
    if values.dtype.kind in "SUO":
        return np.array([group_value(v) for v in values], dtype=object)
    return values
