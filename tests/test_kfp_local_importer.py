"""kfp-local's importer tasks, as the open-source backend's importer launcher runs
them (kubeflow/pipelines 2.0.5, backend/src/v2/component/importer_launcher.go):
no container, an artifact reused unless `reimport`, an empty URI refused. Fast:
a one-task spec in TFX's compiled form, ML Metadata in SQLite."""
import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

from pipeline import kfp_local
from pipeline.kfp_local.store import IMPORTER_EXECUTION

SCHEMA = "title: tfx.Model\ntype: object\n"  # how TFX 1.16 writes the type


def _spec(uri, reimport=False):
    importer = {"artifactUri": {"constant": uri}, "typeSchema": {"instanceSchema": SCHEMA}}
    if reimport:
        importer["reimport"] = True
    return {
        "schemaVersion": "2.1.0",
        "pipelineInfo": {"name": "imports"},
        "root": {"dag": {"tasks": {"CandidateImporter": {
            "taskInfo": {"name": "CandidateImporter"},
            "componentRef": {"name": "CandidateImporter"}}}}},
        "components": {"CandidateImporter": {
            "executorLabel": "CandidateImporter_executor",
            "outputDefinitions": {"artifacts": {"result": {
                "artifactType": {"instanceSchema": SCHEMA}}}}}},
        "deploymentSpec": {"executors": {"CandidateImporter_executor": {
            "importer": importer}}},
    }


def _run(tmp_path, spec):
    return kfp_local.run_spec(spec, pipeline_root=str(tmp_path / "root"),
                              metadata_path=str(tmp_path / "mlmd.sqlite"),
                              work_dir=str(tmp_path / "work"))


def _store(tmp_path):
    config = mlmd.ConnectionConfig()
    config.sqlite.filename_uri = str(tmp_path / "mlmd.sqlite")
    return metadata_store.MetadataStore(config)


def test_import_records_one_artifact_and_reuses_it(tmp_path):
    model = str(tmp_path / "saved_model")
    assert _run(tmp_path, _spec(model)) == {"CandidateImporter": {"result": model}}
    _run(tmp_path, _spec(model))
    store = _store(tmp_path)
    [artifact] = store.get_artifacts_by_uri(model)
    assert store.get_artifact_types_by_id([artifact.type_id])[0].name == "tfx.Model"
    assert artifact.state == mlmd.Artifact.LIVE
    imports = store.get_executions_by_type(IMPORTER_EXECUTION)
    assert len(imports) == 2 and all(e.last_known_state == mlmd.Execution.COMPLETE
                                     for e in imports)
    outputs = [e for e in store.get_events_by_execution_ids([x.id for x in imports])
               if e.type == mlmd.Event.OUTPUT]
    assert {e.artifact_id for e in outputs} == {artifact.id}
    assert {e.path.steps[0].key for e in outputs} == {"result"}

    _run(tmp_path, _spec(model, reimport=True))  # reimport: a new artifact
    assert len(store.get_artifacts_by_uri(model)) == 2
    # No task to fork, so no warm interpreter was started (its log would be here).
    assert not list((tmp_path / "work").rglob("warm.log"))


def test_empty_uri_fails_with_the_launchers_message(tmp_path):
    with pytest.raises(kfp_local.TaskFailed, match="empty Artifact URI constant value"):
        _run(tmp_path, _spec(""))
