"""The Kubeflow Pipelines v2 spec compiled from the same create_pipeline(config)."""
import json

import pytest

from fairgate import config as config_lib
from fairgate.config import ConfigError

IMAGE = "registry.example.com/fairgate:test"
COMPONENTS = ["CelebAExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "DataValidationGate", "Trainer", "BaselineTrainer", "Evaluator",
              "UnconstrainedEvaluator", "GatedPusher", "FairnessReportGen"]


def _config(**overrides):
    raw = {"name": "fairgate-kfp", "pipeline_root": "gs://bucket/fairgate/root",
           "push_destination": "gs://bucket/fairgate/serving",
           "kubeflow": {"image": IMAGE}, **overrides}
    return config_lib.from_dict(raw, origin="kfp.yaml")


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    from pipeline import kubeflow_runner
    path = kubeflow_runner.compile_spec(
        _config(), str(tmp_path_factory.mktemp("kfp") / "pipeline.json"))
    with open(path) as f:
        return json.load(f)


def _tasks(spec):
    return spec["pipelineSpec"]["root"]["dag"]["tasks"]


def test_spec_has_every_component_in_the_project_image(spec):
    assert set(spec) >= {"displayName", "pipelineSpec", "runtimeConfig"}
    tasks = _tasks(spec)
    for component in COMPONENTS:
        assert component in tasks, f"{component} missing from {sorted(tasks)}"
    assert any("LatestBlessedModel" in name for name in tasks)  # the resolver
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    images = {name: e["container"]["image"] for name, e in executors.items()
              if "container" in e}
    assert images and set(images.values()) == {IMAGE}, images


def test_pusher_takes_the_evaluators_blessing(spec):
    pusher = _tasks(spec)["GatedPusher"]["inputs"]["artifacts"]
    blessing = pusher["model_blessing"]["taskOutputArtifact"]
    assert blessing == {"producerTask": "Evaluator", "outputArtifactKey": "blessing"}
    assert pusher["model"]["taskOutputArtifact"]["producerTask"] == "Trainer"
    report = _tasks(spec)["FairnessReportGen"]["inputs"]["artifacts"]
    assert report["pushed_model"]["taskOutputArtifact"]["producerTask"] == "GatedPusher"


def test_trainer_runs_run_fn_from_the_image_and_gates_load_by_module(spec):
    text = json.dumps(spec)
    assert "trainer_module.run_fn.run_fn" in text
    trainer = json.dumps(_tasks(spec)["Trainer"])
    assert "module_file" not in trainer and "module_path" not in trainer
    assert ".whl" not in text  # nothing uploaded at compile time
    assert "fairgate.group_metrics" in text
    # The embedded dataset is generated under the pipeline root, not a local path.
    assert "gs://bucket/fairgate/root/tensorflow_datasets" in text


def test_pipeline_spec_loads_with_the_kfp_sdk(spec, tmp_path):
    from kfp import components
    path = tmp_path / "pipeline_spec.json"
    path.write_text(json.dumps(spec["pipelineSpec"]))
    loaded = components.load_component_from_file(str(path))
    assert loaded.name


@pytest.mark.parametrize("key", ["pipeline_root", "push_destination"])
def test_compile_refuses_local_paths_the_cluster_cannot_see(key, tmp_path):
    from pipeline import kubeflow_runner
    with pytest.raises(ConfigError, match=f"'{key}' in kfp.yaml"):
        kubeflow_runner.compile_spec(_config(**{key: "/home/me/fairgate"}),
                                     str(tmp_path / "pipeline.json"))
    assert not (tmp_path / "pipeline.json").exists()


def test_compile_command_writes_the_spec_or_exits_2(tmp_path, capsys):
    from fairgate import cli
    good = tmp_path / "kfp.yaml"
    good.write_text("pipeline_root: gs://b/root\npush_destination: gs://b/serving\n")
    output = tmp_path / "out" / "pipeline.json"
    assert cli.main(["compile", "--runner", "kubeflow", "--config", str(good),
                     "--output", str(output), "--image", IMAGE]) == 0
    assert IMAGE in output.read_text()
    local = tmp_path / "local.yaml"
    local.write_text("push_destination: gs://b/serving\n")
    assert cli.main(["compile", "--config", str(local),
                     "--output", str(tmp_path / "no.json")]) == 2
    assert "'pipeline_root'" in capsys.readouterr().err


def test_compile_refuses_local_data_paths(tmp_path):
    from pipeline import kubeflow_runner
    config = _config(data={"source": "csv", "input_base": "/home/me/data",
                           "label": "y", "group": "g"},
                     evaluation={"groups": ["a", "b"]})
    with pytest.raises(ConfigError, match="'data.input_base' in kfp.yaml"):
        kubeflow_runner.compile_spec(config, str(tmp_path / "pipeline.json"))
