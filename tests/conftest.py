"""Shared test set-up: tf-keras before TensorFlow loads, and small pipeline helpers."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_tfds_dir(tmp_path_factory):
    """A TFDS data_dir holding a 300-example embedded dataset (generated once)."""
    from fairgate.data import embedded_celeba
    data_dir = tmp_path_factory.mktemp("tfds")
    embedded_celeba.prepare(str(data_dir), num_examples=300, seed=3)
    return str(data_dir)


# The suite runs on two workers (pytest-xdist, one test file per worker at a time:
# module fixtures share trained pipelines within a file). Files are handed out in
# collection order, so the files that run whole pipelines go first and neither
# worker is left with a long file at the end.
LONGEST_FIRST = ("test_kfp_local.py", "test_cli.py", "test_fairness_gate.py",
                 "test_trainer_pipeline.py", "test_data_pipeline.py",
                 "test_bad_inputs.py", "test_trainer_tabular.py",
                 "test_real_world_csv.py", "test_group_thresholds_pipeline.py",
                 "test_kfp_contract.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: the order within a file is kept
