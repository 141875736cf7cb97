"""`--runner kfp-local`: executes the compiled Kubeflow Pipelines v2 spec on this
machine the way the open-source KFP v2 backend would, to prove what a cluster
will do with it. It is not another orchestrator: it runs nothing that the spec
does not say, and everything that the backend refuses, it refuses with the
backend's message (pipeline/kfp_spec.py).

The contract followed is the open-source backend's driver and launcher, read in
kubeflow/pipelines at tag 2.0.5 (the backend release of the pinned kfp SDK
2.5.0):

* order: a task runs after its `dependentTasks` and the producers of its inputs
  (`backend/src/v2/compiler/argocompiler/dag.go` `depends`); a task whose
  upstream was skipped is skipped.
* ExecutorInput as the driver builds it (`backend/src/v2/driver/driver.go`
  `Container`, `resolveInputs`, `provisionOutputs`): parameters only in
  `inputs.parameterValues` (constants, the run's parameters, producers' output
  parameters); input artifacts from ML Metadata, named by their MLMD id, typed
  with an empty instance schema, their custom properties as metadata; output
  artifact URIs `<pipeline_root>/<pipeline name>/<run id>/<task>/<output>`
  (`generateOutputURI`, and `metadata.(*Client).GetPipeline` for the run root);
  output parameter files; `outputs.outputFile`.
* `triggerPolicy.condition`: CEL over the resolved ExecutorInput
  (`backend/src/v2/expression/expression.go`, see cel.py); false: the task is
  recorded CANCELED and skipped, with everything downstream of it.
* caching (`driver.go` `getFingerPrintsAndID`, `backend/src/v2/cacheutils/
  cache.go` `GenerateCacheKey`): a task with `cachingOptions.enableCache`
  reuses the outputs of a COMPLETE execution of the same pipeline whose key
  (input artifact names, parameter values, output specs, image, command and
  args) is the same.
* the launcher (`backend/src/v2/component/launcher_v2.go` `executeV2`,
  `getPlaceholders`): `{{$}}` and the other placeholders replaced in the
  executor's `command` and `args` (defaults added), the command run as is
  (`python` is this project's interpreter: the image's Python), then
  `ExecutorOutput` read from `outputFile` (absent is fine), output parameters
  from it or their files, artifact `uri`/`metadata` merged, everything recorded
  in ML Metadata (store.py). `lifecycle.preCacheCheck` is never run, as the
  backend never runs it.

Local differences: the pod's scratch files (`outputFile`, output parameter
files; `/tmp/kfp_outputs/...` in a pod) live under
`<work_dir>/kfp-local/<run id>/<task>/`; the pipeline root may be a local
folder (the 2.0.5 launcher accepts only gs://, minio:// and s3:// output URIs,
and `fairgate compile` requires gs:// for a cluster), whose output artifact
folders are created before the task runs (object storage needs none); tasks run
one at a time, and a task whose command is `python -m ...` (every fairgate task)
is forked from one interpreter per run that has imported TensorFlow, TFX, TFMA,
TFDV and Beam once (warm.py: the same argv, folder, environment, streams and exit
code as a fresh interpreter, without the 10-17 s of imports per task;
`run_spec(warm_start=False)` starts each fresh). What kfp-local does not execute
(nested DAGs; fairgate's spec has none) is refused before anything runs.

Importer tasks (a candidate trained elsewhere, `tfx.dsl.Importer`) follow the
importer launcher of the same tag, `backend/src/v2/component/importer_launcher.go`
(`ImportLauncher.Execute`, `findOrNewArtifactToImport`,
`ImportSpecToMLMDArtifact`) and `metadata/client.go` (`FindMatchedArtifact`):
no container runs; the URI is the spec's constant or the named runtime
parameter of the parent DAG (empty: an error); unless `reimport`, an artifact
with the same URI, type, state and metadata already in this pipeline's context
is reused, else a new LIVE artifact typed by the spec's schema title, its
metadata as custom properties; one `system.ImporterExecution` is recorded
COMPLETE with it as its only output.
"""
from __future__ import annotations

import decimal
import hashlib
import json
import math
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from fairgate import progress
from fairgate.config import is_uri
from pipeline import kfp_spec
from pipeline.kfp_local import cel, warm
from pipeline.kfp_local.store import DAG_EXECUTION, IMPORTER_EXECUTION, States, Store

log = logging.getLogger("fairgate.kfp_local")

Outputs = Dict[str, Dict[str, str]]  # task -> output name -> URI


def relay(task: str, line: str) -> None:
    """One line of a task's output: a progress line (pipeline/kfp_entrypoint.py
    writes them as `progress.task_line`) goes to the progress logger as
    `[task] message`, without absl's prefix, so it reaches the terminal; any other
    line goes to the run's log only."""
    message = progress.from_task_line(line)
    if message is None:
        log.info("[%s] %s", task, line)
    else:
        progress.logger.info("[%s] %s", task, message)


class TaskFailed(RuntimeError):
    def __init__(self, task: str, message: str):
        super().__init__(f"task '{task}' failed: {message}")
        self.task = task


def _schema_title(artifact_type: Dict[str, Any]) -> str:
    if artifact_type.get("schemaTitle"):
        return artifact_type["schemaTitle"]
    schema = yaml.safe_load(artifact_type.get("instanceSchema") or "") or {}
    return schema.get("title", "system.Artifact")


def _text(value: Any) -> str:
    """A parameter value as the launcher writes it into a placeholder: numbers as
    Go's strconv.FormatFloat(v, 'f', -1, 64) (no exponent), lists and structs as
    JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return format(decimal.Decimal(repr(float(value))).normalize(), "f")
    return json.dumps(value, separators=(",", ":"))


def _typed(text: str, parameter_type: str) -> Any:
    """An output parameter file's text as metadata.TextToPbValue reads it."""
    if parameter_type in ("NUMBER_DOUBLE", "NUMBER_INTEGER"):
        return float(text)
    if parameter_type == "BOOLEAN":
        if text not in ("true", "false"):
            raise ValueError(f"cannot read {text!r} as a boolean")
        return text == "true"
    if parameter_type in ("LIST", "STRUCT"):
        return json.loads(text)
    return text


class _Run:
    def __init__(self, spec, pipeline_root, store, work_dir, parameters, python, warm):
        self.spec = spec
        self.name = spec["pipelineInfo"]["name"]
        self.run_id = str(uuid.uuid4())
        # metadata.(*Client).GetPipeline: <root>/<pipeline name>/<run id>
        self.run_root = f"{pipeline_root.rstrip('/')}/{self.name}/{self.run_id}"
        self.store = store
        self.contexts = store.run_contexts(self.name, self.run_id, self.run_root)
        # driver.go RootDAG: the run's own DAG execution, parent of every task's.
        self.root_dag = store.start_execution(self.contexts, "", parameters, "", {},
                                              execution_type=DAG_EXECUTION)
        self.scratch = os.path.join(work_dir, self.run_id)
        self.parameters = parameters
        self.python = python
        self.warm = warm  # a warm.WarmPython, or None: every task a fresh interpreter
        self.executions: Dict[str, int] = {}  # task -> execution whose outputs count
        self.skipped: List[str] = []
        self.outputs: Outputs = {}

    # --- the driver -------------------------------------------------------
    def resolve_parameters(self, task: str) -> Dict[str, Any]:
        task_spec = kfp_spec.tasks(self.spec)[task]
        declared = kfp_spec.component_of(self.spec, task).get(
            "inputDefinitions", {}).get("parameters", {})
        values: Dict[str, Any] = {}
        for name, source in task_spec.get("inputs", {}).get("parameters", {}).items():
            if "runtimeValue" in source:
                values[name] = source["runtimeValue"]["constant"]
            elif "componentInputParameter" in source:
                key = source["componentInputParameter"]
                if key not in self.parameters:
                    raise TaskFailed(task, f"parent DAG does not have input parameter {key}")
                values[name] = self.parameters[key]
            elif "taskOutputParameter" in source:
                producer = source["taskOutputParameter"]["producerTask"]
                key = source["taskOutputParameter"]["outputParameterKey"]
                produced = self.store.output_parameters_of(self.executions[producer])
                if key not in produced:
                    raise TaskFailed(task, f"cannot find output parameter key {key!r} in "
                                     f"producer task {producer!r}")
                values[name] = produced[key]
            else:
                raise TaskFailed(task, f"parameter spec of type {sorted(source)} not "
                                 "implemented yet")
        for name, definition in declared.items():
            # driver.go: a STRING input with another value is JSON text.
            if name in values and definition.get("parameterType") == "STRING" and \
                    not isinstance(values[name], str):
                values[name] = _text(values[name])
            if name not in values and not definition.get("isOptional") and \
                    "defaultValue" not in definition:
                raise TaskFailed(task, "neither value nor default value provided for "
                                 f"non-optional parameter {name!r}")
        return values

    def resolve_artifacts(self, task: str) -> Dict[str, Dict[str, Any]]:
        """{input name: {"ids": [...], "runtime": [RuntimeArtifact dicts]}}"""
        resolved = {}
        inputs = kfp_spec.tasks(self.spec)[task].get("inputs", {})
        for name, source in inputs.get("artifacts", {}).items():
            if "taskOutputArtifact" not in source:
                raise TaskFailed(task, f"artifact spec of type {sorted(source)} not "
                                 "implemented yet")
            producer = source["taskOutputArtifact"]["producerTask"]
            key = source["taskOutputArtifact"]["outputArtifactKey"]
            produced = self.store.outputs_of(self.executions[producer])
            if key not in produced:
                raise TaskFailed(task, f"cannot find output artifact {key!r} of "
                                 f"producer task {producer!r}")
            resolved[name] = {"ids": [produced[key]["id"]],
                              "runtime": [produced[key]["runtime"]]}
        return resolved

    def provision_outputs(self, task: str) -> Dict[str, Any]:
        outputs = kfp_spec.component_of(self.spec, task).get("outputDefinitions", {})
        scratch = os.path.join(self.scratch, task)
        return {
            "artifacts": {key: {"artifacts": [{
                "uri": f"{self.run_root}/{task}/{key}",
                "type": definition["artifactType"],
                "metadata": definition.get("metadata", {})}]}
                for key, definition in outputs.get("artifacts", {}).items()},
            "parameters": {key: {"outputFile": os.path.join(scratch, "outputs", key)}
                           for key in outputs.get("parameters", {})},
            "outputFile": os.path.join(scratch, "output_metadata.json"),
        }

    def fingerprint(self, executor_input: Dict[str, Any], task: str,
                    container: Dict[str, Any]) -> str:
        outputs = executor_input["outputs"]
        definitions = kfp_spec.component_of(self.spec, task).get(
            "outputDefinitions", {}).get("parameters", {})
        key = {
            "inputArtifactNames": {k: [a["name"] for a in v["artifacts"]] for k, v in
                                   executor_input["inputs"].get("artifacts", {}).items()},
            "inputParameterValues": executor_input["inputs"].get("parameterValues", {}),
            "outputArtifactsSpec": {k: {"type": v["artifacts"][0]["type"],
                                        "metadata": v["artifacts"][0].get("metadata", {})}
                                    for k, v in outputs["artifacts"].items()},
            "outputParametersSpec": {k: definitions[k].get("parameterType", "")
                                     for k in outputs["parameters"]},
            "containerSpec": {"image": container.get("image", ""),
                              "cmdArgs": container.get("command", []) +
                              container.get("args", [])},
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    # --- the launcher -----------------------------------------------------
    def placeholders(self, executor_input: Dict[str, Any], task: str) -> Dict[str, str]:
        with_defaults = json.loads(json.dumps(executor_input))
        values = with_defaults["inputs"].setdefault("parameterValues", {})
        for name, definition in kfp_spec.component_of(self.spec, task).get(
                "inputDefinitions", {}).get("parameters", {}).items():
            if name not in values and "defaultValue" in definition:
                values[name] = definition["defaultValue"]
        message = json_format.ParseDict(with_defaults, pipeline_spec_pb2.ExecutorInput())
        table = {"{{$}}": json.dumps(json_format.MessageToDict(message),
                                     separators=(",", ":"))}
        for name, value in values.items():
            table[f"{{{{$.inputs.parameters['{name}']}}}}"] = _text(value)
        for side in ("inputs", "outputs"):
            for name, artifacts in with_defaults[side].get("artifacts", {}).items():
                table[f"{{{{$.{side}.artifacts['{name}'].uri}}}}"] = \
                    artifacts["artifacts"][0]["uri"]
        for name, parameter in with_defaults["outputs"].get("parameters", {}).items():
            table[f"{{{{$.outputs.parameters['{name}'].output_file}}}}"] = \
                parameter["outputFile"]
        return table

    def launch(self, task: str, container: Dict[str, Any],
               executor_input: Dict[str, Any]) -> Dict[str, Any]:
        table = self.placeholders(executor_input, task)

        def substitute(text: str) -> str:
            for placeholder, value in table.items():
                text = text.replace(placeholder, value)
            if re.search(r"\{\{\$\.[^}]*\.path\}\}", text):
                raise TaskFailed(task, "artifact .path placeholders need object storage "
                                 "(launcher_v2.go localPathForURI)")
            return text

        command = [substitute(c) for c in container.get("command", [])]
        args = [substitute(a) for a in container.get("args", [])]
        if command and command[0] == "python":
            command[0] = self.python  # the image's Python: this project's interpreter
        outputs = executor_input["outputs"]
        for artifacts in outputs["artifacts"].values():
            if not is_uri(artifacts["artifacts"][0]["uri"]):
                os.makedirs(artifacts["artifacts"][0]["uri"], exist_ok=True)
        scratch = os.path.dirname(outputs["outputFile"])
        os.makedirs(os.path.join(scratch, "outputs"), exist_ok=True)
        task_log = os.path.join(scratch, "task.log")
        tail: List[str] = []
        with open(task_log, "w") as log_file:
            if self.warm is not None and starts_warm(container):
                process = self.warm.start(command[1:] + args, scratch)
            else:
                process = subprocess.Popen(command + args, cwd=scratch,
                                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True,
                                           errors="replace", bufsize=1)
            try:
                for line in process.stdout:
                    log_file.write(line)
                    line = line.rstrip("\n")
                    relay(task, line)
                    tail = (tail + [line])[-15:]
                code = process.wait()
            finally:
                if process.poll() is None:  # interrupted: the task goes with us
                    process.kill()
                    process.wait()
        if code != 0:
            raise TaskFailed(task, f"exit code {code}; its output: {task_log}\n" +
                             "\n".join(tail))
        return self.read_executor_output(task, outputs)

    def read_executor_output(self, task: str, outputs: Dict[str, Any]) -> Dict[str, Any]:
        """launcher_v2.go getExecutorOutputFile, collectOutputParameters,
        uploadOutputArtifacts/mergeRuntimeArtifacts."""
        output = pipeline_spec_pb2.ExecutorOutput()
        if os.path.exists(outputs["outputFile"]):
            with open(outputs["outputFile"]) as f:
                json_format.Parse(f.read(), output)  # strict, as protojson.Unmarshal
        produced = json_format.MessageToDict(output)
        parameters = {}
        types = kfp_spec.component_of(self.spec, task).get(
            "outputDefinitions", {}).get("parameters", {})
        for key, parameter in outputs["parameters"].items():
            if key in produced.get("parameterValues", {}):
                parameters[key] = produced["parameterValues"][key]
                continue
            try:
                with open(parameter["outputFile"]) as f:
                    parameters[key] = _typed(f.read(),
                                             types.get(key, {}).get("parameterType", ""))
            except (OSError, ValueError) as error:
                raise TaskFailed(task, f"failed to read output parameter name={key!r}: "
                                 f"{error}") from None
        artifacts = {}
        for key, provisioned in outputs["artifacts"].items():
            artifact = dict(provisioned["artifacts"][0])
            written = (produced.get("artifacts", {}).get(key, {}).get("artifacts") or [{}])[0]
            if written.get("uri"):
                artifact["uri"] = written["uri"]
            artifact["metadata"] = {**artifact.get("metadata", {}),
                                    **written.get("metadata", {})}
            artifacts[key] = {"uri": artifact["uri"], "metadata": artifact["metadata"],
                              "schema_title": _schema_title(artifact["type"])}
        return {"parameters": parameters, "artifacts": artifacts}

    # --- the importer launcher ---------------------------------------------
    def run_importer(self, task: str, importer: Dict[str, Any]) -> None:
        """importer_launcher.go (kubeflow/pipelines 2.0.5) ImportLauncher.Execute."""
        source = importer.get("artifactUri", {})
        if "constant" in source:
            uri = source["constant"]
            if not isinstance(uri, str) or not uri:
                raise TaskFailed(task, "failed to create MLMD artifact from ImporterSpec: "
                                 "empty Artifact URI constant value")
        elif source.get("runtimeParameter"):
            name = source["runtimeParameter"]
            parameter = kfp_spec.tasks(self.spec)[task].get("inputs", {}).get(
                "parameters", {}).get(name)
            if parameter is None:
                raise TaskFailed(task, f"cannot find parameter {name} in task input to "
                                 "fetch artifact uri")
            uri = self.parameters.get(parameter.get("componentInputParameter", ""), "")
            if not uri:
                raise TaskFailed(task, "empty artifact URI runtime value for parameter "
                                 f"{name}")
        else:
            raise TaskFailed(task, "artifact uri not provided")
        # launcher_v2.go getArtifactSchema; client.go GetOrInsertArtifactType
        # names the type by the schema's title.
        schema_title = _schema_title(importer.get("typeSchema", {}))
        metadata = importer.get("metadata", {})
        outputs = list(kfp_spec.component_of(self.spec, task).get(
            "outputDefinitions", {}).get("artifacts", {}))
        if len(outputs) != 1:
            raise TaskFailed(task, "failed to extract output artifact name from "
                             "componentOutputSpec")
        progress.logger.info("Component %s is running.", task)
        execution = self.store.start_execution(
            self.contexts, task, {}, "", {}, self.root_dag.id,
            execution_type=IMPORTER_EXECUTION)
        reused = None if importer.get("reimport") else self.store.matched_artifact(
            uri, schema_title, metadata, self.contexts[0])
        artifact = {"id": reused} if reused is not None else {
            "uri": uri, "schema_title": schema_title, "metadata": metadata,
            "imported": True}
        self.store.publish(execution, self.contexts, States.COMPLETE,
                           output_artifacts={outputs[0]: artifact})
        self.executions[task] = execution.id
        self.outputs[task] = {outputs[0]: uri}
        progress.logger.info("Component %s is finished (imported %s%s).", task, uri,
                 ", an artifact seen before" if reused is not None else "")

    # --- one task ---------------------------------------------------------
    def run_task(self, task: str) -> None:
        """One task; any failure is a TaskFailed that names it."""
        try:
            self._run_task(task)
        except TaskFailed:
            raise
        except Exception as error:  # a malformed output file, a bad condition, ...
            raise TaskFailed(task, f"{type(error).__name__}: {error}") from error

    def _run_task(self, task: str) -> None:
        upstream = kfp_spec.upstream(self.spec, task)
        if any(u in self.skipped for u in upstream):
            self.skipped.append(task)
            progress.logger.info("Component %s is skipped: an upstream task was skipped.", task)
            return
        task_spec = kfp_spec.tasks(self.spec)[task]
        label, executor = kfp_spec.executor_of(self.spec, task)
        if "importer" in executor:
            self.run_importer(task, executor["importer"])
            return
        parameters = self.resolve_parameters(task)
        artifacts = self.resolve_artifacts(task)
        executor_input = {"inputs": {"parameterValues": parameters, "artifacts": {
            k: {"artifacts": v["runtime"]} for k, v in artifacts.items()}}}
        input_ids = {k: v["ids"] for k, v in artifacts.items()}
        condition = task_spec.get("triggerPolicy", {}).get("condition", "")
        if condition:
            message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())
            if not cel.evaluate(condition, json_format.MessageToDict(
                    message, preserving_proto_field_name=True)):
                execution = self.store.start_execution(
                    self.contexts, task, parameters, "", input_ids, self.root_dag.id)
                self.store.publish(execution, self.contexts, States.CANCELED)
                self.skipped.append(task)
                progress.logger.info("Component %s is skipped: its condition is false (%s).",
                                     task, condition)
                return
        executor_input["outputs"] = self.provision_outputs(task)
        # driver.go getFingerPrintsAndID: no fingerprint when the task does not
        # cache, so its executions never serve as cache entries.
        caching = bool(task_spec.get("cachingOptions", {}).get("enableCache"))
        fingerprint = (self.fingerprint(executor_input, task, executor["container"])
                       if caching else "")
        execution = self.store.start_execution(self.contexts, task, parameters,
                                               fingerprint, input_ids, self.root_dag.id)
        cached = self.store.cached_execution(self.name, fingerprint) if caching else None
        if cached is not None:
            reused = self.store.outputs_of(cached)
            self.store.publish(
                execution, self.contexts, States.CACHED,
                output_parameters=self.store.output_parameters_of(cached),
                output_artifacts={k: {"id": v["id"]} for k, v in reused.items()},
                cached_execution_id=cached)
            self.executions[task] = execution.id
            self.outputs[task] = {k: v["runtime"]["uri"] for k, v in reused.items()}
            progress.logger.info("Component %s is finished (cached: outputs of execution %d).",
                                 task, cached)
            return
        progress.logger.info("Component %s is running.", task)
        start = time.time()
        try:
            result = self.launch(task, executor["container"], executor_input)
        except Exception:
            self.store.publish(execution, self.contexts, States.FAILED)
            raise
        self.store.publish(execution, self.contexts, States.COMPLETE,
                           output_parameters=result["parameters"],
                           output_artifacts=result["artifacts"])
        self.executions[task] = execution.id
        self.outputs[task] = {k: v["uri"] for k, v in result["artifacts"].items()}
        progress.logger.info("Component %s is finished in %.0fs.", task, time.time() - start)


def starts_warm(container: Dict[str, Any]) -> bool:
    """Whether a container task's process is forked from the warm interpreter."""
    return container.get("command", [])[:2] == ["python", "-m"]


def run_spec(spec: Dict[str, Any], *, pipeline_root: str, metadata_path: str,
             work_dir: str, parameters: Optional[Dict[str, Any]] = None,
             python: str = sys.executable, never_cached: Sequence[str] = (),
             warm_start: bool = True) -> Outputs:
    """Executes a PipelineSpec (dict); returns {task: {output: uri}} of the tasks
    that ran or were taken from the cache. Raises kfp_spec.SpecRefused for what the
    backend refuses, TaskFailed when a task fails (nothing downstream runs).
    `warm_start`: tasks whose command is `python -m ...` are forked from one warm
    interpreter per run (warm.py), started only when the spec has such a task; False
    starts a fresh interpreter for each."""
    kfp_spec.check(spec, never_cached)
    order = kfp_spec.task_order(spec)
    forked = False
    for task in order:
        executor = kfp_spec.executor_of(spec, task)[1]
        if "container" not in executor and "importer" not in executor:
            raise kfp_spec.SpecRefused(task, "kfp-local executes container and importer "
                                       "tasks only (a limitation of kfp-local, not of "
                                       "the backend; fairgate's spec has no other kind)")
        forked = forked or ("container" in executor and starts_warm(executor["container"]))
    run = _Run(spec, pipeline_root, Store(metadata_path), work_dir,
               parameters or {}, python, None)
    log.info("kfp-local: run %s of pipeline %s, artifacts under %s",
             run.run_id, run.name, run.run_root)
    state = States.FAILED
    try:
        if warm_start and forked:  # importing takes 10-17 s: not for importers alone
            run.warm = warm.WarmPython(python, os.path.join(run.scratch, "warm.log"))
        for task in order:
            run.run_task(task)
        state = States.COMPLETE
    finally:
        if run.warm is not None:
            run.warm.close()
        run.store.publish(run.root_dag, run.contexts, state)
    return run.outputs


def run(config, image: Optional[str] = None) -> Outputs:
    """Compiles `config` for Kubeflow (local paths allowed), writes the spec to
    `<work_dir>/kfp-local/pipeline.yaml` and executes that file."""
    from pipeline import kubeflow_runner
    from pipeline.pipeline import NEVER_CACHED
    work_dir = os.path.join(os.path.abspath(config.work_dir), "kfp-local")
    spec_path = kubeflow_runner.compile_spec(
        config, os.path.join(work_dir, "pipeline.yaml"), image=image, local=True)
    log.info("kfp-local: compiled the spec to %s", spec_path)
    return run_spec(kfp_spec.load(spec_path), pipeline_root=config.resolved_pipeline_root,
                    metadata_path=os.path.join(work_dir, "metadata.sqlite"),
                    work_dir=work_dir, never_cached=NEVER_CACHED)
