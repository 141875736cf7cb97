"""The pieces of the open-source KFP v2 contract that kfp-local follows and the
entrypoint repairs: CEL conditions, untyped input artifacts, refusals, and a
real TFX `Cond` executed from its compiled spec."""
import json
import os

import pytest
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
from tfx.orchestration.pipeline import Pipeline

from pipeline import kfp_spec
from pipeline.kfp_local import cel

# Shaped as the driver resolves them (proto field names, numbers as doubles).
EXECUTOR_INPUT = {"inputs": {
    "parameter_values": {"type": "foo", "num": 1.0},
    "artifacts": {"_producer.output1": {"artifacts": [
        {"uri": "uri", "metadata": {"property": "value1", "blessed": 1.0}}]}}}}


@pytest.mark.parametrize("condition, expected", [
    # tfx 1.16 testdata expected_dummy_consumer_with_condition_task.pbtxt
    ("!((inputs.artifacts['_producer.output1'].artifacts[0].uri == 'uri')) && "
     "(inputs.artifacts['_producer.output1'].artifacts[0].metadata['property'] == "
     "'value1')", False),
    ("(inputs.artifacts['_producer.output1'].artifacts[0].metadata['blessed'] == 1.0)",
     True),
    ("inputs.parameter_values['type'] == 'foo' || inputs.parameter_values['num'] > 2.0",
     True),
    ("inputs.parameter_values['num'] >= 2.0", False),
    ("!(inputs.parameter_values['type'] != 'foo')", True),
])
def test_conditions_evaluate_as_cel(condition, expected):
    assert cel.evaluate(condition, EXECUTOR_INPUT) is expected


@pytest.mark.parametrize("condition, message", [
    ("inputs.parameter_values['num']", "return type is not bool"),
    ("inputs.parameter_values['missing'] == 1.0", "no such key"),
    ("size(inputs.artifacts) > 0.0", "function call size"),
    ("outputs_x == 1.0", "undeclared reference"),
    ("inputs.parameter_values['type'] < 1.0", "no such overload"),
])
def test_conditions_outside_the_subset_are_refused(condition, message):
    with pytest.raises(cel.ConditionError, match=message):
        cel.evaluate(condition, EXECUTOR_INPUT)


def test_entrypoint_types_untyped_inputs_from_the_input_definitions():
    from pipeline import kfp_entrypoint
    # What the open-source driver sends for an upstream task's artifact.
    executor_input = {"inputs": {"artifacts": {"examples": {"artifacts": [
        {"name": "12", "uri": "gs://b/x", "type": {"instanceSchema": ""},
         "metadata": {"span": 0.0}}]}}}}
    inputs_spec = {"artifacts": {"examples": {"artifactType": {
        "instanceSchema": "title: tfx.Examples\ntype: object\n"}}}}
    argv = ["--executor_class_path", "x.Executor",
            "--json_serialized_invocation_args", json.dumps(executor_input),
            "--json_serialized_inputs_spec_args", json.dumps(inputs_spec), "--beam=1"]
    repaired = kfp_entrypoint.repaired_argv(argv)
    artifact = json.loads(repaired[3])["inputs"]["artifacts"]["examples"]["artifacts"][0]
    assert artifact["type"] == {"instanceSchema": "title: tfx.Examples\ntype: object\n"}
    assert artifact["name"] == "12" and artifact["metadata"] == {"span": 0.0}
    assert repaired[:3] == argv[:3] and repaired[4:] == argv[4:]
    with pytest.raises(ValueError, match="input artifact 'examples' arrived without a type"):
        kfp_entrypoint.with_input_types(executor_input, {"artifacts": {}})


def test_what_the_backend_refuses_is_refused_before_anything_runs(tmp_path):
    spec = {"schemaVersion": "2.1.0", "pipelineInfo": {"name": "p"},
            "root": {"dag": {"tasks": {
                "A": {"componentRef": {"name": "comp-a"}, "taskInfo": {"name": "A"}},
                "B": {"componentRef": {"name": "comp-b"}, "taskInfo": {"name": "B"},
                      "dependentTasks": ["A"]}}}},
            "components": {"comp-a": {"executorLabel": "exec-a"},
                           "comp-b": {"executorLabel": "exec-b"}},
            "deploymentSpec": {"executors": {
                "exec-a": {"container": {"image": "i", "command": ["false"]}},
                "exec-b": {"resolver": {"outputArtifactQueries": {}}}}}}
    assert kfp_spec.task_order(spec) == ["A", "B"]
    from pipeline import kfp_local
    with pytest.raises(kfp_spec.SpecRefused,
                       match="task 'B'.*non-container and non-importer executor "
                             "not implemented"):
        kfp_local.run_spec(spec, pipeline_root=str(tmp_path / "root"),
                           metadata_path=str(tmp_path / "m.sqlite"),
                           work_dir=str(tmp_path / "work"))
    assert not (tmp_path / "work").exists()  # task A did not run
    spec["schemaVersion"] = "2.0.0"
    assert ("<pipeline>", "KFP only supports schema version 2.1.0, but the pipeline "
            "spec has version 2.0.0") in kfp_spec.refusals(spec)


def test_a_compiled_tfx_condition_skips_its_task_and_records_it(tmp_path):
    """A real tfx.dsl.Cond compiled by KubeflowV2DagRunner: the task whose
    condition is false is recorded CANCELED and does not run; the other runs."""
    from components.serving_model import ServingModel
    from pipeline import kfp_local
    from pipeline.kfp_local.store import States, Store
    serving = ServingModel(push_destination=str(tmp_path / "empty"))
    in_serving = serving.outputs["model"].future()[0].custom_property("in_serving")
    with Cond(in_serving == 1):
        when_serving = ServingModel(push_destination=str(tmp_path / "empty")).with_id(
            "WhenServing")
    with Cond(in_serving == 0):
        when_empty = ServingModel(push_destination=str(tmp_path / "empty")).with_id(
            "WhenEmpty")
    dag = Pipeline(pipeline_name="cond-test", pipeline_root=str(tmp_path / "root"),
                   components=[serving, when_serving, when_empty])
    kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image="unused", default_commands=list(kfp_spec.ENTRYPOINT),
            use_pipeline_spec_2_1=True),
        output_dir=str(tmp_path), output_filename="job.json").run(dag)
    spec = kfp_spec.load(str(tmp_path / "job.json"))
    conditions = {t: s.get("triggerPolicy", {}).get("condition")
                  for t, s in kfp_spec.tasks(spec).items()}
    assert "metadata['in_serving']" in conditions["WhenServing"], conditions
    outputs = kfp_local.run_spec(spec, pipeline_root=str(tmp_path / "root"),
                                 metadata_path=str(tmp_path / "m.sqlite"),
                                 work_dir=str(tmp_path / "work"))
    assert set(outputs) == {"ServingModel", "WhenEmpty"}
    store = Store(str(tmp_path / "m.sqlite")).store
    states = {e.custom_properties["task_name"].string_value: e.last_known_state
              for e in store.get_executions()}
    assert states == {"ServingModel": States.COMPLETE, "WhenEmpty": States.COMPLETE,
                      "WhenServing": States.CANCELED, "": States.COMPLETE}  # "": the DAG
    assert os.path.exists(os.path.join(outputs["WhenEmpty"]["model"],
                                       "serving_model.json"))


@pytest.mark.parametrize("condition, expected", [
    ("inputs.parameter_values['num'] == -1.0", False),           # TFX writes -1 as -1.0
    ("-inputs.parameter_values['num'] < 0.0", True),
    ("false && inputs.parameter_values['missing'] == 1.0", False),  # short-circuit
    ("true || inputs.parameter_values['missing'] == 1.0", True),
    ("inputs.parameter_values['type'] != 'fóo\\'s'", True),
])
def test_conditions_short_circuit_and_read_negative_and_non_ascii_literals(condition,
                                                                           expected):
    assert cel.evaluate(condition, EXECUTOR_INPUT) is expected


def _one_task_spec(command, caching=False):
    task = {"componentRef": {"name": "comp-a"}, "taskInfo": {"name": "Fails"}}
    if caching:
        task["cachingOptions"] = {"enableCache": True}
    return {"schemaVersion": "2.1.0", "pipelineInfo": {"name": "p"},
            "root": {"dag": {"tasks": {
                "Fails": task,
                "After": {"componentRef": {"name": "comp-a"}, "taskInfo": {"name": "After"},
                          "dependentTasks": ["Fails"]}}}},
            "components": {"comp-a": {"executorLabel": "exec-a"}},
            "deploymentSpec": {"executors": {"exec-a": {"container": {
                "image": "i", "command": command}}}}}


def test_a_failing_task_is_recorded_failed_and_nothing_downstream_runs(tmp_path):
    from pipeline import kfp_local
    from pipeline.kfp_local.store import States, Store
    spec = _one_task_spec(["python", "-c", "import sys; print('boom'); sys.exit(3)"])
    with pytest.raises(kfp_local.TaskFailed, match="task 'Fails' failed: exit code 3"
                                                   "(.|\n)*boom"):
        kfp_local.run_spec(spec, pipeline_root=str(tmp_path / "root"),
                           metadata_path=str(tmp_path / "m.sqlite"),
                           work_dir=str(tmp_path / "work"))
    store = Store(str(tmp_path / "m.sqlite")).store
    states = {e.custom_properties["task_name"].string_value: e.last_known_state
              for e in store.get_executions()}
    assert states == {"Fails": States.FAILED, "": States.FAILED}  # "": the run's DAG


def test_caching_is_refused_on_a_task_that_must_run_every_time():
    spec = _one_task_spec(["true"], caching=True)
    assert kfp_spec.refusals(spec) == []
    with pytest.raises(kfp_spec.SpecRefused, match="task 'Fails': caching is on"):
        kfp_spec.check(spec, never_cached=["Fails"])
