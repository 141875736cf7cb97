"""create_pipeline: fairgate's DAG, built from a Config and nothing else.

  ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> DataValidationGate
    -> Trainer (constrained, trainer.mode) and BaselineTrainer (unconstrained)
    -> ServingModel (the newest version at push_destination, after the Trainer)
    -> Evaluator (gates, test split; change gates against the model in serving)
    -> SideEffectCheck (what the candidate made worse than the unconstrained
       model, or the model in serving; writes the blessing)
    -> GatedPusher (blessed models only, once each) -> FairnessReportGen
  BaselineTrainer -> UnconstrainedEvaluator (same metrics, no gates; for the report)
  DataValidationGate -> FairnessReportGen (the train split's facts: features,
    leakage guard, train groups; computed once, for tabular runs that train)

A candidate trained elsewhere (the `candidate:` section) replaces both Trainers:
  CandidateImporter (tfx.dsl.Importer of candidate.model or candidate.artifact)
    -> CandidateModel (the files in the layout TFX reads, and where they came from)
and the rest is the same DAG, except that scores alone (candidate.predictions)
have no ServingModel: the Evaluator reads the scores from the examples and the
serving model's from candidate.baseline_predictions.

ExampleGen depends on the data source: CelebAExampleGen for TFDS datasets in
celeb_a's layout (the embedded default or real CelebA), CsvExampleGen for CSV
folders (its executor maps labels and merges groups, components/csv_example_gen),
ImportExampleGen for TFRecords of tf.Examples. `data_gate` builds the data half
(ExampleGen to DataValidationGate) alone, for a DAG that trains nothing.
"""
from __future__ import annotations

import json
from typing import Any, NamedTuple, Optional

# The component modules themselves, not `tfx.v1`: the public API module also
# imports every Google Cloud extension (aiplatform), ~9 s of each process's start.
from tfx.components.example_gen.import_example_gen.component import ImportExampleGen
from tfx.components.example_validator.component import ExampleValidator
from tfx.components.schema_gen.component import SchemaGen
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.components.statistics_gen.component import StatisticsGen
from tfx.components.trainer.component import Trainer
from tfx.dsl.components.common.importer import Importer
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, pusher_pb2, trainer_pb2
from tfx.types import standard_artifacts

from components.candidate_model import CandidateModel
from components.celeba_example_gen import CelebAExampleGen
from components.csv_example_gen import csv_example_gen
from components.data_gate import DataValidationGate
from components.evaluator import BaselineAwareEvaluator
from components.fairness_report import FairnessReportGen
from components.gated_pusher import GatedPusher
from components.serving_model import ServingModel
from components.side_effects import SideEffectCheck
from fairgate import candidate as candidate_lib
from fairgate.config import (SPLITS, TEST_SPLIT, Config, TrainerSettings, feature_kinds,
                             resolve_path)
from fairgate.data import embedded_celeba, leakage, run_columns
from fairgate.metrics import eval_config, side_effects

# Hash split of a single input folder: train / eval / test = 8 : 1 : 1.
_HASH_SPLIT = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
    example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=8),
    example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
    example_gen_pb2.SplitConfig.Split(name="test", hash_buckets=1),
]))


def input_splits(config: Config) -> dict:
    """ExampleGen's split arguments: data.splits' patterns; else the hash split,
    or every file as the test split when the run trains nothing."""
    data = config.data
    if data.splits and not data.test_only:
        return {"input_config": example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=name, pattern=data.splits[name])
            for name in SPLITS])}
    if data.splits or not config.trains:
        return {"input_config": example_gen_pb2.Input(splits=[
                    example_gen_pb2.Input.Split(
                        name=TEST_SPLIT, pattern=data.splits.get(TEST_SPLIT, "*"))]),
                # Without an output config, TFX hash-splits a single input split
                # into train and eval (2:1); an empty one keeps it as it is.
                "output_config": example_gen_pb2.Output()}
    return {"output_config": _HASH_SPLIT}


def example_gen(config: Config, rendered=None):
    """`rendered`: the run's EvalConfig (eval_config.of_run by default); its
    condition columns are columns the run uses, which the CSV ExampleGen needs to
    judge repeated header names."""
    data = config.data
    if data.source == "embedded_celeba":
        dataset = embedded_celeba.config_for(data.num_examples, data.seed).name
        return CelebAExampleGen(
            data_dir=resolve_path(data.data_dir),
            dataset=f"{embedded_celeba.NAME}/{dataset}", image_size=data.image_size,
            embedded_num_examples=data.num_examples, embedded_seed=data.seed)
    if data.source == "tfds":
        return CelebAExampleGen(
            data_dir=resolve_path(data.data_dir),
            dataset=data.dataset, image_size=data.image_size)
    input_base = resolve_path(data.input_base)
    splits = input_splits(config)
    if data.source == "csv":  # labels mapped and groups merged as it reads
        conditions = run_columns.condition_columns(
            rendered if rendered is not None else eval_config.of_run(config))
        return csv_example_gen(input_base, {
            "label": data.label, "label_positive": data.label_positive,
            "label_negative": data.label_negative, "group": data.group,
            "group_merge": data.group_merge,
            "used_columns": run_columns.names_used(config, conditions)}, **splits)
    return ImportExampleGen(input_base=input_base, **splits)


def run_columns_of(config: Config, rendered) -> dict:
    """The columns a tabular run uses (for the data gate); {} for image sources."""
    data = config.data
    if data.is_image:
        return {}
    return {"features": feature_kinds(data),
            "exclude_features": list(data.exclude_features),
            "condition_keys": run_columns.condition_columns(rendered),
            "unseen_category_tolerance": data.unseen_category_tolerance,
            # A curated schema's presence requirements hold as written.
            "curated_schema": bool(data.schema_file),
            # The train split's facts the report shows (features, leakage
            # guard, groups), computed once by the gate for both Trainers' run.
            "train_facts": config.trains,
            "leakage_threshold": leakage.THRESHOLD}


def feature_bounds(config: Config) -> dict:
    return dict(config.data.feature_bounds)


IMAGE_FEATURE = "image"


def image_of(config: Config) -> dict:
    """The stored image the data gate checks ({} for tabular sources)."""
    if config.data.is_image:
        return {"feature": IMAGE_FEATURE, "image_size": config.data.image_size}
    return {}


def statistics_options(config: Config):
    """StatisticsGen's StatsOptions: image_statistics_options() for image runs."""
    return image_statistics_options() if image_of(config) else None


def image_statistics_options(feature: str = IMAGE_FEATURE):
    """StatsOptions under which TFDV treats the stored image as opaque bytes.

    With an `image_domain` in the StatsOptions schema TFDV computes bytes statistics
    for the image (min/max bytes per value, which the data gate checks) and skips
    top-k and unique counting over its distinct values; SchemaGen infers it as
    BYTES with no string domain.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import schema_pb2
    schema = schema_pb2.Schema()
    schema.feature.add(name=feature, type=schema_pb2.BYTES).image_domain.SetInParent()
    return tfdv.StatsOptions(schema=schema)


RUN_FN = "trainer_module.run_fn.run_fn"


def trainer_settings(config: Config, mode: str) -> dict:
    """The Trainer's custom_config: what run_fn reads (TrainerSettings)."""
    return TrainerSettings.for_run(config, mode).model_dump()


def trainer(config: Config, examples, schema, mode: str, component_id: str):
    return Trainer(
        run_fn=RUN_FN, examples=examples, schema=schema,
        # num_steps 0 (unset): run_fn budgets in epochs (trainer.train_epochs).
        train_args=trainer_pb2.TrainArgs(splits=["train"],
                                         num_steps=config.trainer.train_steps),
        # Iterates are chosen on eval; the test split is left for the Evaluator.
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
        custom_config=trainer_settings(config, mode)).with_id(component_id)


# Nodes whose output depends on the world, not on their inputs: every runner
# executes them on every run (never from the cache).
NEVER_CACHED = ("ServingModel", "CandidateModel")


def candidate_nodes(config: Config) -> list:
    """A candidate trained elsewhere: an Importer of its files (candidate.model,
    or candidate.artifact; none for scores alone), then CandidateModel, which
    puts them where TFX's Evaluator and Pusher read a model and records where
    they came from."""
    chosen = config.candidate
    source = candidate_lib.source_of(config)
    nodes = []
    if source:
        nodes.append(Importer(
            source_uri=source, artifact_type=standard_artifacts.Model
        ).with_id("CandidateImporter"))
    nodes.append(CandidateModel(
        mode=chosen.mode, source=source, score=score_of(config),
        baseline_scores=chosen.baseline_predictions,
        files=nodes[0].outputs["result"] if nodes else None))
    return nodes


def score_of(config: Config) -> str:
    """The candidate's score: the SavedModel's output (read from its signature)
    or the score column."""
    chosen = config.candidate
    if chosen.mode == "saved_model":
        return candidate_lib.resolved_score_key(config)
    return chosen.predictions


def judged_scores(config: Config, rendered):
    """The EvalConfig with the candidate's score (and the baseline column)."""
    chosen = config.candidate
    return eval_config.for_scores(rendered, score_of(config), chosen.baseline_predictions,
                                  from_model=chosen.mode == "saved_model")


def side_effect_scores(config: Config) -> dict:
    """Where SideEffectCheck finds the scores of a candidate trained elsewhere."""
    if config.trains:
        return {}
    chosen = config.candidate
    if chosen.mode == "predictions":
        return {"score_column": chosen.predictions,
                "reference_column": chosen.baseline_predictions}
    return {"output_key": score_of(config)}

# The Evaluators measure the held-out test split; the Trainers choose their
# iterate on eval, so no model is judged on the data that selected it.
EVAL_SPLIT = TEST_SPLIT


def evaluator(config: Config, rendered, examples, model, schema, component_id: str,
              gated: bool, baseline_model=None):
    """`rendered`: the run's EvalConfig; its report metrics alone when not `gated`."""
    component = BaselineAwareEvaluator(
        examples=examples, model=model, baseline_model=baseline_model,
        schema=schema, example_splits=[EVAL_SPLIT],
        # Not judged: only what the report reads of it (fewer metrics per example).
        eval_config=rendered if gated else eval_config.report_only(rendered),
    ).with_id(component_id)
    if config.evaluation.beam_args:
        component = component.with_beam_pipeline_args(list(config.evaluation.beam_args))
    return component


# Modes whose Trainer aims at trainer.constraints: what they target is the
# intended effect, not a side effect.
CONSTRAINED_MODES = ("tfco", "group_thresholds")


def side_effect_settings(config: Config) -> dict:
    """SideEffectCheck's settings: evaluation.side_effects and the quantities the
    Trainer's constraints target."""
    chosen = config.evaluation.side_effects
    return {"policy": chosen.policy, "margin": chosen.margin,
            "rates": list(chosen.rates),
            "intended": side_effects.intended_targets(config.trainer.constraints)
            if config.trains and config.trainer.mode in CONSTRAINED_MODES else []}


class DataGate(NamedTuple):
    """The data half of every DAG, trained or not: ExampleGen -> StatisticsGen ->
    SchemaGen (or ImportSchemaGen) -> ExampleValidator -> DataValidationGate."""
    ingest: Any
    statistics: Any
    schema: Any
    validator: Any
    gate: Any

    @property
    def nodes(self) -> list:
        return list(self)

    @property
    def examples(self):
        return self.ingest.outputs["examples"]

    @property
    def validated_schema(self):
        """The schema that passed the gate: whatever reads the examples consumes
        it, so nothing runs on data that did not pass."""
        return self.gate.outputs["validated_schema"]


def data_gate(config: Config, rendered=None) -> DataGate:
    """The nodes that ingest and validate the data. The schema is inferred from
    config.schema_split alone (train; the test split in a run that trains
    nothing), or read from data.schema_file; every split is validated against it.
    `rendered`: the run's EvalConfig (eval_config.of_run by default)."""
    data = config.data
    rendered = rendered if rendered is not None else eval_config.of_run(config)
    ingest = example_gen(config, rendered)
    statistics = StatisticsGen(
        examples=ingest.outputs["examples"], stats_options=statistics_options(config))
    if data.schema_file:
        schema = ImportSchemaGen(
            schema_file=resolve_path(data.schema_file))
    else:
        # One split only: a dirty eval split must not widen the schema.
        schema = SchemaGen(
            statistics=statistics.outputs["statistics"], infer_feature_shape=True,
            exclude_splits=[s for s in SPLITS if s != config.schema_split])
    validator = ExampleValidator(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"])
    gate = DataValidationGate(
        statistics=statistics.outputs["statistics"], schema=schema.outputs["schema"],
        anomalies=validator.outputs["anomalies"], label_key=data.label,
        group_key=data.group, feature_bounds=feature_bounds(config),
        run_columns=run_columns_of(config, rendered), image=image_of(config),
        examples=ingest.outputs["examples"]
        if image_of(config) or config.trains else None)
    return DataGate(ingest, statistics, schema, validator, gate)


def create_pipeline(config: Config,
                    metadata_connection_config: Optional[object] = None,
                    enable_cache: bool = True,
                    report_dir: Optional[str] = None) -> Pipeline:
    """The DAG for `config`. report_dir: where the report is also copied (None:
    config.resolved_report_dir; "": nowhere, the artifact only)."""
    data = config.data
    rendered = eval_config.of_run(config)
    checked = data_gate(config, rendered)
    examples, validated = checked.examples, checked.validated_schema
    if config.trains:
        producing = [trainer(config, examples, validated, config.trainer.mode,
                             "Trainer")]
    else:
        producing = candidate_nodes(config)
        rendered = judged_scores(config, rendered)
    model = producing[-1].outputs["model"]
    scores_only = not config.trains and config.candidate.mode == "predictions"
    # The release baseline is the model in serving, read after the candidate is
    # there (so a push by another run meanwhile is seen). No Resolver: the
    # open-source Kubeflow backend refuses resolver executors. Scores alone have
    # no model in serving to compare with: their baseline is a column.
    serving = None
    if not scores_only:
        serving = ServingModel(push_destination=config.resolved_push_destination)
        serving.add_upstream_node(producing[-1])
    judge = evaluator(config, rendered, examples, model, validated, "Evaluator",
                      gated=True,
                      baseline_model=serving.outputs["model"] if serving else None)
    unconstrained = []
    if config.trains and config.trainer.baseline and config.trainer.mode != "none":
        baseline = trainer(config, examples, validated, "none", "BaselineTrainer")
        unconstrained = [baseline, evaluator(
            config, rendered, examples, baseline.outputs["model"], validated,
            "UnconstrainedEvaluator", gated=False)]
    # The reference of the side effects: the unconstrained model of this run,
    # else the model in serving (none before the first push: not measured).
    # Scores alone: the reference is candidate.baseline_predictions, if given.
    check = SideEffectCheck(
        examples=examples, model=model, evaluator_blessing=judge.outputs["blessing"],
        reference_model=(unconstrained[0].outputs["model"] if unconstrained
                         else serving.outputs["model"] if serving else None),
        reference=("unconstrained" if unconstrained else "serving" if serving
                   else "baseline_predictions"),
        label=data.label, group=data.group, groups=json.dumps(config.evaluation.groups),
        settings=json.dumps(side_effect_settings(config)), split=EVAL_SPLIT,
        **side_effect_scores(config))
    # One blessing decides the push: the Evaluator's gates and, under
    # evaluation.side_effects.policy gate, the side effects.
    pusher = GatedPusher(
        model=model, model_blessing=check.outputs["blessing"],
        push_destination=pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=config.resolved_push_destination)))
    report = FairnessReportGen(
        evaluation=judge.outputs["evaluation"], blessing=check.outputs["blessing"],
        model=model, pushed_model=pusher.outputs["pushed_model"],
        baseline_model=serving.outputs["model"] if serving else None,
        data_facts=checked.gate.outputs["train_facts"],
        unconstrained_evaluation=(unconstrained[1].outputs["evaluation"]
                                  if unconstrained else None),
        label=config.data.label, group=config.data.group,
        groups=json.dumps(config.evaluation.groups), pipeline=config.name,
        split=EVAL_SPLIT,
        publish_dir=config.resolved_report_dir if report_dir is None else report_dir)
    return Pipeline(
        pipeline_name=config.name,
        pipeline_root=config.resolved_pipeline_root,
        components=[*checked.nodes, *producing,
                    *unconstrained, *([serving] if serving else []), judge, check,
                    pusher, report],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(config.beam_args))
