"""Executors of ServingModel and BaselineAwareEvaluator."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, path_utils

from components.serving_model import score_evaluation
from fairgate.candidate import read_record as candidate_record
from fairgate.serving_versions import newest_usable, push_record

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
            logging.warning("ServingModel: version %s at %s is unusable: %s. It is "
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


def check_current(record: Dict[str, Any]) -> None:
    """Fails when the model in serving is no longer the one ServingModel handed on:
    its output was taken from a cache (e.g. a Kubeflow run submitted with
    enable_caching=True, which turns caching on for every task), or another run
    pushed in the meantime. Judging against a stale baseline would let the change
    gates pass or fail against the wrong model."""
    if "push_destination" not in record:
        return
    now, _ = newest_usable(record["push_destination"])
    handed = record.get("version") if record.get("in_serving") else None
    if now != handed:
        raise RuntimeError(
            f"the newest usable model in serving at {record['push_destination']} is "
            f"{'version ' + now if now else 'none'}, but the baseline handed to the "
            f"Evaluator is {'version ' + handed if handed else 'none'}: ServingModel's "
            "output is stale (taken from a cache: on Kubeflow, submit with "
            "enable_caching left unset; or another run pushed meanwhile). Run again.")


class BaselineAwareEvaluatorExecutor(tfx_evaluator.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model = input_dict.get(standard_component_specs.MODEL_KEY) or []
        if model and candidate_record(model[0].uri).get("mode") == "predictions":
            # No model to load: the examples hold the scores.
            score_evaluation.evaluate_scores(self, input_dict, output_dict,
                                             exec_properties)
            return
        if model and candidate_record(model[0].uri).get("mode") == "saved_model":
            score_evaluation.check_score_range(
                model[0], input_dict[standard_component_specs.EXAMPLES_KEY],
                exec_properties)
        key = standard_component_specs.BASELINE_MODEL_KEY
        for artifact in input_dict.get(key) or []:
            check_current(read_record(artifact.uri))
        baseline = [a for a in input_dict.get(key) or [] if holds_model(a.uri)]
        record = {"compared": bool(baseline)}
        if input_dict.get(key) and not baseline:
            logging.info("Evaluator: no model in serving yet; change thresholds "
                         "are skipped.")
            record["why"] = "no model in serving yet: the change gates were skipped"
        if baseline:
            own = score_evaluation.baseline_specs(exec_properties, baseline[0].uri)
            record = own["record"]
            if own["properties"] is None:
                baseline = []
            else:
                exec_properties = own["properties"]
        input_dict = {**input_dict, key: baseline}
        super().Do(input_dict, output_dict, exec_properties)
        score_evaluation.write_baseline_record(artifact_utils.get_single_uri(
            output_dict[standard_component_specs.EVALUATION_KEY]), record)
