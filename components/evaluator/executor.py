"""Executor of BaselineAwareEvaluator."""
from __future__ import annotations

from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.evaluator import executor as tfx_evaluator
from tfx.types import artifact_utils, standard_component_specs

from components.evaluator import model_loading, score_evaluation, signature_calls
from components.serving_model.executor import holds_model, read_record
from fairgate.candidate import read_record as candidate_record
from fairgate.release.serving_versions import newest_usable


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
        mode = candidate_record(model[0].uri).get("mode") if model else None
        if mode == "predictions":  # no model to load: the examples hold the scores
            score_evaluation.evaluate_scores(self, input_dict, output_dict,
                                             exec_properties)
            return
        if mode == "saved_model":
            score_evaluation.check_score_range(
                model[0], input_dict[standard_component_specs.EXAMPLES_KEY],
                exec_properties)
        key = standard_component_specs.BASELINE_MODEL_KEY
        for artifact in input_dict.get(key) or []:
            check_current(read_record(artifact.uri))
        baseline = [a for a in input_dict.get(key) or [] if holds_model(a.uri)]
        record: Dict[str, Any] = {"compared": bool(baseline)}
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
        # Each model loaded once, not three times; TFMA's calls of its signature
        # without formatting each batch into an error message.
        with model_loading.models_held(), signature_calls.summarised_arrays():
            super().Do(input_dict, output_dict, model_loading.with_hook(exec_properties))
        score_evaluation.write_baseline_record(artifact_utils.get_single_uri(
            output_dict[standard_component_specs.EVALUATION_KEY]), record)
