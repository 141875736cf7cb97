"""Run configuration: a YAML file per task, checked strictly, with defaults for all.

A key the code does not know, or a value of the wrong type, is rejected with the
key's dotted name and the file it came from. With no file at all, the defaults run
the embedded CelebA-format demo.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Dict, List, Optional

import yaml

SOURCES = ("embedded_celeba", "tfds", "csv", "tfrecord")


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


@dataclasses.dataclass
class DataConfig:
    # embedded_celeba: generated CelebA-format faces (offline default);
    # tfds: a prepared TFDS dataset in celeb_a's layout (e.g. real celeb_a);
    # csv: a folder of CSV files; tfrecord: a folder of gzipped tf.Example TFRecords.
    source: str = "embedded_celeba"
    data_dir: str = ".fairgate/tensorflow_datasets"  # TFDS data_dir
    dataset: str = "celeb_a"  # TFDS name[/config][:version], source tfds
    num_examples: int = 20_000  # size of the embedded default
    seed: int = 0  # seed of the embedded default
    image_size: int = 28
    input_base: str = ""  # folder of files, source csv / tfrecord
    # Split name -> file pattern under input_base (csv / tfrecord). Empty: one
    # folder, hash-split 8:1:1 into train / eval / test.
    splits: Dict[str, str] = dataclasses.field(default_factory=dict)
    label: str = "Smiling"
    group: str = "Young"
    # A curated schema (text proto). Empty: inferred from the train split only.
    schema_file: str = ""
    # Numeric features that must lie in [low, high] and hold no NaN.
    feature_bounds: Dict[str, List[float]] = dataclasses.field(default_factory=dict)
    # Tabular sources: the model's input columns. Each entry is a column name
    # (kind from the schema: numbers are numeric, strings categorical) or
    # {name: numeric|categorical}. Empty: every column but label, group and
    # data.exclude_features.
    features: List[Any] = dataclasses.field(default_factory=list)
    exclude_features: List[str] = dataclasses.field(default_factory=list)
    # The label value that means positive (e.g. ">50K", "yes", 2); every other
    # value is negative, unless label_negative names the negative value too (then
    # a row holding neither is an error naming file and line). Unset: 0/1 labels.
    label_positive: Any = None
    label_negative: Any = None
    # Group values merged into one before anything reads them (ExampleGen writes
    # the merged value), e.g. {older: ["45+", "60+"]}.
    group_merge: Dict[str, List[Any]] = dataclasses.field(default_factory=dict)
    # Share of a categorical feature's values in eval/test that may be missing
    # from the training vocabulary (TFDV min_domain_mass = 1 - tolerance).
    # 0: strict, any unseen value stops the run at the data gate.
    unseen_category_tolerance: float = 0.0


TRAINER_MODES = ("tfco", "none", "correlation", "group_thresholds")
LEARNING_RATE_SCHEDULES = ("auto", "cosine", "constant")


def _tutorial_constraints():
    return {"objective": "error_rate", "constraints": [
        {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.05}]}


@dataclasses.dataclass
class TrainerConfig:
    # tfco: TFCO rate constraints; correlation: Beutel et al.'s absolute-correlation
    # regulariser; none: unconstrained; group_thresholds: the unconstrained model
    # plus one decision threshold per group chosen on eval under the constraints
    # (needs the group at serving time: explicit disparate treatment).
    mode: str = "tfco"
    # Objective and constraints (see trainer_module/constraints.py). The default is
    # the TFCO CelebA tutorial's: FPR on Young=0 <= 5%.
    constraints: Dict[str, Any] = dataclasses.field(default_factory=_tutorial_constraints)
    correlation_weight: float = 1.0
    correlation_group: Any = 0
    baseline: bool = True  # also train the unconstrained baseline, side by side
    model: str = "mlp"  # image models: mlp (the tutorial's) or cnn
    # The training budget: passes over the train split, and at least
    # min_train_steps steps (a small split still gets a real training run).
    # A fixed 2,000 steps was 1.6 epochs of CelebA's train split (TFCO accuracy
    # 0.856 there; 5 epochs 0.879, 10 epochs 0.880) and 16 of the demo's, where
    # it did no better (mean gap to the group-threshold frontier 0.016 over three
    # runs vs 0.004 over five at 10 epochs). README "A budget in epochs".
    train_epochs: float = 10.0
    min_train_steps: int = 1000
    # When set (> 0), exactly this many steps instead (tests, quick looks).
    train_steps: int = 0
    batch_size: int = 128
    learning_rate: float = 0.001
    # cosine: the model's learning rate decays to 5% of learning_rate over the
    # budget, so the last snapshots move less and more of them meet the
    # constraints on eval; constant: the old behaviour; auto: cosine for the
    # TFCO Trainer on image sources, constant for every other Trainer and for
    # tabular sources (README "Closing the gap").
    learning_rate_schedule: str = "auto"
    constraint_learning_rate: float = 0.05
    # Mode tfco: weight of a training-only head that predicts the constrained
    # groups from the model's last hidden layer, so the constraint can act
    # through a feature that tells the groups apart instead of moving every
    # group's decision (trainer_module/group_head.py; dropped at export). 0: off.
    group_head_weight: float = 1.0
    snapshot_every: int = 100  # steps between candidate snapshots (measured on eval)
    # false: a feasible snapshot always wins (objective breaks ties); true: TFCO's
    # rank trade-off between objective and violations, as in the TFCO tutorial.
    rank_objectives: bool = False
    # XLA-compile the training step (image models; tabular models use string ops
    # that XLA cannot compile, so they always run without). Measured 1.09x model.fit.
    jit_compile: bool = True
    # Keep the parsed train split in memory when it is estimated (twice its gzipped
    # files) to take at most this many MB; larger splits stream each epoch.
    cache_train_mb: int = 1024
    seed: int = 0
    # Snapshot choice on the eval split: a constraint counts as met when its
    # one-sided confidence bound at this level is within the limit (Wilson /
    # Newcombe, as the gates); 0 judges the point estimate (the old behaviour).
    selection_level: float = 0.75


def _side_effect_rates() -> List[str]:
    from fairgate import side_effects  # deferred: pulls in TFMA
    return list(side_effects.RATES)


@dataclasses.dataclass
class SideEffectsConfig:
    """What the candidate made worse than a reference model on the same test
    examples (fairgate/side_effects.py). warn: shown with the verdict; gate: a
    side effect (Holm-corrected over the comparisons) blocks the blessing."""
    policy: str = "warn"
    # A change counts when its lower one-sided 95% bound exceeds this.
    margin: float = 0.02
    # Canonical rate names; each group's rate (not for positive_prediction_rate)
    # and each rate's gap between the groups are compared.
    rates: List[str] = dataclasses.field(default_factory=_side_effect_rates)

    def check(self, fail) -> None:
        from fairgate import side_effects  # deferred: pulls in TFMA
        key = "evaluation.side_effects"
        if self.policy not in side_effects.POLICIES:
            fail(f"{key}.policy", f"must be one of {', '.join(side_effects.POLICIES)}, "
                 f"got '{self.policy}'")
        if not 0.0 <= self.margin < 1.0:
            fail(f"{key}.margin", f"must be between 0 and 1 (a change of a rate), got "
                 f"{self.margin}")
        if not self.rates:
            fail(f"{key}.rates", "must list at least one rate (known: "
                 f"{', '.join(side_effects.RATES)})")
        for i, rate in enumerate(self.rates):
            if rate not in side_effects.RATES:
                fail(f"{key}.rates[{i}]", f"must be one of "
                     f"{', '.join(side_effects.RATES)}, got '{rate}'")
        if len(set(self.rates)) != len(self.rates):
            fail(f"{key}.rates", f"lists a rate twice: {self.rates}")


@dataclasses.dataclass
class EvaluationConfig:
    # EvalConfig text proto (gates and report metrics). Empty:
    # eval_configs/celeba.pbtxt for image sources, eval_configs/tabular.pbtxt else.
    eval_config: str = ""
    # The group values the test split must hold (fills ${groups}); a group with
    # fewer examples than the EvalConfig's MinGroupSize gate blocks the blessing.
    groups: List[Any] = dataclasses.field(default_factory=lambda: [0, 1])
    # Beam args for the Evaluators only (TFMA is the heaviest Beam job). Empty:
    # the pipeline's beam_args.
    beam_args: List[str] = dataclasses.field(default_factory=list)
    side_effects: SideEffectsConfig = dataclasses.field(default_factory=SideEffectsConfig)

    def resolved_eval_config(self, source: str) -> str:
        from fairgate import eval_config  # deferred: pulls in TFMA
        return resolve_path(self.eval_config) if self.eval_config else \
            eval_config.default_path(source)


@dataclasses.dataclass
class KubeflowConfig:
    # The project image (deploy/Dockerfile) every component runs in; the Trainer's
    # run_fn and the gate metrics are imported from it by name.
    image: str = "fairgate:latest"


@dataclasses.dataclass
class Config:
    name: str = "fairgate-embedded-celeba"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    evaluation: EvaluationConfig = dataclasses.field(default_factory=EvaluationConfig)
    # Empty: .fairgate/<name>/pipeline_root and .fairgate/<name>/metadata.sqlite.
    pipeline_root: str = ""
    metadata_path: str = ""
    # Where blessed models are pushed (one numbered folder per model, as TF Serving
    # reads them). Empty: .fairgate/<name>/serving.
    push_destination: str = ""
    # Where the latest fairness report is copied. Empty: .fairgate/<name>/report.
    report_dir: str = ""
    # Beam's DirectRunner in this process, one worker (multi-processing measured 2x
    # slower on 2 cores). The container-image flag only stops TFX from building a
    # throwaway TFX sdist for every Beam component (2-3 s each), which a local
    # DirectRunner never uses.
    beam_args: List[str] = dataclasses.field(
        default_factory=lambda: ["--direct_running_mode=in_memory",
                                 "--direct_num_workers=1",
                                 "--sdk_container_image=unused-by-direct-runner"])
    kubeflow: KubeflowConfig = dataclasses.field(default_factory=lambda: KubeflowConfig())
    source_file: str = ""  # where this config was read from (set by `load`)

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
        return validate(Config())
    try:
        with open(path) as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if raw is None:
        raw = {}
    config = _build(Config, raw, "", path)
    config.source_file = path
    return validate(config)


def from_dict(raw: Dict[str, Any], origin: str = "<dict>") -> Config:
    config = _build(Config, raw, "", origin)
    config.source_file = origin
    return validate(config)


def validate(config: Config) -> Config:
    """Checks that need more than one key; field types are checked in `_build`."""
    origin = config.source_file or "the default config"
    data = config.data

    def fail(key, message):
        raise ConfigError(f"'{key}' in {origin}: {message}")

    if data.source not in SOURCES:
        fail("data.source", f"must be one of {', '.join(SOURCES)}, got '{data.source}'")
    if data.source in ("csv", "tfrecord") and not data.input_base:
        fail("data.input_base", f"is required for source '{data.source}'")
    if data.source in ("embedded_celeba", "tfds") and not 8 <= data.image_size <= 512:
        fail("data.image_size", f"must be between 8 and 512, got {data.image_size}")
    if data.splits and set(data.splits) != {"train", "eval", "test"}:
        fail("data.splits", "must name exactly train, eval and test, got "
             f"{', '.join(sorted(data.splits))}")
    for feature, pair in data.feature_bounds.items():
        if len(pair) != 2 or pair[0] > pair[1]:
            fail(f"data.feature_bounds.{feature}", f"must be [low, high], got {pair}")
    if not data.label or not data.group:
        fail("data.label" if not data.label else "data.group", "must not be empty")
    if data.label == data.group:
        fail("data.group", f"must differ from data.label ('{data.label}')")
    _validate_columns(data, fail)
    trainer = config.trainer
    if trainer.mode not in TRAINER_MODES:
        fail("trainer.mode", f"must be one of {', '.join(TRAINER_MODES)}, got "
             f"'{trainer.mode}'")
    if trainer.learning_rate_schedule not in LEARNING_RATE_SCHEDULES:
        fail("trainer.learning_rate_schedule", f"must be one of "
             f"{', '.join(LEARNING_RATE_SCHEDULES)}, got "
             f"'{trainer.learning_rate_schedule}'")
    if not trainer.train_epochs > 0:
        fail("trainer.train_epochs", f"must be more than 0, got {trainer.train_epochs}")
    for key in ("train_steps", "min_train_steps", "group_head_weight"):
        if getattr(trainer, key) < 0:
            fail(f"trainer.{key}", f"must be 0 or more, got {getattr(trainer, key)}")
    for key in ("batch_size", "snapshot_every"):
        if getattr(trainer, key) < 1:
            fail(f"trainer.{key}", f"must be at least 1, got {getattr(trainer, key)}")
    if trainer.selection_level != 0 and not 0.5 < trainer.selection_level < 1:
        fail("trainer.selection_level", "must be 0 (point estimates) or strictly "
             f"between 0.5 and 1, got {trainer.selection_level}")
    if trainer.cache_train_mb < 0:
        fail("trainer.cache_train_mb", f"must be 0 or more, got {trainer.cache_train_mb}")
    from trainer_module import constraints  # deferred: pulls in TFCO
    try:  # group values are checked again in the Trainer, against the data
        constraints.parse(trainer.constraints, known_groups=None)
    except constraints.ConstraintSpecError as error:
        raise ConfigError(f"{error} (in {origin})") from None
    evaluation = config.evaluation
    if len(evaluation.groups) < 2 or len(set(map(str, evaluation.groups))) != \
            len(evaluation.groups):
        fail("evaluation.groups", "must list at least two distinct group values, got "
             f"{evaluation.groups}")
    for i, value in enumerate(evaluation.groups):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            fail(f"evaluation.groups[{i}]", f"must be an integer or a string, got "
                 f"{value!r}")
    evaluation.side_effects.check(fail)
    from fairgate import eval_config  # deferred: pulls in TFMA
    path = evaluation.resolved_eval_config(data.source)
    try:
        rendered = eval_config.render(path, label=data.label, group=data.group,
                                      groups=evaluation.groups)
    except eval_config.EvalConfigError as error:
        fail("evaluation.eval_config", str(error))
    if not eval_config.has_gates(rendered):
        fail("evaluation.eval_config", f"{path} has no value thresholds, so no model "
             "could ever be blessed")
    return config


FEATURE_KINDS = ("numeric", "categorical")


def feature_kinds(data: DataConfig) -> Dict[str, Optional[str]]:
    """data.features as {column: kind or None (the schema decides)}, in order."""
    kinds: Dict[str, Optional[str]] = {}
    for entry in data.features:
        if isinstance(entry, dict):
            kinds.update(entry)
        else:
            kinds[entry] = None
    return kinds


def _is_scalar(value) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _validate_columns(data: DataConfig, fail) -> None:
    """data.features / exclude_features / label_* / group_merge / tolerance."""
    seen = set()
    for i, entry in enumerate(data.features):
        key = f"data.features[{i}]"
        if isinstance(entry, dict):
            if len(entry) != 1:
                fail(key, f"must be a column name or {{name: kind}}, got {entry!r}")
            name, kind = next(iter(entry.items()))
            if kind not in FEATURE_KINDS:
                fail(key, f"kind of '{name}' must be one of "
                     f"{', '.join(FEATURE_KINDS)}, got {kind!r}")
        elif isinstance(entry, str) and entry:
            name = entry
        else:
            fail(key, f"must be a column name or {{name: kind}}, got {entry!r}")
        if not isinstance(name, str) or not name:
            fail(key, f"column name must be a string, got {name!r}")
        if name in seen:
            fail(key, f"column '{name}' is listed twice")
        if name in (data.label, data.group):
            fail(key, f"'{name}' is the {'label' if name == data.label else 'group'} "
                 "column, not a feature")
        seen.add(name)
    if data.features and data.exclude_features:
        fail("data.exclude_features", "give data.features or data.exclude_features, "
             "not both")
    if (data.features or data.exclude_features) and \
            data.source in ("embedded_celeba", "tfds"):
        fail("data.features" if data.features else "data.exclude_features",
             f"applies to tabular sources (csv, tfrecord), not '{data.source}'")
    for key in ("label_positive", "label_negative"):
        value = getattr(data, key)
        if value is not None and not _is_scalar(value):
            fail(f"data.{key}", f"must be a string or an integer, got {value!r}")
    if data.label_negative is not None and data.label_positive is None:
        fail("data.label_negative", "needs data.label_positive")
    if data.label_positive is not None and \
            str(data.label_positive) == str(data.label_negative):
        fail("data.label_negative", "must differ from data.label_positive")
    merged_from: Dict[str, str] = {}
    for name, values in data.group_merge.items():
        if not values:
            fail(f"data.group_merge.{name}", "must list the group values to merge")
        for value in values:
            if not _is_scalar(value):
                fail(f"data.group_merge.{name}", f"values must be strings or "
                     f"integers, got {value!r}")
            if str(value) in merged_from:
                fail(f"data.group_merge.{name}", f"value {value!r} is already merged "
                     f"into '{merged_from[str(value)]}'")
            merged_from[str(value)] = str(name)
    if (data.label_positive is not None or data.group_merge) and \
            data.source != "csv":
        fail("data.label_positive" if data.label_positive is not None else
             "data.group_merge", "is applied while reading CSV files: source must "
             f"be csv, got '{data.source}'")
    if not 0.0 <= data.unseen_category_tolerance < 1.0:
        fail("data.unseen_category_tolerance", "must be in [0, 1), got "
             f"{data.unseen_category_tolerance}")


def _build(cls, raw, prefix: str, origin: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"'{prefix or '<top level>'}' in {origin} must be a mapping, "
                          f"got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_file"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown key '{prefix}{unknown[0]}' in {origin} (known keys"
            f"{' under ' + prefix.rstrip('.') if prefix else ''}: "
            f"{', '.join(sorted(fields))})")
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, f"{prefix}{name}", origin)
    return cls(**values)


def _coerce(hint, value, key: str, origin: str):
    def wrong(expected):
        raise ConfigError(f"'{key}' in {origin} must be {expected}, got "
                          f"{value!r} ({type(value).__name__})")

    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".", origin)
    if hint is str:
        return value if isinstance(value, str) else wrong("a string")
    if hint is bool:
        return value if isinstance(value, bool) else wrong("true or false")
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) \
            else wrong("an integer")
    if hint is float:
        return float(value) if isinstance(value, (int, float)) and \
            not isinstance(value, bool) else wrong("a number")
    origin_type = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin_type is list:
        if not isinstance(value, list):
            wrong("a list")
        return [_coerce(args[0], v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    if origin_type is dict:
        if not isinstance(value, dict):
            wrong("a mapping")
        return {_coerce(args[0], k, f"{key} key", origin):
                _coerce(args[1], v, f"{key}.{k}", origin) for k, v in value.items()}
    raise TypeError(f"unsupported config type {hint} for {key}")
