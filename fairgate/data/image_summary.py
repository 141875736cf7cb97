"""Per-split pixel summaries, computed by the ExampleGen while it writes the images.

The data gate's pixel checks read them (components/data_gate/checks.py), so the
pixels are never read a second time: TFDV's statistics treat the stored `image` as
opaque bytes (their lengths only). The summary is a small JSON file at the root of
the Examples artifact (`image_summary.json`), beside the `Split-*` folders:

    {"feature": "image", "image_size": 28, "image_bytes": 2352,
     "splits": {"train": {"examples": 16077, "mean_brightness": 112.4,
                          "brightness_std": 17.9, "blank_images": 0}, ...}}

Brightness is in uint8 levels (0-255): `mean_brightness` is the mean over all
pixels of the split, `brightness_std` the standard deviation of the per-image mean
brightness; a blank image has one value in every pixel and channel.
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, Optional

import numpy as np
import tensorflow as tf

FILE_NAME = "image_summary.json"


class SplitPixels:
    """Accumulates one split's summary from batches of uint8 images."""

    def __init__(self):
        self.examples = 0
        self._sum = 0.0  # of per-image mean brightness
        self._sum_squares = 0.0
        self.blank_images = 0

    def add(self, images: np.ndarray) -> None:
        """`images`: uint8 [batch, ...] (any layout; one row per image)."""
        flat = images.reshape(len(images), -1)
        if not len(flat):
            return
        means = flat.mean(axis=1, dtype=np.float64)
        self.examples += len(flat)
        self._sum += float(means.sum())
        self._sum_squares += float(np.square(means).sum())
        self.blank_images += int((flat.max(axis=1) == flat.min(axis=1)).sum())

    def as_dict(self) -> dict:
        count = max(self.examples, 1)
        mean = self._sum / count
        variance = max(self._sum_squares / count - mean * mean, 0.0)
        return {"examples": self.examples, "mean_brightness": round(mean, 4),
                "brightness_std": round(math.sqrt(variance), 4),
                "blank_images": self.blank_images}


def write(folder: str, feature: str, image_size: int,
          splits: Dict[str, SplitPixels]) -> str:
    path = os.path.join(folder, FILE_NAME)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump({"feature": feature, "image_size": image_size,
                   "image_bytes": image_size * image_size * 3,
                   "splits": {name: pixels.as_dict()
                              for name, pixels in sorted(splits.items())}}, f, indent=2)
    return path


def read(examples_uri: str) -> Optional[dict]:
    """The summary in an Examples artifact, or None when it has none."""
    path = os.path.join(examples_uri, FILE_NAME)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)
