"""Module paths that files written before the package layout name still resolve:
`module: "fairgate.group_metrics"` in an EvalConfig, and the task command and the
Evaluator's executor class in a Kubeflow spec compiled before."""
import os
import runpy

import pytest

from fairgate.metrics import eval_config

CELEBA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "eval_configs", "celeba.pbtxt")


def _old_eval_config(tmp_path, extra=""):
    with open(CELEBA) as f:
        text = f.read()
    assert f'module: "{eval_config.GATE_MODULE}"' in text
    path = tmp_path / "old.pbtxt"
    path.write_text(text.replace(f'"{eval_config.GATE_MODULE}"', '"fairgate.group_metrics"')
                    + extra)
    return str(path)


def test_an_eval_config_naming_the_old_metrics_module_still_gates(tmp_path):
    from tensorflow_model_analysis.metrics import metric_specs

    from fairgate.metrics import group_metrics
    config = eval_config.render(_old_eval_config(tmp_path), label="Smiling",
                                group="Young", groups=[0, 1])
    old = [m for spec in config.metrics_specs for m in spec.metrics
           if m.module == "fairgate.group_metrics"]
    assert len(old) >= 4 and eval_config.has_gates(config)
    for metric in old:  # TFMA builds each from the old module path
        instance = metric_specs.metric_instance(metric)
        assert type(instance) is getattr(group_metrics, metric.class_name)
    # They are fairgate's gate metrics to the report-only config as well.
    kept = [m for spec in eval_config.report_only(config).metrics_specs
            for m in spec.metrics]
    assert kept and not any(m.module == "fairgate.group_metrics" for m in kept)


def test_policy_checks_apply_to_the_old_metrics_module(tmp_path):
    bad = ('metrics_specs { metrics { class_name: "OverallRate" '
           'module: "fairgate.group_metrics" '
           'config: \'{"rate": "accuracy", "policy": "sometimes"}\' } }\n')
    # The metric's own check, which only fairgate's gate metrics get.
    with pytest.raises(eval_config.EvalConfigError,
                       match="'policy'.*must be one of point, confidence"):
        eval_config.render(_old_eval_config(tmp_path, bad), label="Smiling",
                           group="Young", groups=[0, 1])


def test_a_spec_compiled_before_finds_its_executor_and_entrypoint(monkeypatch):
    from tfx.utils import import_utils

    from components.evaluator.executor import BaselineAwareEvaluatorExecutor
    old = import_utils.import_class_by_path(
        "components.serving_model.executor.BaselineAwareEvaluatorExecutor")
    assert old is BaselineAwareEvaluatorExecutor
    # `python -m fairgate.kfp_entrypoint ARGS` runs the entrypoint.
    from pipeline import kfp_entrypoint
    calls = []
    monkeypatch.setattr(kfp_entrypoint, "main", lambda: calls.append("main"))
    runpy.run_module("fairgate.kfp_entrypoint", run_name="__main__")
    assert calls == ["main"]
