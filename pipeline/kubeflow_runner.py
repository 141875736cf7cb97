"""Compiles the pipeline into a Kubeflow Pipelines v2 spec (JSON) with
KubeflowV2DagRunner. Same create_pipeline(config) as the local runners.

Every component runs in the project image (config kubeflow.image, built from
deploy/Dockerfile): the Trainer's run_fn is referenced by dotted path and TFMA
imports the gate metrics by module name, both from the image, so nothing is
uploaded at compile time. The pipeline root (and data, push destination) should
be object storage the cluster can read, e.g. gs://bucket/fairgate.
"""
from __future__ import annotations

import copy
import os
from typing import Optional

from tfx import v1 as tfx

from fairgate.config import Config, ConfigError, is_uri
from pipeline.pipeline import create_pipeline


def for_cluster(config: Config) -> Config:
    """The config as pods see it: the pipeline root and push destination must be
    storage the cluster shares (a URI); the embedded dataset is generated under
    the pipeline root; the report stays an artifact unless report_dir is a URI."""
    origin = config.source_file or "the default config"
    for key in ("pipeline_root", "push_destination"):
        if not is_uri(getattr(config, key)):
            raise ConfigError(
                f"'{key}' in {origin}: Kubeflow needs storage the cluster's pods "
                f"share, e.g. gs://bucket/fairgate; got '{getattr(config, key)}'")
    data = config.data
    paths = {"tfds": ["data_dir"], "csv": ["input_base"], "tfrecord": ["input_base"]}
    for key in paths.get(data.source, []) + (["schema_file"] if data.schema_file else []):
        if not is_uri(getattr(data, key)):
            raise ConfigError(
                f"'data.{key}' in {origin}: the cluster's pods cannot read "
                f"'{getattr(data, key)}' from this machine; use a URI, e.g. "
                "gs://bucket/data")
    cluster = copy.deepcopy(config)
    if cluster.data.source == "embedded_celeba" and not is_uri(cluster.data.data_dir):
        cluster.data.data_dir = cluster.pipeline_root.rstrip("/") + "/tensorflow_datasets"
    return cluster


def compile_spec(config: Config, output: str, image: Optional[str] = None) -> str:
    """Writes the KFP v2 PipelineJob JSON to `output`; returns its path."""
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=image or config.kubeflow.image),
        output_dir=os.path.dirname(os.path.abspath(output)),
        output_filename=os.path.basename(output))
    # No metadata connection: on Kubeflow, ML Metadata is the cluster's.
    cluster = for_cluster(config)
    report_dir = cluster.report_dir if is_uri(cluster.report_dir) else ""
    runner.run(create_pipeline(cluster, metadata_connection_config=None,
                               report_dir=report_dir))
    return os.path.abspath(output)
