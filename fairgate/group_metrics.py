"""The gate metrics under the module path that EvalConfigs name
(`module: "fairgate.group_metrics"`): EvalConfigs written before the metrics moved
to fairgate/metrics/group_metrics.py still do, and TFMA imports the module by that
name and looks each metric class up in it.
"""
from fairgate.metrics.group_metrics import (  # noqa: F401
    ConditionalRateGap, GroupRate, GroupRateGap, MinGroupSize, OverallRate, Regression)

__all__ = ["ConditionalRateGap", "GroupRate", "GroupRateGap", "MinGroupSize", "OverallRate",
           "Regression"]
