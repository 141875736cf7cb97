"""Checks made before a run starts, so that bad input fails fast and names its file.

`check_config` finishes the config's checks with what needs TFCO or TFMA (the
constraint spec, the rendered EvalConfig and its gate policies), which loading a
config leaves out so that it imports no TensorFlow. The pipeline's own
DataValidationGate checks values (through statistics); `check_inputs` covers what
must hold before any component can read the data at all: the dataset exists, CSV
files are well-formed and carry the label and group columns, TFRecord files are
not corrupt.
"""
from __future__ import annotations

import csv
import glob
import os
from typing import List, Sequence

from fairgate import progress
from fairgate.config import Config, ConfigError
from fairgate.data import celeba_layout, csv_content, csv_header, run_columns


class InputError(ValueError):
    """The input data cannot be read; the message names the file and the problem."""


def check_config(config: Config) -> None:
    """The config keys that TFCO and TFMA judge: trainer.constraints and
    evaluation.eval_config, and a SavedModel candidate's signature (raises
    ConfigError naming the key and the file)."""
    from fairgate.metrics import eval_config  # deferred: pulls in TFMA
    from trainer_module import constraints  # deferred: pulls in TFCO
    from fairgate import candidate
    origin = config.source_file or "the default config"
    if config.trains:
        try:  # group values are checked again in the Trainer, against the data
            constraints.parse(config.trainer.constraints, known_groups=None)
        except constraints.ConstraintSpecError as error:
            raise ConfigError(f"{error} (in {origin})") from None
    candidate.check(config)  # a SavedModel's signature and score output
    data = config.data
    path = config.evaluation.resolved_eval_config(data.source)
    key = f"'evaluation.eval_config' in {origin}"
    try:
        rendered = eval_config.render(path, label=data.label, group=data.group,
                                      groups=config.evaluation.groups)
    except eval_config.EvalConfigError as error:
        raise ConfigError(f"{key}: {error}") from None
    if not eval_config.has_gates(rendered):
        raise ConfigError(f"{key}: {path} has no value thresholds, so no model could "
                          "ever be blessed")


def check_inputs(config: Config) -> None:
    """check_config, then the input data."""
    check_config(config)
    data = config.data
    if data.source == "tfds":
        celeba_layout.dataset_dir(data.data_dir, data.dataset)
    elif data.source == "csv":
        files = _input_files(config, "*.csv")
        repeated = [item for path in files
                    for item in check_csv(path, data.label, data.group)]
        conditions = _condition_columns(config)
        try:
            columns = csv_header.resolve(
                repeated, run_columns.names_used(config, conditions),
                config.source_file or "the config")
            for warning in columns.warnings:
                progress.logger.warning(warning)  # the terminal shows it
            csv_content.check(config, files, conditions, dropped=columns.dropped)
        except (csv_header.RepeatedColumnError, csv_content.ContentError) as error:
            raise InputError(str(error)) from None
        if config.candidate is None:
            check_model(config, files, dropped=columns.dropped)
        else:
            from fairgate import candidate
            candidate.check(config, files)  # the score columns of every file
    elif data.source == "tfrecord":
        for path in _input_files(config, "*"):
            check_tfrecord(path)


# Rows of the CSV train files a team's model is built on in preflight: enough
# for its adapt() calls to see every column's kind of value, few enough to stay
# within a second.
MODEL_CHECK_ROWS = 2000


def check_model(config: Config, files: List[str], dropped: Sequence[str] = ()) -> None:
    """A team's model (trainer.model: {module_file, ...}) on CSV sources: built
    on the contract's inputs and the first MODEL_CHECK_ROWS train rows, through
    the Trainer's own checks (trainer_module.models.build), so a model that
    breaks the contract fails here (ConfigError, exit 2) rather than in the
    Trainer after ExampleGen, statistics and schema. Nothing is trained. Other
    sources' models are checked in the Trainer. `dropped`: repeated header names
    the examples leave out (csv_header.resolve), so the model sees the columns the
    Trainer will give it."""
    model = config.trainer.model
    if isinstance(model, str):
        return
    import tf_keras as keras  # deferred: only a team's model needs it
    from trainer_module import models
    where = f"{model.function} in {model.module_file}"
    kinds, train = csv_content.train_sample(config, files, MODEL_CHECK_ROWS, dropped)
    rows = len(next(iter(train.values()), []))
    try:
        function = models.load_function(model.module_file, model.function)
        models.build(function, models.raw_inputs(kinds), train, model.hparams, where)
    except models.ModelError as error:
        raise ConfigError(f"'trainer.model' in {config.source_file or 'the config'}: "
                          f"{error} (checked before the run, on {rows} rows of the "
                          "CSV train files)") from None
    finally:
        keras.backend.clear_session()  # the Trainer builds it again, names fresh


def _condition_columns(config: Config) -> List[str]:
    from fairgate.metrics import eval_config  # deferred: pulls in TFMA
    return run_columns.condition_columns(eval_config.of_run(config))


def _input_files(config: Config, default_pattern: str) -> List[str]:
    base = os.path.expanduser(config.data.input_base)
    if not os.path.isdir(base):
        raise InputError(f"data.input_base '{base}' is not a folder "
                         f"(config {config.source_file or 'default'})")
    patterns = list(config.data.splits.values()) or [default_pattern]
    files = sorted({f for p in patterns for f in glob.glob(os.path.join(base, p))
                    if os.path.isfile(f)})
    if not files:
        raise InputError(f"no input files matching {patterns} in '{base}'")
    return files


def check_csv(path: str, label: str, group: str) -> List[csv_header.Repeated]:
    """Header has the label and group columns; every row has the header's width.
    Returns the header names the file repeats, compared over its rows in the
    same pass (csv_header.resolve judges them)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}: empty file, expected a header row") from None
        except (csv.Error, UnicodeDecodeError) as error:
            raise InputError(f"{path}: unreadable header: {error}") from None
        repeats = csv_header.RepeatTracker(path, header)
        for role, column in (("label", label), ("group", group)):
            if column not in header:
                raise InputError(f"{path}: no {role} column '{column}' in the header "
                                 f"(columns: {', '.join(header)})")
        try:
            for row in reader:
                if row and len(row) != len(header):
                    raise InputError(
                        f"{path} line {reader.line_num}: {len(row)} fields, the header "
                        f"has {len(header)}")
                if row and repeats:
                    repeats.add(reader.line_num, row)
        except (csv.Error, UnicodeDecodeError) as error:
            raise InputError(f"{path} line {reader.line_num}: {error}") from None
    return repeats.repeated()


def check_tfrecord(path: str) -> None:
    """Reads every record once; a bad length or checksum names the file."""
    import tensorflow as tf  # deferred: only this source needs it

    compression = "GZIP" if path.endswith(".gz") else ""
    count = 0
    try:
        for _ in tf.data.TFRecordDataset(path, compression_type=compression):
            count += 1
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        raise InputError(f"{path}: corrupt TFRecord after {count} good records "
                         f"({error.message.splitlines()[0]})") from None
