"""The models the Evaluator hands to TFMA, each loaded once per Evaluator run.

TFMA 0.47.1 loads a Keras model three times per Evaluator run where one load is
needed (paths under tensorflow_model_analysis/):
- `api/model_eval_lib.py` `default_eval_shared_model` calls `utils/model_util.py`
  `get_model_type`, which, when the ModelSpec leaves `model_type` unset (the
  shipped EvalConfigs do: the model in serving need not be a Keras model), loads
  the model with `tf.keras.models.load_model` only to see whether it is a Keras
  model, and drops it;
- `evaluators/metrics_plots_and_validations_evaluator.py` `_ComputeMetricsAndPlots`
  calls `evaluators/keras_util.py` `metric_computations_using_keras_saved_model`
  for a tf_keras model while default metrics are on: it loads the model through
  the model's `api/types.py` `ModelLoader` to look for compiled metrics, and drops
  it (fairgate's models have none);
- the DoFns' `setup` (`utils/model_util.py` `DoFnWithModels`) load it through the
  same `ModelLoader`: the load that is needed.
`ModelLoader.load` shares one object per loader through Beam's
`apache_beam/utils/shared.py` `Shared`, which holds it weakly, so the first two
loads are freed before the DoFns start.

`eval_shared_model` (TFX's `custom_eval_shared_model` hook, read by
`tfx/components/evaluator/executor.py` `Executor.Do`) decides the model type as
`get_model_type` does, skipping the load where the SavedModel's root is certainly
not a Keras object, and keeps a Keras model it loaded alive for the run inside its
loader's shared handle: keras_util's look and the DoFns in this process reuse it.
Workers in other processes (multi-processing DirectRunner, a cluster) still load
their own copy, as before. The EvalConfig TFMA evaluates and writes is untouched.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
from typing import Any, Iterator, List, Optional, Tuple

# TFX's hook, named by an exec property holding its dotted path
# (tfx/components/util/udf_utils.py `get_fn`, no module file); in a module of its
# own because TFX reloads the hook's module (tfx_hook.py).
HOOK = "custom_eval_shared_model"
EVAL_SHARED_MODEL = "components.evaluator.tfx_hook.eval_shared_model"
_USER_CODE = ("module_file", "module_path", HOOK)  # TFX's Evaluator parameters

# The Keras models of the Evaluator run in progress on this thread (None outside
# one): held here so that the shared handles' weak references stay valid.
_HELD: contextvars.ContextVar[Optional[List[Any]]] = contextvars.ContextVar(
    "fairgate_evaluator_models", default=None)


def with_hook(exec_properties: dict) -> dict:
    """The Evaluator's exec_properties with `eval_shared_model` as TFX's
    `custom_eval_shared_model`, unless the user's own code (a module file or path,
    or a hook of their own) is configured: TFX then looks its functions up there."""
    if any(exec_properties.get(key) for key in _USER_CODE):
        return exec_properties
    return {**exec_properties, HOOK: EVAL_SHARED_MODEL}


@contextlib.contextmanager
def models_held() -> Iterator[None]:
    """The scope of one Evaluator run: the Keras models `eval_shared_model` loads
    inside it stay alive (and shared) until it ends."""
    token = _HELD.set([])
    try:
        yield
    finally:
        _HELD.reset(token)


def _loads_tf_keras() -> bool:
    """Whether `tf.keras` is tf-keras (TF_USE_LEGACY_KERAS=1), whose SavedModel
    loader the certain test below mirrors; under Keras 3 TFMA decides alone."""
    import tensorflow as tf
    return tf.keras.__name__.startswith("tf_keras")


def root_may_be_keras(path: str) -> bool:
    """False only when tf-keras' loader (tf_keras/src/saving/legacy/saved_model/
    load.py `load`) certainly returns something other than a Keras model: it
    revives as Keras objects only the nodes listed in keras_metadata.pb, or, without
    that file, the object-graph nodes whose identifier is a Keras one
    (`_read_legacy_metadata`); every other node, the root included, comes back as
    `tf.saved_model.load` revives it (tf-keras registers revived types for its
    optimizers only). So a root that is not such a node is never a Keras model."""
    import tensorflow as tf
    metadata_path = os.path.join(path, "keras_metadata.pb")
    if tf.io.gfile.exists(metadata_path):
        from tf_keras.protobuf import saved_metadata_pb2
        metadata = saved_metadata_pb2.SavedMetadata()
        with tf.io.gfile.GFile(metadata_path, "rb") as f:
            metadata.ParseFromString(f.read())
        return any(node.node_id == 0 for node in metadata.nodes)
    from tf_keras.src.saving.legacy.saved_model.constants import KERAS_OBJECT_IDENTIFIERS
    root = tf.__internal__.saved_model.parse_saved_model(
        path).meta_graphs[0].object_graph_def.nodes[0]
    return root.WhichOneof("kind") == "user_object" and \
        root.user_object.identifier in KERAS_OBJECT_IDENTIFIERS


def model_type(path: str) -> Tuple[str, Any]:
    """(TFMA's model type of the SavedModel at `path`, the Keras model loaded to
    decide it or None). The rule of `get_model_type` for a ModelSpec without
    `model_type`: tf_keras when `tf.keras.models.load_model` returns a Keras
    model, else tf_generic; the load is the one TFMA's `model_construct_fn` makes
    for a tf_keras model, so the object serves the evaluation as is."""
    import tensorflow as tf
    import tensorflow_model_analysis as tfma
    if not root_may_be_keras(path):
        return tfma.TF_GENERIC, None
    try:
        model = tf.keras.models.load_model(path)
    except Exception:  # noqa: BLE001 - as get_model_type: not loadable by Keras
        return tfma.TF_GENERIC, None
    if isinstance(model, tf.keras.models.Model):
        return tfma.TF_KERAS, model
    return tfma.TF_GENERIC, None


def _share(loader, model) -> None:
    """Puts `model` into `loader`'s shared handle, as if `loader` had loaded it."""
    construct = loader.construct_fn
    loader.construct_fn = lambda: model
    try:
        loader.load()
    finally:
        loader.construct_fn = construct


def eval_shared_model(eval_saved_model_path: str, model_name: str = "",
                      eval_config=None, **options):
    """`tfma.default_eval_shared_model` with the model type decided here (see the
    module docstring); the same EvalSharedModel TFMA builds. Outside an Evaluator
    run (`models_held`), under Keras 3, or for a ModelSpec that names its
    model_type, it is TFMA's function unchanged."""
    import tensorflow_model_analysis as tfma
    held = _HELD.get()
    spec = tfma.utils.get_model_spec(eval_config, model_name) if eval_config else None
    if held is None or spec is None or spec.model_type or not _loads_tf_keras():
        return tfma.default_eval_shared_model(
            eval_saved_model_path=eval_saved_model_path, model_name=model_name,
            eval_config=eval_config, **options)
    kind, model = model_type(eval_saved_model_path)
    typed = type(eval_config)()
    typed.CopyFrom(eval_config)
    tfma.utils.get_model_spec(typed, model_name).model_type = kind
    shared = tfma.default_eval_shared_model(
        eval_saved_model_path=eval_saved_model_path, model_name=model_name,
        eval_config=typed, **options)
    if model is not None and shared.model_loader is not None:
        held.append(model)
        _share(shared.model_loader, model)
    return shared
