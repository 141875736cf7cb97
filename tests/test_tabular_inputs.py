"""Real-world CSVs through config alone, checked without running the pipeline:
config keys, preflight checks of CSV content, the CSV ExampleGen's mapping, the
data gate's run schema (TFDV), the model's handling of empty cells and unseen
categories in serving, and the leakage guard."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from fairgate import config as config_lib
from fairgate.config import ConfigError
from fairgate.data import leakage, preflight
from tests.tabular import messy_rows, write_rows

FEATURES = ["hours", "occupation", {"education_num": "categorical"}]


def _config(tmp_path, **data):
    raw_data = {"source": "csv", "input_base": str(tmp_path / "csv"), "label": "income",
                "label_positive": ">50K", "group": "age_band", "features": FEATURES,
                "splits": {"train": "train/*.csv", "eval": "eval/*.csv",
                           "test": "test/*.csv"}}
    raw_data.update(data)
    evaluation = raw_data.pop("evaluation_groups", ["18-30", "31-44"])
    return config_lib.from_dict({
        "name": "t", "data": raw_data, "evaluation": {"groups": evaluation},
        "trainer": {"constraints": {"constraints": [
            {"gap": "false_positive_rate", "groups": evaluation[:2], "max_gap": 0.1}]}},
    }, origin=str(tmp_path / "run.yaml"))


def _write_splits(tmp_path, rows=200, **columns):
    for seed, split in enumerate(("train", "eval", "test")):
        data = messy_rows(rows, seed)
        data.update({k: v[:rows] for k, v in columns.items()})
        write_rows(tmp_path / "csv" / split / "part.csv", data)


# --- config keys --------------------------------------------------------------

@pytest.mark.parametrize("data,key", [
    ({"exclude_features": ["id"]}, "data.exclude_features"),
    ({"features": [{"hours": "number"}]}, "data.features[0]"),
    ({"features": ["hours", "hours"]}, "data.features[1]"),
    ({"features": ["income"]}, "data.features[0]"),
    ({"label_positive": None, "label_negative": "no"}, "data.label_negative"),
    ({"label_negative": ">50K"}, "data.label_negative"),
    ({"group_merge": {"old": ["45+"], "older": ["45+"]}}, "data.group_merge.older"),
    ({"unseen_category_tolerance": 1.5}, "data.unseen_category_tolerance"),
])
def test_bad_column_keys_name_the_key_and_file(tmp_path, data, key):
    with pytest.raises(ConfigError) as raised:
        _config(tmp_path, **data)
    assert f"'{key}' in {tmp_path / 'run.yaml'}" in str(raised.value)


# --- preflight: what the CSV holds ------------------------------------------

def test_a_good_messy_csv_passes_preflight(tmp_path):
    _write_splits(tmp_path)
    preflight.check_inputs(_config(tmp_path, group_merge={"older": ["45+", "60+"]},
                                   evaluation_groups=["18-30", "older"]))


def test_duplicated_header_names_them(tmp_path):
    _write_splits(tmp_path)
    path = tmp_path / "csv" / "eval" / "part.csv"
    rows = messy_rows(20, 1)
    write_rows(path, rows, header=[c if c != "notes" else "name" for c in rows])
    with pytest.raises(preflight.InputError,
                       match=f"{path}: header names appear more than once: 'name'"):
        preflight.check_inputs(_config(tmp_path))


def test_unknown_feature_column_names_column_and_file(tmp_path):
    _write_splits(tmp_path)
    with pytest.raises(preflight.InputError) as raised:
        preflight.check_inputs(_config(tmp_path, features=["hours", "hourz"]))
    message = str(raised.value)
    assert "column 'hourz' named by data.features" in message
    assert str(tmp_path / "csv") in message and "part.csv" in message


def test_label_matching_neither_value_names_file_and_line(tmp_path):
    income = np.array([">50K"] * 200, dtype=object)
    income[6] = "50K+"
    _write_splits(tmp_path, income=income)
    with pytest.raises(preflight.InputError,
                       match=r"csv/eval/part.csv line 8: label value '50K\+' is neither"):
        preflight.check_inputs(_config(tmp_path, label_negative="<=50K"))
    # Without a negative value, everything but the positive one is negative.
    preflight.check_inputs(_config(tmp_path))


@pytest.mark.parametrize("groups,key,value", [
    (["18-30", "31-45"], "evaluation.groups[1]", "'31-45'"),
    (["18-30", "45+"], "evaluation.groups[1]", "'45+'"),  # merged away
])
def test_misspelled_group_names_key_value_and_values_found(tmp_path, groups, key, value):
    _write_splits(tmp_path)
    with pytest.raises(preflight.InputError) as raised:
        preflight.check_inputs(_config(tmp_path, evaluation_groups=groups,
                                       group_merge={"older": ["45+", "60+"]}))
    message = str(raised.value)
    assert f"'{key}' in {tmp_path / 'run.yaml'}: group value {value}" in message
    assert "'older' (" in message and "'18-30' (" in message


def test_constraint_group_is_checked_too(tmp_path):
    _write_splits(tmp_path)
    config = _config(tmp_path)
    config.trainer.constraints = {"constraints": [
        {"rate": "false_positive_rate", "group": "18-3O", "upper_bound": 0.2}]}
    with pytest.raises(preflight.InputError,
                       match=r"'trainer.constraints.constraints\[0\].group' .* '18-3O'"):
        preflight.check_inputs(config)


@pytest.mark.parametrize("features,reason", [
    (["hours", "signup_date"], "feature 'signup_date' .* holds dates"),
    ([], "feature 'id' .* looks like free text or an identifier"),  # every column
    ([{"occupation": "numeric"}], "says numeric, but it holds text"),
])
def test_dates_free_text_and_wrong_kinds_are_rejected(tmp_path, features, reason):
    _write_splits(tmp_path)
    with pytest.raises(preflight.InputError, match=reason):
        preflight.check_inputs(_config(tmp_path, features=features))


def test_exclude_list_keeps_the_rest(tmp_path):
    _write_splits(tmp_path)
    preflight.check_inputs(_config(tmp_path, features=[], exclude_features=[
        "id", "name", "signup_date", "notes"]))


# --- the CSV ExampleGen's mapping --------------------------------------------

def test_example_gen_maps_label_and_merges_groups():
    from components.csv_example_gen import executor
    settings = executor.settings_of({"custom_config": __import__(
        "google.protobuf.json_format", fromlist=["x"]).MessageToJson(
            executor.pack_settings({"label": "y", "label_positive": "yes",
                                    "group": "g", "group_merge": {"older": ["45+"]}}))})
    assert settings["group_merge"] == {"older": ["45+"]}
    example = tf.train.Example()
    example.features.feature["y"].bytes_list.value.append(b"yes")
    example.features.feature["g"].bytes_list.value.append(b"45+")
    mapped = executor.map_example(example, settings)
    assert mapped.features.feature["y"].int64_list.value == [1]
    assert mapped.features.feature["g"].bytes_list.value == [b"older"]
    example.features.feature["y"].bytes_list.value[:] = [b"no"]
    example.features.feature["y"].ClearField("int64_list")
    assert executor.map_example(example, settings).features.feature["y"] \
        .int64_list.value == [0]


# --- the data gate's run schema (real TFDV) ---------------------------------

def _stats(frame):
    import tensorflow_data_validation as tfdv
    return tfdv.generate_statistics_from_dataframe(frame).datasets[0]


def _gate_problems(tolerance, eval_frame):
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2
    from components.data_gate import checks, run_schema
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"y": rng.integers(0, 2, 400), "g": rng.choice(["a", "b"], 400),
                          "job": rng.choice(["x", "z"], 400),
                          "notes": rng.choice(["p", "q"], 400),
                          "hours": rng.normal(40, 5, 400)})
    stats = {"train": _stats(train), "eval": _stats(eval_frame(train))}
    schema = tfdv.infer_schema(statistics_pb2.DatasetFeatureStatisticsList(
        datasets=[stats["train"]]))
    schema, features = run_schema.restrict(schema, "y", "g", {"job": None, "hours": None},
                                           [], [], tolerance)
    assert features == ["job", "hours"]
    assert [f.name for f in schema.feature] == ["y", "g", "job", "hours"]
    stats = {s: run_schema.restrict_statistics(v, schema) for s, v in stats.items()}
    anomalies = {s: tfdv.validate_statistics(
        statistics_pb2.DatasetFeatureStatisticsList(datasets=[v]), schema)
        for s, v in stats.items()}
    return checks.find_problems(stats, anomalies, "y", "g")


def _one_percent_unseen(train):
    frame = train.copy()
    frame.loc[:3, "job"] = "never-seen"    # 1% of 400
    frame.loc[:50, "notes"] = "not a feature"
    frame.loc[:20, "hours"] = np.nan       # empty cells in a feature
    return frame


def test_unseen_categories_stop_the_gate_unless_tolerated():
    problems = _gate_problems(0.0, _one_percent_unseen)
    assert len(problems) == 1, problems
    assert problems[0].startswith("split 'eval': feature 'job': ")
    assert "data.unseen_category_tolerance" in problems[0]
    assert _gate_problems(0.02, _one_percent_unseen) == []
    # Tolerance is a share: 10% unseen is still too much at 0.02.
    def ten_percent(train):
        frame = train.copy()
        frame.loc[:39, "job"] = "never-seen"
        return frame
    assert len(_gate_problems(0.02, ten_percent)) == 1


# --- the model: empty cells and unseen categories, in serving ---------------

def _example(**values):
    feature = {}
    for name, value in values.items():
        if isinstance(value, float):
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        elif isinstance(value, int):
            feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
        elif value is not None:
            feature[name] = tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[value.encode()]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_served_model_handles_empty_cells_and_unseen_categories(tmp_path):
    from trainer_module import export, models, tabular_inputs
    kinds = {"hours": "numeric", "job": "categorical", "edu": "categorical"}
    spec = {"hours": tf.io.VarLenFeature(tf.float32),
            "job": tf.io.VarLenFeature(tf.string), "edu": tf.io.VarLenFeature(tf.int64)}
    train = [_example(hours=float(h), job=j, edu=e) for h, j, e in
             zip(range(30, 50), ["a", "b"] * 10, [3, 4, 5, 6] * 5)]
    encoded = tabular_inputs.encode(tf.io.parse_example(tf.constant(train), spec), kinds)
    assert encoded["edu"].numpy()[0, 0] == b"3"
    model = models.tabular_classifier(kinds, {k: v.numpy() for k, v in encoded.items()})
    export.save(model, str(tmp_path / "model"), spec,
                lambda parsed: tabular_inputs.encode(parsed, kinds))
    serve = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    queries = [_example(hours=40.0, job="a", edu=3),
               _example(hours=None, job="a", edu=3),     # empty numeric cell
               _example(hours=40.0, job=None, edu=None),  # empty categorical cells
               _example(hours=40.0, job="never-seen", edu=99)]  # unseen (OOV)
    probabilities = serve(examples=tf.constant(queries))["probabilities"].numpy()
    assert probabilities.shape == (4, 1) and np.isfinite(probabilities).all()
    # The empty hours cell is the train mean (39.5), not 0: close to hours=40.
    imputed = serve(examples=tf.constant([_example(hours=39.5, job="a", edu=3)]))
    assert abs(float(imputed["probabilities"][0, 0]) - float(probabilities[1, 0])) < 0.2
    assert sorted(serve.structured_input_signature[1]) == ["examples"]


# --- the leakage guard -------------------------------------------------------

def test_leakage_guard_flags_label_copies_not_identifiers():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 1000)
    features = {
        "copy_code": np.where(labels == 1, "A7", "B2").astype(object),
        "inverted": -labels + rng.normal(0, 0.01, 1000),
        "id": np.array([f"R{i}" for i in range(1000)], dtype=object),
        "noise": rng.normal(size=1000),
        "weak": labels + rng.normal(0, 1.5, 1000),
    }
    kinds = {"copy_code": "categorical", "inverted": "numeric", "id": "categorical",
             "noise": "numeric", "weak": "numeric"}
    scores = leakage.scores(features, kinds, labels)
    assert scores["copy_code"] == 1.0 and scores["inverted"] == 1.0
    assert 0.4 < scores["id"] < 0.6 and scores["noise"] < 0.6
    assert 0.6 < scores["weak"] < 0.9
    assert [f["feature"] for f in leakage.flagged(scores)] == ["copy_code", "inverted"]
    # Against an independent reference: scikit-learn's AUC.
    from sklearn.metrics import roc_auc_score
    assert abs(leakage.auc(features["weak"], labels) -
               roc_auc_score(labels, features["weak"])) < 1e-9


def test_integer_values_survive_the_custom_config_struct():
    """A proto Struct turns integers into floats (1 -> 1.0): still matched."""
    from google.protobuf import json_format
    from components.csv_example_gen import executor
    settings = executor.settings_of({"custom_config": json_format.MessageToJson(
        executor.pack_settings({"label": "y", "label_positive": 2, "group": "g",
                                "group_merge": {"old": [45, 60]}}))})
    assert settings["label_positive"] == 2.0  # what the executor receives
    example = tf.train.Example()
    example.features.feature["y"].int64_list.value.append(2)
    example.features.feature["g"].int64_list.value.append(60)
    mapped = executor.map_example(example, settings)
    assert mapped.features.feature["y"].int64_list.value == [1]
    assert mapped.features.feature["g"].bytes_list.value == [b"old"]
