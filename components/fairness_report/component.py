"""FairnessReportGen: writes report.json, report.html and PNGs after the Pusher."""

import json
import os
import tempfile
from absl import logging
from tfx import types
from fairgate import progress
from tfx.dsl.component.experimental.annotations import (InputArtifact,
                                                         OutputArtifact, Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.types.system_artifacts import Metrics

from components.data_gate.component import TrainSplitFacts


class FairnessReport(types.Artifact):
    """A folder with report.json, report.html and the figures (PNG)."""
    TYPE_NAME = "fairgate.FairnessReport"  # namespaced, as KFP v2 requires
    TYPE_ANNOTATION = Metrics


@component
def FairnessReportGen(  # pylint: disable=invalid-name
        evaluation: InputArtifact[standard_artifacts.ModelEvaluation],
        blessing: InputArtifact[standard_artifacts.ModelBlessing],
        model: InputArtifact[standard_artifacts.Model],
        pushed_model: InputArtifact[standard_artifacts.PushedModel],
        report: OutputArtifact[FairnessReport],
        label: Parameter[str],
        group: Parameter[str],
        groups: Parameter[str],
        pipeline: Parameter[str],
        unconstrained_evaluation: InputArtifact[
            standard_artifacts.ModelEvaluation] = None,
        baseline_model: InputArtifact[standard_artifacts.Model] = None,
        data_facts: InputArtifact[TrainSplitFacts] = None,
        split: Parameter[str] = "test",
        publish_dir: Parameter[str] = "",
) -> None:
    """Builds the report from the Evaluators' TFMA outputs and the push record.

    `blessing`: SideEffectCheck's (the Evaluator's verdict and, under policy
    gate, the side effects'; its side_effects.json is read). `baseline_model`:
    ServingModel's output (the model in serving the candidate was compared
    with). `data_facts`: DataValidationGate's train split facts (features,
    leakage guard, train groups). `groups`: JSON list of the group values. `publish_dir`: where a copy
    is kept at a stable path (empty: only the artifact).
    """
    from fairgate import report as fairness_report  # heavy imports at run time
    from fairgate.config import is_uri
    from components.gated_pusher.executor import NEW_PUSH_KEY
    from components.serving_model.executor import read_record
    from components.side_effects.component import read_record as side_effect_record
    from components.evaluator.score_evaluation import read_baseline_record
    from components.gated_pusher.executor import NOTHING_TO_PUSH_KEY
    from fairgate.candidate import read_record as candidate_record

    blessed = bool(blessing.get_int_custom_property("blessed"))
    pushed = bool(pushed_model.get_int_custom_property("pushed"))
    destination = (pushed_model.get_string_custom_property("pushed_destination")
                   if pushed else "")
    content = fairness_report.build(
        pipeline=pipeline, evaluation_uri=evaluation.uri, blessed=blessed,
        pushed=pushed, pushed_model_path=destination, label=label, group=group,
        groups=json.loads(groups), split=split, model_uri=model.uri,
        unconstrained_evaluation_uri=(unconstrained_evaluation.uri
                                      if unconstrained_evaluation else ""),
        serving=read_record(baseline_model.uri) if baseline_model else None,
        side_effects=side_effect_record(blessing.uri),
        candidate=candidate_record(model.uri) or None,
        comparison=read_baseline_record(evaluation.uri),
        data_facts_uri=data_facts.uri if data_facts else "")
    content["new_push"] = bool(pushed_model.get_int_custom_property(NEW_PUSH_KEY))
    # Blessed scores without candidate.artifact: nothing to push, and that is
    # the whole release (exit 0).
    content["verdict"]["nothing_to_push"] = bool(
        pushed_model.get_int_custom_property(NOTHING_TO_PUSH_KEY))
    # Written locally, then copied when the artifact lives on object storage.
    local_dir = tempfile.mkdtemp() if is_uri(report.uri) else report.uri
    fairness_report.write(content, local_dir)
    if local_dir != report.uri:
        fairness_report.publish(local_dir, report.uri)
    report.set_int_custom_property("blessed", int(blessed))
    report.set_int_custom_property("pushed", int(pushed))
    verdict = "BLESSED" if blessed else "NOT BLESSED"
    progress.logger.info("Fairness report: %s, %s. %s", verdict,
                         "pushed" if pushed else "not pushed",
                         " ".join(content["verdict"]["reasons"]))
    if publish_dir:
        path = fairness_report.publish(local_dir, publish_dir)
        logging.info("Fairness report published to %s",
                     os.path.join(path, fairness_report.REPORT_HTML))
