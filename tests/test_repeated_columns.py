"""Header names a published CSV repeats (ProPublica's COMPAS two-year file repeats
decile_score and priors_count): read once when identical in every row; dropped
with a warning when they differ and the run does not use them; an error naming
column, file and line when it does. Preflight, the CSV ExampleGen's judgement and
the command line; the examples themselves are read in test_test_split_only.py."""
import json
import logging
import os
import subprocess
import sys

import pytest
import yaml

from fairgate import config as config_lib, progress
from fairgate.data import csv_header, preflight, run_columns
from tests.tabular import write_compas_like

GROUPS = ["African-American", "Caucasian"]


def _raw(tmp_path, **data):
    raw_data = {"source": "csv", "input_base": str(tmp_path / "csv"),
                "label": "two_year_recid", "group": "race",
                "exclude_features": ["id"]}
    raw_data.update(data)
    return {
        "name": "compas", "data": raw_data, "evaluation": {"groups": GROUPS},
        "trainer": {"constraints": {"constraints": [
            {"gap": "false_positive_rate", "groups": GROUPS, "max_gap": 0.1}]}},
        "pipeline_root": str(tmp_path / "root"),
        "metadata_path": str(tmp_path / "metadata.sqlite"),
        "push_destination": str(tmp_path / "serving"),
        "report_dir": str(tmp_path / "report"),
    }


def _config(tmp_path, **data):
    return config_lib.from_dict(_raw(tmp_path, **data),
                                origin=str(tmp_path / "run.yaml"))


# --- the streaming comparison --------------------------------------------------

def test_scan_finds_the_first_line_where_repeated_columns_differ(tmp_path):
    path = str(tmp_path / "csv" / "compas.csv")
    write_compas_like(path, 40, seed=0, differing=("start",), start=17)
    found = {item.name: item for item in csv_header.scan(path)}
    assert sorted(found) == ["decile_score", "priors_count", "start"]
    assert found["decile_score"].differs_at is None
    assert found["decile_score"].positions == (5, 8)
    assert found["priors_count"].differs_at is None
    # Data row 17 (0-based) is line 19: the header is line 1.
    assert found["start"].differs_at == 19
    first, second = found["start"].cells
    assert int(second) == int(first) + 1000


def test_a_header_without_repeats_is_not_read_further(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("a,b\n1,2\n1,2,3,4\n")  # a ragged row nobody needs to read
    assert csv_header.scan(str(path)) == []


def test_names_the_run_uses_come_from_the_config_keys(tmp_path):
    config = _config(tmp_path, exclude_features=[],
                     features=["age", {"priors_count": "numeric"}],
                     feature_bounds={"age": [0, 120]})
    used = run_columns.names_used(config, ["c_charge_degree"])
    assert used == {"c_charge_degree": "evaluation.eval_config (condition column)",
                    "age": "data.feature_bounds", "priors_count": "data.features",
                    "race": "data.group", "two_year_recid": "data.label"}


# --- preflight ---------------------------------------------------------------

def test_identical_repeats_are_read_once_with_a_warning(tmp_path, caplog):
    path = tmp_path / "csv" / "compas.csv"
    write_compas_like(path, 300, seed=1)
    with caplog.at_level(logging.WARNING, logger=progress.LOGGER):
        preflight.check_inputs(_config(tmp_path))
    [warning] = [r.getMessage() for r in caplog.records
                 if r.getMessage().startswith("CSV header: ")]
    assert warning == (f"CSV header: {path} repeats 'decile_score', 'priors_count' with "
                       "identical values in every row: each is read as one column")


def test_differing_unused_repeats_are_dropped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "csv" / "compas.csv"
    write_compas_like(path, 300, seed=2, differing=("start",), start=5)
    with caplog.at_level(logging.WARNING, logger=progress.LOGGER):
        preflight.check_inputs(_config(tmp_path))
    messages = [r.getMessage() for r in caplog.records]
    assert (f"CSV header: {path} repeats 'start' (columns 11 and 13) with different "
            "values (first at line 7); the run does not use it, so every column of "
            "that name is left out of the examples") in messages
    assert any("'decile_score', 'priors_count' with identical values" in m
               for m in messages)


@pytest.mark.parametrize("data,key", [
    ({"exclude_features": [], "features": ["age", "start"]}, "data.features"),
    ({"feature_bounds": {"start": [0, 30]}}, "data.feature_bounds"),
    ({"group": "start"}, "data.group"),
])
def test_differing_repeats_the_run_uses_name_column_file_and_line(tmp_path, data, key):
    path = tmp_path / "csv" / "compas.csv"
    write_compas_like(path, 300, seed=3, differing=("start",), start=9)
    with pytest.raises(preflight.InputError) as raised:
        preflight.check_inputs(_config(tmp_path, **data))
    message = str(raised.value)
    assert message.startswith(
        f"{path}: header name 'start' appears more than once (columns 11 and 13) and "
        "the columns differ from line 11 on (")
    assert f"the run uses 'start' ({key} in {tmp_path / 'run.yaml'})" in message


def test_a_differing_repeat_in_one_file_is_dropped_from_every_file(tmp_path, caplog):
    write_compas_like(tmp_path / "csv" / "a.csv", 200, seed=4)
    write_compas_like(tmp_path / "csv" / "b.csv", 200, seed=5, differing=("start",),
                      start=150)
    repeated = [item for name in ("a.csv", "b.csv")
                for item in csv_header.scan(str(tmp_path / "csv" / name))]
    resolution = csv_header.resolve(repeated, {"race": "data.group"}, "run.yaml")
    assert resolution.dropped == ["start"]
    with caplog.at_level(logging.WARNING, logger=progress.LOGGER):
        preflight.check_inputs(_config(tmp_path))
    assert sum("left out of the examples" in r.getMessage() for r in caplog.records) == 1


# --- the CSV ExampleGen judges the same, from its own exec_properties ----------

def test_example_gen_judges_every_split_with_the_columns_the_run_uses(tmp_path):
    from components.csv_example_gen import executor
    from fairgate.metrics import eval_config
    from pipeline.pipeline import example_gen
    write_compas_like(tmp_path / "csv" / "compas.csv", 50, seed=6, differing=("start",))
    config = _config(tmp_path)
    node = example_gen(config, eval_config.of_run(config))
    properties = dict(node.exec_properties)
    properties["input_config"] = json.dumps(
        {"splits": [{"name": "single_split", "pattern": "*"}]})
    assert executor.repeated_columns(properties).dropped == ["start"]
    config = _config(tmp_path, exclude_features=[], features=["start", "age"])
    node = example_gen(config, eval_config.of_run(config))
    properties = dict(node.exec_properties)
    properties["input_config"] = json.dumps(
        {"splits": [{"name": "single_split", "pattern": "*"}]})
    with pytest.raises(csv_header.RepeatedColumnError,
                       match="header name 'start' appears more than once"):
        executor.repeated_columns(properties)


# --- the command line ------------------------------------------------------------

def test_a_differing_column_the_run_uses_exits_2_before_anything_runs(tmp_path):
    path = tmp_path / "csv" / "compas.csv"
    write_compas_like(path, 300, seed=7, differing=("priors_count",), start=40)
    raw = _raw(tmp_path, exclude_features=[], features=["age", "priors_count"])
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = subprocess.run([sys.executable, "-m", "fairgate.cli", "run", "--config",
                          str(config)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={**os.environ})
    assert run.returncode == 2, run.stderr[-3000:]
    assert (f"{path}: header name 'priors_count' appears more than once (columns 7, 10 "
            "and 13) and the columns differ from line 42 on") in run.stderr
    assert f"(data.features in {config})" in run.stderr
    assert not (tmp_path / "root").exists()


def test_the_terminal_shows_preflights_warning_once(tmp_path, caplog):
    write_compas_like(tmp_path / "csv" / "compas.csv", 50, seed=8)
    with caplog.at_level(logging.WARNING):
        preflight.check_inputs(_config(tmp_path))
    [record] = [r for r in caplog.records if "CSV header: " in r.getMessage()]
    assert progress.is_progress(record)
    # The CSV ExampleGen says it again, into the run log only.
    assert not progress.is_progress(logging.makeLogRecord(
        {"name": "root", "msg": "CsvExampleGen: CSV header: ..."}))
