"""The Evaluator's two cases that TFX 1.16's executor does not cover.

* Scores without a model (candidate.predictions): TFMA evaluates the score
  columns of the examples (model-agnostic, `ModelSpec.prediction_key`), but TFX's
  executor decides "has a baseline" only from a baseline model artifact (so
  candidate.baseline_predictions would be dropped with the change gates) and
  writes the blessing from `input_dict['model']`. `evaluate_scores` runs the same
  TFMA evaluation with the baseline column kept and writes the same blessing.
* A model in serving whose score output is named differently from the
  candidate's: TFMA copies the candidate's ModelSpec to the baseline, so the
  baseline would be asked for an output it lacks. `baseline_specs` gives the
  baseline its own ModelSpec, or drops the baseline with the reason.

What was compared is written to `baseline.json` in the evaluation artifact
(the report reads it).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import apache_beam as beam
import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.components.evaluator import constants
from tfx.components.util import tfxio_utils
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs as keys
from tfx.utils import io_utils, path_utils, proto_utils
from tfx_bsl.tfxio import tensor_adapter

BASELINE_RECORD = "baseline.json"  # in the evaluation artifact
FALLBACK_OUTPUT = "probabilities"  # what fairgate's Trainer exports


def write_baseline_record(evaluation_uri: str, record: Dict[str, Any]) -> None:
    io_utils.write_string_file(os.path.join(evaluation_uri, BASELINE_RECORD),
                               json.dumps(record, indent=2))


def read_baseline_record(evaluation_uri: str) -> Optional[Dict[str, Any]]:
    """None for an evaluation written without one (TFX's own path)."""
    path = os.path.join(evaluation_uri, BASELINE_RECORD)
    if not fileio.exists(path):
        return None
    return json.loads(io_utils.read_string_file(path))


def _eval_config(exec_properties) -> tfma.EvalConfig:
    config = tfma.EvalConfig()
    proto_utils.json_to_proto(exec_properties[keys.EVAL_CONFIG_KEY], config)
    return config


def baseline_specs(exec_properties: Dict[str, Any], baseline_uri: str
                   ) -> Dict[str, Any]:
    """For a baseline model whose outputs lack the candidate's score key: the
    exec_properties with a ModelSpec of its own (its only output, else
    `probabilities`), or None in `properties` when neither exists (no baseline:
    the change gates are skipped). Returns {properties, record}."""
    from fairgate.candidate import SIGNATURE, signature_outputs
    config = _eval_config(exec_properties)
    if len(config.model_specs) != 1:
        return {"properties": exec_properties, "record": {"compared": True}}
    key = config.model_specs[0].prediction_key
    serving = path_utils.serving_model_path(baseline_uri)
    outputs = signature_outputs(serving).get(SIGNATURE, [])
    if not key or key in outputs:
        return {"properties": exec_properties,
                "record": {"compared": True, "baseline_output_key": key}}
    own = outputs[0] if len(outputs) == 1 else (
        FALLBACK_OUTPUT if FALLBACK_OUTPUT in outputs else None)
    if own is None:
        why = (f"the model in serving has no output '{key}' (the candidate's score) "
               f"and no single score output (outputs: {', '.join(outputs)}): the "
               "change gates were skipped")
        logging.warning("Evaluator: %s.", why)
        return {"properties": None, "record": {"compared": False, "why": why}}
    candidate = config.model_specs[0]
    candidate.name = tfma.CANDIDATE_KEY
    baseline = config.model_specs.add()
    baseline.CopyFrom(candidate)
    baseline.name, baseline.is_baseline, baseline.prediction_key = \
        tfma.BASELINE_KEY, True, own
    logging.info("Evaluator: the model in serving names its score '%s', the "
                 "candidate '%s'.", own, key)
    return {"properties": {**exec_properties,
                           keys.EVAL_CONFIG_KEY: proto_utils.proto_to_json(config)},
            "record": {"compared": True, "baseline_output_key": own}}


def evaluate_scores(executor, input_dict: Dict[str, List[types.Artifact]],
                    output_dict: Dict[str, List[types.Artifact]],
                    exec_properties: Dict[str, Any]) -> None:
    """TFMA over the examples' score columns (the EvalConfig's prediction_keys),
    with a baseline exactly when the EvalConfig has a baseline ModelSpec; then
    the blessing, as TFX's Evaluator writes it. `executor`: the Beam executor
    (its Beam pipeline options)."""
    config = _eval_config(exec_properties)
    baseline = next((spec for spec in config.model_specs if spec.is_baseline), None)
    has_baseline = baseline is not None
    config = tfma.utils.update_eval_config_with_defaults(
        config, has_baseline=has_baseline, rubber_stamp=True)
    tfma.utils.verify_eval_config(config)
    output_uri = artifact_utils.get_single_uri(output_dict[keys.EVALUATION_KEY])
    schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(
        artifact_utils.get_single_uri(input_dict[keys.SCHEMA_KEY])))
    splits = json.loads(exec_properties.get(keys.EXAMPLE_SPLITS_KEY) or "null") \
        or ["eval"]
    examples = input_dict[keys.EXAMPLES_KEY]
    factory = tfxio_utils.get_tfxio_factory_from_artifact(
        examples=examples, telemetry_descriptors=["Evaluator"], schema=schema,
        raw_record_column_name=tfma.constants.ARROW_INPUT_COLUMN)
    with executor._make_beam_pipeline() as pipeline:  # pylint: disable=protected-access
        read = []
        for split in splits:
            for index, uri in enumerate(artifact_utils.get_split_uris(examples, split)):
                tfxio = factory(io_utils.all_files_pattern(uri))
                read.append(pipeline | f"Read[{split}][{index}]" >> tfxio.BeamSource())
        # The last reader's schema: every split shares it.
        adapter = tensor_adapter.TensorAdapterConfig(
            arrow_schema=tfxio.ArrowSchema(),
            tensor_representations=tfxio.TensorRepresentations())
        _ = (read | "Flatten" >> beam.Flatten()
             | "ExtractEvaluateAndWriteResults" >> tfma.ExtractEvaluateAndWriteResults(
                 eval_shared_model=score_models(config), eval_config=config,
                 output_path=output_uri, tensor_adapter_config=adapter))
    record = {"compared": has_baseline,
              "why": "" if has_baseline else
              "no candidate.baseline_predictions: the change gates were skipped"}
    if has_baseline:  # the report names it in each change gate's row
        record["against"] = f"scores in column '{baseline.prediction_key}'"
    write_baseline_record(output_uri, record)
    if not tfma.metrics.metric_thresholds_from_metrics_specs(
            config.metrics_specs, eval_config=config):
        logging.info("No threshold configured, will not validate model.")
        return
    write_blessing(output_dict, input_dict, output_uri)


def check_score_range(model: types.Artifact, examples: List[types.Artifact],
                      exec_properties: Dict[str, Any]) -> None:
    """A SavedModel candidate's scores on the evaluated splits lie in [0, 1]
    (TFMA would bin them as probabilities without a word); else fails naming
    candidate.output_key and the range seen."""
    from components.side_effects import scoring  # TensorFlow, at run time
    from fairgate.candidate import read_record
    record = read_record(model.uri)
    splits = json.loads(exec_properties.get(keys.EXAMPLE_SPLITS_KEY) or "null") \
        or ["eval"]
    for split in splits:
        scores = scoring.model_scores(model.uri, scoring.split_records(
            examples[0], split), record.get("score", ""))
        if scores.size and not (scores.min() >= 0.0 and scores.max() <= 1.0):
            raise ValueError(
                f"candidate.output_key '{record.get('score')}' of {record.get('source')}: "
                f"its scores on the {split} split range over [{scores.min():.4g}, "
                f"{scores.max():.4g}], not [0, 1]: name an output that is a "
                "probability (a logit is not)")


def score_models(config: tfma.EvalConfig) -> List[tfma.types.EvalSharedModel]:
    """One EvalSharedModel of TFMA's model type MATERIALIZED_PREDICTION per
    ModelSpec: no model is loaded (the predictions are features), but TFMA
    decides "has a baseline" and "rubber stamp" from the shared models, and with
    none at all it would drop the baseline column and refuse change gates."""
    has_baseline = any(spec.is_baseline for spec in config.model_specs)
    return [tfma.types.EvalSharedModel(
        model_name=spec.name if has_baseline else "",
        model_type=tfma.constants.MATERIALIZED_PREDICTION,
        is_baseline=spec.is_baseline,
        rubber_stamp=not has_baseline and not spec.is_baseline,
        include_default_metrics=False)
        for spec in config.model_specs]


def write_blessing(output_dict, input_dict, output_uri: str) -> None:
    """BLESSED or NOT_BLESSED from TFMA's validation result, with the candidate
    (the Model artifact standing for the scores) recorded as TFX records it."""
    blessing = artifact_utils.get_single_instance(output_dict[keys.BLESSING_KEY])
    model = input_dict[keys.MODEL_KEY][0]
    blessing.set_string_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
    ok = tfma.load_validation_result(output_uri).validation_ok
    io_utils.write_string_file(os.path.join(
        blessing.uri, constants.BLESSED_FILE_NAME if ok
        else constants.NOT_BLESSED_FILE_NAME), "")
    blessing.set_int_custom_property(
        constants.ARTIFACT_PROPERTY_BLESSED_KEY,
        constants.BLESSED_VALUE if ok else constants.NOT_BLESSED_VALUE)
    logging.info("Blessing result %s written to %s.", ok, blessing.uri)
