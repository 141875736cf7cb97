"""TFDS builder for the embedded default: generated faces in `celeb_a`'s own layout.

The dataset has the same features (`image` 218x178x3 JPEG, `attributes` with the 40
CelebA booleans, `landmarks`, `identity`) and split names (train / validation / test, in CelebA's
proportions) as TFDS `celeb_a`, so everything downstream reads it exactly like the
real thing. See `faces.py` for how the pixels carry Smiling, Young and the injected
group bias.

The size and seed are part of the config name (`n20000_seed0`), so each size is
generated once into its TFDS `data_dir` and reused afterwards.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os

import numpy as np
import tensorflow_datasets as tfds

from fairgate.data.embedded_celeba import faces
from fairgate.progress import Progress, logger as progress_log

NAME = "embedded_celeb_a"
DEFAULT_NUM_EXAMPLES = 20_000
CELEBA_NUM_EXAMPLES = 202_599
# CelebA's own split sizes; smaller datasets keep the same proportions.
CELEBA_SPLITS = {"train": 162_770, "validation": 19_867, "test": 19_962}
_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def split_sizes(num_examples: int) -> dict:
    """CelebA's train/validation/test proportions applied to `num_examples`."""
    if not 30 <= num_examples <= CELEBA_NUM_EXAMPLES:
        raise ValueError(
            f"num_examples must be between 30 and {CELEBA_NUM_EXAMPLES} (CelebA's "
            f"size), got {num_examples}")
    train = round(num_examples * CELEBA_SPLITS["train"] / CELEBA_NUM_EXAMPLES)
    validation = round(num_examples * CELEBA_SPLITS["validation"] / CELEBA_NUM_EXAMPLES)
    return {"train": train, "validation": validation,
            "test": num_examples - train - validation}


@dataclasses.dataclass(eq=False)
class EmbeddedCelebAConfig(tfds.core.BuilderConfig):
    num_examples: int = DEFAULT_NUM_EXAMPLES
    seed: int = 0


def config_for(num_examples: int = DEFAULT_NUM_EXAMPLES, seed: int = 0):
    split_sizes(num_examples)  # validates the size
    return EmbeddedCelebAConfig(
        name=f"n{num_examples}_seed{seed}",
        description=f"{num_examples} generated faces, seed {seed}",
        num_examples=num_examples, seed=seed)


class EmbeddedCelebA(tfds.core.GeneratorBasedBuilder):
    """Generated faces in CelebA's feature layout with an injected group bias."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Smile cue in the mouth, age cue in the hair; "
                              "older non-smiling faces read as half-smiling."}
    BUILDER_CONFIGS = [config_for()]

    def _info(self):
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(
                    shape=(faces.HEIGHT, faces.WIDTH, 3), encoding_format="jpeg"),
                "landmarks": {name: np.int64 for name in faces.LANDMARK_NAMES},
                "attributes": {name: np.bool_ for name in faces.ATTRIBUTE_NAMES},
                "identity": {"Identity_No": np.int64},
            }),
            homepage="https://github.com/fairgate (embedded default dataset)",
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        sizes = split_sizes(self.builder_config.num_examples)
        return {split: self._generate_examples(split, count)
                for split, count in sizes.items()}

    def _generate_examples(self, split: str, count: int):
        seed, split_seed = self.builder_config.seed, _SPLIT_SEEDS[split]
        chunks = [(seed, split_seed, start, min(start + _CHUNK, count))
                  for start in range(0, count, _CHUNK)]
        workers = min(os.cpu_count() or 1, len(chunks))
        progress_log.info("Generating %d %s faces with %d processes", count, split, workers)
        progress = Progress(f"Generating embedded faces: split {split}", total=count,
                            unit="faces")
        if workers <= 1:
            results = (faces.render_examples(*chunk) for chunk in chunks)
            yield from _keyed(split, results, progress)
        else:
            # Rendering is numpy-bound; spawned workers never import TensorFlow.
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(
                    workers, mp_context=context) as pool:
                yield from _keyed(split, pool.map(_render_chunk, chunks), progress)
        progress.done()


_CHUNK = 500


def _render_chunk(chunk):
    return faces.render_examples(*chunk)


def _keyed(split, chunk_results, progress: Progress):
    for chunk in chunk_results:
        for index, example in chunk:
            yield f"{split}_{index:06d}", example
        progress.advance(len(chunk))


def prepare(data_dir: str, num_examples: int = DEFAULT_NUM_EXAMPLES, seed: int = 0):
    """Generates the dataset into `data_dir` unless it is already there.

    Returns the builder. TFDS writes to a temporary folder and renames it when done,
    so an interrupted generation leaves nothing that looks complete.
    """
    config = config_for(num_examples, seed)
    registered = {c.name for c in EmbeddedCelebA.BUILDER_CONFIGS}
    # TFDS refuses a custom config object named like a registered one.
    builder = EmbeddedCelebA(config=config.name if config.name in registered else config,
                             data_dir=data_dir)
    if not builder.is_prepared():
        tfds.disable_progress_bar()  # progress goes to the log, not a tqdm bar
        progress_log.info("Generating the embedded dataset %s into %s", config.name, data_dir)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return builder
