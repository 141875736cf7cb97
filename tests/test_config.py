"""Config files: defaults run the demo; unknown keys and wrong types name the key."""
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
    for source, gates in (("embedded_celeba", 6), ("csv", 4)):
        rendered = eval_config.render(eval_config.default_path(source), label="y",
                                      group="g", groups=["a", "b"])
        assert rendered.model_specs[0].label_key == "y"
        assert rendered.slicing_specs[1].feature_keys == ["g"]
        gated = [m for spec in rendered.metrics_specs for m in spec.metrics
                 if m.per_slice_thresholds]
        assert len(gated) == gates
        assert all('"g"' in m.config for m in gated if m.module)
        assert not eval_config.has_gates(eval_config.without_gates(rendered))


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
    with pytest.raises(ConfigError, match="'trainer.mode'.*must be one of tfco, none, correlation"):
        config_lib.load(_write(tmp_path, "trainer:\n  mode: adversarial\n"))
    with pytest.raises(ConfigError, match=r"constraints\[0\]\.rate: unknown rate 'fpr'"):
        config_lib.load(_write(tmp_path, "trainer:\n  constraints:\n    constraints:\n"
                                          "      - {rate: fpr, group: 0, upper_bound: 0.1}\n"))
    with pytest.raises(ConfigError, match="'trainer.train_steps'.*at least 1"):
        config_lib.load(_write(tmp_path, "trainer:\n  train_steps: 0\n"))


def test_run_fn_settings_reject_unknown_keys():
    from trainer_module.run_fn import Settings
    with pytest.raises(ValueError, match="unknown key 'stpes'"):
        Settings.from_custom_config({"stpes": 3})
    assert Settings.from_custom_config({"mode": "none"}).mode == "none"
