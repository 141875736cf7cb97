"""The Evaluator with the baseline rule: TFX's Evaluator judging the candidate
against the model in serving that ServingModel handed on (or, before the first
push, alone)."""
from components.evaluator.component import BaselineAwareEvaluator

__all__ = ["BaselineAwareEvaluator"]
