"""The embedded default dataset: generated faces in TFDS `celeb_a`'s feature layout."""
from fairgate.data.embedded_celeba.builder import (
    CELEBA_NUM_EXAMPLES, DEFAULT_NUM_EXAMPLES, NAME, EmbeddedCelebA, config_for, prepare,
    split_sizes)

__all__ = ["CELEBA_NUM_EXAMPLES", "DEFAULT_NUM_EXAMPLES", "NAME", "EmbeddedCelebA",
           "config_for", "prepare", "split_sizes"]
