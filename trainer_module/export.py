"""Exports a trained model as a SavedModel that serves raw inputs.

* `serving_default`: serialized tf.Examples in, `probabilities` (and the raw
  `logits`) out (what TFMA and the Evaluator call).
* `serving_image_bytes` (image models): JPEG or PNG bytes of any size in; the
  same resizing and uint8 quantisation as ingestion (`fairgate.data.images`) happen
  inside, so a face served as JPEG and as a stored tf.Example gets the same pixels.

`head` (trainer_module/serving_head.py) turns the logit into calibrated
probabilities and, in mode group_thresholds, applies the group's threshold: the
group is then parsed from the tf.Example too, and `serving_image_bytes` takes it
as a second input `group`.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

import tensorflow as tf

from fairgate.data.images import to_stored_pixels
from trainer_module.serving_head import ServingHead


def save(model, path: str, feature_spec: Dict[str, tf.io.FixedLenFeature],
         to_model_inputs: Callable, image_size: int = 0,
         head: Optional[ServingHead] = None) -> None:
    """`to_model_inputs(parsed_features)` picks the model's inputs from parsed ones."""
    head = head or ServingHead()
    parse_spec = {**feature_spec, **head.group_spec()}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        parsed = tf.io.parse_example(serialized, parse_spec)
        groups = parsed[head.group_key] if head.needs_group else None
        return head.outputs(model(to_model_inputs(parsed)), groups)

    signatures = {"serving_default": serve_examples}
    if image_size:
        signatures["serving_image_bytes"] = _image_bytes_signature(model, image_size,
                                                                   head)
    model.save(path, save_format="tf", signatures=signatures)


def _image_bytes_signature(model, image_size: int, head: ServingHead):
    flat = image_size * image_size * 3

    def pixels_of(encoded):
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
        return tf.reshape(to_stored_pixels(image[tf.newaxis], image_size), [flat])

    def logits_of(encoded):
        pixels = tf.map_fn(pixels_of, encoded,
                           fn_output_signature=tf.TensorSpec([flat], tf.uint8))
        return model(pixels)

    if head.needs_group:
        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.string, name="image_bytes"), head.group_signature()])
        def serve_image_bytes_and_group(encoded, group):
            return head.outputs(logits_of(encoded), group)
        return serve_image_bytes_and_group

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_image_bytes(encoded):
        return head.outputs(logits_of(encoded))
    return serve_image_bytes
