"""The measurement stage: what the gates, the Trainer and the report compute.

`rates` (the rate table over confusion counts), `groups` (the one spelling of a
group value), `intervals` (confidence bounds over counts), `group_metrics` (the
TFMA gate metrics and the paired bootstrap), `eval_config` (EvalConfigs from
eval_configs/), `side_effects` (what a mitigation made worse).
"""
