"""Models: one contract for fairgate's built-in models and a team's own.

A model is built by `function(inputs, train, hparams)` (README "Your own model"):

* `inputs`: name -> `keras.Input`, exactly the raw inputs the serving signatures
  parse: for tabular sources one `[batch, 1]` input per model feature, float32
  for numeric columns (NaN for an empty cell) and string for categorical ones
  ("" for an empty cell); for image sources `image`, uint8 `[batch, size*size*3]`.
* `train`: name -> numpy array with the train split's values of the same inputs
  (numeric float32 `[n, 1]`, categorical `str` `[n, 1]`, images uint8
  `[n, size*size*3]`), so the model can adapt its own preprocessing layers.
  Tabular: every train row up to TRAIN_ROWS_CAP, a seeded uniform sample above;
  images: a seeded sample of TRAIN_IMAGES_SAMPLE (read only when the model asks).
* it returns a tf-keras Model mapping (a subset of) `inputs` to one logit per
  example (`[batch, 1]` or `[batch]`), which TFCO reads as "positive when > 0".

The model owns its preprocessing, so the exported SavedModel serves raw inputs.
Built with tf-keras, because TFMA 0.47 loads SavedModels with tf-keras. `build`
checks what a model returns and names the module in every error.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from typing import Any, Callable, Dict, Mapping, Optional

import tf_keras as keras

MODELS = ("mlp", "cnn")
TRAIN_ROWS_CAP = 200_000
TRAIN_IMAGES_SAMPLE = 20_000
# The layer a built-in reshapes a [batch] logit with (not part of the user's model).
LOGIT_COLUMN = "logit_column"


class ModelError(ValueError):
    """A model function misbehaved; the message names its module and function."""


def raw_inputs(kinds: Mapping[str, str], image_size: int = 0) -> Dict[str, Any]:
    """The `inputs` of the contract: `image` when image_size is set, else one
    [batch, 1] input per tabular feature (kinds: name -> numeric|categorical)."""
    import tensorflow as tf
    if image_size:
        return {"image": keras.Input(shape=(image_size * image_size * 3,),
                                     name="image", dtype="uint8")}
    return {name: keras.Input(shape=(1,), name=name,
                              dtype=tf.string if kind == "categorical" else tf.float32)
            for name, kind in kinds.items()}


# --- built-in models (implementations of the contract) -----------------------

def image_network(inputs, train, hparams) -> keras.Model:
    """`kind` mlp: the TFCO tutorial's Flatten -> Dense(64, relu) -> Dense(1);
    cnn: two small conv blocks before the same head. Pixels are scaled to [0, 1]
    in the first layer."""
    kind = hparams.get("kind", "mlp")
    if kind not in MODELS:
        raise ValueError(f"unknown model '{kind}' (known: {', '.join(MODELS)})")
    pixels = inputs["image"]
    size = int(round((pixels.shape[-1] // 3) ** 0.5))
    x = keras.layers.Rescaling(1.0 / 255, name="pixels_to_unit_range")(pixels)
    x = keras.layers.Reshape((size, size, 3))(x)
    if kind == "cnn":
        for filters in (16, 32):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hparams.get("hidden_units", 64), activation="relu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(pixels, logit, name=f"smile_{kind}")


def image_classifier(kind: str = "mlp", image_size: int = 28,
                     hidden_units: int = 64) -> keras.Model:
    """The built-in image model on fresh inputs."""
    if kind not in MODELS:
        raise ValueError(f"unknown model '{kind}' (known: {', '.join(MODELS)})")
    return image_network(raw_inputs({}, image_size), {},
                         {"kind": kind, "hidden_units": hidden_units})


def tabular_network(inputs, train, hparams) -> keras.Model:
    """Numeric columns: the train mean replaces NaN (in serving too), then the
    train mean/variance scale; when train has empty cells in the column, a 0/1
    missing indicator is an input too. Categorical columns: a one-hot vocabulary
    of the train values plus one slot for values never seen in training (OOV).
    Then Dense(hidden_units, relu) -> Dense(1). The vocabularies and scales are
    those Keras `adapt` learns, computed in numpy (tabular_preprocessing)."""
    import numpy as np
    import tensorflow as tf
    from trainer_module import tabular_preprocessing
    encoded = []
    for name, column in sorted(inputs.items()):
        values = np.asarray(train[name]).reshape(-1, 1)
        if column.dtype == tf.string:
            lookup = tabular_preprocessing.string_lookup(values, f"{name}_vocab")
            encoded.append(lookup(column))
        else:
            numbers = values.astype("float32")
            known = numbers[~np.isnan(numbers)]
            mean = float(known.mean()) if known.size else 0.0
            missing = tf.math.is_nan(column)
            filled = tf.where(missing, tf.constant(mean, tf.float32), column)
            scale = tabular_preprocessing.normalization(
                np.where(np.isnan(numbers), np.float32(mean), numbers), f"{name}_scale")
            encoded.append(scale(filled))
            if known.size < numbers.size:  # train has empty cells: learn from them
                encoded.append(tf.cast(missing, tf.float32))
    x = keras.layers.Concatenate()(encoded) if len(encoded) > 1 else encoded[0]
    x = keras.layers.Dense(hparams.get("hidden_units", 32), activation="relu")(x)
    logit = keras.layers.Dense(1, name="logit")(x)
    return keras.Model(dict(inputs), logit, name="tabular")


def tabular_classifier(kinds: dict, train_sample: dict,
                       hidden_units: int = 32) -> keras.Model:
    """The built-in tabular model on fresh inputs (`train_sample` as
    trainer_module.tabular_inputs.encode gives it)."""
    return tabular_network(raw_inputs(kinds), train_sample,
                           {"hidden_units": hidden_units})


def builtin(name: str, image: bool):
    """(function, hparams, name as reported) of a built-in model."""
    if image:
        return image_network, {"kind": name}, name
    return tabular_network, {}, "tabular"


# --- the contract, whoever wrote the model -----------------------------------

def load_function(module_file: str, function: str) -> Callable:
    """`function` from `module_file`; the file's folder goes on sys.path so that
    it can import the .py files beside it."""
    where = f"{function} in {module_file}"
    folder = os.path.dirname(os.path.abspath(module_file))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = "fairgate_model_" + os.path.splitext(os.path.basename(module_file))[0]
    spec = importlib.util.spec_from_file_location(name, module_file)
    if spec is None:
        raise ModelError(f"trainer.model.module_file {module_file} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    failure = _failure(spec.loader.exec_module, module)
    if failure:
        raise ModelError(f"importing {module_file} raised: {failure}")
    found = getattr(module, function, None)
    if not callable(found):
        raise ModelError(f"{where} is not callable (it is {type(found).__name__}); "
                         "trainer.model.function must name a function "
                         "build_model(inputs, train, hparams)")
    return found


def _failure(call: Callable, *args) -> str:
    """The last line of what `call(*args)` raised ("" when it returned). Errors
    are raised after the except block, so that the ModelError is the innermost
    message TFX's and the CLI's error chains show (not the user's bare error)."""
    try:
        call(*args)
    except ModelError:
        raise
    except Exception as error:  # the user's code: any failure is theirs to read
        return traceback.format_exception_only(type(error), error)[-1].strip()
    return ""


def build(function: Callable, inputs: Dict[str, Any], train: Mapping[str, Any],
          hparams: Mapping[str, Any], where: str) -> keras.Model:
    """Calls `function(inputs, train, hparams)`, checks the contract and returns
    a model over the dict `inputs` with a [batch, 1] logit output. `where` names
    the module and function in errors."""
    built = []
    failure = _failure(lambda: built.append(function(dict(inputs), train,
                                                     dict(hparams))))
    if failure:
        raise ModelError(f"{where} raised: {failure}")
    model = built[0]
    if not isinstance(model, keras.Model):
        hint = " (a Keras 3 model: build it with `import tf_keras as keras`)" \
            if type(model).__module__.startswith("keras") else ""
        raise ModelError(f"{where} returned {type(model).__module__}."
                         f"{type(model).__name__}, not a tf-keras keras.Model{hint}")
    names = list(getattr(model, "input_names", None) or [])
    unknown = [n for n in names if n not in inputs]
    if unknown:
        raise ModelError(f"{where}: the model uses inputs {unknown} that are not in "
                         f"`inputs` (known: {', '.join(inputs)})")
    ours = {id(t) for t in inputs.values()}
    if getattr(model, "_is_graph_network", False) and \
            all(id(t) in ours for t in model.inputs) and len(model.outputs) == 1:
        output = model.outputs[0]  # built on our inputs: one graph, layers shared
    else:
        called = []
        failure = _failure(lambda: called.append(
            model({n: inputs[n] for n in names} if names else dict(inputs))))
        if failure:
            raise ModelError(f"{where}: calling the model on `inputs` raised: "
                             f"{failure}")
        output = called[0]
    if isinstance(output, (list, tuple, dict)):
        raise ModelError(f"{where}: the model has {len(output)} outputs; it must have "
                         "one, a logit per example")
    shape = tuple(output.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise ModelError(f"{where}: the model's output has shape {list(shape)}; it "
                         "must be one logit per example, [batch, 1] or [batch]")
    activation = _final_activation(output)
    if activation in ("sigmoid", "softmax"):
        raise ModelError(f"{where}: the model's last layer applies a {activation}; "
                         "it must return a logit (TFCO reads 'positive when > 0'), so "
                         "drop the activation")
    flat_and_whole = output is getattr(model, "outputs", [None])[0] and \
        set(names) == set(inputs)
    if len(shape) == 1:
        output = keras.layers.Reshape((1,), name=LOGIT_COLUMN)(output)
    elif flat_and_whole:
        return model  # already the contract's shape (the built-ins)
    # Image models take the pixels tensor itself, as the input pipeline gives it.
    structure = inputs["image"] if list(inputs) == ["image"] else dict(inputs)
    return keras.Model(structure, output, name=model.name)


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.layer if history is not None else None


def _final_activation(output) -> Optional[str]:
    layer = _producer(output)
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "") if activation is not None else ""
    if isinstance(layer, keras.layers.Softmax):
        name = "softmax"
    return name if name in ("sigmoid", "softmax") else None


def logit_layer(model: keras.Model):
    """The layer that computes the logit (the user's last layer)."""
    layer = _producer(model.outputs[0])
    if layer is not None and layer.name == LOGIT_COLUMN:
        layer = _producer(layer.input)
    return layer


def describe(model_setting, model: keras.Model, fingerprint: str,
             image: bool) -> Dict[str, Any]:
    """What the report and the run output say about the model."""
    if isinstance(model_setting, str):
        return {"builtin": builtin(model_setting, image)[2],
                "parameters": int(model.count_params())}
    return {"module_file": model_setting.module_file, "fingerprint": fingerprint,
            "function": model_setting.function, "hparams": dict(model_setting.hparams),
            "parameters": int(model.count_params())}
