"""The container entrypoint of every Kubeflow Pipelines task: TFX's KFP v2
executor entrypoint with one repair for the open-source backend.

`python -m pipeline.kfp_entrypoint` takes exactly the arguments of
`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor` (the spec
compiled by `fairgate compile` names it as the command) and hands them on.

The repair: the open-source KFP v2 driver passes every input artifact that an
upstream task produced with an empty type, `"type": {"instanceSchema": ""}`
(kubeflow/pipelines backend 2.0.5, `backend/src/v2/metadata/client.go`
`GetOutputArtifactsByExecutionId`: `Schema: "" // TODO(Bobgy)`; unchanged in
2.17.0). TFX resolves each artifact's Python class from that type
(`kubeflow_v2_entrypoint_utils._retrieve_class_path`) and fails on an empty one
(tensorflow/tfx#7768). The component's own input definitions, which a 2.1 spec
passes as `--json_serialized_inputs_spec_args`, name each input's type: an input
artifact without a type gets it from there. Nothing else is changed, except
that fairgate's progress lines are also written as `progress.task_line`s.
"""
import json
import os
import sys
from typing import Any, Dict, List, Optional

# The project image sets these too; here they hold wherever the entrypoint runs.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # TFCO and TFMA need tf-keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

INVOCATION_FLAG = "--json_serialized_invocation_args"
INPUTS_SPEC_FLAG = "--json_serialized_inputs_spec_args"


def _untyped(artifact: Dict[str, Any]) -> bool:
    schema = artifact.get("type") or {}
    return not (schema.get("schemaTitle") or schema.get("schema_title")
                or (schema.get("instanceSchema") or schema.get("instance_schema") or "").strip())


def with_input_types(executor_input: Dict[str, Any],
                     inputs_spec: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """executor_input (the JSON dict of an ExecutorInput) with every untyped input
    artifact typed from inputs_spec (the component's inputDefinitions)."""
    artifacts = (executor_input.get("inputs") or {}).get("artifacts") or {}
    declared = (inputs_spec or {}).get("artifacts") or {}
    for key, artifact_list in artifacts.items():
        for artifact in artifact_list.get("artifacts") or []:
            if not _untyped(artifact):
                continue
            schema = (declared.get(key) or {}).get("artifactType") or \
                (declared.get(key) or {}).get("artifact_type")
            if not schema:
                raise ValueError(
                    f"input artifact '{key}' arrived without a type and the component's "
                    f"input definitions ({INPUTS_SPEC_FLAG}) do not declare it; "
                    "compile the pipeline with `fairgate compile` (spec 2.1)")
            artifact["type"] = schema
    return executor_input


def repaired_argv(argv: List[str]) -> List[str]:
    """argv with the invocation JSON repaired (both `--flag value` and
    `--flag=value` spellings); every other argument untouched."""
    def value_of(flag):
        for i, arg in enumerate(argv):
            if arg == flag and i + 1 < len(argv):
                return i + 1, argv[i + 1]
            if arg.startswith(flag + "="):
                return i, arg[len(flag) + 1:]
        return None, None

    position, invocation = value_of(INVOCATION_FLAG)
    if invocation is None:
        return list(argv)
    _, spec = value_of(INPUTS_SPEC_FLAG)
    repaired = json.dumps(with_input_types(json.loads(invocation),
                                           json.loads(spec) if spec else None))
    out = list(argv)
    out[position] = repaired if out[position] == invocation else \
        f"{INVOCATION_FLAG}={repaired}"
    return out


def write_progress_lines() -> None:
    """fairgate's progress lines also written as `progress.task_line`s, which the
    runner can pick out of the task's output (kfp-local relays them to its
    terminal without absl's prefix)."""
    from fairgate import progress
    if not any(isinstance(h, progress.TaskLineHandler) for h in progress.logger.handlers):
        progress.logger.addHandler(progress.TaskLineHandler())


def main(argv: Optional[List[str]] = None) -> None:
    from absl import app
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor
    from pipeline import beam_signatures
    write_progress_lines()
    beam_signatures.install()
    argv = [sys.argv[0]] + repaired_argv(list(sys.argv[1:] if argv is None else argv))
    sys.argv = argv
    app.run(kubeflow_v2_run_executor.main,
            flags_parser=kubeflow_v2_run_executor._parse_flags)  # pylint: disable=protected-access


if __name__ == "__main__":
    main()
