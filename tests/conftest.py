"""Shared test set-up: tf-keras before TensorFlow loads, and small pipeline helpers."""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tests import pipeline_helpers as helpers  # noqa: E402
from tests.pipeline_helpers import built_once  # noqa: E402


# Session fixtures below are built once per session for all workers
# (pipeline_helpers.built_once) and are read-only: a test that changes one copies it.

@pytest.fixture(scope="session")
def tiny_tfds_dir(tmp_path_factory):
    """A TFDS data_dir holding a 300-example embedded dataset."""
    from fairgate.data import embedded_celeba
    return str(built_once(tmp_path_factory, "tfds", lambda folder: embedded_celeba.prepare(
        str(folder), num_examples=300, seed=3)))


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory):
    """Two distinct small SavedModels (push_workers.make_models): their paths."""
    from tests import push_workers
    folder = built_once(tmp_path_factory, "saved_models",
                        lambda folder: push_workers.make_models(str(folder), 2))
    return push_workers.make_models(str(folder), 2)  # the paths; nothing is rebuilt


def _image_module_config(folder, tfds_dir):
    from fairgate import config as config_lib
    config = helpers.make_config(folder, source="tfds", data_dir=tfds_dir,
                                 dataset="embedded_celeb_a/n300_seed3", image_size=16)
    raw = config.model_dump()
    # What is judged is what each stage wrote, not how well the model learned:
    # the smallest training that runs the whole DAG.
    raw["trainer"].update(
        model={"module_file": str(folder / "image_model" / "cnn.py"),
               "function": "small_cnn", "hparams": {"filters": 4}},
        baseline=False, train_steps=20, snapshot_every=10)
    return config_lib.from_dict(raw, origin=str(folder / "config.yaml"))


@pytest.fixture(scope="session")
def image_module_run(tmp_path_factory, tiny_tfds_dir):
    """One run of the whole DAG on tiny_tfds_dir's faces at 16x16, trained with a
    team's CNN module (model_modules.SMALL_CNN): test_data_pipeline.py judges its
    ingestion, test_model_module.py the model the module built. Returns the
    config and the progress lines the run logged."""
    from tests import model_modules

    def build(folder):
        model_modules.write(folder / "image_model", model_modules.SMALL_CNN, "cnn.py")
        helpers.run_keeping_progress(_image_module_config(folder, tiny_tfds_dir),
                                     str(folder / "progress.log"))
    folder = built_once(tmp_path_factory, "image_module_run", build)
    return (_image_module_config(folder, tiny_tfds_dir),
            (folder / "progress.log").read_text().splitlines())


@pytest.fixture(scope="session")
def tabular_gap_run(tmp_path_factory):
    """One run of the whole DAG on 8,000 rows of tests/tabular.py's biased CSV, the
    built-in tabular model under an FPR-gap constraint, with its unconstrained
    baseline: test_trainer_tabular.py judges what the constraint bought (its
    sizes are measured and cannot shrink: benchmarks/README.md, "The two quality
    tests' sizes"), test_data_pipeline.py how the CSV was ingested. Returns the
    config."""
    from tests import test_trainer_tabular as recipe  # the quality test's sizes

    def build(folder):
        recipe.write_data(folder)
        helpers.run(recipe.gap_run_config(folder))
    return recipe.gap_run_config(built_once(tmp_path_factory, "tabular_gap_run", build))


# The suite runs on two workers (pytest-xdist, `--dist loadfile`: one test file per
# worker at a time, so module fixtures share a pipeline run within a file;
# pipeline_helpers.built_once shares a folder across files and workers). Files are
# handed out in collection order (`--no-loadscope-reorder` in pyproject.toml: by
# default xdist reorders files by their number of tests, which undid this order),
# so the files that run whole pipelines go first, longest first (by the
# `--durations=0` of full and per-file runs on 2026-12-01 and 02), and neither worker is
# left with a long file at the end. A new file that runs pipelines belongs in
# this list.
LONGEST_FIRST = ("test_kfp_local.py", "test_candidate_pipeline.py",
                 "test_model_module.py", "test_cli.py",
                 "test_fairness_gate.py", "test_trainer_pipeline.py",
                 "test_trainer_tabular.py", "test_side_effects_pipeline.py",
                 "test_evaluator_model_loading.py",
                 "test_group_thresholds_pipeline.py",
                 "test_real_world_csv.py", "test_bad_inputs.py",
                 # reads shared runs only, built by now (image_module_run,
                 # tabular_gap_run): a worker that took it early would wait for them
                 "test_data_pipeline.py", "test_kfp_contract.py",
                 "test_kfp_local_importer.py", "test_gated_pusher.py",
                 "test_repeated_columns.py", "test_trainer_constraints.py",
                 "test_embedded_celeba.py", "test_test_split_only.py",
                 "test_tabular_inputs.py", "test_serving_head.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=rank)  # stable: the order within a file is kept
