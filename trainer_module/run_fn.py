"""The TFX Trainer's entry point: `run_fn(fn_args)` (GenericExecutor).

Settings come from the Trainer's `custom_config` (built from the run config's
`trainer:` section by the pipeline), so the same run_fn trains the constrained
model, the unconstrained baseline and the correlation-regularised model.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import List

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.utils import io_utils
from tfx_bsl.public import tfxio

from fairgate import model_module, progress
from fairgate.config import TrainerSettings
from fairgate.data import image_summary, run_columns
from fairgate.data.images import decode_stored
from fairgate.metrics.groups import group_array, group_value
from fairgate.model_module import MODEL_RECORD, summary
from trainer_module import (calibration, constraints, export, group_thresholds,
                            models, regularizers, selection, tabular_inputs,
                            training)
from trainer_module.serving_head import ServingHead

# The Trainer's settings: the run config's schema (fairgate/config.py), read from
# custom_config with Struct-borne floats taken as integers where whole.
Settings = TrainerSettings


def _dense(tensor, default):
    if isinstance(tensor, tf.SparseTensor):
        tensor = tf.sparse.to_dense(tensor, default_value=default)
    return tf.reshape(tensor, [-1, 1])


def _feature_spec(schema: schema_pb2.Schema, names: List[str]):
    kinds = {schema_pb2.FLOAT: (tf.float32, 0.0), schema_pb2.INT: (tf.int64, 0),
             schema_pb2.BYTES: (tf.string, "")}
    spec = {}
    for feature in schema.feature:
        if feature.name in names:
            dtype, default = kinds[feature.type]
            size = 1
            if feature.HasField("shape"):
                size = int(np.prod([d.size for d in feature.shape.dim]) or 1)
            spec[feature.name] = tf.io.FixedLenFeature([size], dtype,
                                                       default_value=[default] * size)
    return spec


class _Inputs:
    """Turns TFX's batches of feature dicts into (model inputs, labels, groups)."""

    def __init__(self, settings: Settings, schema: schema_pb2.Schema):
        self.settings = settings
        # Parsed batch -> (model inputs, labels, groups), traced once per parsed
        # structure, not once per `Dataset.map`: the tabular eval and train
        # splits share one trace (0.9 s per split for 12 columns under
        # cProfile); images map the eval columns and, when streamed or cached,
        # the full schema, two structures.
        self.split = tf.function(self._split, autograph=False, reduce_retracing=True)
        names = [f.name for f in schema.feature]
        for role, key in (("label", settings.label), ("group", settings.group)):
            if key not in names:
                raise ValueError(f"{role} feature '{key}' is not in the schema "
                                 f"(features: {', '.join(names)})")
        if settings.input == "image":
            self.model_inputs = ["image"]
            self.raw_spec = _feature_spec(schema, self.model_inputs)
            self.kinds = {}
            return
        try:
            self.model_inputs = run_columns.resolve_features(
                names, settings.label, settings.group, settings.features,
                settings.exclude_features)
        except KeyError as error:
            raise ValueError(f"feature '{error.args[0]}' is not in the schema "
                             f"(features: {', '.join(names)})") from None
        self.kinds = tabular_inputs.kinds_of(schema, self.model_inputs, settings.features)
        self.raw_spec = tabular_inputs.feature_spec(schema, self.model_inputs)

    # Traced without AutoGraph (as tabular_inputs.encode): no Python control
    # flow over tensors here.
    @tf.autograph.experimental.do_not_convert
    def model_features(self, batch):
        if self.settings.input == "image":  # bytes -> uint8 pixels, outside XLA
            return decode_stored(batch["image"], self.settings.image_size)
        return tabular_inputs.encode(batch, self.kinds)

    @tf.autograph.experimental.do_not_convert
    def _split(self, batch):
        labels = tf.cast(tf.reshape(_dense(batch[self.settings.label], 0), [-1]), tf.float32)
        groups = tf.reshape(_dense(batch[self.settings.group],
                                   "" if batch[self.settings.group].dtype == tf.string else 0),
                            [-1])
        return self.model_features(batch), labels, groups


def _load_split(dataset_factory, files, schema, inputs: _Inputs,
                batch_size: int = 8192):
    """A whole split in memory as (features, labels, groups) numpy/dicts: one
    pass over batches of `batch_size` parsed together, only the columns the
    Trainer reads (the model's inputs, the label and the group)."""
    needed = set(inputs.model_inputs) | {inputs.settings.label, inputs.settings.group}
    columns = schema_pb2.Schema()
    columns.CopyFrom(schema)
    del columns.feature[:]
    columns.feature.extend(f for f in schema.feature if f.name in needed)
    dataset = dataset_factory(files, tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, shuffle=False, num_epochs=1), columns).map(
            inputs.split, num_parallel_calls=PARSE_THREADS)
    parts = list(dataset.as_numpy_iterator())
    if not parts:
        raise ValueError(f"no examples in {files}")
    if isinstance(parts[0][0], dict):
        features = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    else:
        features = np.concatenate([p[0] for p in parts])
    return (features, np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]))


def _known_groups(groups: np.ndarray) -> list:
    return [group_value(v) for v in np.unique(group_array(groups))]


def count_examples(patterns) -> int:
    """Records in a split's gzipped TFRecord files (one native pass, no parsing),
    counted per batch of records (a reduce step per record cost more than reading
    them) from the files one after another (with `num_parallel_reads=AUTOTUNE` a
    count over CelebA's train split, 16 files, took 2-3x as long on 2 cores;
    benchmarks/README.md, record_count.py)."""
    files = [f for pattern in patterns for f in tf.io.gfile.glob(pattern)]
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return int(dataset.batch(4096).reduce(
        np.int64(0), lambda count, records: count + tf.size(records, out_type=tf.int64)))


def split_example_count(patterns) -> int:
    """Examples in one split's files: the count its ExampleGen recorded in the
    Examples artifact (CelebAExampleGen's image summary, fairgate.data.
    image_summary, counted while it wrote them), else counted (count_examples).
    The count read 0.49 s of 16,068 faces' train split."""
    folders = {os.path.dirname(pattern.rstrip("/")) for pattern in patterns}
    if len(folders) == 1:
        folder = folders.pop()
        split = os.path.basename(folder)
        if split.startswith("Split-"):
            summary = image_summary.read(os.path.dirname(folder)) or {}
            recorded = summary.get("splits", {}).get(split[len("Split-"):], {})
            if "examples" in recorded:
                return int(recorded["examples"])
    return count_examples(patterns)


def train_steps(fn_args, settings: Settings) -> int:
    """The Trainer's num_steps when set; else train_epochs passes over the train
    split (at least min_train_steps)."""
    if fn_args.train_steps:
        return int(fn_args.train_steps)
    examples = split_example_count(fn_args.train_files)
    steps = max(int(np.ceil(settings.train_epochs * examples / settings.batch_size)),
                settings.min_train_steps)
    progress.logger.info("Training budget: %d steps of %d (%.1f epochs of %d train examples)",
                         steps, settings.batch_size, steps * settings.batch_size / max(examples, 1),
                         examples)
    return steps


# Cosine decay ends at this fraction of the learning rate.
COSINE_FLOOR = 0.05


def schedule_of(settings: Settings) -> str:
    """`auto`: cosine for the TFCO Trainer on image inputs, where it was
    measured to bring TFCO to the frontier at CelebA's size; constant
    elsewhere: for the unconstrained model (mode none, and group_thresholds,
    which trains as none) it cost ~1.1 points at 20,000 faces (6 seeds) and
    gained nothing at 202,599; for tabular inputs a gap constraint with slow
    multipliers (the tests' 2,000 steps, constraint rate 0.005) ended at an FPR
    gap of 0.16 with cosine against 0.08 without."""
    if settings.learning_rate_schedule != "auto":
        return settings.learning_rate_schedule
    return "cosine" if settings.input == "image" and settings.mode == "tfco" \
        else "constant"


def learning_rate(settings: Settings, num_steps: int):
    """The model's learning rate: `constant`, or `cosine` decay from
    learning_rate to COSINE_FLOOR of it over the budget. The multipliers'
    (constraint_learning_rate) stay constant."""
    if schedule_of(settings) == "constant":
        return settings.learning_rate
    return tf.keras.optimizers.schedules.CosineDecay(
        settings.learning_rate, decay_steps=max(num_steps, 1), alpha=COSINE_FLOOR)


def _files_mb(patterns) -> float:
    files = [f for pattern in patterns for f in tf.io.gfile.glob(pattern)]
    return sum(tf.io.gfile.stat(f).length for f in files) / 2**20


def _without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """The train batches with fixed parallelism and no tf.data autotuning.

    The autotuning thread is joined when the iterator is destroyed: at 202,599
    faces the end of BaselineTrainer's loop waited 28 s for it there (py-spy:
    RootDataset::Iterator::~Iterator in LogicalThreadWrapper's destructor)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


PARSE_THREADS = max(os.cpu_count() or 1, 1)


# The train split's shuffle buffer, in examples.
SHUFFLE_EXAMPLES = 20_000


def _gathered_batches(parsed, settings: Settings) -> tf.data.Dataset:
    """Endless shuffled batches of a split in memory, each gathered by index.

    The indices are shuffled as the examples themselves were (tf.data's shuffle
    draws its order from its seed and buffer, never from the elements), so the
    batches are those of the examples shuffled and batched, and each costs one
    gather per column. Slicing the arrays into examples and re-batching them
    (`from_tensor_slices`) made the input the loop's bottleneck once the steps
    ran several per compiled call: measured at 20,046 rows of 12 columns, the
    1,900 steps after the first call took 4.2 s against 2.2 s from the
    parsed-and-cached examples."""
    columns = tf.nest.map_structure(tf.constant, parsed)
    order = tf.data.Dataset.range(len(parsed[1])).shuffle(
        SHUFFLE_EXAMPLES, seed=settings.seed, reshuffle_each_iteration=True).repeat().batch(
            settings.batch_size, drop_remainder=True)
    return order.map(lambda index: tf.nest.map_structure(
        lambda column: tf.gather(column, index), columns))


def _train_batches(factory, files, schema, inputs: _Inputs, settings: Settings,
                   parsed=None):
    """Endless shuffled (features, labels, groups) batches of the train split.

    `parsed`: the split already in memory as `_load_split` gives it (tabular
    inputs: the model contract's `train` is read from it); the batches are
    then gathered from it (`_gathered_batches`) instead of parsing the files a
    second time: the same examples in the same order."""
    size_mb = _files_mb(files)
    # Parsed examples take more room than their gzipped files. Images are cached
    # as uint8 (2,352 bytes at 28x28x3), which gzip shrinks ~2x on the embedded
    # faces (measured 1,179 bytes of file per example), less on photos. Tabular
    # rows: twice their files, as before.
    expansion = 2.5 if settings.input == "image" else 2.0
    if size_mb * expansion <= settings.cache_train_mb:
        logging.info("Train split (%.0f MB of files) parsed once and kept in memory",
                     size_mb)
        if parsed is not None:
            return _without_autotune(_gathered_batches(parsed, settings).prefetch(2))
        examples = factory(files, tfxio.TensorFlowDatasetOptions(
            batch_size=1024, shuffle=False, num_epochs=1), schema).map(
                inputs.split, num_parallel_calls=PARSE_THREADS).unbatch().cache()
        return _without_autotune(examples.shuffle(
            SHUFFLE_EXAMPLES, seed=settings.seed, reshuffle_each_iteration=True).repeat(
                ).batch(settings.batch_size, drop_remainder=True).prefetch(2))
    logging.info("Train split (%.0f MB of files) streamed from the files each epoch",
                 size_mb)
    return factory(files, tfxio.TensorFlowDatasetOptions(
        batch_size=settings.batch_size, shuffle=True, shuffle_seed=settings.seed,
        num_epochs=None, drop_final_batch=True), schema).map(
            inputs.split, num_parallel_calls=PARSE_THREADS).prefetch(2)


def _record_dir(fn_args) -> str:
    """Where candidates.json and the other records go: beside the SavedModel."""
    return os.path.dirname(fn_args.serving_model_dir.rstrip("/"))


GROUP_THRESHOLDS_RECORD = "group_thresholds.json"


def _group_dtype(schema: schema_pb2.Schema, group: str, mode: str = ""):
    """The group column's dtype in the serving signatures: tf.string (BYTES) or
    tf.int64 (INT). Mode group_thresholds needs it to look thresholds up by exact
    value, so a FLOAT group column is refused there (no other mode serves it)."""
    for feature in schema.feature:
        if feature.name == group:
            if feature.type == schema_pb2.BYTES:
                return tf.string
            if feature.type == schema_pb2.INT:
                return tf.int64
            if mode == "group_thresholds":
                raise ValueError(
                    f"data.group column '{group}' is of type "
                    f"{schema_pb2.FeatureType.Name(feature.type)}: trainer.mode "
                    "group_thresholds needs an integer or string group column (one "
                    "threshold per exact value); store the group as integers or text")
            return tf.float32
    raise ValueError(f"group feature '{group}' is not in the schema")


def _post_process(settings: Settings, spec, logits, eval_labels,
                  eval_groups, schema, record_dir: str) -> ServingHead:
    """The serving head of the chosen snapshot (`logits`: its eval logits):
    per-group thresholds (mode group_thresholds) and the calibration scale, both
    fitted on the eval split and recorded beside the model."""
    head = ServingHead(group_key=settings.group,
                       group_dtype=_group_dtype(schema, settings.group, settings.mode))
    margins = logits.astype(np.float32)
    if settings.mode == "group_thresholds":
        level = settings.selection_level or None
        thresholds = group_thresholds.choose(spec, logits, eval_labels, eval_groups,
                                             level=level)
        head.thresholds = thresholds
        margins = logits - group_thresholds.per_example(thresholds, eval_groups)
        objective, violations = constraints.measure(spec, margins, eval_labels,
                                                    eval_groups, level=level)
        logging.info("Group thresholds (logit space, chosen on eval): %s; eval "
                     "objective %.4f, max violation %.4f; a group without one "
                     "(absent from the eval split) uses %.1f", thresholds, objective,
                     max(violations, default=0.0), head.default_threshold)
        with tf.io.gfile.GFile(os.path.join(record_dir, GROUP_THRESHOLDS_RECORD),
                               "w") as f:
            json.dump({
                "group": settings.group,
                "thresholds": [{"group": g, "threshold": t}
                               for g, t in thresholds.items()],
                "default_threshold": head.default_threshold,
                "decision": "positive when logit > the group's threshold",
                "constraints": constraints.describe(spec),
                "objective": spec.objective, "selection_level": level,
                "eval": {"objective": objective, "violations": violations,
                         "examples": int(len(eval_labels))},
            }, f, indent=2)
    head.scale = calibration.fit_scale(margins, eval_labels)
    content = calibration.record(margins, eval_labels, head.scale)
    calibration.write(os.path.join(record_dir, calibration.RECORD), content)
    logging.info("Calibration on eval: scale %.4f; log-loss %.4f -> %.4f, ECE %.4f "
                 "-> %.4f", head.scale, content["log_loss_before"],
                 content["log_loss_after"], content["ece_before"], content["ece_after"])
    if content["warning"]:
        logging.warning("Calibration: %s", content["warning"])
    return head


def _correlation_record(settings: Settings, logits, labels, groups) -> dict:
    """Mode correlation: what the penalty measures (|corr(score, group)| among the
    negatives) for the chosen snapshot on the eval split, with its sample size."""
    groups = tf.constant(groups)
    value = regularizers.absolute_correlation(
        tf.constant(logits, tf.float32), tf.constant(labels, tf.float32), groups,
        settings.correlation_group)
    members = constraints.group_mask(groups, settings.correlation_group).numpy()
    negatives = np.asarray(labels) == 0
    return {"group": settings.correlation_group, "weight": settings.correlation_weight,
            "eval_absolute_correlation": float(value),
            "eval_negatives": int(negatives.sum()),
            "eval_negatives_in_group": int((negatives & members).sum())}


def train_arrays(features, kinds, seed: int):
    """The contract's `train` for tabular inputs: numeric float32 [n, 1],
    categorical str [n, 1]; every row up to models.TRAIN_ROWS_CAP, a seeded
    uniform sample of that many rows above it."""
    rows = len(next(iter(features.values()))) if features else 0
    keep = None
    if rows > models.TRAIN_ROWS_CAP:
        keep = np.sort(np.random.default_rng(seed).choice(
            rows, models.TRAIN_ROWS_CAP, replace=False))
    train = {}
    for name, kind in kinds.items():
        values = np.asarray(features[name]).reshape(-1, 1)
        values = values if keep is None else values[keep]
        if kind == tabular_inputs.CATEGORICAL:  # decode each distinct value once
            distinct, index = np.unique(values.astype(bytes), return_inverse=True)
            values = np.array([v.decode("utf-8") for v in distinct],
                              dtype=str)[index].reshape(values.shape)
        else:
            values = values.astype(np.float32)
        train[name] = values
    return train


class _ImageSample(Mapping):
    """The contract's `train` for image inputs: {"image": uint8 [n, size*size*3]},
    a seeded sample of models.TRAIN_IMAGES_SAMPLE train images, read only when a
    model asks for it (the built-in image models do not)."""

    def __init__(self, factory, files, schema, inputs: _Inputs, seed: int):
        self._args = (factory, files, schema, inputs, seed)
        self._images = None

    def __getitem__(self, key):
        if key != "image":
            raise KeyError(key)
        if self._images is None:
            self._images = _sample_images(*self._args)
        return self._images

    def __iter__(self):
        return iter(["image"])

    def __len__(self):
        return 1


def _sample_images(factory, files, schema, inputs: _Inputs, seed: int) -> np.ndarray:
    total = split_example_count(files)
    cap = models.TRAIN_IMAGES_SAMPLE
    keep = np.zeros(total, bool)
    keep[np.random.default_rng(seed).choice(total, min(cap, total),
                                             replace=False)] = True
    keep = tf.constant(keep)
    dataset = factory(files, tfxio.TensorFlowDatasetOptions(
        batch_size=1024, shuffle=False, num_epochs=1), schema).map(
            inputs.model_features).unbatch().enumerate().filter(
                lambda i, _: tf.gather(keep, i)).map(lambda _, x: x).batch(4096)
    images = np.concatenate(list(dataset.as_numpy_iterator()))
    logging.info("Model train sample: %d of %d train images", len(images), total)
    return images


def _build_model(settings: Settings, inputs: _Inputs, train):
    """The model of trainer.model through the one contract (models.build)."""
    image = settings.input == "image"
    model_inputs = models.raw_inputs(inputs.kinds, settings.image_size if image else 0)
    if isinstance(settings.model, str):
        function, hparams, name = models.builtin(settings.model, image)
        where = f"built-in model {name}"
    else:
        # Staged into object storage for Kubeflow: import a local copy.
        function = models.load_function(
            model_module.local_copy(settings.model.module_file),
            settings.model.function)
        hparams = settings.model.hparams
        where = f"{settings.model.function} in {settings.model.module_file}"
    return models.build(function, model_inputs, train, hparams, where)


def run_fn(fn_args) -> None:
    try:
        _train_and_export(fn_args)
    finally:
        _release_memory()


def _release_memory() -> None:
    """LocalDagRunner runs both Trainers and the Evaluators in one process: hand
    this Trainer's train cache and models back before the next component starts
    (measured at 202,599 faces: the Trainer peaked at 3.35 GB on top of what
    BaselineTrainer had kept)."""
    import ctypes
    import gc
    tf.keras.backend.clear_session()
    gc.collect()
    try:  # glibc keeps freed heap pages; give them back to the system
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _train_and_export(fn_args) -> None:
    settings = Settings.from_custom_config(fn_args.custom_config)
    tf.keras.utils.set_random_seed(settings.seed)
    schema = io_utils.parse_pbtxt_file(fn_args.schema_path, schema_pb2.Schema())
    inputs = _Inputs(settings, schema)
    _group_dtype(schema, settings.group, settings.mode)  # refuse a FLOAT group early
    factory = fn_args.data_accessor.tf_dataset_factory

    eval_features, eval_labels, eval_groups = _load_split(
        factory, fn_args.eval_files, schema, inputs)
    # Group values as strings when the group column is a string column.
    spec = constraints.parse(settings.constraints, _known_groups(eval_groups))
    logging.info("Trainer mode %s; objective %s; constraints: %s", settings.mode,
                 spec.objective, constraints.describe(spec) or "none")

    image = settings.input == "image"
    train_split = None
    if image:
        train = _ImageSample(factory, fn_args.train_files, schema, inputs,
                             settings.seed)
    else:  # the train split's facts (leakage guard, groups) are the data gate's
        train_split = _load_split(factory, fn_args.train_files, schema, inputs)
        train = train_arrays(train_split[0], inputs.kinds, settings.seed)
    model = _build_model(settings, inputs, train)
    record = models.describe(settings.model, model, settings.model_fingerprint, image)
    logging.info("Model: %s", summary(record))
    with tf.io.gfile.GFile(os.path.join(_record_dir(fn_args), MODEL_RECORD), "w") as f:
        json.dump(record, f, indent=2)

    if settings.jit_compile and settings.input != "image":
        logging.info("jit_compile is off for tabular inputs (string lookups)")
        settings = settings.model_copy(update={"jit_compile": False})
    num_steps = train_steps(fn_args, settings)
    optimizer = tf.keras.optimizers.Adam(learning_rate(settings, num_steps))
    logging.info("Learning rate %g, schedule %s", settings.learning_rate,
                 schedule_of(settings))
    if settings.mode == "tfco":
        step, membership = training.constrained_step(
            model, spec, optimizer,
            tf.keras.optimizers.Adam(settings.constraint_learning_rate),
            settings.group_head_weight, settings.jit_compile)
        if membership is not None:
            logging.info("Group head (training only, not exported): predicts "
                         "membership of groups %s from the last hidden layer, weight %g",
                         membership.groups, membership.weight)
    elif settings.mode == "correlation":
        def penalty(logits, labels, groups):
            return settings.correlation_weight * regularizers.absolute_correlation(
                logits, labels, groups, settings.correlation_group)
        step = training.plain_step(model, optimizer, penalty, settings.jit_compile)
    else:
        step = training.plain_step(model, optimizer, jit_compile=settings.jit_compile)

    train_batches = _train_batches(factory, fn_args.train_files, schema, inputs,
                                   settings, train_split)
    train_split = None  # the batches hold their own copy

    eval_logits = training.SplitScorer(model, eval_features)

    def evaluate(current):
        logits = eval_logits()
        return constraints.measure(spec, logits, eval_labels, eval_groups,
                                   level=settings.selection_level or None)

    snapshots, candidates = training.train_with_snapshots(
        model, step, train_batches, num_steps, settings.snapshot_every,
        evaluate, os.path.join(fn_args.model_run_dir, "tensorboard"),
        what=f"Trainer (mode {settings.mode})")
    chosen = selection.choose(candidates, constrained=settings.mode == "tfco",
                              rank_objectives=settings.rank_objectives)
    model.set_weights(snapshots[chosen])
    progress.logger.info("Chose snapshot %d of %d (step %d): eval objective %.4f, max "
                         "violation %.4f", chosen, len(candidates), candidates[chosen].step,
                         candidates[chosen].objective, candidates[chosen].max_violation)

    chosen_logits = eval_logits()
    head = _post_process(settings, spec, chosen_logits, eval_labels,
                         eval_groups, schema, _record_dir(fn_args))
    export.save(model, fn_args.serving_model_dir, inputs.raw_spec,
                inputs.model_features,
                image_size=settings.image_size if settings.input == "image" else 0,
                head=head)
    selection.write_record(
        os.path.join(_record_dir(fn_args), "candidates.json"),
        candidates, chosen, mode=settings.mode, constraints=constraints.describe(spec),
        measured_on=list(fn_args.eval_files),
        selection_level=settings.selection_level or None,
        correlation=_correlation_record(settings, chosen_logits, eval_labels,
                                        eval_groups)
        if settings.mode == "correlation" else None)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, "settings.json"), "w") as f:
        json.dump(settings.model_dump(), f, indent=2)
