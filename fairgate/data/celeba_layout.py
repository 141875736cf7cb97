"""What "a dataset in `celeb_a`'s feature layout" means, and where to find one.

Shared by the ExampleGen (which reads such datasets) and the pipeline (which checks,
before anything runs, that the dataset is there).
"""
from __future__ import annotations

import os

# CelebA's split names and the pipeline's split names.
SPLIT_MAP = {"train": "train", "eval": "validation", "test": "test"}

_PREPARE_HELP = (
    "To use real CelebA, prepare it once with TFDS into that data_dir (for example "
    "`tfds build celeb_a --data_dir DATA_DIR --manual_dir DIR_WITH_CELEBA_FILES`, or "
    "copy an already prepared `celeb_a/2.1.0` folder there). To run offline on the "
    "embedded default instead, use data source `embedded_celeba` (the default), which "
    "generates a CelebA-format dataset into its data_dir on first use.")


class DatasetNotFoundError(FileNotFoundError):
    """The TFDS data_dir does not hold the requested dataset."""


def dataset_dir(data_dir: str, dataset: str) -> str:
    """Finds the prepared folder of `dataset` ("name[/config][:version]") in data_dir.

    Without a version, the newest version folder that holds a dataset_info.json wins.
    """
    name, _, version = dataset.partition(":")
    base = os.path.join(os.path.expanduser(data_dir), *name.split("/"))
    if version:
        candidates = [os.path.join(base, version)]
    else:
        try:
            versions = sorted(os.listdir(base), key=_version_key, reverse=True)
        except (FileNotFoundError, NotADirectoryError):
            versions = []
        candidates = [os.path.join(base, v) for v in versions if _version_key(v)]
    for candidate in candidates:
        if os.path.isfile(os.path.join(candidate, "dataset_info.json")):
            return candidate
    raise DatasetNotFoundError(
        f"TFDS dataset '{dataset}' is not prepared in data_dir '{data_dir}' (looked for "
        f"{base}/<version>/dataset_info.json). {_PREPARE_HELP}")


def _version_key(folder: str):
    parts = folder.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return ()
    return tuple(int(p) for p in parts)
