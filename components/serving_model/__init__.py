"""The model in serving as the release baseline: ServingModel hands the newest
version at the push destination to the Evaluator (components/evaluator/), which
judges the candidate against it (or, before the first push, alone)."""
from components.serving_model.component import ServingModel

__all__ = ["ServingModel"]
