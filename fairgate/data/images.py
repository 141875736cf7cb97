"""The one image preprocessing step shared by ingestion and the served model.

The ExampleGen applies `to_stored_pixels` to CelebA's 218x178 JPEGs and stores the
result as raw bytes (`image`: one bytes value of size*size*3 uint8, row-major HWC);
the exported model's `serving_image_bytes` signature applies the same function to
the raw images it is served. Pixels are quantised to uint8 exactly once, here, so
training and serving see identical pixels. The model itself scales uint8 to [0, 1]
in its first layer (trainer_module.models).
"""
import tensorflow as tf

DEFAULT_IMAGE_SIZE = 28
# How the ExampleGen stores `image`; an execution property of the ExampleGen, so a
# change of encoding never reuses examples cached under another one.
IMAGE_ENCODING = "raw_uint8"


def image_bytes(size: int) -> int:
    """Length of one stored image: size*size*3 bytes."""
    return size * size * 3


def to_stored_pixels(images: tf.Tensor, size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
    """uint8 [batch, h, w, 3] -> uint8 [batch, size, size, 3].

    Bilinear with antialiasing (a plain bilinear resize from 218x178 to 28x28 skips
    most source pixels, which throws away small features such as the mouth), then
    rounded to the nearest uint8 level.
    """
    pixels = tf.image.convert_image_dtype(images, tf.float32)  # scales uint8 to [0, 1]
    resized = tf.image.resize(pixels, [size, size], method="bilinear", antialias=True)
    levels = tf.round(tf.clip_by_value(resized, 0.0, 1.0) * 255.0)
    return tf.cast(levels, tf.uint8)


def decode_stored(serialized: tf.Tensor, size: int) -> tf.Tensor:
    """Stored `image` bytes [batch] -> uint8 pixels [batch, size*size*3].

    Raises InvalidArgumentError when a value is not exactly size*size*3 bytes.
    """
    return tf.reshape(tf.io.decode_raw(serialized, tf.uint8), [-1, image_bytes(size)])

