"""`fairgate` as a user and a release job run it: exit codes, caching, resume
after a kill, the verdict it prints, a corrupted model in serving and a second run
on the same pipeline root. Each call is a real subprocess.

One CSV and one pipeline root serve the whole file: the `resumed` fixture's runs
push the model the later tests judge against, so each test passes alone."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from fairgate import config as config_lib
from fairgate.release import serving_versions
from pipeline import runners
from tests import pipeline_helpers as helpers
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
    return helpers.outputs(config_lib.load(config_path))


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


@pytest.fixture(scope="module")
def resumed(workdir):
    """A run killed inside the Trainer, resumed (blessed, pushed), then run again
    unchanged with the Beam runner: what each step printed and left. The report
    and the pushed version it leaves are what the later tests read, so each of
    them passes alone and in any order."""
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
    seen = {"config": config, "killed_versions": _versions(workdir),
            "before": outputs(config)}
    seen["resumed"] = fairgate("run", "--config", config, cwd=workdir)
    seen["resumed_versions"] = _versions(workdir)
    seen["after"] = outputs(config)
    seen["resumed_report"] = (workdir / "report" / "report.json").exists()
    seen["again"] = fairgate("run", "--config", config, "--runner", "beam", cwd=workdir)
    seen["again_versions"] = _versions(workdir)
    seen["cached"] = outputs(config)
    # The report as these runs left it (later runs replace the stable folder).
    seen["report_dir"] = str(workdir / "report_resumed")
    shutil.copytree(workdir / "report", seen["report_dir"])
    return seen


def test_run_killed_during_training_resumes_and_pushes_once(resumed):
    assert resumed["killed_versions"] == []
    before, after = resumed["before"], resumed["after"]
    resumed_run = resumed["resumed"]
    assert resumed_run.returncode == 0, resumed_run.stderr[-3000:]
    assert "VERDICT: BLESSED, pushed" in resumed_run.stdout
    assert len(resumed["resumed_versions"]) == 1
    # Every component from the Trainer on reports in the terminal (a SavedModel
    # export used to silence absl's INFO lines for the rest of the run).
    for component in ("Trainer", "ServingModel", "Evaluator", "GatedPusher",
                      "FairnessReportGen"):
        assert f"Component {component} is finished" in resumed_run.stderr, component
    # ... and so does every other component of the DAG, cached or not, and no
    # C++ library writes its own lines there (they go to run.log).
    for component in after:
        assert f"Component {component} is finished" in resumed_run.stderr, component
    assert not NATIVE_LOG_LINE.search(resumed_run.stderr), resumed_run.stderr[-3000:]
    # Ingestion and validation finished before the kill: the re-run reused them.
    for component in ("CsvExampleGen", "StatisticsGen", "DataValidationGate"):
        assert after[component] == before[component]
    assert resumed["resumed_report"]

    again = resumed["again"]
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already in serving" in again.stdout
    assert len(resumed["again_versions"]) == 1
    # Unchanged inputs: ingestion, validation and training are reused from the cache.
    # (ServingModel runs on every run, so the Evaluator judges the model again
    # against the model in serving; the Pusher then finds it already pushed.)
    cached = resumed["cached"]
    for component in ("CsvExampleGen", "StatisticsGen", "SchemaGen",
                      "ExampleValidator", "DataValidationGate", "Trainer"):
        assert cached[component] == after[component], component
    assert cached["ServingModel"] != after["ServingModel"]  # never from the cache


def test_report_command_prints_the_last_verdict(workdir, resumed):
    config = write_config(workdir, report_dir=resumed["report_dir"])
    shown = fairgate("report", "--config", config, cwd=workdir)
    assert shown.returncode == 0
    assert "VERDICT: BLESSED" in shown.stdout
    assert os.path.join(resumed["report_dir"], "report.html") in shown.stdout
    # A local report is read without importing TensorFlow (seconds of start-up).
    probe = ("import sys\nfrom fairgate import cli\n"
             f"code = cli.main(['report', '--config', {config!r}])\n"
             "print(code, 'tensorflow' in sys.modules)\n")
    quick = subprocess.run([sys.executable, "-c", probe], cwd=workdir,
                           capture_output=True, text=True, timeout=120)
    assert quick.stdout.splitlines()[-1] == "0 False", quick.stdout + quick.stderr


def test_not_blessed_exits_3_and_says_why(workdir, resumed):
    strict = workdir / "strict.pbtxt"
    strict.write_text(open(LENIENT).read().replace("upper_bound { value: 0.9 }",
                                                   "upper_bound { value: 0.0 }"))
    config = write_config(workdir, **{"evaluation.eval_config": str(strict)})
    pushed = _versions(workdir)
    assert pushed  # a blessed model is in serving, and stays the only one
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 3, run.stderr[-3000:]
    assert "VERDICT: NOT BLESSED" in run.stdout
    assert "false_positive_rate_gap" in run.stdout
    assert _versions(workdir) == pushed


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
    # Refused before TFX is imported (seconds of start-up); and the pipeline's
    # modules load TFX without its Google Cloud extensions (`tfx.v1` imports them).
    probe = ("import sys\nfrom fairgate import cli\n"
             f"code = cli.main(['run', '--config', {config!r}])\n"
             "print(code, 'tfx' in sys.modules)\n"
             "from pipeline import kubeflow_runner, runners\n"
             "print(sorted(m for m in ('tfx.v1', 'google.cloud.aiplatform')"
             " if m in sys.modules))\n")
    run = subprocess.run([sys.executable, "-c", probe], cwd=workdir,
                         capture_output=True, text=True, timeout=300)
    assert run.stdout.splitlines()[-2:] == ["2 False", "[]"], run.stdout + run.stderr
    assert "'trainer.constraints.constraints[0].group'" in run.stderr
    assert "group value 'east'" in run.stderr


def test_failed_component_exits_1(workdir):
    # Values outside their bounds: the data gate (a component) stops the run.
    config = write_config(workdir, **{"data.feature_bounds": {"score": [0.0, 0.1]}})
    run = fairgate("run", "--config", config, cwd=workdir)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "feature 'score': values outside [0, 0.1]" in run.stderr


def test_a_corrupted_model_in_serving_is_named_and_a_second_run_waits(workdir, resumed):
    """A corrupted model in serving does not crash a run: it is named, skipped and
    the change gates say so; and a second run on the same pipeline root waits for
    the first. (It corrupts the pushed version and pushes another: the tests above
    that count versions compare with what they found.)"""
    config = resumed["config"]
    serving = str(workdir / "serving")
    (version,) = serving_versions.versions(serving)
    graph = os.path.join(serving, version, "saved_model.pb")
    with open(graph, "rb") as f:
        head = f.read(100)
    with open(graph, "wb") as f:
        f.write(head)  # the served model cut to 100 bytes

    # Another run holds the pipeline root: this one waits, says so, then runs.
    held = runners.run_lock(config_lib.load(config)).acquire()
    log = open(workdir / "second.log", "w")
    second = subprocess.Popen([FAIRGATE, "run", "--config", config], cwd=workdir,
                              stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 300
    while "another run on this pipeline root" not in (workdir / "second.log").read_text():
        assert second.poll() is None, (workdir / "second.log").read_text()[-3000:]
        assert time.time() < deadline
        time.sleep(0.5)
    time.sleep(2)
    assert "Component" not in (workdir / "second.log").read_text()  # nothing ran yet
    held.release()
    stdout, _ = second.communicate(timeout=900)
    stderr = (workdir / "second.log").read_text()
    assert second.returncode == 0, stderr[-3000:]
    assert f"version {version} at {serving} is unusable: " in stderr
    assert "does not parse as a SavedModel (100 bytes" in stderr
    assert "VERDICT: BLESSED, pushed" in stdout  # pushed again: serving is mended

    report = helpers.report(config_lib.load(config))
    baseline = report["serving_baseline"]
    assert baseline["in_serving"] is False
    assert [u["version"] for u in baseline["unusable"]] == [version]
    assert not any("change vs" in c["name"] for c in report["checks"])
    page = open(workdir / "report" / "report.html").read()
    assert f"Version <b>{version}</b> in serving is unusable" in page
    assert "No usable model was in serving" in page
    versions = serving_versions.versions(serving)
    assert len(versions) == 2 and versions[0] == version
    assert serving_versions.newest_usable(serving)[0] == versions[1]


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
