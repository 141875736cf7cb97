"""`fairgate` as a user and a release job run it: exit codes, caching, resume
after a kill, and the verdict it prints. Each call is a real subprocess."""
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from fairgate.release import serving_versions
from tests.pipeline_helpers import NATIVE_LOG_LINE
from tests.tabular import write_biased_csv

FAIRGATE = os.path.join(os.path.dirname(sys.executable), "fairgate")
LENIENT = os.path.join(os.path.dirname(__file__), "data", "lenient_tabular.pbtxt")


def write_config(workdir, **overrides):
    raw = {
        "name": "cli-test",
        "data": {"source": "csv", "input_base": str(workdir / "csv"),
                 "label": "approved", "group": "region"},
        "trainer": {"mode": "tfco", "train_steps": 300, "snapshot_every": 100,
                    "baseline": False, "learning_rate": 0.003,
                    "constraint_learning_rate": 0.005,
                    "constraints": {"constraints": [
                        {"gap": "false_positive_rate", "groups": ["north", "south"],
                         "max_gap": 0.05}]}},
        "evaluation": {"eval_config": LENIENT, "groups": ["north", "south"]},
        "pipeline_root": str(workdir / "root"),
        "metadata_path": str(workdir / "metadata.sqlite"),
        "push_destination": str(workdir / "serving"),
        "report_dir": str(workdir / "report"),
    }
    for key, value in overrides.items():
        section, _, field = key.partition(".")
        if field:
            raw[section][field] = value
        else:
            raw[section] = value
    path = workdir / f"config_{len(list(workdir.glob('config_*')))}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def outputs(config_path):
    from fairgate import artifacts, config as config_lib
    config = config_lib.load(config_path)
    return artifacts.latest_outputs(config.resolved_metadata_path,
                                    config.resolved_pipeline_root)


def fairgate(*args, cwd):
    return subprocess.run([FAIRGATE, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cli")
    write_biased_csv(workdir / "csv" / "data.csv", 2000, seed=0)
    return workdir


def _versions(workdir):
    return serving_versions.versions(str(workdir / "serving"))


def test_run_killed_during_training_resumes_and_pushes_once(workdir):
    config = write_config(workdir)
    log = open(workdir / "killed.log", "w")
    run = subprocess.Popen([FAIRGATE, "run", "--config", config], cwd=workdir,
                           stdout=log, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    deadline = time.time() + 600
    while "Component Trainer is running" not in (workdir / "killed.log").read_text():
        assert run.poll() is None, (workdir / "killed.log").read_text()
        assert time.time() < deadline
        time.sleep(0.5)
    time.sleep(3)  # inside run_fn
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    assert _versions(workdir) == []
    before = outputs(config)

    resumed = fairgate("run", "--config", config, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "VERDICT: BLESSED, pushed" in resumed.stdout
    assert len(_versions(workdir)) == 1
    # Every component from the Trainer on reports in the terminal (a SavedModel
    # export used to silence absl's INFO lines for the rest of the run).
    for component in ("Trainer", "ServingModel", "Evaluator", "GatedPusher",
                      "FairnessReportGen"):
        assert f"Component {component} is finished" in resumed.stderr, component
    # ... and so does every other component of the DAG, cached or not, and no
    # C++ library writes its own lines there (they go to run.log).
    for component in outputs(config):
        assert f"Component {component} is finished" in resumed.stderr, component
    assert not NATIVE_LOG_LINE.search(resumed.stderr), resumed.stderr[-3000:]
    # Ingestion and validation finished before the kill: the re-run reused them.
    after = outputs(config)
    for component in ("CsvExampleGen", "StatisticsGen", "DataValidationGate"):
        assert after[component] == before[component]
    assert (workdir / "report" / "report.json").exists()

    again = fairgate("run", "--config", config, "--runner", "beam", cwd=workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in serving" in again.stdout
    assert len(_versions(workdir)) == 1
    # Unchanged inputs: ingestion, validation and training are reused from the cache.
    # (ServingModel runs on every run, so the Evaluator judges the model again
    # against the model in serving; the Pusher then finds it already pushed.)
    cached = outputs(config)
    for component in ("CsvExampleGen", "StatisticsGen", "SchemaGen",
                      "ExampleValidator", "DataValidationGate", "Trainer"):
        assert cached[component] == after[component], component
    assert cached["ServingModel"] != after["ServingModel"]  # never from the cache


def test_report_command_prints_the_last_verdict(workdir):
    config = write_config(workdir)
    shown = fairgate("report", "--config", config, cwd=workdir)
    assert shown.returncode == 0
    assert "VERDICT: BLESSED" in shown.stdout
    assert str(workdir / "report" / "report.html") in shown.stdout
    # A local report is read without importing TensorFlow (seconds of start-up).
    probe = ("import sys\nfrom fairgate import cli\n"
             f"code = cli.main(['report', '--config', {config!r}])\n"
             "print(code, 'tensorflow' in sys.modules)\n")
    quick = subprocess.run([sys.executable, "-c", probe], cwd=workdir,
                           capture_output=True, text=True, timeout=120)
    assert quick.stdout.splitlines()[-1] == "0 False", quick.stdout + quick.stderr


def test_not_blessed_exits_3_and_says_why(workdir):
    strict = workdir / "strict.pbtxt"
    strict.write_text(open(LENIENT).read().replace("upper_bound { value: 0.9 }",
                                                   "upper_bound { value: 0.0 }"))
    config = write_config(workdir, **{"evaluation.eval_config": str(strict)})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 3, run.stderr[-3000:]
    assert "VERDICT: NOT BLESSED" in run.stdout
    assert "false_positive_rate_gap" in run.stdout
    assert len(_versions(workdir)) == 1


def test_bad_config_exits_2_naming_the_key(workdir):
    config = write_config(workdir, **{"trainer.train_stepz": 5})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 2
    assert "trainer.train_stepz" in run.stderr and config in run.stderr
    # Keys that TFCO judges are checked by preflight, before anything runs.
    config = write_config(workdir, **{"trainer.constraints": {"constraints": [
        {"rate": "fpr", "group": "north", "upper_bound": 0.1}]}})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "constraints[0].rate: unknown rate 'fpr'" in run.stderr
    assert config in run.stderr


def test_misspelled_group_exits_2_before_anything_runs(workdir):
    config = write_config(workdir, **{"evaluation.groups": ["north", "sout"]})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "'evaluation.groups[1]'" in run.stderr and "'sout'" in run.stderr
    assert "values found: 'north' (" in run.stderr
    config = write_config(workdir, **{"trainer.constraints": {"constraints": [
        {"rate": "false_positive_rate", "group": "east", "upper_bound": 0.1}]}})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 2, run.stderr[-3000:]
    assert "'trainer.constraints.constraints[0].group'" in run.stderr
    assert "group value 'east'" in run.stderr


def test_failed_component_exits_1(workdir):
    # Values outside their bounds: the data gate (a component) stops the run.
    config = write_config(workdir, **{"data.feature_bounds": {"score": [0.0, 0.1]}})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "feature 'score': values outside [0, 0.1]" in run.stderr


def test_prepare_embedded_shows_its_progress_and_nothing_else(tmp_path):
    """A person generating faces sees `Progress:` lines (percentage) in the
    terminal, not TFDS' or native warnings (those go to DATA_DIR/prepare-embedded.log),
    and the dataset's path on stdout."""
    result = fairgate("prepare-embedded", "--num-examples", "40", "--seed", "5",
                      "--data-dir", str(tmp_path / "tfds"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("Progress: " in line and "100%" in line for line in lines), lines
    assert all(line.startswith("[fairgate ") for line in lines), lines
    assert "n40_seed5" in result.stdout
    assert (tmp_path / "tfds" / "prepare-embedded.log").stat().st_size > 0
