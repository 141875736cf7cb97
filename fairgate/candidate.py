"""A candidate trained elsewhere (the `candidate:` section): which output of a
SavedModel is the score, the checks a run makes on it before anything runs, and
the record (`candidate.json`) that says where the judged candidate came from.

Two modes (CandidateConfig.mode):
  * saved_model: a TF SavedModel whose `serving_default` takes serialized
    tf.Examples; `candidate.output_key` (or its only output) is the score;
  * predictions: a column of the evaluation data holds each row's score; no model
    is loaded, and `candidate.artifact` (any folder) is what a blessing pushes.
"""
from __future__ import annotations

import csv
import json
import math
import os
from typing import Any, Dict, List, Optional

from fairgate.config import Config, ConfigError, resolve_path

RECORD = "candidate.json"   # at the root of CandidateModel's output artifact
SIGNATURE = "serving_default"


def origin(config: Config) -> str:
    return config.source_file or "the config"


def signature_outputs(model_path: str) -> Dict[str, List[str]]:
    """{signature name: its output keys} of the SavedModel at model_path, read
    from saved_model.pb (nothing is loaded or run)."""
    import tensorflow as tf  # deferred: only a saved_model candidate needs it
    from tensorflow.core.protobuf import saved_model_pb2
    graph_path = os.path.join(model_path, "saved_model.pb")
    model = saved_model_pb2.SavedModel()
    try:
        with tf.io.gfile.GFile(graph_path, "rb") as f:
            model.ParseFromString(f.read())
    except tf.errors.NotFoundError:
        raise ValueError(f"{model_path} is not a SavedModel: it holds no "
                         "saved_model.pb") from None
    except Exception as error:  # DecodeError and the like: a damaged file
        raise ValueError(f"{graph_path} does not parse as a SavedModel: {error}") \
            from None
    signatures: Dict[str, List[str]] = {}
    for graph in model.meta_graphs:
        for name, signature in graph.signature_def.items():
            signatures[name] = sorted(signature.outputs)
    return signatures


def score_key(model_path: str, output_key: str = "") -> str:
    """The output of `serving_default` that is the score: `output_key`, or the
    signature's only output. Raises ValueError naming what is there."""
    signatures = signature_outputs(model_path)
    if SIGNATURE not in signatures:
        raise ValueError(f"{model_path} has no '{SIGNATURE}' signature (signatures: "
                         f"{', '.join(sorted(signatures)) or 'none'})")
    outputs = signatures[SIGNATURE]
    if output_key:
        if output_key not in outputs:
            raise ValueError(f"'{output_key}' is not an output of {model_path}'s "
                             f"{SIGNATURE} signature (outputs: {', '.join(outputs)})")
        return output_key
    if len(outputs) != 1:
        raise ValueError(f"{model_path}'s {SIGNATURE} signature has several outputs "
                         f"({', '.join(outputs)}): name the score with "
                         "candidate.output_key")
    return outputs[0]


def model_path(config: Config) -> str:
    return resolve_path(config.candidate.model)


def resolved_score_key(config: Config) -> str:
    """The SavedModel candidate's score output (ConfigError naming the key)."""
    candidate = config.candidate
    try:
        return score_key(model_path(config), candidate.output_key)
    except ValueError as error:
        key = "candidate.output_key" if "output" in str(error) else "candidate.model"
        raise ConfigError(f"'{key}' in {origin(config)}: {error}") from None


def check(config: Config, csv_files: Optional[List[str]] = None) -> None:
    """What must hold of the candidate before anything runs (ConfigError naming
    the key and the file): the SavedModel's signature and score output, or the
    score columns of the CSV files."""
    candidate = config.candidate
    if candidate is None:
        return
    if candidate.mode == "saved_model":
        resolved_score_key(config)
        return
    for key in ("predictions", "baseline_predictions"):
        column = getattr(candidate, key)
        if column and csv_files:
            for path in csv_files:
                check_score_column(path, column, f"candidate.{key}", origin(config))


def check_score_column(path: str, column: str, key: str, config_file: str) -> None:
    """Every row of CSV file `path` holds a score in [0, 1] in `column`."""
    where = f"'{key}' in {config_file}"
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if column not in header:
            raise ConfigError(f"{where}: '{column}' is not a column of {path} "
                              f"(columns: {', '.join(header)})")
        index = header.index(column)
        for row in reader:
            if not row:
                continue
            text = row[index].strip() if index < len(row) else ""
            if not text:
                raise ConfigError(f"{where}: {path} line {reader.line_num}: the score "
                                  f"column '{column}' is empty; every row needs a score")
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not 0.0 <= value <= 1.0:
                raise ConfigError(
                    f"{where}: {path} line {reader.line_num}: score {text!r} in "
                    f"'{column}' is not in [0, 1] (README \"Gate your own model\" shows "
                    "how to turn another range into a score or a 0/1 decision)")


def read_record(model_uri: str) -> Dict[str, Any]:
    """What CandidateModel wrote about the candidate ({} for a model this run
    trained)."""
    import tensorflow as tf
    path = os.path.join(model_uri, RECORD)
    if not tf.io.gfile.exists(path):
        return {}
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def source_of(config: Config) -> str:
    """Where the candidate's files come from ("" when there are none to push)."""
    candidate = config.candidate
    path = candidate.model or candidate.artifact
    return resolve_path(path) if path else ""

