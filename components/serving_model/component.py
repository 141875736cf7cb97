"""ServingModel: the release baseline without a Resolver.

A TFX Resolver (LatestBlessedModelStrategy) compiles to a `resolver` executor,
which the open-source Kubeflow Pipelines backend refuses. The model in serving
is the natural baseline anyway: GatedPusher records every version it pushed, so
a plain container component can read the newest one, which
BaselineAwareEvaluator (components/evaluator/) takes as its baseline. Every runner
(local, Beam, Kubeflow, kfp-local) executes the same two components.
"""
from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.serving_model import executor


class ServingModelSpec(ComponentSpec):
    PARAMETERS = {"push_destination": ExecutionParameter(type=str)}
    INPUTS = {}
    OUTPUTS = {"model": ChannelParameter(type=standard_artifacts.Model)}


class ServingModel(base_component.BaseComponent):
    """Outputs a copy of the newest complete version under `push_destination`
    (a Model artifact with the SavedModel in `Format-Serving/`), and
    `serving_model.json` saying which version it is. Before the first push the
    artifact holds only `serving_model.json` ({"in_serving": false}).

    Its output depends on the push destination, not on its inputs, so the
    runners never take it from the cache (see pipeline.runners.NEVER_CACHED).
    """

    SPEC_CLASS = ServingModelSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.ServingModelExecutor)

    def __init__(self, push_destination: str):
        super().__init__(spec=ServingModelSpec(
            push_destination=push_destination,
            model=types.Channel(type=standard_artifacts.Model)))
