"""The Kubeflow Pipelines v2 spec compiled from the same create_pipeline(config),
checked against what the open-source KFP backend (2.0.5) accepts."""
import importlib
import json

import pytest

from fairgate import config as config_lib
from fairgate.config import ConfigError

IMAGE = "registry.example.com/fairgate:test"
COMPONENTS = ["CelebAExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "DataValidationGate", "Trainer", "BaselineTrainer", "Evaluator",
              "UnconstrainedEvaluator", "ServingModel", "SideEffectCheck",
              "GatedPusher", "FairnessReportGen"]


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
    assert set(tasks) == set(COMPONENTS)  # no resolver task
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    assert all(set(e) == {"container"} for e in executors.values()), executors
    images = {name: e["container"]["image"] for name, e in executors.items()}
    assert images and set(images.values()) == {IMAGE}, images


def test_spec_is_what_the_open_source_backend_accepts(spec):
    from pipeline import kfp_spec
    pipeline_spec = spec["pipelineSpec"]
    assert pipeline_spec["schemaVersion"] == "2.1.0"
    assert kfp_spec.refusals(pipeline_spec) == []
    for task in _tasks(spec).values():
        for parameter in task.get("inputs", {}).get("parameters", {}).values():
            assert "constantValue" not in parameter.get("runtimeValue", {})
    # The model in serving is read on every run, never from the cache.
    assert "cachingOptions" not in _tasks(spec)["ServingModel"]
    assert _tasks(spec)["Trainer"]["cachingOptions"] == {"enableCache": True}
    assert _tasks(spec)["Evaluator"]["inputs"]["artifacts"]["baseline_model"] == {
        "taskOutputArtifact": {"producerTask": "ServingModel",
                               "outputArtifactKey": "model"}}


def test_entrypoint_and_every_executor_class_import_in_this_environment(spec):
    """What a pod of the project image imports: the command's module, each
    --executor_class_path, and every artifact type by its schema title."""
    import yaml
    from tfx.orchestration.kubeflow.v2 import compiler_utils
    from tfx.utils import import_utils
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    for executor in executors.values():
        command = executor["container"]["command"]
        assert command == ["python", "-m", "pipeline.kfp_entrypoint"]
        importlib.import_module(command[2])
        args = executor["container"]["args"]
        path = args[args.index("--executor_class_path") + 1]
        assert import_utils.import_class_by_path(path), path
    titles = set()
    for component in spec["pipelineSpec"]["components"].values():
        for side in ("inputDefinitions", "outputDefinitions"):
            for artifact in component.get(side, {}).get("artifacts", {}).values():
                schema = artifact["artifactType"]["instanceSchema"]
                titles.add(yaml.safe_load(schema)["title"])
    assert "fairgate.FairnessReport" in titles
    for title in titles:
        path = compiler_utils.TITLE_TO_CLASS_PATH.get(title, title)
        assert import_utils.import_class_by_path(path), title


def test_compile_refuses_a_resolver_naming_the_task(tmp_path, monkeypatch):
    """A component that brings a Resolver back is refused at compile time."""
    from tfx.dsl.components.common.resolver import Resolver
    from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
        LatestBlessedModelStrategy)
    from tfx.types import standard_artifacts
    from tfx.types.channel import Channel
    from pipeline import kfp_spec, kubeflow_runner
    build = kubeflow_runner.create_pipeline

    def with_resolver(*args, **kwargs):
        dag = build(*args, **kwargs)
        resolver = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model),
            model_blessing=Channel(
                type=standard_artifacts.ModelBlessing)).with_id("Latest")
        dag.components = dag.components + [resolver]
        return dag

    monkeypatch.setattr(kubeflow_runner, "create_pipeline", with_resolver)
    output = tmp_path / "pipeline.yaml"
    with pytest.raises(kfp_spec.SpecRefused,
                       match="task .Latest-model-blessing-resolver.*non-container "
                             "and non-importer executor not implemented"):
        kubeflow_runner.compile_spec(_config(), str(output))
    assert not output.exists()


def test_pusher_takes_the_one_blessing_that_includes_the_side_effects(spec):
    pusher = _tasks(spec)["GatedPusher"]["inputs"]["artifacts"]
    blessing = pusher["model_blessing"]["taskOutputArtifact"]
    assert blessing == {"producerTask": "SideEffectCheck",
                        "outputArtifactKey": "blessing"}
    assert pusher["model"]["taskOutputArtifact"]["producerTask"] == "Trainer"
    check = _tasks(spec)["SideEffectCheck"]["inputs"]["artifacts"]
    assert check["evaluator_blessing"]["taskOutputArtifact"] == {
        "producerTask": "Evaluator", "outputArtifactKey": "blessing"}
    # The demo trains the unconstrained model: it is the reference.
    assert check["reference_model"]["taskOutputArtifact"]["producerTask"] == \
        "BaselineTrainer"
    report = _tasks(spec)["FairnessReportGen"]["inputs"]["artifacts"]
    assert report["pushed_model"]["taskOutputArtifact"]["producerTask"] == "GatedPusher"
    assert report["blessing"]["taskOutputArtifact"]["producerTask"] == "SideEffectCheck"


def test_trainer_runs_run_fn_from_the_image_and_gates_load_by_module(spec):
    text = json.dumps(spec)
    assert "trainer_module.run_fn.run_fn" in text
    trainer = json.dumps(_tasks(spec)["Trainer"])
    assert "module_file" not in trainer and "module_path" not in trainer
    assert ".whl" not in text  # nothing uploaded at compile time
    assert "fairgate.metrics.group_metrics" in text
    # The embedded dataset is generated under the pipeline root, not a local path.
    assert "gs://bucket/fairgate/root/tensorflow_datasets" in text


def test_pipeline_yaml_is_what_the_kfp_client_uploads(tmp_path):
    """`fairgate compile --output pipeline.yaml` writes the bare PipelineSpec that
    kfp 2.5's Client.create_run_from_pipeline_package reads (strictly)."""
    from kfp.client import client
    from pipeline import kubeflow_runner
    path = kubeflow_runner.compile_spec(_config(), str(tmp_path / "pipeline.yaml"))
    document = client._extract_pipeline_yaml(path)  # what the client uploads
    assert document.pipeline_spec.schema_version == "2.1.0"
    assert "ServingModel" in document.pipeline_spec.root.dag.tasks


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


def test_compile_refuses_storage_the_stack_cannot_write(tmp_path):
    from pipeline import kubeflow_runner
    with pytest.raises(ConfigError, match="'pipeline_root' in kfp.yaml: the stack "
                                          "cannot write s3://"):
        kubeflow_runner.compile_spec(_config(pipeline_root="s3://bucket/root"),
                                     str(tmp_path / "pipeline.yaml"))
