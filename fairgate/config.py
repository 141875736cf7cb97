"""Run configuration: a YAML file per task, checked against one typed schema.

The schema is the pydantic models below: the config file, the Trainer's
custom_config (`TrainerSettings`) and `fairgate schema` (JSON Schema, for editors)
all read it. A key the schema does not know, or a value of the wrong type or out
of its bounds, is rejected with the key's dotted name and the file it came from.
With no file at all, the defaults run the embedded CelebA-format demo.

Loading a config imports no TensorFlow: checks that need TFCO or TFMA (the
constraint spec, the rendered EvalConfig and its gates) run in
`fairgate.data.preflight.check_config`, before anything else of a run.

A new nested section is a `Section` subclass with its keys (types, defaults,
bounds, a docstring under each) and one field of that type in its parent with
`Field(default_factory=...)`; validation, error messages and the JSON Schema
follow from the types.
"""
from __future__ import annotations

import os
import re
import typing
from typing import Annotated, Any, Dict, List, Literal, Optional, Sequence, Union

import yaml
from pydantic import (AfterValidator, BaseModel, ConfigDict, Discriminator, Field,
                      PrivateAttr, Tag, ValidationError, WithJsonSchema,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from fairgate.metrics import rates

SOURCES = ("embedded_celeba", "tfds", "csv", "tfrecord")
IMAGE_SOURCES = ("embedded_celeba", "tfds")  # the rest are tabular
# group_thresholds: the unconstrained model (trained as `none`) plus one decision
# threshold per group chosen on eval under the constraints (post-processing).
TRAINER_MODES = ("tfco", "none", "correlation", "group_thresholds")
LEARNING_RATE_SCHEDULES = ("auto", "cosine", "constant")
FEATURE_KINDS = ("numeric", "categorical")
SPLITS = ("train", "eval", "test")
# The one split a run that trains nothing reads (it is evaluated, not learnt from).
TEST_SPLIT = "test"
# evaluation.side_effects (fairgate/metrics/side_effects.py compares them)
SIDE_EFFECT_POLICIES = ("warn", "gate")
SIDE_EFFECT_RATES = (rates.FALSE_POSITIVE_RATE, rates.FALSE_NEGATIVE_RATE,
                     rates.ERROR_RATE, rates.POSITIVE_PREDICTION_RATE)


def is_uri(path: str) -> bool:
    """gs://, s3://, ...: object storage, which os.path and shutil cannot reach."""
    return "://" in path


def resolve_path(path: str) -> str:
    """Local paths become absolute; URIs (gs://, s3://, ...) are kept as written."""
    if is_uri(path):
        return path
    return os.path.abspath(os.path.expanduser(path))


class ConfigError(ValueError):
    """The configuration file is invalid; the message names the key and the file."""


def invalid(key: str, message: str) -> PydanticCustomError:
    """A check across keys failed: `key` (dotted, relative to the section being
    validated) is what the message names."""
    return PydanticCustomError("fairgate_config", "{message}",
                               {"key": key, "message": message})


def _scalar(value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"must be a string or an integer, got {value!r}")
    return value


# A group or label value as the data holds it: an integer or a string.
Scalar = Annotated[Any, AfterValidator(_scalar),
                   WithJsonSchema({"type": ["string", "integer"]})]


def _low_high(pair):
    if len(pair) != 2 or pair[0] > pair[1]:
        raise ValueError(f"must be [low, high], got {pair}")
    return pair


Bounds = Annotated[List[float], AfterValidator(_low_high), WithJsonSchema({
    "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2})]


def _feature_entry(entry):
    if isinstance(entry, dict):
        if len(entry) != 1:
            raise ValueError(f"must be a column name or {{name: kind}}, got {entry!r}")
        name, kind = next(iter(entry.items()))
        if not isinstance(name, str) or not name:
            raise ValueError(f"column name must be a string, got {name!r}")
        if kind not in FEATURE_KINDS:
            raise ValueError(f"kind of '{name}' must be one of "
                             f"{', '.join(FEATURE_KINDS)}, got {kind!r}")
    elif not isinstance(entry, str) or not entry:
        raise ValueError(f"must be a column name or {{name: kind}}, got {entry!r}")
    return entry


FeatureEntry = Annotated[Any, AfterValidator(_feature_entry), WithJsonSchema({"anyOf": [
    {"type": "string", "minLength": 1},
    {"type": "object", "minProperties": 1, "maxProperties": 1,
     "additionalProperties": {"enum": list(FEATURE_KINDS)}}]})]


class Section(BaseModel):
    """A part of the config: unknown keys are refused and types are strict (a YAML
    `3` is no string, `yes` no integer); each key's docstring is its description
    in the JSON Schema."""
    model_config = ConfigDict(extra="forbid", strict=True, use_attribute_docstrings=True)


def _data_schema(schema: Dict[str, Any]) -> None:
    """What depends on data.source, for editors (as `DataConfig._across_keys`)."""
    image = {"properties": {"source": {"enum": list(IMAGE_SOURCES)}}}
    schema["allOf"] = [
        {"if": image, "then": {"properties": {"image_size": {
            "minimum": 8, "maximum": 512}}}},
        {"if": {"properties": {"source": {"enum": ["csv", "tfrecord"]}},
                "required": ["source"]},
         "then": {"required": ["input_base"],
                  "properties": {"input_base": {"minLength": 1}}}}]


class DataConfig(Section):
    """The `data:` section: where the examples come from and which columns are
    label, group and features."""
    model_config = ConfigDict(json_schema_extra=_data_schema)

    source: Literal[SOURCES] = "embedded_celeba"
    """embedded_celeba: generated CelebA-format faces (offline default); tfds: a
    prepared TFDS dataset in celeb_a's layout (e.g. real celeb_a); csv: a folder of
    CSV files; tfrecord: a folder of gzipped tf.Example TFRecords."""
    data_dir: str = ".fairgate/tensorflow_datasets"
    """TFDS data_dir (sources embedded_celeba and tfds)."""
    dataset: str = "celeb_a"
    """TFDS name[/config][:version] (source tfds)."""
    num_examples: int = Field(20_000, ge=1)
    """Size of the embedded dataset (source embedded_celeba; CelebA's is 202,599)."""
    seed: int = 0
    """Seed of the embedded dataset."""
    image_size: int = 28
    """Images are resized to image_size x image_size (8 to 512; image sources)."""
    input_base: str = ""
    """Folder of input files (sources csv and tfrecord; required there)."""
    splits: Dict[str, str] = Field(default_factory=dict, json_schema_extra={
        "anyOf": [{"maxProperties": 0},
                  {"required": list(SPLITS), "propertyNames": {"enum": list(SPLITS)}},
                  {"required": [TEST_SPLIT], "propertyNames": {"const": TEST_SPLIT}}]})
    """Split name -> file pattern under input_base (csv / tfrecord), exactly train,
    eval and test; or test alone, in a run that trains nothing (a `candidate`
    judged on its test data). Empty: one folder, hash-split 8:1:1 into train /
    eval / test; in a run that trains nothing, every file is the test split."""
    label: str = Field("Smiling", min_length=1)
    """The label column (0/1 unless label_positive maps it)."""
    group: str = Field("Young", min_length=1)
    """The group column the fairness constraints and gates compare."""
    schema_file: str = ""
    """A curated schema (text proto). Empty: inferred from the train split only (the
    test split in a run that trains nothing)."""
    feature_bounds: Dict[str, Bounds] = Field(default_factory=dict)
    """Numeric features that must lie in [low, high] and hold no NaN."""
    features: List[FeatureEntry] = Field(default_factory=list)
    """Tabular sources: the model's input columns. Each entry is a column name
    (kind from the schema: numbers are numeric, strings categorical) or {name:
    numeric|categorical}. Empty: every column but label, group and
    exclude_features."""
    exclude_features: List[str] = Field(default_factory=list)
    """Tabular sources: columns kept from the model (instead of features)."""
    label_positive: Optional[Scalar] = None
    """The label value that means positive (e.g. ">50K", "yes", 2); every other value
    is negative, unless label_negative names the negative value too (then a row
    holding neither is an error naming file and line). Unset: 0/1 labels. CSV only."""
    label_negative: Optional[Scalar] = None
    """The label value that means negative (needs label_positive)."""
    group_merge: Dict[str, List[Scalar]] = Field(default_factory=dict)
    """Group values merged into one before anything reads them (ExampleGen writes
    the merged value), e.g. {older: ["45+", "60+"]}. CSV only."""
    unseen_category_tolerance: float = Field(0.0, ge=0.0, lt=1.0)
    """Share of a categorical feature's values in eval/test that may be missing from
    the training vocabulary (TFDV min_domain_mass = 1 - tolerance). 0: strict, any
    unseen value stops the run at the data gate."""

    @property
    def is_image(self) -> bool:
        return self.source in IMAGE_SOURCES

    @field_validator("splits")
    @classmethod
    def _three_splits(cls, splits):
        if splits and set(splits) not in (set(SPLITS), {TEST_SPLIT}):
            raise ValueError("must name exactly train, eval and test (or test alone, "
                             "in a run that trains nothing), got "
                             f"{', '.join(sorted(splits))}")
        return splits

    @property
    def test_only(self) -> bool:
        """data.splits names the test split alone."""
        return set(self.splits) == {TEST_SPLIT}

    @model_validator(mode="after")
    def _across_keys(self):
        if self.source in ("csv", "tfrecord") and not self.input_base:
            raise invalid("input_base", f"is required for source '{self.source}'")
        if self.is_image and not 8 <= self.image_size <= 512:
            raise invalid("image_size",
                          f"must be between 8 and 512, got {self.image_size}")
        if self.label == self.group:
            raise invalid("group", f"must differ from data.label ('{self.label}')")
        self._check_columns()
        return self

    def _check_columns(self) -> None:
        """features / exclude_features / label_* / group_merge against each other."""
        seen = set()
        for i, entry in enumerate(self.features):
            name = next(iter(entry)) if isinstance(entry, dict) else entry
            if name in seen:
                raise invalid(f"features[{i}]", f"column '{name}' is listed twice")
            if name in (self.label, self.group):
                raise invalid(f"features[{i}]", f"'{name}' is the "
                              f"{'label' if name == self.label else 'group'} column, "
                              "not a feature")
            seen.add(name)
        if self.features and self.exclude_features:
            raise invalid("exclude_features", "give data.features or "
                          "data.exclude_features, not both")
        if (self.features or self.exclude_features) and self.is_image:
            raise invalid("features" if self.features else "exclude_features",
                          f"applies to tabular sources (csv, tfrecord), not "
                          f"'{self.source}'")
        if self.label_negative is not None and self.label_positive is None:
            raise invalid("label_negative", "needs data.label_positive")
        if self.label_positive is not None and \
                str(self.label_positive) == str(self.label_negative):
            raise invalid("label_negative", "must differ from data.label_positive")
        merged_from: Dict[str, str] = {}
        for name, values in self.group_merge.items():
            if not values:
                raise invalid(f"group_merge.{name}", "must list the group values to "
                              "merge")
            for value in values:
                if str(value) in merged_from:
                    raise invalid(f"group_merge.{name}", f"value {value!r} is already "
                                  f"merged into '{merged_from[str(value)]}'")
                merged_from[str(value)] = str(name)
        if (self.label_positive is not None or self.group_merge) and \
                self.source != "csv":
            raise invalid("label_positive" if self.label_positive is not None else
                          "group_merge", "is applied while reading CSV files: source "
                          f"must be csv, got '{self.source}'")


def feature_kinds(data: DataConfig) -> Dict[str, Optional[str]]:
    """data.features as {column: kind or None (the schema decides)}, in order."""
    kinds: Dict[str, Optional[str]] = {}
    for entry in data.features:
        if isinstance(entry, dict):
            kinds.update(entry)
        else:
            kinds[entry] = None
    return kinds


def _tutorial_constraints():
    return {"objective": "error_rate", "constraints": [
        {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


def _selection_level(level: float) -> float:
    if level != 0 and not 0.5 < level < 1:
        raise ValueError("must be 0 (point estimates) or strictly between 0.5 and 1, "
                         f"got {level}")
    return level


BUILTIN_MODELS = ("mlp", "cnn")


class ModelModule(Section):
    """A team's own model: `function(inputs, train, hparams)` in `module_file`
    returns a tf-keras Model from (a subset of) `inputs` to one logit per example
    (README "Your own model")."""

    module_file: str = Field(min_length=1)
    """The Python file defining `function`: relative to the config file's folder
    (to the working directory for a config built in code), or absolute. The .py
    files beside it ship with it (they may import each other)."""
    function: str = Field("build_model", min_length=1)
    """The function in module_file that builds the model."""
    hparams: Dict[str, Any] = Field(default_factory=dict)
    """Passed to `function` as its third argument, as written."""


# Tags of trainer.model's two forms (dropped from the keys errors name).
_BUILTIN, _MODULE = "builtin model", "model module"


def _model_kind(value) -> str:
    return _MODULE if isinstance(value, (dict, ModelModule)) else _BUILTIN


class TrainingSettings(Section):
    """The keys of the `trainer:` section that run_fn reads (TrainerSettings)."""

    mode: Literal[TRAINER_MODES] = "tfco"
    """tfco: TFCO rate constraints; correlation: Beutel et al.'s absolute-correlation
    regulariser; none: unconstrained; group_thresholds: the unconstrained model plus
    one decision threshold per group chosen on eval under the constraints (needs the
    group at serving time: explicit disparate treatment)."""
    constraints: Dict[str, Any] = Field(default_factory=_tutorial_constraints)
    """Objective and constraints (see trainer_module/constraints.py; checked by
    preflight). The default is the TFCO CelebA tutorial's: FPR on Young=0 <= 5%."""
    correlation_weight: float = 1.0
    """Mode correlation: weight of the absolute-correlation penalty."""
    correlation_group: Any = 0
    """Mode correlation: the group whose correlation with the scores is penalised."""
    model: Annotated[Union[Annotated[Literal[BUILTIN_MODELS], Tag(_BUILTIN)],
                           Annotated[ModelModule, Tag(_MODULE)]],
                     Discriminator(_model_kind)] = "mlp"
    """mlp (the TFCO tutorial's; the built-in tabular network for tabular sources)
    or cnn (image sources), or your own model: {module_file, function, hparams}
    (README "Your own model")."""
    train_epochs: float = Field(10.0, gt=0)
    """The training budget in passes over the train split (README "A budget in
    epochs"), at least min_train_steps steps."""
    min_train_steps: int = Field(1000, ge=0)
    """A small split still gets a real training run: at least this many steps."""
    batch_size: int = Field(128, ge=1)
    """Examples per training step."""
    learning_rate: float = 0.001
    """Learning rate of the model's Adam optimizer (see learning_rate_schedule)."""
    learning_rate_schedule: Literal[LEARNING_RATE_SCHEDULES] = "auto"
    """cosine: the model's learning rate decays to 5% of learning_rate over the
    budget, so the last snapshots move less and more of them meet the constraints on
    eval; constant: no decay; auto: cosine for the TFCO Trainer on image sources,
    constant for every other Trainer and for tabular sources (README "Closing the
    gap")."""
    constraint_learning_rate: float = 0.05
    """Learning rate of TFCO's Lagrange multipliers (constant)."""
    group_head_weight: float = Field(1.0, ge=0)
    """Mode tfco: weight of a training-only head that predicts the constrained groups
    from the model's last hidden layer, so the constraint can act through a feature
    that tells the groups apart instead of moving every group's decision
    (trainer_module/group_head.py; dropped at export). 0: off."""
    snapshot_every: int = Field(100, ge=1)
    """Steps between candidate snapshots (measured on eval)."""
    rank_objectives: bool = False
    """false: a feasible snapshot always wins (objective breaks ties); true: TFCO's
    rank trade-off between objective and violations, as in the TFCO tutorial."""
    jit_compile: bool = True
    """XLA-compile the training step (image models; tabular models use string ops
    that XLA cannot compile, so they always run without)."""
    cache_train_mb: int = Field(1024, ge=0)
    """Keep the parsed train split in memory when it is estimated to take at most
    this many MB; larger splits stream each epoch. 0: always stream."""
    seed: int = 0
    """Seed of training: initial weights, the train split's shuffling and the
    train samples a model module adapts on."""
    selection_level: Annotated[float, AfterValidator(_selection_level)] = Field(
        0.75, json_schema_extra={"anyOf": [
            {"const": 0}, {"exclusiveMinimum": 0.5, "exclusiveMaximum": 1}]})
    """Snapshot choice on the eval split: a constraint counts as met when its
    one-sided confidence bound at this level is within the limit (Wilson / Newcombe,
    as the gates); 0 judges the point estimate."""


class TrainerConfig(TrainingSettings):
    """The `trainer:` section: run_fn's settings plus what shapes the DAG."""

    baseline: bool = True
    """Also train the unconstrained baseline, side by side (for the report)."""
    train_steps: int = Field(0, ge=0)
    """When set (> 0), exactly this many steps instead of the epoch budget (tests,
    quick looks); passed as the Trainer's TrainArgs."""


# Struct values (Kubeflow's parameter_values) carry every number as a double.
CUSTOM_CONFIG_ORIGIN = "the Trainer's custom_config"


class TrainerSettings(TrainingSettings):
    """What run_fn reads from the Trainer's custom_config: the trainer section's
    training keys with this Trainer's mode, and the facts of the data it needs."""

    label: str = DataConfig.model_fields["label"].default
    group: str = DataConfig.model_fields["group"].default
    input: Literal["image", "tabular"] = "image"
    image_size: int = DataConfig.model_fields["image_size"].default
    features: Dict[str, Optional[Literal[FEATURE_KINDS]]] = Field(default_factory=dict)
    """Tabular inputs: {column: kind or None (the schema decides)} (data.features),
    or empty: every schema column but label, group and exclude_features."""
    exclude_features: List[str] = Field(default_factory=list)
    model_fingerprint: str = ""
    """A model module's content fingerprint (with its sibling .py files): part of
    the Trainers' cache key, so changing the module re-runs them."""

    @classmethod
    def for_run(cls, config: "Config", mode: str) -> "TrainerSettings":
        data = config.data
        training = config.trainer.model_dump(include=set(TrainingSettings.model_fields))
        fingerprint = ""
        if isinstance(config.trainer.model, ModelModule):
            from fairgate import model_module  # deferred: a cycle (it names ConfigError)
            fingerprint = model_module.fingerprint(config.trainer.model.module_file)
        return cls(**{**training, "mode": mode}, model_fingerprint=fingerprint,
                   label=data.label, group=data.group,
                   input="image" if data.is_image else "tabular",
                   image_size=data.image_size, features=feature_kinds(data),
                   exclude_features=list(data.exclude_features))

    @classmethod
    def from_custom_config(cls, custom_config) -> "TrainerSettings":
        """Integers that arrive as floats (Struct values) are taken when whole."""
        try:
            return cls.model_validate(dict(custom_config or {}), strict=False)
        except ValidationError as error:
            raise ConfigError(describe(error, CUSTOM_CONFIG_ORIGIN, cls)) from None


def _change_of_a_rate(margin):
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"must be between 0 and 1 (a change of a rate), got {margin}")
    return margin


def _some_rates(rates):
    if not rates:
        raise ValueError(f"must list at least one rate (known: "
                         f"{', '.join(SIDE_EFFECT_RATES)})")
    if len(set(rates)) != len(rates):
        raise ValueError(f"lists a rate twice: {rates}")
    return rates


def _groups(groups):
    if len(groups) < 2 or len(set(map(str, groups))) != len(groups):
        raise ValueError(f"must list at least two distinct group values, got {groups}")
    return groups


class SideEffectsConfig(Section):
    """The `evaluation.side_effects:` section: what the candidate made worse than a
    reference model on the same test examples (fairgate/metrics/side_effects.py)."""

    policy: Literal[SIDE_EFFECT_POLICIES] = "warn"
    """warn: shown with the verdict; gate: a side effect (Holm-corrected over the
    comparisons) blocks the blessing."""
    margin: Annotated[float, AfterValidator(_change_of_a_rate)] = Field(
        0.02, json_schema_extra={"minimum": 0, "exclusiveMaximum": 1})
    """A change counts when its lower one-sided 95% bound exceeds this."""
    rates: Annotated[List[Literal[SIDE_EFFECT_RATES]], AfterValidator(_some_rates)] = Field(
        default_factory=lambda: list(SIDE_EFFECT_RATES),
        json_schema_extra={"minItems": 1, "uniqueItems": True})
    """Each group's rate (not for positive_prediction_rate) and each rate's gap
    between the groups are compared."""


class EvaluationConfig(Section):
    """The `evaluation:` section: the gates (an EvalConfig) and the groups judged."""

    eval_config: str = ""
    """EvalConfig text proto (gates and report metrics; checked by preflight).
    Empty: eval_configs/celeba.pbtxt for image sources, eval_configs/tabular.pbtxt
    else."""
    groups: Annotated[List[Scalar], AfterValidator(_groups)] = Field(
        default_factory=lambda: [0, 1], json_schema_extra={"minItems": 2,
                                                           "uniqueItems": True})
    """The group values the test split must hold (fills ${groups}); a group with
    fewer examples than the EvalConfig's MinGroupSize gate blocks the blessing."""
    beam_args: List[str] = Field(default_factory=list)
    """Beam args for the Evaluators only (TFMA is the heaviest Beam job). Empty: the
    pipeline's beam_args."""
    side_effects: SideEffectsConfig = Field(default_factory=SideEffectsConfig)

    def resolved_eval_config(self, source: str) -> str:
        from fairgate.metrics import eval_config  # deferred: pulls in TFMA
        return resolve_path(self.eval_config) if self.eval_config else \
            eval_config.default_path(source)


class CandidateConfig(Section):
    """The `candidate:` section: gate a model trained elsewhere, or the scores of
    any framework, instead of training one (README "Gate your own model"). No
    Trainer runs; a `trainer:` section does not apply."""

    model: str = ""
    """A TF SavedModel folder (local or a URI such as gs://...) whose
    `serving_default` signature takes serialized tf.Examples and returns a score
    in [0, 1]. Imported as is; pushed when blessed."""
    output_key: str = ""
    """Which output of `serving_default` is the score. Empty: the signature's only
    output (an error when it has several)."""
    predictions: str = ""
    """A column of the evaluation data holding each row's score in [0, 1] (a 0/1
    column is a decision): no model is loaded."""
    baseline_predictions: str = ""
    """With `predictions`: a column holding the scores of the model now in serving
    on the same rows; the change gates compare against it. Empty: the change
    gates are skipped (the report says so)."""
    artifact: str = ""
    """With `predictions`: any folder (a pickled estimator, a TorchScript file),
    pushed when blessed, once per content. Empty: a blessing pushes nothing."""

    @property
    def mode(self) -> str:
        """"saved_model" or "predictions"."""
        return "saved_model" if self.model else "predictions"

    @model_validator(mode="after")
    def _one_candidate(self):
        if self.model and self.predictions:
            raise invalid("predictions", "give candidate.model or "
                          "candidate.predictions, not both")
        if not self.model and not self.predictions:
            raise invalid("model", "the candidate section needs candidate.model (a "
                          "SavedModel) or candidate.predictions (a score column)")
        only = {"output_key": "model"} if self.predictions else {
            "baseline_predictions": "predictions", "artifact": "predictions"}
        for key, needs in only.items():
            if getattr(self, key):
                raise invalid(key, f"applies with candidate.{needs}, not with "
                              f"candidate.{'predictions' if needs == 'model' else 'model'}")
        if self.predictions and self.baseline_predictions == self.predictions:
            raise invalid("baseline_predictions",
                          "must differ from candidate.predictions")
        for key in ("model", "artifact"):
            path = getattr(self, key)
            if path and not is_uri(path) and not os.path.exists(resolve_path(path)):
                raise invalid(key, f"{resolve_path(path)} does not exist")
        if self.model and not is_uri(self.model):
            missing = _not_a_saved_model(resolve_path(self.model))
            if missing:
                raise invalid("model", missing)
        return self


def _not_a_saved_model(path: str) -> str:
    """Why local folder `path` is no SavedModel ("" when it is one)."""
    if not os.path.isdir(path):
        return f"{path} is not a folder (a SavedModel is a folder)"
    if not any(os.path.isfile(os.path.join(path, name))
               for name in ("saved_model.pb", "saved_model.pbtxt")):
        return (f"{path} is not a SavedModel: it holds no saved_model.pb "
                f"(found: {', '.join(sorted(os.listdir(path))[:8]) or 'nothing'})")
    return ""


class KubeflowConfig(Section):
    """The `kubeflow:` section (`fairgate compile`)."""

    image: str = "fairgate:latest"
    """The project image (deploy/Dockerfile) every component runs in; the Trainer's
    run_fn and the gate metrics are imported from it by name."""


class Config(Section):
    """A fairgate run config (YAML)."""

    name: str = "fairgate-embedded-celeba"
    """The pipeline's name; its working folder is .fairgate/<name>."""
    data: DataConfig = Field(default_factory=DataConfig)
    trainer: TrainerConfig = Field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    pipeline_root: str = ""
    """Where TFX writes every component's artifacts (a URI the cluster shares, for
    Kubeflow). Empty: .fairgate/<name>/pipeline_root."""
    metadata_path: str = ""
    """ML Metadata SQLite file (local runners). Empty:
    .fairgate/<name>/metadata.sqlite."""
    push_destination: str = ""
    """Where blessed models are pushed (one numbered folder per model, as TF Serving
    reads them). Empty: .fairgate/<name>/serving."""
    report_dir: str = ""
    """Where the latest fairness report is copied. Empty: .fairgate/<name>/report."""
    beam_args: List[str] = Field(default_factory=lambda: [
        "--runner=FnApiRunner", "--direct_running_mode=in_memory",
        "--direct_num_workers=1", "--sdk_container_image=unused-by-direct-runner",
        "--no_pipeline_type_check"])
    """Beam pipeline args of every Beam component (ExampleGen for CSV and TFRecord,
    StatisticsGen, the Evaluators; README "Beyond one machine"). The default: the
    engine of Beam's DirectRunner (FnApiRunner) in this process, one worker. It is
    named directly because the DirectRunner first tries to download and start the
    Prism runner (another engine where there is network). The container-image flag
    only stops TFX from building a throwaway TFX sdist for every Beam component,
    which a local runner never uses; `--no_pipeline_type_check` skips Beam's
    construction-time type checks of TFX's, TFDV's and TFMA's own transforms (the
    same outputs). What each costs: docs/defaults.md. A list given here replaces
    the whole default."""
    kubeflow: KubeflowConfig = Field(default_factory=KubeflowConfig)
    candidate: Optional[CandidateConfig] = None
    """Gate a model trained elsewhere (candidate.model) or precomputed scores
    (candidate.predictions) instead of training one. Unset: the Trainer trains
    the candidate (the `trainer:` section)."""
    _source_file: str = PrivateAttr("")

    @model_validator(mode="after")
    def _candidate_or_trainer(self):
        if self.candidate is not None and "trainer" in self.model_fields_set:
            raise invalid("trainer", "does not apply with a candidate section (no "
                          "Trainer runs when the candidate was trained elsewhere): "
                          "remove one of them")
        return self

    @property
    def trains(self) -> bool:
        """Whether the DAG trains the model it judges (Trainer, train and eval
        splits). False when the run judges a model or predictions made elsewhere
        (the `candidate` section): it may read the test split alone, and the
        schema is then inferred from that split."""
        return self.candidate is None

    @property
    def schema_split(self) -> str:
        """The split SchemaGen infers the schema from: train, or the test split in
        a run that trains nothing."""
        return "train" if self.trains else TEST_SPLIT

    @model_validator(mode="after")
    def _splits_for_the_job(self):
        if self.trains and self.data.test_only:
            raise invalid("data.splits", "names the test split alone, but this run "
                          "trains a model (the trainer section), which learns from a "
                          "train split and chooses its iterate on an eval split: give "
                          "train, eval and test patterns (a test split alone is for "
                          "a `candidate` trained elsewhere)")
        return self

    @property
    def source_file(self) -> str:
        """Where this config was read from (set by `load` and `from_dict`)."""
        return self._source_file

    @property
    def work_dir(self) -> str:
        return os.path.join(".fairgate", self.name)

    @property
    def resolved_pipeline_root(self) -> str:
        return resolve_path(self.pipeline_root or
                            os.path.join(self.work_dir, "pipeline_root"))

    @property
    def resolved_push_destination(self) -> str:
        return resolve_path(self.push_destination or
                            os.path.join(self.work_dir, "serving"))

    @property
    def resolved_report_dir(self) -> str:
        return resolve_path(self.report_dir or os.path.join(self.work_dir, "report"))

    @property
    def resolved_metadata_path(self) -> str:
        return os.path.abspath(self.metadata_path or
                               os.path.join(self.work_dir, "metadata.sqlite"))


def load(path: Optional[str] = None) -> Config:
    """Reads and checks a YAML config; no path gives the embedded default."""
    if not path:
        return from_dict({}, origin="")
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    return from_dict({} if raw is None else raw, origin=path)


def from_dict(raw: Dict[str, Any], origin: str = "<dict>") -> Config:
    """`origin`: the file the values came from, named in every error ("": the
    default config)."""
    try:
        config = Config.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(describe(error, origin or "the default config")) from None
    config._source_file = origin
    if isinstance(config.trainer.model, ModelModule):
        from fairgate import model_module  # deferred: a cycle (it names ConfigError)
        model_module.check_at_load(config.trainer.model, origin)
    return config


def json_schema() -> Dict[str, Any]:
    """The config file's JSON Schema (draft 2020-12), as `fairgate schema` prints it."""
    schema = Config.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


# --- error messages ----------------------------------------------------------

_EXPECTED = {"string_type": "a string", "int_type": "an integer",
             "int_from_float": "an integer", "int_parsing": "an integer",
             "bool_type": "true or false", "bool_parsing": "true or false",
             "float_type": "a number", "float_parsing": "a number",
             "list_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
             "model_attributes_type": "a mapping"}
_BOUNDS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def describe(error: ValidationError, origin: str, model=Config) -> str:
    """One line per problem, each naming the dotted key and `origin`."""
    return "\n".join(_describe_one(item, origin, model) for item in error.errors())


def dotted(loc: Sequence[Any]) -> str:
    """('data', 'features', 0) -> 'data.features[0]'."""
    key = ""
    for part in loc:
        if part in (_BUILTIN, _MODULE):
            continue
        if isinstance(part, int):
            key += f"[{part}]"
        elif part == "[key]":
            key += " key"
        else:
            key += f".{part}" if key else str(part)
    return key


def _describe_one(item: Dict[str, Any], origin: str, model) -> str:
    kind, ctx, value = item["type"], item.get("ctx") or {}, item["input"]
    loc = [part for part in item["loc"] if part not in (_BUILTIN, _MODULE)]
    key = dotted(loc) or "<top level>"
    if kind == "fairgate_config":
        key = f"{dotted(loc)}.{ctx['key']}" if loc else ctx["key"]
        return f"'{key}' in {origin}: {ctx['message']}"
    if kind == "extra_forbidden":
        section = _model_at(model, loc[:-1])
        known = ", ".join(sorted(section.model_fields)) if section else "?"
        under = f" under {dotted(loc[:-1])}" if loc[:-1] else ""
        return f"unknown key '{key}' in {origin} (known keys{under}: {known})"
    if kind in _EXPECTED:
        return (f"'{key}' in {origin} must be {_EXPECTED[kind]}, got {value!r} "
                f"({type(value).__name__})")
    if kind == "missing":
        return f"'{key}' in {origin}: is required"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return f"'{key}' in {origin}: must not be empty"
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        return f"'{key}' in {origin}: must be one of {', '.join(allowed)}, got {value!r}"
    if kind in _BOUNDS:
        field = _field_at(model, loc)
        return f"'{key}' in {origin}: must be {_range(field, ctx)}, got {value!r}"
    if kind == "value_error" and "error" in ctx:
        return f"'{key}' in {origin}: {ctx['error']}"
    return f"'{key}' in {origin}: {item['msg']}"


def _model_at(model, loc):
    """The section model at `loc` (None below a non-model value)."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        model = _section_type(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def _section_type(annotation):
    """The section model an annotation holds (also inside Annotated / Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_type(arg)
        if found is not None:
            return found
    return None


def _field_at(model, loc):
    section = _model_at(model, loc[:-1])
    return section.model_fields.get(loc[-1]) if section else None


def _range(field, ctx) -> str:
    """A field's bounds in words: "0 or more", "at least 1", "in [0, 1)"."""
    bounds = {k: getattr(m, k) for m in (field.metadata if field else [])
              for k in ("ge", "gt", "le", "lt") if hasattr(m, k)} or ctx
    low = "ge" if "ge" in bounds else "gt" if "gt" in bounds else None
    high = "le" if "le" in bounds else "lt" if "lt" in bounds else None
    if low and high:
        return (f"in {'[' if low == 'ge' else '('}{bounds[low]:g}, {bounds[high]:g}"
                f"{']' if high == 'le' else ')'}")
    if low == "ge":
        return "0 or more" if bounds["ge"] == 0 else f"at least {bounds['ge']}"
    words = {"gt": "more than", "le": "at most", "lt": "less than"}
    return " and ".join(f"{words[k]} {bounds[k]}" for k in words if k in bounds)
