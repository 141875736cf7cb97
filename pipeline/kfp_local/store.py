"""ML Metadata as the open-source KFP v2 driver and launcher record it (the real
`ml-metadata` package, SQLite).

Read in kubeflow/pipelines 2.0.5, `backend/src/v2/metadata/client.go`: contexts
of types `system.Pipeline` (the pipeline name) and `system.PipelineRun` (the run
id, with `pipeline_root`); one `system.ContainerExecution` per task with the
custom properties `task_name`, `display_name`, `inputs` (the parameter values),
`outputs` (the output parameter values), `cache_fingerprint` (empty when the task
does not cache) and `parent_dag_id` (the run's `system.DAGExecution`); artifacts typed
by their schema title, their metadata as custom properties plus `display_name`;
INPUT and OUTPUT events whose path is the input or output name. Metadata values
go in as `StructValueToMLMDValue` puts them (string, double, bool as 0/1 int,
struct) and come back as `toRuntimeArtifact` reads them.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from google.protobuf import json_format
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd

PIPELINE_CONTEXT = "system.Pipeline"
RUN_CONTEXT = "system.PipelineRun"
CONTAINER_EXECUTION = "system.ContainerExecution"
DAG_EXECUTION = "system.DAGExecution"
IMPORTER_EXECUTION = "system.ImporterExecution"

States = mlmd.Execution.State


def _metadata_value(value: Any) -> mlmd.Value:
    """One artifact metadata value as converter.go StructValueToMLMDValue stores
    it: a list as {"list": [...]}, a struct as {"struct": {...}}, a bool as 0/1;
    null is refused ("unknown/unsupported value type")."""
    out = mlmd.Value()
    if isinstance(value, bool):
        out.int_value = int(value)
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, (int, float)):
        out.double_value = float(value)
    elif isinstance(value, list):
        out.struct_value.update({"list": value})
    elif isinstance(value, dict):
        out.struct_value.update({"struct": value})
    else:
        raise ValueError(f"unknown/unsupported value type {type(value).__name__}")
    return out


def _struct(values: Dict[str, Any]) -> mlmd.Value:
    """An execution's `inputs` / `outputs`: the parameter values as one struct."""
    out = mlmd.Value()
    out.struct_value.SetInParent()  # an empty struct is still a struct
    out.struct_value.update(values)
    return out


def _string(value: str) -> mlmd.Value:
    return mlmd.Value(string_value=value)


def _event(kind: int, key: str) -> mlmd.Event:
    """An INPUT or OUTPUT event whose path is the input or output name."""
    return mlmd.Event(type=kind, path=mlmd.Event.Path(
        steps=[mlmd.Event.Path.Step(key=key)]))


def _from_mlmd(value: mlmd.Value) -> Any:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind in ("int_value", "double_value"):
        return float(getattr(value, kind))
    if kind == "struct_value":
        return json_format.MessageToDict(value.struct_value)
    if kind == "bool_value":
        return value.bool_value
    return None


class Store:
    def __init__(self, sqlite_path: str):
        os.makedirs(os.path.dirname(os.path.abspath(sqlite_path)), exist_ok=True)
        config = mlmd.ConnectionConfig()
        config.sqlite.filename_uri = sqlite_path
        config.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.store = metadata_store.MetadataStore(config)
        self._types: Dict[Tuple[str, str], int] = {}

    def _type_id(self, kind: str, name: str) -> int:
        if (kind, name) not in self._types:
            put = {"context": (self.store.put_context_type, mlmd.ContextType),
                   "execution": (self.store.put_execution_type, mlmd.ExecutionType),
                   "artifact": (self.store.put_artifact_type, mlmd.ArtifactType)}[kind]
            self._types[(kind, name)] = put[0](put[1](name=name))
        return self._types[(kind, name)]

    def _context(self, type_name: str, name: str,
                 properties: Dict[str, str]) -> mlmd.Context:
        found = self.store.get_context_by_type_and_name(type_name, name)
        if found is not None:
            return found
        context = mlmd.Context(type_id=self._type_id("context", type_name), name=name)
        for key, value in properties.items():
            context.custom_properties[key].CopyFrom(_string(value))
        context.id = self.store.put_contexts([context])[0]
        return context

    def run_contexts(self, pipeline_name: str, run_id: str,
                     pipeline_root: str) -> List[mlmd.Context]:
        """The run's contexts, to attribute every execution and artifact to."""
        return [self._context(PIPELINE_CONTEXT, pipeline_name, {}),
                self._context(RUN_CONTEXT, run_id, {"pipeline_root": pipeline_root})]

    def start_execution(self, contexts: List[mlmd.Context], task: str,
                        parameters: Dict[str, Any], fingerprint: str,
                        inputs: Dict[str, List[int]],
                        parent_dag_id: Optional[int] = None,
                        execution_type: str = CONTAINER_EXECUTION) -> mlmd.Execution:
        execution = mlmd.Execution(type_id=self._type_id("execution", execution_type),
                                   last_known_state=States.RUNNING)
        props = execution.custom_properties
        props["task_name"].CopyFrom(_string(task))
        props["display_name"].CopyFrom(_string(task))
        props["inputs"].CopyFrom(_struct(parameters))
        props["cache_fingerprint"].CopyFrom(_string(fingerprint))
        if parent_dag_id is not None:
            props["parent_dag_id"].int_value = parent_dag_id
        keyed = [(key, artifact_id) for key, ids in inputs.items() for artifact_id in ids]
        found = {a.id: a for a in self.store.get_artifacts_by_id(
            [artifact_id for _, artifact_id in keyed])} if keyed else {}
        events = [(found[artifact_id], _event(mlmd.Event.INPUT, key))
                  for key, artifact_id in keyed]
        execution_id, _, _ = self.store.put_execution(execution, events, contexts)
        execution.id = execution_id
        return execution

    def publish(self, execution: mlmd.Execution, contexts: List[mlmd.Context],
                state: int, output_parameters: Optional[Dict[str, Any]] = None,
                output_artifacts: Optional[Dict[str, Dict[str, Any]]] = None,
                cached_execution_id: Optional[int] = None) -> Dict[str, int]:
        """Closes an execution; records its output artifacts (new ones as dicts
        {uri, schema_title, metadata}, reused ones as {"id": ...}). Returns the
        output artifact ids by output name."""
        execution.last_known_state = state
        if output_parameters is not None:
            execution.custom_properties["outputs"].CopyFrom(_struct(output_parameters))
        if cached_execution_id is not None:
            execution.custom_properties["cached_execution_id"].CopyFrom(
                _string(str(cached_execution_id)))
        pairs = []
        for key, artifact in (output_artifacts or {}).items():
            if "id" in artifact:
                record = self.store.get_artifacts_by_id([artifact["id"]])[0]
            else:
                record = mlmd.Artifact(
                    type_id=self._type_id("artifact", artifact["schema_title"]),
                    uri=artifact["uri"], state=mlmd.Artifact.LIVE)
                # The launcher names what a container wrote; an imported
                # artifact carries only the importer's metadata.
                metadata = {**({} if artifact.get("imported") else {"display_name": key}),
                            **artifact.get("metadata", {})}
                for name, value in metadata.items():
                    record.custom_properties[name].CopyFrom(_metadata_value(value))
            pairs.append((record, _event(mlmd.Event.OUTPUT, key)))
        _, ids, _ = self.store.put_execution(execution, pairs, contexts)
        return {key: artifact_id for key, artifact_id in
                zip((output_artifacts or {}).keys(), ids)}

    def matched_artifact(self, uri: str, schema_title: str, metadata: Dict[str, Any],
                         pipeline_context: mlmd.Context) -> Optional[int]:
        """An artifact to reuse for an import (client.go FindMatchedArtifact,
        matchedArtifactOrNot): same URI, type and state, every custom property
        of the import equal, attributed to this pipeline's context."""
        type_id = self._type_id("artifact", schema_title)
        wanted = {k: _metadata_value(v) for k, v in metadata.items()}
        in_pipeline = {a.id for a in
                       self.store.get_artifacts_by_context(pipeline_context.id)}
        for artifact in self.store.get_artifacts_by_uri(uri):
            if artifact.type_id != type_id or artifact.state != mlmd.Artifact.LIVE:
                continue
            if any(k not in artifact.custom_properties or
                   artifact.custom_properties[k] != v for k, v in wanted.items()):
                continue
            if artifact.id in in_pipeline:
                return artifact.id
        return None

    def outputs_of(self, execution_id: int) -> Dict[str, Dict[str, Any]]:
        """{output name: RuntimeArtifact dict} as the driver hands them on: name
        is the MLMD id, type an empty instance schema (client.go
        GetOutputArtifactsByExecutionId: `Schema: ""`)."""
        events = [e for e in self.store.get_events_by_execution_ids([execution_id])
                  if e.type == mlmd.Event.OUTPUT]
        artifacts = {a.id: a for a in self.store.get_artifacts_by_id(
            [e.artifact_id for e in events])}
        out = {}
        for event in events:
            artifact = artifacts[event.artifact_id]
            out[event.path.steps[0].key] = {
                "id": artifact.id,
                "runtime": {"name": str(artifact.id), "uri": artifact.uri,
                            "type": {"instanceSchema": ""},
                            "metadata": {k: _from_mlmd(v) for k, v in
                                         artifact.custom_properties.items()}}}
        return out

    def output_parameters_of(self, execution_id: int) -> Dict[str, Any]:
        execution = self.store.get_executions_by_id([execution_id])[0]
        value = execution.custom_properties.get("outputs")
        return _from_mlmd(value) if value is not None and value.WhichOneof("value") else {}

    def cached_execution(self, pipeline_name: str, fingerprint: str) -> Optional[int]:
        """The newest COMPLETE execution of this pipeline with the same cache
        fingerprint (the backend's cache table is keyed by fingerprint and
        "pipeline/<name>")."""
        context = self.store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
        if context is None or not fingerprint:
            return None
        best = None
        for execution in self.store.get_executions_by_context(context.id):
            props = execution.custom_properties
            if (execution.last_known_state == States.COMPLETE
                    and "cache_fingerprint" in props
                    and props["cache_fingerprint"].string_value == fingerprint
                    and "cached_execution_id" not in props):
                best = execution.id if best is None else max(best, execution.id)
        return best

