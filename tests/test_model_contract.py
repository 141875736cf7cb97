"""The model contract: trainer.model's checks at config load (no import of the
module, no TensorFlow), the runtime checks of what a model function returns, the
group head's attachment, the train arrays' cap and the Trainers' cache key."""
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from fairgate import config as config_lib
from fairgate.config import ConfigError

GOOD = "import math\n\ndef build_model(inputs, train, hparams):\n    return None\n"


def _load(tmp_path, model, source=GOOD, name="team.py"):
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / name).write_bytes(
        source if isinstance(source, bytes) else source.encode())
    path = tmp_path / "run.yaml"
    import yaml
    path.write_text(yaml.safe_dump({"trainer": {"model": model}}))
    return config_lib.load(str(path))


def test_module_file_is_relative_to_the_config_file(tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    config = _load(tmp_path, {"module_file": "models/team.py", "hparams": {"width": 8}})
    model = config.trainer.model
    assert model.module_file == str(tmp_path / "models" / "team.py")
    assert model.function == "build_model" and model.hparams == {"width": 8}


def test_module_file_of_a_config_built_in_code_is_relative_to_the_cwd(tmp_path,
                                                                      monkeypatch):
    (tmp_path / "m.py").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    config = config_lib.from_dict({"trainer": {"model": {"module_file": "m.py"}}})
    assert config.trainer.model.module_file == str(tmp_path / "m.py")


@pytest.mark.parametrize("model, source, key, message", [
    ({"module_file": "models/absent.py"}, GOOD, "trainer.model.module_file",
     "does not exist"),
    ({"module_file": "models/team.py"}, "def build_model(:\n",
     "trainer.model.module_file", "line 1 is not valid Python"),
    ({"module_file": "models/team.py"}, b"\xff\xfe\x00def", "trainer.model.module_file",
     "not valid Python"),
    ({"module_file": "models/team.py", "function": "make"}, GOOD,
     "trainer.model.function", "'make' is not defined in"),
    ({"module_file": "models/team.py", "hparams": [1, 2]}, GOOD,
     "trainer.model.hparams", "must be a mapping"),
    ({"module_file": "models/team.py", "functon": "x"}, GOOD,
     "trainer.model.functon", "unknown key"),
    ({"function": "build_model"}, GOOD, "trainer.model.module_file", "is required"),
    ("resnet", GOOD, "trainer.model", "must be one of mlp, cnn"),
])
def test_bad_model_settings_name_the_key_and_the_file(tmp_path, model, source, key,
                                                      message):
    with pytest.raises(ConfigError) as error:
        _load(tmp_path, model, source)
    text = str(error.value)
    assert f"'{key}'" in text and str(tmp_path / "run.yaml") in text, text
    assert message in text, text


def test_unreadable_module_file_is_named(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    config_dir = tmp_path
    (config_dir / "models").mkdir()
    path = config_dir / "models" / "team.py"
    path.write_text(GOOD)
    path.chmod(0)
    with pytest.raises(ConfigError, match="cannot be read"):
        config_lib.from_dict({"trainer": {"model": {"module_file": str(path)}}})


def test_config_load_imports_neither_the_module_nor_tensorflow(tmp_path):
    (tmp_path / "team.py").write_text("raise SystemExit('imported')\n"
                                      "def build_model(inputs, train, hparams): pass\n")
    (tmp_path / "run.yaml").write_text("trainer: {model: {module_file: team.py}}\n")
    code = ("import sys; from fairgate import config; "
            "config.load(sys.argv[1]); "
            "print(sorted(m for m in ('tensorflow', 'tf_keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "run.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_trainers_cache_key_follows_module_siblings_function_and_hparams(tmp_path):
    (tmp_path / "team.py").write_text(GOOD + "def other(inputs, train, hparams): pass\n")
    (tmp_path / "helpers.py").write_text("X = 1\n")

    def key(**model):
        config = config_lib.from_dict({"trainer": {"model": {
            "module_file": str(tmp_path / "team.py"), **model}}})
        return config_lib.TrainerSettings.for_run(config, "tfco").model_dump()

    first = key()
    assert key() == first  # unchanged: the same custom_config, a cache hit
    assert key(hparams={"width": 2}) != first
    assert key(function="other") != first
    (tmp_path / "helpers.py").write_text("X = 2\n")
    assert key() != first  # a sibling module changed
    assert key()["model_fingerprint"] != first["model_fingerprint"]
    assert config_lib.TrainerSettings.for_run(config_lib.from_dict({}), "tfco") \
        .model_dump()["model_fingerprint"] == ""


def test_schema_offers_both_forms_of_trainer_model():
    schema = config_lib.json_schema()
    forms = schema["$defs"]["TrainerConfig"]["properties"]["model"]["oneOf"]
    assert {"enum": ["mlp", "cnn"], "type": "string"} in forms
    module = schema["$defs"]["ModelModule"]
    assert module["required"] == ["module_file"]
    assert set(module["properties"]) == {"module_file", "function", "hparams"}


# --- what the model function returns (trainer_module/models.py) -------------

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("tf_keras")
from trainer_module import group_head, models  # noqa: E402  (after TF)
from trainer_module import constraints  # noqa: E402

KINDS = {"age": "numeric", "job": "categorical"}
WHERE = "build_model in /x/team.py"


def _inputs():
    return models.raw_inputs(KINDS)


def _dense_on_age(inputs, activation=None, units=1):
    age = tf.where(tf.math.is_nan(inputs["age"]), 0.0, inputs["age"])
    hidden = keras.layers.Dense(4, activation="relu", name="hidden")(age)
    return keras.Model(inputs["age"],
                       keras.layers.Dense(units, activation=activation)(hidden))


def _keras3_model(inputs, train, hparams):
    import keras as keras3
    x = keras3.Input((1,), name="age")
    return keras3.Model(x, keras3.layers.Dense(1)(x))


def _own_input(inputs, train, hparams):
    x = keras.Input((1,), name="salary")
    return keras.Model(x, keras.layers.Dense(1)(x))


@pytest.mark.parametrize("function, message", [
    (lambda i, t, h: {"not": "a model"}, "returned builtins.dict, not a tf-keras"),
    (lambda i, t, h: 1 / 0, "raised: ZeroDivisionError: division by zero"),
    (_keras3_model, "Keras 3 model"),
    (lambda i, t, h: _dense_on_age(i, units=3), "output has shape [None, 3]"),
    (lambda i, t, h: _dense_on_age(i, activation="sigmoid"), "applies a sigmoid"),
    (lambda i, t, h: keras.Model(i["age"], keras.layers.Softmax()(
        keras.layers.Dense(1)(i["age"]))), "applies a softmax"),
    (_own_input, "inputs ['salary'] that are not in `inputs`"),
])
def test_a_model_that_breaks_the_contract_is_refused_naming_the_module(function,
                                                                       message):
    from fairgate import errors
    with pytest.raises(models.ModelError) as error:
        models.build(function, _inputs(), {}, {}, WHERE)
    assert WHERE in str(error.value) and message in str(error.value), error.value
    # What the CLI prints of a failed run (the innermost error) names the module.
    assert WHERE in errors.innermost(error.value)


def test_a_function_that_is_not_callable_is_named(tmp_path):
    (tmp_path / "team.py").write_text("build_model = 3\n")
    with pytest.raises(models.ModelError, match="build_model in .*team.py is not callable"):
        models.load_function(str(tmp_path / "team.py"), "build_model")


def test_a_module_that_fails_to_import_is_named(tmp_path):
    (tmp_path / "team.py").write_text("import not_installed_anywhere\n")
    with pytest.raises(models.ModelError, match="importing .*team.py raised: "
                       "ModuleNotFoundError"):
        models.load_function(str(tmp_path / "team.py"), "build_model")


def test_a_module_imports_its_siblings(tmp_path):
    (tmp_path / "parts.py").write_text("WIDTH = 3\n")
    (tmp_path / "team.py").write_text(
        "import parts\ndef build_model(inputs, train, hparams):\n    return parts.WIDTH\n")
    function = models.load_function(str(tmp_path / "team.py"), "build_model")
    assert function({}, {}, {}) == 3


def test_a_subset_of_inputs_and_a_flat_logit_become_one_column_over_all_inputs():
    def flat(inputs, train, hparams):
        model = _dense_on_age(inputs)
        return keras.Model(model.input, keras.layers.Reshape(())(model.output))
    model = models.build(flat, _inputs(), {}, {}, WHERE)
    features = {"age": np.array([[1.0], [np.nan]], np.float32),
                "job": np.array([[b"a"], [b""]])}
    assert tuple(model(features).shape) == (2, 1)
    # The group head reads the input of the user's last layer (rank 2 here).
    spec = constraints.parse({"constraints": [
        {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.1}]}, [0, 1])
    head = group_head.for_constraints(model, spec, 1.0)
    assert head is not None
    assert tuple(head.logits(features).shape) == (2, 1)


def test_builtins_are_returned_as_built():
    inputs = models.raw_inputs({}, 8)
    built = models.image_network(inputs, {}, {"kind": "mlp"})
    same = models.build(lambda i, t, h: built, inputs, {}, {}, "built-in model mlp")
    assert same is built


def test_group_head_is_skipped_with_a_reason_when_the_hidden_input_is_not_rank_2(
        caplog):
    def conv(inputs, train, hparams):
        x = keras.layers.Reshape((2, 2, 1))(keras.layers.Dense(4)(
            tf.where(tf.math.is_nan(inputs["age"]), 0.0, inputs["age"])))
        x = keras.layers.Conv2D(1, 2)(x)  # [batch, 1, 1, 1]
        return keras.Model(inputs["age"], keras.layers.Reshape((1,))(x))
    model = models.build(conv, _inputs(), {}, {}, WHERE)
    spec = constraints.parse({"constraints": [
        {"rate": "false_positive_rate", "group": 0, "upper_bound": 0.1}]}, [0, 1])
    with caplog.at_level(logging.INFO):
        assert group_head.for_constraints(model, spec, 1.0) is None
    assert "Group head skipped" in caplog.text and "rank 4" in caplog.text


def test_tabular_train_arrays_are_capped_by_a_seeded_sample(monkeypatch):
    from trainer_module import run_fn
    monkeypatch.setattr(models, "TRAIN_ROWS_CAP", 50)
    features = {"age": np.arange(80, dtype=np.float32).reshape(-1, 1),
                "job": np.array([[f"j{i}".encode()] for i in range(80)], dtype=object)}
    train = run_fn.train_arrays(features, KINDS, seed=3)
    assert train["age"].shape == (50, 1) and train["age"].dtype == np.float32
    assert train["job"].dtype.kind == "U" and train["job"][0, 0].startswith("j")
    # Rows stay aligned across features and the sample is seeded.
    assert [f"j{int(a)}" for a in train["age"][:, 0]] == list(train["job"][:, 0])
    np.testing.assert_array_equal(run_fn.train_arrays(features, KINDS, 3)["age"],
                                  train["age"])
    monkeypatch.setattr(models, "TRAIN_ROWS_CAP", 200_000)
    assert run_fn.train_arrays(features, KINDS, 3)["age"].shape == (80, 1)


# --- preflight builds a team's model (fairgate/data/preflight.py) ---

def _csv_config(tmp_path, source, csv_text=None):
    (tmp_path / "csv").mkdir()
    (tmp_path / "csv" / "data.csv").write_text(csv_text or (
        "age,job,region,approved\n" + "".join(
            f"{'' if i == 3 else 20 + i},{'' if i == 4 else 'clerk' if i % 2 else 'nurse'},"
            f"{'north' if i % 2 else 'south'},{i % 3 == 0:d}\n" for i in range(40))))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "team.py").write_text(source)
    path = tmp_path / "run.yaml"
    import yaml
    path.write_text(yaml.safe_dump({
        "data": {"source": "csv", "input_base": str(tmp_path / "csv"), "label": "approved",
                 "group": "region"},
        "evaluation": {"groups": ["north", "south"]},
        "trainer": {"model": {"module_file": "models/team.py"}, "constraints": {
            "constraints": [{"rate": "false_positive_rate", "group": "south",
                             "upper_bound": 0.1}]}}}))
    return config_lib.load(str(path))


SEEN = '''
import json, os
import tf_keras as keras


def build_model(inputs, train, hparams):
    with open(os.path.join(os.path.dirname(__file__), "seen.json"), "w") as f:
        json.dump({name: [str(inputs[name].dtype.name), str(train[name].dtype),
                          list(train[name].shape), [str(v) for v in train[name][:6, 0]]]
                   for name in inputs}, f)
    return keras.Model(inputs["age"], keras.layers.Dense(1ACTIVATION)(inputs["age"]))
'''


def test_preflight_builds_a_team_model_on_the_csv_train_rows(tmp_path):
    import json
    from fairgate.data import preflight
    config = _csv_config(tmp_path, SEEN.replace("ACTIVATION", ""))
    preflight.check_inputs(config)
    seen = json.loads((tmp_path / "models" / "seen.json").read_text())
    assert seen["age"][:3] == ["float32", "float32", [40, 1]]
    assert seen["age"][3][3] == "nan"  # an empty numeric cell
    assert seen["job"][:3] == ["string", "<U5", [40, 1]]
    assert seen["job"][3][3:5] == ["clerk", ""]  # an empty categorical cell
    assert set(seen) == {"age", "job"}  # label and group are not inputs


def test_preflight_builds_the_model_on_the_columns_the_trainer_gives_it(tmp_path):
    """A header repeating `notes` with differing columns the run does not use (the
    CSV ExampleGen drops them) and `job` twice, identical (read once): the model
    preflight builds gets the Trainer's inputs, not one per header cell."""
    import json
    from fairgate.data import preflight
    rows = "".join(f"{20 + i},{'clerk' if i % 2 else 'nurse'},n{i},"
                   f"{'north' if i % 2 else 'south'},{i % 3 == 0:d},"
                   f"{'clerk' if i % 2 else 'nurse'},m{i}\n" for i in range(40))
    config = _csv_config(tmp_path, SEEN.replace("ACTIVATION", ""),
                         "age,job,notes,region,approved,job,notes\n" + rows)
    preflight.check_inputs(config)
    seen = json.loads((tmp_path / "models" / "seen.json").read_text())
    assert set(seen) == {"age", "job"}, seen
    assert seen["job"][3][:2] == ["nurse", "clerk"]


def test_preflight_refuses_a_model_that_breaks_the_contract(tmp_path):
    from fairgate.data import preflight
    config = _csv_config(tmp_path, SEEN.replace("ACTIVATION", ", activation='sigmoid'"))
    with pytest.raises(ConfigError) as error:
        preflight.check_inputs(config)
    text = str(error.value)
    assert "'trainer.model'" in text and str(tmp_path / "run.yaml") in text, text
    assert "build_model in " + str(tmp_path / "models" / "team.py") in text, text
    assert "applies a sigmoid" in text and "on 40 rows" in text, text
