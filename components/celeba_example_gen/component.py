"""CelebAExampleGen: a TFX ExampleGen over TFDS datasets in `celeb_a`'s layout."""
from __future__ import annotations

from tfx.components.example_gen import utils as example_gen_utils
from tfx.dsl.components.base import base_beam_component, executor_spec
from tfx.proto import example_gen_pb2
from tfx import types
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.celeba_example_gen import executor
from fairgate.data.celeba_layout import SPLIT_MAP
from fairgate.data.images import DEFAULT_IMAGE_SIZE, IMAGE_ENCODING


class CelebAExampleGenSpec(ComponentSpec):
    PARAMETERS = {
        "data_dir": ExecutionParameter(type=str),
        "dataset": ExecutionParameter(type=str),
        "image_size": ExecutionParameter(type=int),
        # How `image` is stored (fairgate.data.images.IMAGE_ENCODING): part of the cache
        # key, so examples stored another way are never reused.
        "image_encoding": ExecutionParameter(type=str),
        "embedded_num_examples": ExecutionParameter(type=int, optional=True),
        "embedded_seed": ExecutionParameter(type=int, optional=True),
        "input_config": ExecutionParameter(type=example_gen_pb2.Input),
        "output_config": ExecutionParameter(type=example_gen_pb2.Output),
        "output_data_format": ExecutionParameter(type=int),
        "output_file_format": ExecutionParameter(type=int),
    }
    INPUTS = {}
    OUTPUTS = {"examples": ChannelParameter(type=standard_artifacts.Examples)}


class CelebAExampleGen(base_beam_component.BaseBeamComponent):
    """Reads a TFDS dataset with `celeb_a`'s features and emits tf.Examples.

    Each example has `image` (one bytes value: the size*size*3 uint8 pixels,
    row-major HWC, as `fairgate.data.images.to_stored_pixels` makes them) and every
    CelebA attribute as an int64 0/1 feature under its own name (`Smiling`, `Young`,
    ...). Splits train/eval/test come from CelebA's train/validation/test. The
    artifact also holds `image_summary.json`, each split's pixel summary.

    Args:
      data_dir: the TFDS data_dir holding the prepared dataset.
      dataset: TFDS name, optionally with config and version
        (`celeb_a`, `celeb_a:2.1.0`, `embedded_celeb_a/n20000_seed0`).
      image_size: side of the square model image.
      embedded_num_examples / embedded_seed: when set, the embedded default of that
        size and seed is generated into data_dir first unless already there.
    """

    SPEC_CLASS = CelebAExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, data_dir: str, dataset: str = "celeb_a",
                 image_size: int = DEFAULT_IMAGE_SIZE,
                 embedded_num_examples: int | None = None,
                 embedded_seed: int | None = None):
        input_config = example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name=ours, pattern=theirs)
            for ours, theirs in SPLIT_MAP.items()])
        super().__init__(spec=CelebAExampleGenSpec(
            data_dir=data_dir, dataset=dataset, image_size=image_size,
            image_encoding=IMAGE_ENCODING,
            embedded_num_examples=embedded_num_examples, embedded_seed=embedded_seed,
            input_config=input_config,
            output_config=example_gen_utils.make_default_output_config(input_config),
            output_data_format=example_gen_pb2.FORMAT_TF_EXAMPLE,
            output_file_format=example_gen_pb2.FORMAT_TFRECORDS_GZIP,
            examples=types.Channel(type=standard_artifacts.Examples)))
