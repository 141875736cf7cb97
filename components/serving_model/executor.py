"""Executor of ServingModel, and what its output artifact holds."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from fairgate import progress
from fairgate.release.serving_versions import newest_usable, push_record

RECORD = "serving_model.json"  # at the root of ServingModel's output artifact


def read_record(model_uri: str) -> Dict[str, Any]:
    """What ServingModel wrote about the model it handed on ({} for a model
    artifact that ServingModel did not write)."""
    path = os.path.join(model_uri, RECORD)
    if not fileio.exists(path):
        return {}
    with fileio.open(path, "r") as f:
        return json.load(f)


def holds_model(model_uri: str) -> bool:
    serving = path_utils.serving_model_path(model_uri)
    return fileio.exists(os.path.join(serving, "saved_model.pb"))


class ServingModelExecutor(base_executor.BaseExecutor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        base = exec_properties["push_destination"]
        model = artifact_utils.get_single_instance(output_dict["model"])
        version, unusable = newest_usable(base)
        record: Dict[str, Any] = {"in_serving": version is not None,
                                  "push_destination": base, "unusable": unusable}
        for skipped in unusable:
            progress.logger.warning("ServingModel: version %s at %s is unusable: %s. It is "
                                    "not the baseline.", skipped["version"], base,
                                    skipped["reason"])
        if version is None:
            logging.info("ServingModel: no usable model in serving at %s; the "
                         "candidate is judged without a baseline (the change gates "
                         "are skipped).", base)
        else:
            source = os.path.join(base, version)
            pushed = push_record(source)  # {} when not pushed by GatedPusher
            # A copy, so that a push during this run cannot change the baseline
            # under the Evaluator.
            io_utils.copy_dir(source, path_utils.serving_model_path(model.uri))
            record.update(version=version, path=source,
                          fingerprint=pushed.get("fingerprint", ""),
                          pushed_at=pushed.get("pushed_at", ""),
                          model_uri=pushed.get("model_uri", ""))
            logging.info("ServingModel: the baseline is version %s (%s).",
                         version, source)
        fileio.makedirs(model.uri)
        with fileio.open(os.path.join(model.uri, RECORD), "w") as f:
            json.dump(record, f, indent=2)
        model.set_int_custom_property("in_serving", int(version is not None))
        model.set_string_custom_property("serving_version", version or "")


def __getattr__(name):
    # Specs compiled before the Evaluator got its own folder (components/evaluator/)
    # name its executor by this path; TFX imports it by that name in the pod.
    if name == "BaselineAwareEvaluatorExecutor":
        from components.evaluator.executor import BaselineAwareEvaluatorExecutor
        return BaselineAwareEvaluatorExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
