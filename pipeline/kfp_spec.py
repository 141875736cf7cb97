"""The compiled Kubeflow Pipelines v2 spec: what the open-source backend refuses,
and the order its tasks run in.

The refusals are the open-source backend's own, read in kubeflow/pipelines at
tag 2.0.5 (the backend release that matches the pinned kfp SDK 2.5.0; the same
strings are in 2.17.0):

* `backend/src/apiserver/template/v2_template.go` `NewV2SpecTemplate`: only
  schema version 2.1.0 is accepted.
* `backend/src/v2/compiler/visitor.go` `(*pipelineDFS).dfs` and
  `backend/src/v2/compiler/argocompiler/dag.go` `task`: only container and
  importer executors; a resolver ("resolver executors not implemented") or a
  custom job is refused.
* `backend/src/v2/driver/driver.go` `resolveInputs`: a parameter given as the
  deprecated `runtimeValue.constantValue` (schema 2.0) is "not implemented".
"""
from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import yaml

SCHEMA_VERSION = "2.1.0"
# Every task's command: TFX's KFP v2 entrypoint behind fairgate's repair of the
# input artifact types (see pipeline/kfp_entrypoint.py).
ENTRYPOINT = ["python", "-m", "pipeline.kfp_entrypoint"]


class SpecRefused(ValueError):
    """The open-source backend would refuse this spec; the message names the task."""

    def __init__(self, task: str, message: str):
        super().__init__(f"task '{task}': {message}")
        self.task = task
        self.backend_message = message


def load(path: str) -> Dict[str, Any]:
    """The PipelineSpec in `path`: a bare spec (YAML or JSON, what the open-source
    backend takes) or a PipelineJob (JSON with `pipelineSpec`, Vertex AI's form)."""
    with open(path) as f:
        document = yaml.safe_load(f)
    return document.get("pipelineSpec", document)


def tasks(spec: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    return spec["root"]["dag"]["tasks"]


def component_of(spec: Dict[str, Any], task: str) -> Dict[str, Any]:
    return spec["components"][tasks(spec)[task]["componentRef"]["name"]]


def executor_of(spec: Dict[str, Any], task: str) -> Tuple[str, Dict[str, Any]]:
    """(executor label, executor spec) of a task."""
    label = component_of(spec, task).get("executorLabel", "")
    return label, spec.get("deploymentSpec", {}).get("executors", {}).get(label, {})


def _executor_refusal(component: str, label: str, executor: Dict[str, Any]) -> str:
    """visitor.go `dfs` runs before dag.go's per-kind messages, so a resolver or a
    custom job gets its generic message."""
    if "container" in executor or "importer" in executor:
        return ""
    return (f"error processing component name={component!r}: executor(label={label!r}): "
            "non-container and non-importer executor not implemented")


_RUNTIME_VALUE_TYPES = {"constantValue": "ValueOrRuntimeParameter_ConstantValue",
                        "runtimeParameter": "ValueOrRuntimeParameter_RuntimeParameter"}


def _unsupported_runtime_values(task_spec: Dict[str, Any]) -> Iterator[Tuple[str, str]]:
    for name, parameter in task_spec.get("inputs", {}).get("parameters", {}).items():
        for kind in parameter.get("runtimeValue", {}):
            if kind in _RUNTIME_VALUE_TYPES:
                yield name, _RUNTIME_VALUE_TYPES[kind]


def refusals(spec: Dict[str, Any],
             never_cached: Sequence[str] = ()) -> List[Tuple[str, str]]:
    """[(task, message)] for everything the open-source backend refuses (its own
    message), and for caching on a task in `never_cached` (fairgate's rule: such a
    task's output depends on the world, not on its cache key). Empty: accepted."""
    found = []
    version = spec.get("schemaVersion", "")
    if version != SCHEMA_VERSION:
        found.append(("<pipeline>", "KFP only supports schema version 2.1.0, but the "
                      f"pipeline spec has version {version}"))
    for task, task_spec in sorted(tasks(spec).items()):
        component = component_of(spec, task)
        if "dag" in component:
            found.append((task, "a nested DAG: fairgate's pipeline has none, and "
                          "these checks do not look inside one (fairgate's limit)"))
            continue
        label, executor = executor_of(spec, task)
        message = _executor_refusal(task_spec["componentRef"]["name"], label, executor)
        if message:
            found.append((task, message))
        if "importer" in executor and task_spec.get("triggerPolicy", {}).get("condition"):
            found.append((task, "triggerPolicy.condition on importer task is not "
                          "supported"))
        for name, kind in _unsupported_runtime_values(task_spec):
            found.append((task, f"input parameter '{name}': param runtime value spec "
                          f"of type *pipelinespec.{kind} not implemented"))
        if task in never_cached and task_spec.get("cachingOptions", {}).get("enableCache"):
            found.append((task, "caching is on, but this task reads the world (the "
                          "model in serving) and must run every time (fairgate's rule)"))
    return found


def check(spec: Dict[str, Any], never_cached: Sequence[str] = ()) -> None:
    """Raises SpecRefused for the first refusal (see `refusals`)."""
    found = refusals(spec, never_cached)
    if found:
        raise SpecRefused(*found[0])


def upstream(spec: Dict[str, Any], task: str) -> List[str]:
    """Tasks that must succeed before `task`: its dependentTasks and the
    producers of its inputs (how the Argo compiler builds `depends`)."""
    task_spec = tasks(spec)[task]
    found = set(task_spec.get("dependentTasks", []))
    inputs = task_spec.get("inputs", {})
    for artifact in inputs.get("artifacts", {}).values():
        if "taskOutputArtifact" in artifact:
            found.add(artifact["taskOutputArtifact"]["producerTask"])
    for parameter in inputs.get("parameters", {}).values():
        if "taskOutputParameter" in parameter:
            found.add(parameter["taskOutputParameter"]["producerTask"])
    return sorted(found)


def task_order(spec: Dict[str, Any]) -> List[str]:
    """Every task after all of its upstream tasks (ties by name: deterministic)."""
    remaining = {task: set(upstream(spec, task)) for task in tasks(spec)}
    for task, needs in remaining.items():
        unknown = needs - set(remaining)
        if unknown:
            raise SpecRefused(task, f"depends on unknown task(s) {sorted(unknown)}")
    order: List[str] = []
    while remaining:
        ready = sorted(t for t, needs in remaining.items() if needs <= set(order))
        if not ready:
            raise SpecRefused(sorted(remaining)[0], "dependency cycle")
        order.append(ready[0])
        del remaining[ready[0]]
    return order


def dump(spec: Dict[str, Any], path: str) -> None:
    """YAML for .yaml/.yml (what the kfp client uploads), JSON otherwise."""
    with open(path, "w") as f:
        if path.endswith((".yaml", ".yml")):
            yaml.safe_dump(spec, f, sort_keys=False, width=1 << 20)
        else:
            json.dump(spec, f, indent=2)
