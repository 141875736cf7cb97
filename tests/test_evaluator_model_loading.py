"""The Evaluator loads each Keras model once per run (TFMA alone loads it three
times: components/evaluator/model_loading.py), and writes exactly what TFMA alone
writes, for a fairgate-trained candidate against a fairgate-trained model in
serving, for a team's SavedModel exported with `tf.saved_model.save`, and for a
Keras model compiled with metrics (which TFMA still computes).

Each case runs BaselineAwareEvaluator's executor twice on the same inputs: once as
shipped, once with TFX's `custom_eval_shared_model` hook pointed at TFMA's own
`default_eval_shared_model` (TFMA deciding and loading alone, as before)."""
import json
import os
import shutil
import sys


BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "benchmarks")
sys.path.insert(0, BENCHMARKS)

import beam_fixed_cost  # noqa: E402

from components.evaluator import model_loading  # noqa: E402
from components.evaluator.executor import BaselineAwareEvaluatorExecutor  # noqa: E402
from components.serving_model.executor import RECORD as SERVING_RECORD  # noqa: E402
from tests import outside_model  # noqa: E402

TFMA_ALONE = {model_loading.HOOK: "tensorflow_model_analysis.default_eval_shared_model"}


def _keras_loads(monkeypatch):
    """Counts calls of `tf.keras.models.load_model` (how TFMA and model_loading load
    a Keras model), each still loading: (path, whether a compiled-metrics combiner
    made it). Those combiners load a private copy in every `setup` by design
    (tensorflow_model_analysis/evaluators/keras_util.py `_KerasCombiner.setup`)."""
    import traceback
    import tensorflow as tf
    calls = []
    real = tf.keras.models.load_model

    def counted(*args, **kwargs):
        combiner = any(frame.filename.endswith("keras_util.py") and frame.name == "setup"
                       for frame in traceback.extract_stack())
        calls.append((args[0] if args else kwargs.get("filepath"), combiner))
        return real(*args, **kwargs)
    monkeypatch.setattr(tf.keras.models, "load_model", counted)
    return calls


def _loads(calls, combiner=False):
    return sorted(path for path, by_combiner in calls if by_combiner == combiner)


def _evaluate(inputs, properties, folder, monkeypatch):
    """Runs the executor into fresh output folders under `folder`: (the paths
    `tf.keras.models.load_model` was called with, the evaluation folder, blessed)."""
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts
    from fairgate.config import Config
    outputs = {"evaluation": [standard_artifacts.ModelEvaluation()],
               "blessing": [standard_artifacts.ModelBlessing()]}
    for key, [artifact] in outputs.items():
        artifact.uri = os.path.join(folder, key)
        os.makedirs(artifact.uri)
    executor = BaselineAwareEvaluatorExecutor(base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=Config().beam_args,
        tmp_dir=os.path.join(folder, ".tmp"), unique_id="Evaluator"))
    with monkeypatch.context() as patch:
        loads = _keras_loads(patch)
        executor.Do(inputs, outputs, properties)
    shutil.rmtree(os.path.join(folder, ".tmp"), ignore_errors=True)
    blessed = outputs["blessing"][0].get_int_custom_property("blessed")
    return loads, outputs["evaluation"][0].uri, blessed


def _keras_models(paths):
    """How many of the SavedModels TFMA itself types as Keras models."""
    import tensorflow_model_analysis as tfma
    return sum(tfma.utils.get_model_type(tfma.ModelSpec(), path) == tfma.TF_KERAS
               for path in paths)


def _in_serving(model_dir, folder):
    """A ServingModel output artifact handing `model_dir` on as the model in serving."""
    from tfx.types import standard_artifacts
    from tfx.utils import path_utils
    artifact = standard_artifacts.Model()
    artifact.uri = str(folder)
    shutil.copytree(model_dir, path_utils.serving_model_path(artifact.uri))
    with open(os.path.join(artifact.uri, SERVING_RECORD), "w") as f:
        json.dump({"in_serving": True, "version": "1"}, f)
    return artifact


def _both_ways(inputs, properties, tmp_path, monkeypatch):
    before = _evaluate(inputs, {**properties, **TFMA_ALONE}, str(tmp_path / "before"),
                       monkeypatch)
    after = _evaluate(inputs, properties, str(tmp_path / "after"), monkeypatch)
    assert beam_fixed_cost.differing_files(before[1], after[1]) == []
    assert before[2] == after[2]
    return before, after


def _metrics(evaluation_uri):
    import tensorflow_model_analysis as tfma
    return tfma.load_metrics(evaluation_uri)


def test_a_trained_model_tf_keras_cannot_load_is_typed_as_tfma_types_it(
        image_module_run, tmp_path, monkeypatch):
    """A run's own Trainer output (a team's CNN whose Lambda layer tf-keras cannot
    revive: TFMA types it tf_generic after a failed load) against a copy in serving:
    the same outputs, the same load attempts (nothing certain to skip)."""
    from tfx.utils import path_utils
    config, _ = image_module_run
    inputs, _, properties = beam_fixed_cost.recorded_execution(
        config.resolved_metadata_path, "Evaluator")
    [candidate] = inputs["model"]
    serving = path_utils.serving_model_path(candidate.uri)
    inputs = {**inputs, "baseline_model": [_in_serving(serving, tmp_path / "serving")]}
    before, after = _both_ways(inputs, properties, tmp_path, monkeypatch)
    served = path_utils.serving_model_path(inputs["baseline_model"][0].uri)
    assert _keras_models([serving, served]) == 0
    assert _loads(after[0]) == _loads(before[0]) == sorted([serving, served])
    assert _compared(after[1])


def _compared(evaluation_uri):
    """Whether TFMA judged the candidate against the baseline (diff metrics)."""
    return any(key.is_diff for result in _metrics(evaluation_uri)
               for key in _metric_keys(result))


def _fairgate_export(path, seed):
    """A small tf-keras model (uncompiled) exported by the Trainer's own exporter
    (trainer_module/export.py), as fairgate's Trainer writes every model."""
    import tensorflow as tf
    import tf_keras as keras
    from trainer_module import export
    tf.random.set_seed(seed)
    inputs = keras.Input(shape=(len(outside_model.FEATURES),))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(4)(inputs)))
    spec = {k: tf.io.FixedLenFeature([1], tf.float32) for k in outside_model.FEATURES}
    export.save(model, path, spec,
                lambda parsed: tf.concat([parsed[k] for k in outside_model.FEATURES], 1))
    return path


def test_fairgate_models_against_one_in_serving_are_loaded_once_each(
        tmp_path, monkeypatch):
    examples, _ = _examples(tmp_path)
    candidate = _model_artifact(_fairgate_export(str(tmp_path / "trained"), 0),
                                tmp_path / "candidate")
    inputs = {"examples": [examples], "model": [candidate], "baseline_model": [
        _in_serving(_fairgate_export(str(tmp_path / "pushed"), 1), tmp_path / "serving")]}
    before, after = _both_ways(inputs, _properties("probabilities"), tmp_path,
                               monkeypatch)
    paths = [os.path.join(a.uri, "Format-Serving")
             for a in (candidate, inputs["baseline_model"][0])]
    assert _keras_models(paths) == 2
    assert _loads(after[0]) == sorted(paths)  # one load per model
    assert _loads(before[0]) == sorted(paths * 3)  # TFMA alone: three per model
    assert _compared(after[1])


def _model_artifact(model_dir, folder):
    from tfx.types import standard_artifacts
    artifact = standard_artifacts.Model()
    artifact.uri = str(folder)
    shutil.copytree(model_dir, os.path.join(artifact.uri, "Format-Serving"))
    return artifact


def _properties(prediction_key):
    import tensorflow_model_analysis as tfma
    from google.protobuf import text_format
    from tfx.utils import proto_utils
    config = text_format.Parse(EVAL_CONFIG.replace("PREDICTION_KEY", prediction_key),
                               tfma.EvalConfig())
    return {"eval_config": proto_utils.proto_to_json(config),
            "example_splits": '["test"]'}


def _metric_keys(result):
    from tensorflow_model_analysis.metrics import metric_types
    return [metric_types.MetricKey.from_proto(kv.key) for kv in result.metric_keys_and_values]


def _examples(folder, rows=120):
    """An Examples artifact with one split, `test`, of the outside model's columns."""
    import tensorflow as tf
    from tfx.types import standard_artifacts
    outside_model.write_split_csvs(str(folder / "csv"), rows=rows)
    columns = outside_model.read_csv(str(folder / "csv" / "test.csv"))
    artifact = standard_artifacts.Examples()
    artifact.uri = str(folder / "examples")
    artifact.split_names = '["test"]'
    os.makedirs(os.path.join(artifact.uri, "Split-test"))
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(artifact.uri, "Split-test", "data.gz"),
                              options) as writer:
        for i in range(rows):
            features = {key: tf.train.Feature(float_list=tf.train.FloatList(
                value=[columns[key][i]])) for key in outside_model.FEATURES}
            for key in ("group", "label"):
                features[key] = tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[int(columns[key][i])]))
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=features)).SerializeToString())
    return artifact, str(folder / "csv" / "train.csv")


def _compiled_keras_model(train_csv, export_dir):
    """A tf-keras model compiled with metrics of its own, saved with `model.save`
    with a serving signature over serialized tf.Examples."""
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras
    tf.random.set_seed(1)
    columns = outside_model.read_csv(train_csv)
    x = np.stack([columns[k] for k in outside_model.FEATURES], axis=1).astype("float32")
    inputs = keras.Input(shape=(len(outside_model.FEATURES),))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(inputs))
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="compiled_accuracy"),
                           keras.metrics.AUC(name="compiled_auc")])
    model.fit(x, columns["label"].astype("float32"), epochs=2, verbose=0)
    spec = {k: tf.io.FixedLenFeature([1], tf.float32) for k in outside_model.FEATURES}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve(examples):
        parsed = tf.io.parse_example(examples, spec)
        return {"probability": model(tf.concat(
            [parsed[k] for k in outside_model.FEATURES], axis=1))}
    model.save(export_dir, signatures={"serving_default": serve})
    return export_dir


EVAL_CONFIG = """
model_specs { name: "candidate" label_key: "label" prediction_key: "PREDICTION_KEY" }
model_specs { name: "baseline" label_key: "label" prediction_key: "PREDICTION_KEY"
              is_baseline: true }
slicing_specs {}
slicing_specs { feature_keys: "group" }
metrics_specs {
  metrics { class_name: "ExampleCount" }
  metrics { class_name: "AUC" }
  metrics { class_name: "BinaryAccuracy"
            threshold { value_threshold { lower_bound { value: 0.0 } }
                        change_threshold { direction: HIGHER_IS_BETTER
                                           absolute { value: -1.0 } } } }
}
"""


def test_a_team_saved_model_and_a_compiled_keras_model_evaluate_as_before(
        tmp_path, monkeypatch):
    examples, train_csv = _examples(tmp_path)
    team = outside_model.train_and_export(train_csv, str(tmp_path / "team"), epochs=3)
    compiled = _compiled_keras_model(train_csv, str(tmp_path / "compiled"))
    inputs = {"examples": [examples],
              "model": [_model_artifact(team, tmp_path / "candidate")],
              "baseline_model": [_in_serving(compiled, tmp_path / "serving")]}
    before, after = _both_ways(inputs, _properties("probability"), tmp_path, monkeypatch)
    assert _keras_models([team, compiled]) == 1  # TFMA: the team's model is generic
    served = os.path.join(inputs["baseline_model"][0].uri, "Format-Serving")
    assert _loads(after[0]) == [served]  # the compiled Keras model once, the team's never
    assert _loads(before[0]) == sorted([served] * 3 + [
        os.path.join(inputs["model"][0].uri, "Format-Serving")])
    # The compiled-metrics combiners still load their own copies, as before, and
    # the compiled model's own metrics are still computed.
    assert _loads(after[0], combiner=True) == _loads(before[0], combiner=True) != []
    names = {key.name for result in _metrics(after[1]) for key in _metric_keys(result)
             if key.model_name == "baseline"}
    assert {"compiled_accuracy", "compiled_auc"} <= names
    assert after[2] == 1  # the threshold was checked: a blessing was written


def test_a_model_whose_root_is_not_keras_is_typed_without_loading(tmp_path):
    """The certain test agrees with TFMA on each kind, and loads nothing where the
    SavedModel's root is not a Keras object."""
    import tensorflow_model_analysis as tfma
    import tf_keras as keras
    examples_folder = tmp_path / "data"
    _, train_csv = _examples(examples_folder, rows=20)
    team = outside_model.train_and_export(train_csv, str(tmp_path / "team"), epochs=1)
    inputs = keras.Input(shape=(2,))
    keras.Model(inputs, keras.layers.Dense(1)(inputs)).save(str(tmp_path / "plain"))
    for path, keras_root in ((team, False), (str(tmp_path / "plain"), True)):
        assert model_loading.root_may_be_keras(path) is keras_root
        kind, model = model_loading.model_type(path)
        assert kind == tfma.utils.get_model_type(tfma.ModelSpec(), path)
        assert (model is not None) is keras_root
