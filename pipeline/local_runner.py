"""Runs the pipeline in this process with LocalDagRunner and ML Metadata in SQLite."""
from __future__ import annotations

import os

from tfx import v1 as tfx

from fairgate import preflight
from fairgate.config import Config
from pipeline.pipeline import create_pipeline


def run(config: Config, enable_cache: bool = True) -> None:
    """Checks the inputs, then runs the DAG; raises if any component fails."""
    preflight.check_inputs(config)
    os.makedirs(os.path.dirname(config.resolved_metadata_path), exist_ok=True)
    metadata = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.resolved_metadata_path)
    tfx.orchestration.LocalDagRunner().run(
        create_pipeline(config, metadata, enable_cache=enable_cache))
