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
    for name in ("embedded_celeba", "celeb_a", "csv_example"):
        config = config_lib.load(f"configs/{name}.yaml")
        assert config.data.label and config.data.group


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
