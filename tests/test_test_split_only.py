"""A run that trains nothing reads the test split alone: `data.splits: {test:
PATTERN}`, or every file as the test split. The schema is inferred from that split
(or read from data.schema_file), and the data gate still stops on anomalies.

Only a `candidate` section (a model or predictions made elsewhere) makes a run
train nothing; these tests stand for it by setting Config.trains to False.
The pipeline test runs the data half of the DAG (pipeline.data_gate) on a
COMPAS-like file whose header repeats names, so it also reads the examples the
CSV ExampleGen writes for repeated columns."""
import glob
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf
import yaml
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from fairgate import config as config_lib
from fairgate.data import preflight
from fairgate.config import ConfigError
from tests import pipeline_helpers as helpers
from tests.tabular import write_compas_like

GROUPS = ["African-American", "Caucasian"]


def _raw(tmp_path, **data):
    raw_data = {"source": "csv", "input_base": str(tmp_path / "csv"),
                "label": "two_year_recid", "group": "race",
                "exclude_features": ["id"], "splits": {"test": "test/*.csv"}}
    raw_data.update(data)
    return {"name": "test-only", "data": raw_data, "evaluation": {"groups": GROUPS},
            "pipeline_root": str(tmp_path / "root"),
            "metadata_path": str(tmp_path / "metadata.sqlite"),
            "push_destination": str(tmp_path / "serving"),
            "report_dir": str(tmp_path / "report")}


def _config(tmp_path, **data):
    return config_lib.from_dict(_raw(tmp_path, **data), origin=str(tmp_path / "run.yaml"))


@pytest.fixture
def trains_nothing(monkeypatch):
    monkeypatch.setattr(config_lib.Config, "trains", property(lambda self: False))


# --- config -------------------------------------------------------------------

def test_a_test_split_alone_with_a_trainer_names_the_key_and_file(tmp_path):
    with pytest.raises(ConfigError) as raised:
        _config(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"'data.splits' in {tmp_path / 'run.yaml'}: names the "
                              "test split alone, but this run trains a model")
    with pytest.raises(ConfigError, match="'data.splits'.*train, eval and test \\(or "
                                          "test alone"):
        _config(tmp_path, splits={"train": "a/*", "test": "b/*"})


def test_a_test_split_alone_with_a_trainer_exits_2(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(_raw(tmp_path)))
    run = subprocess.run([sys.executable, "-m", "fairgate.cli", "run", "--config",
                          str(path)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=dict(os.environ))
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"'data.splits' in {path}: names the test split alone" in run.stderr


def test_the_json_schema_takes_a_test_split_alone():
    import jsonschema
    schema = config_lib.json_schema()
    validator = jsonschema.Draft202012Validator(schema)
    data = {"source": "csv", "input_base": "x"}
    assert not list(validator.iter_errors({"data": {**data, "splits": {"test": "t*"}}}))
    assert list(validator.iter_errors({"data": {**data, "splits": {"train": "t*"}}}))


def test_without_training_the_dag_reads_and_infers_from_the_test_split(
        tmp_path, trains_nothing):
    from pipeline import pipeline
    config = _config(tmp_path)
    assert (config.trains, config.schema_split) == (False, "test")
    from tfx.components.example_gen import utils
    for data, pattern in (({}, "test/*.csv"), ({"splits": {}}, "*")):
        splits = pipeline.input_splits(_config(tmp_path, **data))
        [split] = splits["input_config"].splits
        assert (split.name, split.pattern) == ("test", pattern)
        # ExampleGen writes that one split (TFX hash-splits a lone input split
        # into train and eval unless told otherwise).
        assert utils.generate_output_split_names(
            splits["input_config"], splits["output_config"]) == ["test"]
    checked = pipeline.data_gate(config)
    assert json.loads(checked.schema.exec_properties["exclude_splits"]) == ["train", "eval"]
    assert [node.id for node in checked.nodes] == [
        "CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
        "DataValidationGate"]


def test_groups_are_looked_up_in_the_test_split(tmp_path, trains_nothing):
    write_compas_like(tmp_path / "csv" / "test" / "part.csv", 120, seed=1)
    config = config_lib.from_dict({**_raw(tmp_path), "evaluation": {
        "groups": ["African-American", "Hispanic"]}}, origin=str(tmp_path / "run.yaml"))
    with pytest.raises(preflight.InputError,
                       match="group value 'Hispanic' is not in column 'race' of the "
                             "test split"):
        preflight.check_inputs(config)


# --- the data half of the DAG, run -----------------------------------------------

def _run_data_gate(config):
    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.pipeline import Pipeline
    from pipeline import pipeline
    preflight.check_inputs(config)
    dag = Pipeline(
        pipeline_name=config.name, pipeline_root=config.resolved_pipeline_root,
        components=pipeline.data_gate(config).nodes, enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            config.resolved_metadata_path),
        beam_pipeline_args=list(config.beam_args))
    LocalDagRunner().run(dag)


def _examples(uri, split):
    files = glob.glob(os.path.join(uri, f"Split-{split}", "*.gz"))
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_test_split_alone_through_the_data_gate(tmp_path, trains_nothing):
    path = tmp_path / "csv" / "test" / "part.csv"
    write_compas_like(path, 240, seed=2, differing=("start",), start=30)
    config = _config(tmp_path)
    _run_data_gate(config)
    outputs = helpers.outputs(config)
    examples_uri = outputs["CsvExampleGen"]["examples"]
    assert sorted(os.listdir(examples_uri)) == ["Split-test"]
    examples = _examples(examples_uri, "test")
    assert len(examples) == 240
    # decile_score and priors_count (identical repeats) once each; `start` (a
    # differing repeat the run does not use) in none.
    assert sorted(examples[0].features.feature) == sorted(
        {"id", "sex", "age", "race", "juv_fel_count", "decile_score", "priors_count",
         "c_charge_degree", "two_year_recid"})
    with open(path) as f:
        first_row = f.readlines()[1].strip().split(",")
    assert examples[0].features.feature["decile_score"].int64_list.value[0] == \
        int(first_row[5])
    # The schema SchemaGen inferred from the test split, which passed the gate.
    [schema_file] = glob.glob(os.path.join(outputs["SchemaGen"]["schema"], "*.pbtxt"))
    schema = text_format.Parse(open(schema_file).read(), schema_pb2.Schema())
    assert {"race", "decile_score", "two_year_recid"} <= {f.name for f in schema.feature}
    assert "start" not in {f.name for f in schema.feature}
    assert "DataValidationGate" in outputs

    # The same test split against a given schema whose race domain lacks a value
    # the data holds: an anomaly, and the gate stops the run.
    for domain in schema.string_domain:
        if domain.name == "race":
            kept = [v for v in domain.value if v != "Caucasian"]
            del domain.value[:]
            domain.value.extend(kept)
    curated = tmp_path / "schema.pbtxt"
    curated.write_text(text_format.MessageToString(schema))
    stopped = config_lib.from_dict(
        {**_raw(tmp_path, schema_file=str(curated)), "name": "test-only-curated"},
        origin=str(tmp_path / "curated.yaml"))
    with pytest.raises(Exception) as raised:
        _run_data_gate(stopped)
    message = helpers.error_chain(raised.value)
    assert "Data validation failed" in message
    assert "split 'test': feature 'race': ENUM_TYPE_UNEXPECTED_STRING_VALUES" in message
