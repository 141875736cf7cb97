"""SideEffectCheck: scores the candidate and a reference model on the same test
examples, lists what the candidate made worse (fairgate/metrics/side_effects.py) and
writes the run's blessing: the Evaluator's verdict, and under
`evaluation.side_effects.policy: gate` also the side effects' (GatedPusher reads
this one blessing). The record, side_effects.json, sits in the blessing's folder.

TFX's Evaluator compares a candidate with one baseline, the model in serving;
the reference here is the unconstrained model of the same run when there is one,
so the side effects need their own step.
"""
import json
import os

from absl import logging
from tfx.dsl.component.experimental.annotations import (InputArtifact,
                                                         OutputArtifact, Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

RECORD = "side_effects.json"  # in the blessing artifact's folder
BLESSED_KEY = "blessed"  # what TFX's Pusher reads


def read_record(blessing_uri: str):
    """The side-effect record of a blessing SideEffectCheck wrote (None for an
    Evaluator's own blessing)."""
    import tensorflow as tf
    path = os.path.join(blessing_uri, RECORD)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def _copy_properties(source, target) -> None:
    """The Evaluator's custom properties (current_model, baseline_model, ...)."""
    for key, value in source.mlmd_artifact.custom_properties.items():
        kind = value.WhichOneof("value")
        if kind == "int_value":
            target.set_int_custom_property(key, value.int_value)
        elif kind == "string_value":
            target.set_string_custom_property(key, value.string_value)


@component
def SideEffectCheck(  # pylint: disable=invalid-name
        examples: InputArtifact[standard_artifacts.Examples],
        model: InputArtifact[standard_artifacts.Model],
        evaluator_blessing: InputArtifact[standard_artifacts.ModelBlessing],
        blessing: OutputArtifact[standard_artifacts.ModelBlessing],
        label: Parameter[str],
        group: Parameter[str],
        groups: Parameter[str],
        settings: Parameter[str],
        reference_model: InputArtifact[standard_artifacts.Model] = None,
        reference: Parameter[str] = "unconstrained",
        split: Parameter[str] = "test",
        output_key: Parameter[str] = "probabilities",
        score_column: Parameter[str] = "",
        reference_column: Parameter[str] = "",
) -> None:
    """`groups`: JSON list of the group values. `settings`: JSON of
    evaluation.side_effects (policy, margin, rates) and `intended`, the
    quantities the Trainer's constraints target. `reference`: what
    `reference_model` is ("unconstrained" or "serving"), or
    "baseline_predictions". `output_key`: the candidate model's score output.
    `score_column` / `reference_column`: scores in the examples instead of
    models (candidate.predictions / candidate.baseline_predictions)."""
    import tensorflow as tf  # heavy imports at run time
    from components.serving_model.executor import holds_model
    from components.serving_model.executor import read_record as serving_record
    from components.side_effects import scoring
    from fairgate.metrics import side_effects
    from fairgate.report import without_nan

    options = json.loads(settings)
    policy, margin = options["policy"], float(options["margin"])
    evaluator_blessed = bool(evaluator_blessing.get_int_custom_property(BLESSED_KEY))
    if score_column and not reference_column:
        record = side_effects.not_measured(
            "no reference: candidate.predictions without "
            "candidate.baseline_predictions (the scores of the model in serving)",
            policy, margin)
    elif not score_column and (reference_model is None or
                               not holds_model(reference_model.uri)):
        record = side_effects.not_measured(
            "no reference model: the run trains no unconstrained model "
            "(trainer.mode none, trainer.baseline false, or a candidate trained "
            "elsewhere) and nothing is in serving yet", policy, margin)
    else:
        description = side_effects.REFERENCES[reference]
        if reference == "serving":
            version = serving_record(reference_model.uri).get("version")
            description += f" (version {version})" if version else ""
        records = scoring.split_records(examples, split)
        labels, group_values = scoring.labels_and_groups(
            records, label, group, f"the {split} split")
        if score_column:
            where = f"the {split} split"
            mine = scoring.column_decisions(records, score_column, where)
            theirs = scoring.column_decisions(records, reference_column, where)
        else:
            mine = scoring.positive_decisions(model.uri, records, output_key)
            theirs = scoring.positive_decisions(reference_model.uri, records,
                                                output_key)
        table = side_effects.paired_table(group_values, labels, mine, theirs)
        result = side_effects.measure(
            table, rates=options["rates"], groups=json.loads(groups), margin=margin,
            policy=policy, intended=options.get("intended", []))
        record = side_effects.summarize(
            result, group_key=group, reference=reference,
            reference_description=description,
            sizes=side_effects.sample_sizes(table))
        record["examples"] = len(records)
    blessed = evaluator_blessed and not record["blocks"]
    record.update(evaluator_blessed=evaluator_blessed, blessed=blessed, reasons=[
        f"side effect (evaluation.side_effects.policy gate, Holm-corrected over "
        f"{record['comparisons']} comparisons): {row['description']}"
        for row in record["side_effects"]] if record["blocks"] else [])
    _copy_properties(evaluator_blessing, blessing)
    blessing.set_int_custom_property(BLESSED_KEY, int(blessed))
    blessing.set_int_custom_property("side_effects_found", len(record["side_effects"]))
    tf.io.gfile.makedirs(blessing.uri)
    marker = "BLESSED" if blessed else "NOT_BLESSED"  # as TFX's Evaluator writes
    with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), "w") as f:
        f.write("")
    with tf.io.gfile.GFile(os.path.join(blessing.uri, RECORD), "w") as f:
        json.dump(without_nan(record), f, indent=2, allow_nan=False)
    for line in record["lines"]:
        logging.info("Side effects: %s", line)
