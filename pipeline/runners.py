"""Runs the pipeline on this machine: LocalDagRunner or BeamDagRunner (ML Metadata in
SQLite), or kfp-local, which executes the compiled Kubeflow Pipelines spec as the
open-source backend would (pipeline/kfp_local). All run the same
create_pipeline(config)."""
from __future__ import annotations

import os
from typing import Dict

from tfx.dsl.compiler import compiler
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.proto.orchestration import pipeline_pb2

from fairgate import artifacts, progress
from fairgate.config import Config
from fairgate.data import preflight
from fairgate.release.destination_lock import DestinationLock, lock_for
from pipeline import beam_signatures
from pipeline.pipeline import NEVER_CACHED, create_pipeline

RUNNERS = ("local", "beam", "kfp-local")


def compile_ir(dag: Pipeline) -> pipeline_pb2.Pipeline:
    """The pipeline IR, with caching off for the nodes whose output depends on
    the world rather than on their inputs (TFX sets caching per pipeline only)."""
    ir = compiler.Compiler().compile(dag)
    for node in ir.nodes:
        if node.pipeline_node.node_info.id in NEVER_CACHED:
            node.pipeline_node.execution_options.caching_options.enable_cache = False
    return ir


def run(config: Config, runner: str = "local", enable_cache: bool = True,
        checked: bool = False) -> Dict[str, Dict[str, str]]:
    """Checks the inputs (unless the caller has: `checked`), then runs the DAG;
    raises if any component fails. Returns {component: {output: uri}} of the
    run's newest outputs."""
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got '{runner}'")
    if not checked:
        preflight.check_inputs(config)
    with run_lock(config):
        return _run(config, runner, enable_cache)


def run_lock(config: Config, **options) -> DestinationLock:
    """One run at a time on one ML Metadata store and pipeline root: a second run
    waits for the first to end (or for its process to be gone), saying so. Two
    LocalDagRunners on one SQLite store would resolve each other's artifacts."""
    store = config.resolved_metadata_path
    os.makedirs(os.path.dirname(store), exist_ok=True)
    return lock_for(
        os.path.dirname(store), name=f"run-{os.path.basename(store)}",
        purpose=f"run of '{config.name}'",
        on_wait=lambda holder: progress.logger.warning(
            "Waiting for %s, another run on this pipeline root (ML Metadata %s), "
            "to finish.", holder, store), **options)


def _run(config: Config, runner: str, enable_cache: bool) -> Dict[str, Dict[str, str]]:
    if runner == "kfp-local":
        from pipeline import kfp_local
        return kfp_local.run(config)
    beam_signatures.install()  # the Beam components run in this process
    metadata = tfx_metadata.sqlite_metadata_connection_config(
        config.resolved_metadata_path)
    ir = compile_ir(create_pipeline(config, metadata, enable_cache=enable_cache))
    if runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
        BeamDagRunner().run_with_ir(ir)
    else:
        from tfx.orchestration.local.local_dag_runner import LocalDagRunner
        LocalDagRunner().run_with_ir(ir)
    return artifacts.latest_outputs(config.resolved_metadata_path,
                                    config.resolved_pipeline_root)
