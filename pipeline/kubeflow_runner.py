"""Compiles the pipeline into a Kubeflow Pipelines v2 spec with
KubeflowV2DagRunner. Same create_pipeline(config) as the local runners.

Every component runs in the project image (config kubeflow.image, built from
deploy/Dockerfile): the Trainer's run_fn is referenced by dotted path and TFMA
imports the gate metrics by module name, both from the image; only a team's model
module (trainer.model.module_file) and its sibling .py files are staged into the
pipeline root at compile time. The pipeline root (and data, push destination) must be
object storage the cluster can read, gs://bucket/fairgate.
"""
from __future__ import annotations

import copy
import json
import os
import tempfile
from typing import Any, Dict, Optional

from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from fairgate import model_module
from fairgate.config import Config, ConfigError, ModelModule, is_uri
from fairgate.data import preflight
from pipeline import kfp_spec
from pipeline.pipeline import NEVER_CACHED, create_pipeline


# Object storage the pinned stack can read and write (tf.io.gfile through
# tensorflow-io-gcs-filesystem). s3://, minio://, hdfs:// raise "File system
# scheme ... not implemented" in this stack.
CLUSTER_SCHEMES = ("gs://",)


def _cluster_path(key: str, path: str, origin: str, why: str) -> None:
    if not path.startswith(CLUSTER_SCHEMES):
        scheme = path.split("://")[0] + "://" if is_uri(path) else ""
        problem = (f"the stack cannot write {scheme} (tf.io.gfile: scheme not "
                   "implemented)" if scheme else why)
        raise ConfigError(f"'{key}' in {origin}: {problem}; use "
                          f"{' or '.join(CLUSTER_SCHEMES)}, e.g. gs://bucket/fairgate; "
                          f"got '{path}'")


def for_cluster(config: Config) -> Config:
    """The config as pods see it: the pipeline root and push destination must be
    storage the cluster shares (gs://); the embedded dataset is generated under
    the pipeline root; the report stays an artifact unless report_dir is a URI."""
    origin = config.source_file or "the default config"
    for key in ("pipeline_root", "push_destination"):
        _cluster_path(key, getattr(config, key), origin,
                      "Kubeflow needs storage the cluster's pods share")
    if is_uri(config.report_dir):
        _cluster_path("report_dir", config.report_dir, origin, "")
    data = config.data
    paths = {"tfds": ["data_dir"], "csv": ["input_base"], "tfrecord": ["input_base"]}
    for key in paths.get(data.source, []) + (["schema_file"] if data.schema_file else []):
        _cluster_path(f"data.{key}", getattr(data, key), origin,
                      "the cluster's pods cannot read it from this machine")
    cluster = copy.deepcopy(config)
    if cluster.data.source == "embedded_celeba" and not is_uri(cluster.data.data_dir):
        cluster.data.data_dir = cluster.pipeline_root.rstrip("/") + "/tensorflow_datasets"
    return with_staged_model(cluster)


def with_staged_model(config: Config) -> Config:
    """A model module (trainer.model.module_file) is staged into the pipeline
    root, and the Trainers read it from there: a pod holds only the project image
    and the pipeline root."""
    if not isinstance(config.trainer.model, ModelModule):
        return config
    staged = copy.deepcopy(config)
    staged.trainer.model.module_file = model_module.stage(
        config.trainer.model.module_file, config.resolved_pipeline_root)
    return staged


def compile_job(config: Config, image: Optional[str] = None,
                local: bool = False) -> Dict[str, Any]:
    """The PipelineJob (dict) for `config`, checked against what the open-source
    backend accepts (raises kfp_spec.SpecRefused naming the task).

    Schema 2.1: the open-source driver fills ExecutorInput's `parameterValues`
    only, which TFX reads as execution properties only for a 2.1 spec. Every
    task runs fairgate's entrypoint (kfp_spec.ENTRYPOINT). Caching is off for
    the tasks in NEVER_CACHED. `local`: for `--runner kfp-local` on this
    machine, where local paths are fine. Raises ConfigError for a key
    preflight.check_config refuses, before compiling anything.
    """
    preflight.check_config(config)
    cluster = with_staged_model(config) if local else for_cluster(config)
    with tempfile.TemporaryDirectory() as tmp:
        runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
            config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
                default_image=image or config.kubeflow.image,
                default_commands=list(kfp_spec.ENTRYPOINT),
                use_pipeline_spec_2_1=True),
            output_dir=tmp, output_filename="pipeline.json")
        # No metadata connection: on Kubeflow, ML Metadata is the cluster's.
        report_dir = (cluster.resolved_report_dir if local else
                      cluster.report_dir if is_uri(cluster.report_dir) else "")
        runner.run(create_pipeline(cluster, metadata_connection_config=None,
                                   report_dir=report_dir))
        with open(os.path.join(tmp, "pipeline.json")) as f:
            job = json.load(f)
    spec = job["pipelineSpec"]
    for task in NEVER_CACHED:
        if task in kfp_spec.tasks(spec):
            kfp_spec.tasks(spec)[task].pop("cachingOptions", None)
    kfp_spec.check(spec, NEVER_CACHED)
    return job


def compile_spec(config: Config, output: str, image: Optional[str] = None,
                 local: bool = False) -> str:
    """Writes the spec to `output` and returns its absolute path: for .yaml/.yml the
    bare PipelineSpec that the open-source backend and the kfp client take, for
    .json the PipelineJob that Vertex AI Pipelines takes (the same spec inside)."""
    job = compile_job(config, image=image, local=local)
    path = os.path.abspath(output)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    kfp_spec.dump(job["pipelineSpec"] if path.endswith((".yaml", ".yml")) else job,
                  path)
    return path
