"""ExampleGen for TFDS datasets in `celeb_a`'s feature layout."""
from components.celeba_example_gen.component import CelebAExampleGen

__all__ = ["CelebAExampleGen"]
