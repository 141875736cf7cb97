"""Shared test set-up: tf-keras before TensorFlow loads, and small pipeline helpers."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_tfds_dir(tmp_path_factory):
    """A TFDS data_dir holding a 300-example embedded dataset (generated once)."""
    from fairgate import embedded_celeba
    data_dir = tmp_path_factory.mktemp("tfds")
    embedded_celeba.prepare(str(data_dir), num_examples=300, seed=3)
    return str(data_dir)
