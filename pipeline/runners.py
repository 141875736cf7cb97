"""Runs the pipeline on this machine with LocalDagRunner or BeamDagRunner, ML Metadata
in SQLite. Both run the same create_pipeline(config)."""
from __future__ import annotations

import os

from tfx import v1 as tfx

from fairgate import preflight
from fairgate.config import Config
from pipeline.pipeline import create_pipeline

RUNNERS = ("local", "beam")


def run(config: Config, runner: str = "local", enable_cache: bool = True) -> None:
    """Checks the inputs, then runs the DAG; raises if any component fails."""
    if runner not in RUNNERS:
        raise ValueError(f"runner must be one of {', '.join(RUNNERS)}, got '{runner}'")
    preflight.check_inputs(config)
    os.makedirs(os.path.dirname(config.resolved_metadata_path), exist_ok=True)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.resolved_metadata_path)
    dag = create_pipeline(config, metadata, enable_cache=enable_cache)
    if runner == "beam":
        from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
        BeamDagRunner().run(dag)
    else:
        tfx.orchestration.LocalDagRunner().run(dag)
