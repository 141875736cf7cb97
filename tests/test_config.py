"""Config files: defaults run the demo; unknown keys and wrong types name the key."""
import json

import pytest

from fairgate import config as config_lib
from fairgate.config import ConfigError


def _write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def test_no_config_is_the_embedded_demo():
    config = config_lib.load(None)
    assert config.data.source == "embedded_celeba"
    assert (config.data.label, config.data.group) == ("Smiling", "Young")


def test_shipped_configs_load():
    for name in ("embedded_celeba", "celeb_a", "csv_example", "kubeflow_embedded",
                 "real_world_csv"):
        config = config_lib.load(f"configs/{name}.yaml")
        assert config.data.label and config.data.group


def test_eval_configs_render_for_both_tasks():
    from fairgate import eval_config
    for source, gates in (("embedded_celeba", 8), ("csv", 6)):
        rendered = eval_config.render(eval_config.default_path(source), label="y",
                                      group="g", groups=["a", "b"])
        assert rendered.model_specs[0].label_key == "y"
        assert rendered.slicing_specs[1].feature_keys == ["g"]
        gated = [m for spec in rendered.metrics_specs for m in spec.metrics
                 if m.per_slice_thresholds]
        assert len(gated) == gates
        # Every group gate reads the group column (overall accuracy does not).
        assert all('"g"' in m.config for m in gated
                   if m.module and '"rate": "accuracy"' not in m.config)
        assert not eval_config.has_gates(eval_config.without_gates(rendered))
        # The unconstrained model's Evaluator: the report's metrics, nothing else.
        report = eval_config.report_only(rendered)
        names = {m.class_name for spec in report.metrics_specs for m in spec.metrics}
        assert {"ConfusionMatrixAtThresholds", "FairnessIndicators",
                "CalibrationPlot"} <= names
        assert not any(m.module == eval_config.GATE_MODULE
                       for spec in report.metrics_specs for m in spec.metrics)
        assert not eval_config.has_gates(report)


def test_evaluation_section_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="'evaluation.groups'.*at least two"):
        config_lib.load(_write(tmp_path, "evaluation:\n  groups: [0]\n"))
    with pytest.raises(ConfigError, match="'evaluation.eval_config'.*missing.pbtxt"):
        config_lib.load(_write(tmp_path, "evaluation:\n  eval_config: missing.pbtxt\n"))
    bad = tmp_path / "bad.pbtxt"
    bad.write_text('model_specs { label_key: "${lable}" }\n')
    with pytest.raises(ConfigError, match=r"unknown placeholder \$\{lable\}"):
        config_lib.load(_write(tmp_path, f"evaluation:\n  eval_config: {bad}\n"))
    ungated = tmp_path / "ungated.pbtxt"
    ungated.write_text('metrics_specs { metrics { class_name: "ExampleCount" } }\n')
    with pytest.raises(ConfigError, match="no value thresholds, so no model could ever"):
        config_lib.load(_write(tmp_path, f"evaluation:\n  eval_config: {ungated}\n"))


def test_unknown_key_is_named_with_the_file(tmp_path):
    path = _write(tmp_path, "data:\n  lable: Smiling\n")
    with pytest.raises(ConfigError, match=r"unknown key 'data.lable' in .*run.yaml"):
        config_lib.load(path)


def test_wrong_type_is_named(tmp_path):
    path = _write(tmp_path, "data:\n  num_examples: lots\n")
    with pytest.raises(ConfigError, match=r"'data.num_examples' in .*run.yaml must be an integer"):
        config_lib.load(path)


def test_bad_source_and_missing_input_base(tmp_path):
    with pytest.raises(ConfigError, match="'data.source'.*must be one of"):
        config_lib.load(_write(tmp_path, "data:\n  source: parquet\n"))
    with pytest.raises(ConfigError, match="'data.input_base'.*required for source 'csv'"):
        config_lib.load(_write(tmp_path, "data:\n  source: csv\n"))


def test_splits_must_be_train_eval_test(tmp_path):
    text = "data:\n  source: csv\n  input_base: x\n  splits: {train: 'a*', valid: 'b*'}\n"
    with pytest.raises(ConfigError, match="'data.splits'.*train, eval and test"):
        config_lib.load(_write(tmp_path, text))


def test_trainer_section_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="'trainer.mode'.*must be one of tfco, none, "
                       "correlation, group_thresholds"):
        config_lib.load(_write(tmp_path, "trainer:\n  mode: adversarial\n"))
    post = config_lib.load(_write(tmp_path, "trainer:\n  mode: group_thresholds\n"))
    assert post.trainer.mode == "group_thresholds"
    with pytest.raises(ConfigError, match=r"constraints\[0\]\.rate: unknown rate 'fpr'"):
        config_lib.load(_write(tmp_path, "trainer:\n  constraints:\n    constraints:\n"
                                          "      - {rate: fpr, group: 0, upper_bound: 0.1}\n"))
    with pytest.raises(ConfigError, match="'trainer.train_steps'.*0 or more"):
        config_lib.load(_write(tmp_path, "trainer:\n  train_steps: -5\n"))
    with pytest.raises(ConfigError, match="'trainer.train_epochs'.*more than 0"):
        config_lib.load(_write(tmp_path, "trainer:\n  train_epochs: 0\n"))
    budget = config_lib.load(_write(tmp_path, "trainer:\n  train_epochs: 3\n"))
    assert budget.trainer.train_epochs == 3.0 and budget.trainer.train_steps == 0


def test_run_fn_settings_reject_unknown_keys():
    from trainer_module.run_fn import Settings
    with pytest.raises(ValueError, match="unknown key 'stpes'"):
        Settings.from_custom_config({"stpes": 3})
    assert Settings.from_custom_config({"mode": "none"}).mode == "none"


def _gate_file(tmp_path, metric_config, threshold, class_name="GroupRate",
               module="fairgate.group_metrics"):
    path = tmp_path / "gates.pbtxt"
    module_line = f'module: "{module}"' if module else ""
    path.write_text(
        'model_specs { label_key: "${label}" }\n'
        "metrics_specs {\n"
        "  metrics { class_name: \"MinGroupSize\" module: \"fairgate.group_metrics\"\n"
        "    config: '{\"group_key\": \"${group}\", \"groups\": ${groups}}'\n"
        "    threshold { value_threshold { lower_bound { value: 1 } } } }\n"
        f"  metrics {{ class_name: \"{class_name}\" {module_line}\n"
        f"    config: '{metric_config}'\n"
        f"    threshold {{ {threshold} }} }}\n"
        "}\n")
    return path


UPPER = "value_threshold { upper_bound { value: 0.1 } }"


@pytest.mark.parametrize("metric_config, threshold, class_name, module, message", [
    ('{"group_key": "g", "policy": "confidence", "level": 1.2}', UPPER, "GroupRate",
     "fairgate.group_metrics", r"'level'.*strictly between 0.5 and 1, got 1.2"),
    ('{"group_key": "g", "policy": "confidence", "level": 0.5}', UPPER, "GroupRate",
     "fairgate.group_metrics", r"'level'.*strictly between 0.5 and 1, got 0.5"),
    ('{"group_key": "g", "policy": "bayesian"}', UPPER, "GroupRate",
     "fairgate.group_metrics", r"'policy'.*must be one of point, confidence"),
    ('{"group_key": "g", "groups": [0, 1], "policy": "confidence"}',
     "value_threshold { lower_bound { value: 5 } }", "MinGroupSize",
     "fairgate.group_metrics", r"'policy' needs a metric with an interval.*"
                               r"MinGroupSize has none"),
    ('{"policy": "confidence", "level": 0.95}',
     "value_threshold { lower_bound { value: 0.8 } }", "BinaryAccuracy", "",
     r"'policy' needs a metric with an interval.*BinaryAccuracy has none"),
    ('{"group_key": "g", "policy": "confidence"}',
     "value_threshold { lower_bound { value: 0.01 } }", "GroupRate",
     "fairgate.group_metrics", r"upper 95% bound.*upper_bound only"),
    ('{"group_key": "g", "policy": "confidence"}',
     "change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.0 } }",
     "GroupRate", "fairgate.group_metrics", r"put the change gate on a 'Regression'"),
    ('{"metric": "GroupRateGap", "group_key": "g"}', UPPER, "Regression",
     "fairgate.group_metrics", r"Regression gate is a change_threshold"),
    ('{"metric": "GroupRateGap", "group_key": "g"}',
     "change_threshold { direction: HIGHER_IS_BETTER absolute { value: 0.0 } }",
     "Regression", "fairgate.group_metrics", r"LOWER_IS_BETTER.*margin >= 0"),
    ('{"metric": "GroupRateGap", "groups": [0, 1]}',
     "change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.02 } }",
     "Regression", "fairgate.group_metrics", r"group_key is required"),
    ('{"metric": "ConditionalRateGap", "group_key": "g", "groups": [0, 1]}',
     "change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.02 } }",
     "Regression", "fairgate.group_metrics", r"condition_key is required"),
])
def test_bad_gate_policies_name_the_key_and_the_file(tmp_path, metric_config, threshold,
                                                     class_name, module, message):
    gates = _gate_file(tmp_path, metric_config, threshold, class_name, module)
    with pytest.raises(ConfigError, match=r"'evaluation.eval_config' in .*run.yaml.*"
                                          r"gates.pbtxt: metrics_specs\[0\]\.metrics\[1\] "
                                          rf"\({class_name}\).*{message}"):
        config_lib.load(_write(tmp_path, f"evaluation:\n  eval_config: {gates}\n"))


def test_shipped_gates_use_the_confidence_policy():
    from fairgate import eval_config, group_metrics
    rendered = eval_config.render(eval_config.default_path("embedded_celeba"),
                                  label="y", group="g", groups=[0, 1])
    gated = [m for spec in rendered.metrics_specs for m in spec.metrics
             if m.per_slice_thresholds]
    for metric in gated:
        instance = getattr(group_metrics, metric.class_name)(**json.loads(metric.config))
        if metric.class_name != "MinGroupSize":
            assert instance.policy == "confidence" and instance.level == 0.95


def test_selection_level_is_checked(tmp_path):
    with pytest.raises(ConfigError, match="'trainer.selection_level'.*strictly between"):
        config_lib.load(_write(tmp_path, "trainer:\n  selection_level: 1.5\n"))
    assert config_lib.load(_write(tmp_path, "trainer:\n  selection_level: 0\n"))


def test_learning_rate_schedule_and_group_head_weight_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="'trainer.learning_rate_schedule'.*auto, "
                                          "cosine, constant, got 'linear'"):
        config_lib.load(_write(tmp_path, "trainer:\n  learning_rate_schedule: linear\n"))
    with pytest.raises(ConfigError, match="'trainer.group_head_weight'.*0 or more"):
        config_lib.load(_write(tmp_path, "trainer:\n  group_head_weight: -1\n"))
    loaded = config_lib.load(_write(tmp_path, "trainer:\n  learning_rate_schedule: "
                                              "constant\n  group_head_weight: 0\n"))
    assert loaded.trainer.learning_rate_schedule == "constant"
    default = config_lib.load(_write(tmp_path, "name: x\n"))
    assert (default.trainer.learning_rate_schedule, default.trainer.group_head_weight) \
        == ("auto", 1.0)


def test_auto_schedule_decays_for_tfco_on_images_only():
    import tensorflow as tf
    from trainer_module.run_fn import Settings, learning_rate, schedule_of
    image = Settings.from_custom_config({"input": "image"})
    table = Settings.from_custom_config({"input": "tabular"})
    assert (schedule_of(image), schedule_of(table)) == ("cosine", "constant")
    for mode in ("none", "group_thresholds", "correlation"):  # unconstrained etc.
        assert schedule_of(Settings.from_custom_config(
            {"input": "image", "mode": mode})) == "constant"
    decay = learning_rate(image, 1000)
    assert isinstance(decay, tf.keras.optimizers.schedules.CosineDecay)
    assert float(decay(0)) == pytest.approx(0.001)
    assert float(decay(1000)) == pytest.approx(0.001 * 0.05)
    assert learning_rate(table, 1000) == 0.001
    forced = Settings.from_custom_config({"input": "tabular",
                                          "learning_rate_schedule": "cosine"})
    assert schedule_of(forced) == "cosine"
    with pytest.raises(ValueError, match="learning_rate_schedule must be one of"):
        Settings.from_custom_config({"learning_rate_schedule": "linear"})
