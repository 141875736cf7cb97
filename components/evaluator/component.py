"""BaselineAwareEvaluator: TFX's Evaluator, with ServingModel's output as its baseline.

ServingModel (components/serving_model/) replaces a TFX Resolver, which the
open-source Kubeflow Pipelines backend refuses; before the first push its
artifact holds no model, and this Evaluator then judges the candidate alone.
"""
from __future__ import annotations

from tfx.components.evaluator import component as evaluator_component
from tfx.dsl.components.base import executor_spec

from components.evaluator import executor


class BaselineAwareEvaluator(evaluator_component.Evaluator):
    """TFX's Evaluator, except that a `baseline_model` artifact holding no model
    (nothing in serving yet) counts as no baseline: the change thresholds are
    then skipped, as TFX does when no baseline is given."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.BaselineAwareEvaluatorExecutor)


# The spec (inputs, outputs, parameters) is TFX's own.
assert BaselineAwareEvaluator.SPEC_CLASS is evaluator_component.Evaluator.SPEC_CLASS
