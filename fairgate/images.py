"""The one image preprocessing step shared by ingestion and the served model.

The ExampleGen applies it to CelebA's 218x178 JPEGs, and the exported model applies
the same function to raw images it is served, so training and serving see identical
pixels.
"""
import tensorflow as tf

DEFAULT_IMAGE_SIZE = 28


def to_model_pixels(images: tf.Tensor, size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
    """uint8 [batch, h, w, 3] -> float32 [batch, size, size, 3] in [0, 1].

    Bilinear with antialiasing: a plain bilinear resize from 218x178 to 28x28 skips
    most source pixels (aliasing), which throws away small features such as the mouth.
    """
    pixels = tf.image.convert_image_dtype(images, tf.float32)  # scales uint8 to [0, 1]
    resized = tf.image.resize(pixels, [size, size], method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)
