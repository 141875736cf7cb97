"""Exports a trained model as a SavedModel that serves raw inputs.

* `serving_default`: serialized tf.Examples in, `probabilities` out (what TFMA
  and the Evaluator call).
* `serving_image_bytes` (image models): JPEG or PNG bytes of any size in; the
  same resizing and uint8 quantisation as ingestion (`fairgate.images`) happen
  inside, so a face served as JPEG and as a stored tf.Example gets the same pixels.
"""
from __future__ import annotations

from typing import Callable, Dict

import tensorflow as tf

from fairgate.images import to_stored_pixels


def save(model, path: str, feature_spec: Dict[str, tf.io.FixedLenFeature],
         to_model_inputs: Callable, image_size: int = 0) -> None:
    """`to_model_inputs(parsed_features)` picks the model's inputs from parsed ones."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized):
        parsed = tf.io.parse_example(serialized, feature_spec)
        return {"probabilities": tf.sigmoid(model(to_model_inputs(parsed)))}

    signatures = {"serving_default": serve_examples}
    if image_size:
        flat = image_size * image_size * 3

        def pixels_of(encoded):
            image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
            return tf.reshape(to_stored_pixels(image[tf.newaxis], image_size), [flat])

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def serve_image_bytes(encoded):
            pixels = tf.map_fn(pixels_of, encoded,
                               fn_output_signature=tf.TensorSpec([flat], tf.uint8))
            return {"probabilities": tf.sigmoid(model(pixels))}

        signatures["serving_image_bytes"] = serve_image_bytes
    model.save(path, save_format="tf", signatures=signatures)
