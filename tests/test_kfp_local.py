"""`fairgate run --runner kfp-local`: the compiled Kubeflow Pipelines spec executed
as the open-source backend would (real subprocesses per task, ML Metadata in
SQLite), through the same CLI, verdict and exit codes as the other runners."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from fairgate.release import serving_versions
from pipeline import kfp_spec
from tests.pipeline_helpers import NATIVE_LOG_LINE
from tests.tabular import write_biased_csv

FAIRGATE = os.path.join(os.path.dirname(sys.executable), "fairgate")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENIENT = os.path.join(os.path.dirname(__file__), "data", "lenient_tabular.pbtxt")


def _config(workdir, name, data, eval_config=LENIENT, groups=(0, 1), **trainer):
    raw = {
        "name": name, "data": data,
        "trainer": {"train_steps": 300, "snapshot_every": 100, "baseline": False,
                    **trainer},
        "evaluation": {"eval_config": eval_config, "groups": list(groups)},
        "pipeline_root": str(workdir / "root"),
        "push_destination": str(workdir / "serving"),
        "report_dir": str(workdir / "report"),
    }
    path = workdir / f"{name}-{os.path.basename(eval_config)}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _run(config, cwd):
    return subprocess.run([FAIRGATE, "run", "--runner", "kfp-local", "--config", config],
                          cwd=cwd, capture_output=True, text=True, timeout=900)


def _report(workdir):
    with open(workdir / "report" / "report.json") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("kfp_local")
    config = _config(workdir, "kfp-embedded", {
        "source": "embedded_celeba", "num_examples": 2500, "seed": 5,
        "data_dir": str(workdir / "tfds")})
    first = _run(config, workdir)
    return workdir, config, first


def test_embedded_default_through_the_spec_is_blessed_and_pushed_once(embedded):
    workdir, _, first = embedded
    assert first.returncode == 0, first.stdout + first.stderr
    assert "VERDICT: BLESSED, pushed" in first.stdout
    assert len(serving_versions.versions(str(workdir / "serving"))) == 1
    spec = kfp_spec.load(str(workdir / ".fairgate" / "kfp-embedded" / "kfp-local" /
                             "pipeline.yaml"))
    for task in kfp_spec.tasks(spec):  # a line for every task, in the terminal
        assert f"Component {task} is running" in first.stderr, task
        assert f"Component {task} is finished" in first.stderr, task
    assert not NATIVE_LOG_LINE.search(first.stderr), first.stderr[-3000:]
    # A task's own progress lines, relayed from its process, without absl's prefix.
    assert "] [Trainer] Chose snapshot " in first.stderr, first.stderr[-3000:]
    assert not re.search(r"\[\w+\] [IWEF]\d{4} \d\d:", first.stderr), first.stderr[-3000:]
    report = _report(workdir)
    assert report["verdict"]["blessed"] and report["serving_baseline"] == {
        "in_serving": False, "push_destination": str(workdir / "serving"),
        "unusable": []}
    assert not any("change vs" in c["name"] for c in report["checks"])
    # No unconstrained model (trainer.baseline false) and nothing in serving yet.
    assert not report["side_effects_measurement"]["measured"]
    assert "side effects were not measured" in first.stdout


def test_second_run_is_judged_against_the_model_in_serving_and_pushes_nothing(embedded):
    workdir, config, _ = embedded
    (version,) = serving_versions.versions(str(workdir / "serving"))
    second = _run(config, workdir)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "VERDICT: BLESSED, already in serving" in second.stdout
    assert "Component Trainer is finished (cached" in second.stderr
    assert "Component ServingModel is running" in second.stderr  # never cached
    assert serving_versions.versions(str(workdir / "serving")) == [version]
    report = _report(workdir)
    serving = report["serving_baseline"]
    assert serving["in_serving"] and serving["version"] == version
    assert serving["path"] == str(workdir / "serving" / version)
    changes = [c for c in report["checks"] if "change vs model in serving" in c["name"]]
    assert changes and all(c["passed"] for c in changes), report["checks"]
    # SideEffectCheck ran as its own task, against the model in serving: the
    # same model, so every change is 0.
    measurement = report["side_effects_measurement"]
    assert measurement["measured"] and measurement["reference"] == "serving"
    # 3 rates x 2 groups + 4 gaps, less FPR(Young=0), which the constraint targets.
    assert report["side_effects"] == [] and measurement["comparisons"] == 9
    assert all(r["change"] == 0 for r in measurement["changes"])
    assert "no side effects found against the model in serving" in second.stdout


def test_failing_gates_through_the_spec_push_nothing_and_exit_3(embedded):
    workdir, _, _ = embedded
    (version,) = serving_versions.versions(str(workdir / "serving"))
    strict = workdir / "strict.pbtxt"
    text = open(LENIENT).read()
    assert "lower_bound { value: 0.5 }" in text
    strict.write_text(text.replace("lower_bound { value: 0.5 }",
                                   "lower_bound { value: 0.999 }"))
    config = _config(workdir, "kfp-embedded", {
        "source": "embedded_celeba", "num_examples": 2500, "seed": 5,
        "data_dir": str(workdir / "tfds")}, eval_config=str(strict))
    third = _run(config, workdir)
    assert third.returncode == 3, third.stdout + third.stderr
    assert "VERDICT: NOT BLESSED, not pushed" in third.stdout
    assert "binary_accuracy" in third.stdout
    assert serving_versions.versions(str(workdir / "serving")) == [version]
    report = _report(workdir)
    assert not report["verdict"]["blessed"] and not report["verdict"]["pushed"]
    assert any("binary_accuracy" in reason for reason in report["verdict"]["reasons"])


def test_a_csv_source_and_a_module_outside_the_repository_run_through_the_spec(tmp_path):
    """Two things a cluster does unlike the local runner, in one run of the whole spec:
    * CsvExampleGen's driver sits in lifecycle.preCacheCheck, which the open-source
      backend never runs (nor does kfp-local): its executor (fairgate's, with label
      mapping and group merging, run from its dotted path as a pod runs it) and
      every consumer of its examples must work without it;
    * a team's model module kept outside the repository (not on a task's sys.path)
      reaches the Trainers only as the copy that compiling stages in the pipeline
      root, which the spec's custom_config names."""
    from fairgate import config as config_lib
    from pipeline import kubeflow_runner
    module_dir = tmp_path / "outside"
    shutil.copytree(os.path.join(REPO, "configs", "models"), str(module_dir))
    write_biased_csv(tmp_path / "csv" / "data.csv", 3000, seed=0)
    path = _config(tmp_path, "kfp-csv", {
        "source": "csv", "input_base": str(tmp_path / "csv"), "label": "approved",
        "label_positive": 1, "group": "region", "group_merge": {"N": ["north"]}},
        groups=("N", "south"), train_steps=600,
        model={"module_file": str(module_dir / "team_model.py"),
               "function": "build_model", "hparams": {"width": 64, "dropout": 0.0}},
        constraints={"objective": "error_rate", "constraints": [
            {"gap": "false_positive_rate", "groups": ["N", "south"], "max_gap": 0.05}]})
    spec = kubeflow_runner.compile_job(config_lib.load(path), local=True)["pipelineSpec"]
    _, executor = kfp_spec.executor_of(spec, "CsvExampleGen")
    assert "preCacheCheck" in executor["container"].get("lifecycle", {})
    staged_root = os.path.join(str(tmp_path / "root"), "_fairgate_model_modules")
    assert str(module_dir) not in json.dumps(spec)
    (staged,) = os.listdir(staged_root)
    assert sorted(os.listdir(os.path.join(staged_root, staged))) == \
        ["team_layers.py", "team_model.py"]

    done = _run(path, tmp_path)
    assert done.returncode in (0, 3), done.stdout + done.stderr[-3000:]
    for task in kfp_spec.tasks(spec):
        assert f"Component {task} is finished" in done.stderr, task
    (run_root,) = glob.glob(str(tmp_path / "root" / "kfp-csv" / "*" / "CsvExampleGen"))
    examples = os.path.join(run_root, "examples")
    assert sorted(os.listdir(examples)) == ["Split-eval", "Split-test", "Split-train"]
    assert glob.glob(os.path.join(os.path.dirname(run_root), "DataValidationGate",
                                  "validated_schema", "*"))
    import tensorflow as tf
    records = tf.data.TFRecordDataset(
        glob.glob(os.path.join(examples, "Split-train", "*.gz")), compression_type="GZIP")
    regions = {tf.train.Example.FromString(r.numpy()).features.feature["region"]
               .bytes_list.value[0] for r in records}
    assert regions == {b"N", b"south"}
    report = _report(tmp_path)
    assert report["model"]["module_file"].startswith(staged_root)
    assert report["model"]["function"] == "build_model"
    assert report["verdict"]["pushed"] == report["verdict"]["blessed"]


def test_runs_are_recorded_in_ml_metadata_as_the_backend_records_them(embedded):
    """After the runs above: one system.PipelineRun context per run, one
    system.ContainerExecution per task, cached tasks pointing at the execution
    whose outputs they reused, artifacts typed by their schema titles."""
    from pipeline.kfp_local.store import Store, States
    workdir, _, _ = embedded
    store = Store(str(workdir / ".fairgate" / "kfp-embedded" / "kfp-local" /
                      "metadata.sqlite")).store
    runs = store.get_contexts_by_type("system.PipelineRun")
    assert len(runs) >= 2
    executions = store.get_executions_by_type("system.ContainerExecution")
    cached = [e for e in executions if e.last_known_state == States.CACHED]
    assert cached and all("cached_execution_id" in e.custom_properties for e in cached)
    trainers = [e for e in executions
                if e.custom_properties["task_name"].string_value == "Trainer"]
    assert [e.last_known_state for e in trainers][:2] == [States.COMPLETE, States.CACHED]
    types = {t.name for t in store.get_artifact_types()}
    assert {"tfx.Examples", "tfx.Model", "tfx.ModelBlessing",
            "fairgate.FairnessReport"} <= types
