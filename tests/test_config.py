"""Config files: defaults run the demo; unknown keys and wrong types name the key.
Keys that TFCO or TFMA judge (constraints, EvalConfig) are checked by preflight."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from fairgate import config as config_lib
from fairgate.config import ConfigError
from fairgate.data import preflight

SHIPPED = ("embedded_celeba", "celeb_a", "csv_example", "kubeflow_embedded",
           "real_world_csv", "team_model")


def _write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def _checked(path):
    """Loaded, then checked as a run checks it first (preflight.check_config)."""
    config = config_lib.load(path)
    preflight.check_config(config)
    return config


def test_no_config_is_the_embedded_demo():
    config = config_lib.load(None)
    assert config.data.source == "embedded_celeba"
    assert (config.data.label, config.data.group) == ("Smiling", "Young")


def test_shipped_configs_load():
    for name in SHIPPED:
        config = _checked(f"configs/{name}.yaml")
        assert config.data.label and config.data.group


def test_eval_configs_render_for_both_tasks():
    from fairgate.metrics import eval_config
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
    missing = _write(tmp_path, "evaluation:\n  eval_config: missing.pbtxt\n")
    assert config_lib.load(missing)  # the EvalConfig is preflight's (TFMA) to judge
    with pytest.raises(ConfigError, match="'evaluation.eval_config'.*missing.pbtxt"):
        _checked(missing)
    bad = tmp_path / "bad.pbtxt"
    bad.write_text('model_specs { label_key: "${lable}" }\n')
    with pytest.raises(ConfigError, match=r"unknown placeholder \$\{lable\}"):
        _checked(_write(tmp_path, f"evaluation:\n  eval_config: {bad}\n"))
    ungated = tmp_path / "ungated.pbtxt"
    ungated.write_text('metrics_specs { metrics { class_name: "ExampleCount" } }\n')
    with pytest.raises(ConfigError, match="no value thresholds, so no model could ever"):
        _checked(_write(tmp_path, f"evaluation:\n  eval_config: {ungated}\n"))


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
        _checked(_write(tmp_path, "trainer:\n  constraints:\n    constraints:\n"
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
               module="fairgate.metrics.group_metrics"):
    path = tmp_path / "gates.pbtxt"
    module_line = f'module: "{module}"' if module else ""
    path.write_text(
        'model_specs { label_key: "${label}" }\n'
        "metrics_specs {\n"
        "  metrics { class_name: \"MinGroupSize\" module: \"fairgate.metrics.group_metrics\"\n"
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
     "fairgate.metrics.group_metrics", r"'level'.*strictly between 0.5 and 1, got 1.2"),
    ('{"group_key": "g", "policy": "confidence", "level": 0.5}', UPPER, "GroupRate",
     "fairgate.metrics.group_metrics", r"'level'.*strictly between 0.5 and 1, got 0.5"),
    ('{"group_key": "g", "policy": "bayesian"}', UPPER, "GroupRate",
     "fairgate.metrics.group_metrics", r"'policy'.*must be one of point, confidence"),
    ('{"group_key": "g", "groups": [0, 1], "policy": "confidence"}',
     "value_threshold { lower_bound { value: 5 } }", "MinGroupSize",
     "fairgate.metrics.group_metrics", r"'policy' needs a metric with an interval.*"
                               r"MinGroupSize has none"),
    ('{"policy": "confidence", "level": 0.95}',
     "value_threshold { lower_bound { value: 0.8 } }", "BinaryAccuracy", "",
     r"'policy' needs a metric with an interval.*BinaryAccuracy has none"),
    ('{"group_key": "g", "policy": "confidence"}',
     "value_threshold { lower_bound { value: 0.01 } }", "GroupRate",
     "fairgate.metrics.group_metrics", r"upper 95% bound.*upper_bound only"),
    ('{"group_key": "g", "policy": "confidence"}',
     "change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.0 } }",
     "GroupRate", "fairgate.metrics.group_metrics", r"put the change gate on a 'Regression'"),
    ('{"metric": "GroupRateGap", "group_key": "g"}', UPPER, "Regression",
     "fairgate.metrics.group_metrics", r"Regression gate is a change_threshold"),
    ('{"metric": "GroupRateGap", "group_key": "g"}',
     "change_threshold { direction: HIGHER_IS_BETTER absolute { value: 0.0 } }",
     "Regression", "fairgate.metrics.group_metrics", r"LOWER_IS_BETTER.*margin >= 0"),
    ('{"metric": "GroupRateGap", "groups": [0, 1]}',
     "change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.02 } }",
     "Regression", "fairgate.metrics.group_metrics", r"group_key is required"),
    ('{"metric": "ConditionalRateGap", "group_key": "g", "groups": [0, 1]}',
     "change_threshold { direction: LOWER_IS_BETTER absolute { value: 0.02 } }",
     "Regression", "fairgate.metrics.group_metrics", r"condition_key is required"),
])
def test_bad_gate_policies_name_the_key_and_the_file(tmp_path, metric_config, threshold,
                                                     class_name, module, message):
    gates = _gate_file(tmp_path, metric_config, threshold, class_name, module)
    with pytest.raises(ConfigError, match=r"'evaluation.eval_config' in .*run.yaml.*"
                                          r"gates.pbtxt: metrics_specs\[0\]\.metrics\[1\] "
                                          rf"\({class_name}\).*{message}"):
        _checked(_write(tmp_path, f"evaluation:\n  eval_config: {gates}\n"))


def test_shipped_gates_use_the_confidence_policy():
    from fairgate.metrics import eval_config, group_metrics
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
    with pytest.raises(ValueError, match="'learning_rate_schedule' in the Trainer's "
                                         "custom_config: must be one of"):
        Settings.from_custom_config({"learning_rate_schedule": "linear"})


def test_loading_a_config_imports_no_tensorflow():
    """`fairgate report` and the schema stay quick: the config alone pulls in
    neither TensorFlow nor TFMA nor TFCO (their checks are preflight's)."""
    probe = ("import sys\n"
             "from fairgate import config\n"
             "for name in sys.argv[1:]:\n"
             "    config.load(name)\n"
             "config.load(None)\n"
             "heavy = ('tensorflow', 'tensorflow_model_analysis',\n"
             "         'tensorflow_constrained_optimization', 'tfx')\n"
             "print(sorted(m for m in heavy if m in sys.modules))\n")
    result = subprocess.run(
        [sys.executable, "-c", probe, *(f"configs/{n}.yaml" for n in SHIPPED)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


def test_trainer_settings_come_from_the_trainer_section(tmp_path):
    """The Trainer's custom_config is the same schema: every training key of
    trainer: reaches run_fn, with the Trainer's own mode and the data's facts."""
    from trainer_module.run_fn import Settings
    config = config_lib.load(_write(tmp_path, (
        "data:\n  source: csv\n  input_base: x\n  label: y\n  group: g\n"
        "  features: [a, {b: categorical}]\n"
        "trainer:\n  selection_level: 0.9\n  batch_size: 64\n  baseline: false\n"
        "  train_steps: 7\n  learning_rate_schedule: cosine\n")))
    custom_config = config_lib.TrainerSettings.for_run(config, "none").model_dump()
    # baseline and train_steps shape the DAG (TrainArgs), not run_fn.
    assert not {"baseline", "train_steps"} & set(custom_config)
    settings = Settings.from_custom_config(custom_config)
    assert (settings.mode, settings.selection_level, settings.batch_size,
            settings.learning_rate_schedule) == ("none", 0.9, 64, "cosine")
    assert (settings.label, settings.group, settings.input) == ("y", "g", "tabular")
    assert settings.features == {"a": None, "b": "categorical"}
    assert set(config_lib.TrainingSettings.model_fields) <= set(custom_config)


def test_integers_arriving_as_floats_still_work_in_run_fn():
    """A proto Struct (Kubeflow's parameter values) carries 128 as 128.0."""
    from trainer_module.run_fn import Settings
    settings = Settings.from_custom_config({
        "batch_size": 128.0, "snapshot_every": 50.0, "image_size": 28.0,
        "min_train_steps": 10.0, "cache_train_mb": 0.0, "seed": 3.0})
    assert (settings.batch_size, settings.snapshot_every, settings.seed) == (128, 50, 3)
    assert all(type(getattr(settings, key)) is int for key in (
        "batch_size", "snapshot_every", "image_size", "min_train_steps", "seed"))
    with pytest.raises(ValueError, match="'batch_size' in the Trainer's custom_config "
                                         "must be an integer, got 12.5"):
        Settings.from_custom_config({"batch_size": 12.5})
    with pytest.raises(ValueError, match="'snapshot_every' in the Trainer's "
                                         "custom_config: must be at least 1"):
        Settings.from_custom_config({"snapshot_every": 0.0})


def _schema_from_the_cli():
    result = subprocess.run([sys.executable, "-m", "fairgate.cli", "schema"],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _schema_errors(schema, raw):
    import jsonschema
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(".".join(map(str, e.absolute_path)) or "<top>"
                  for e in validator.iter_errors(raw))


# Configs the schema must refuse as loading does: (raw, the key loading names).
REFUSED = [
    ({"data": {"lable": "x"}}, "data.lable"),
    ({"colour": "blue"}, "colour"),
    ({"data": {"num_examples": "lots"}}, "data.num_examples"),
    ({"data": {"source": "parquet"}}, "data.source"),
    ({"data": {"source": "csv"}}, "data.input_base"),
    ({"data": {"image_size": 4}}, "data.image_size"),
    ({"data": {"source": "csv", "input_base": "x", "splits": {"train": "a"}}},
     "data.splits"),
    ({"data": {"feature_bounds": {"age": [1.0]}}}, "data.feature_bounds.age"),
    ({"data": {"features": [{"age": "number"}]}}, "data.features[0]"),
    ({"data": {"label": ""}}, "data.label"),
    ({"data": {"unseen_category_tolerance": 1.0}}, "data.unseen_category_tolerance"),
    ({"data": {"label_positive": [1]}}, "data.label_positive"),
    ({"trainer": {"mode": "adversarial"}}, "trainer.mode"),
    ({"trainer": {"model": "resnet"}}, "trainer.model"),
    ({"trainer": {"learning_rate_schedule": "linear"}}, "trainer.learning_rate_schedule"),
    ({"trainer": {"train_epochs": 0}}, "trainer.train_epochs"),
    ({"trainer": {"train_steps": -5}}, "trainer.train_steps"),
    ({"trainer": {"batch_size": 0}}, "trainer.batch_size"),
    ({"trainer": {"selection_level": 0.5}}, "trainer.selection_level"),
    ({"trainer": {"jit_compile": "yes"}}, "trainer.jit_compile"),
    ({"evaluation": {"groups": [0]}}, "evaluation.groups"),
    ({"evaluation": {"groups": [0, 0]}}, "evaluation.groups"),
    ({"evaluation": {"groups": [0, 1.5]}}, "evaluation.groups[1]"),
    ({"kubeflow": {"image": "x", "tag": "y"}}, "kubeflow.tag"),
]


def test_schema_command_prints_a_schema_as_strict_as_loading(tmp_path):
    import jsonschema
    schema = _schema_from_the_cli()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    for section in ("DataConfig", "TrainerConfig", "EvaluationConfig", "KubeflowConfig"):
        assert schema["$defs"][section]["additionalProperties"] is False, section
    trainer = schema["$defs"]["TrainerConfig"]["properties"]
    assert trainer["mode"]["enum"] == list(config_lib.TRAINER_MODES)
    assert trainer["learning_rate_schedule"]["enum"] == \
        list(config_lib.LEARNING_RATE_SCHEDULES)
    assert trainer["batch_size"]["minimum"] == 1
    assert "description" in trainer["group_head_weight"]
    for name in SHIPPED:  # every shipped config is valid for an editor too
        with open(f"configs/{name}.yaml") as f:
            assert _schema_errors(schema, yaml.safe_load(f)) == [], name
    # Loading and the schema agree on what they refuse.
    for raw, key in REFUSED:
        with pytest.raises(ConfigError) as raised:
            config_lib.from_dict(raw, origin="run.yaml")
        assert str(raised.value).startswith((f"'{key}' in run.yaml",
                                             f"unknown key '{key}' in run.yaml")), raw
        assert _schema_errors(schema, raw), raw
    # ... and on what they accept (image_size is free for tabular sources).
    for raw in ({}, {"data": {"source": "csv", "input_base": "x", "image_size": 4}},
                {"trainer": {"selection_level": 0}, "evaluation": {"groups": ["a", 2]}},
                {"data": {"source": "csv", "input_base": "x",
                          "splits": {"train": "a", "eval": "b", "test": "c"}}}):
        config_lib.from_dict(raw, origin="run.yaml")
        assert _schema_errors(schema, raw) == [], raw
