"""The model building blocks: shapes, parameter counts, clear errors."""
import numpy as np
import pytest

from trainer_module import models


@pytest.mark.parametrize("kind", models.MODELS)
def test_models_map_flat_images_to_one_logit(kind):
    model = models.image_classifier(kind, image_size=16)
    pixels = np.random.default_rng(0).integers(0, 256, (5, 16 * 16 * 3), dtype=np.uint8)
    logits = model(pixels)
    assert tuple(logits.shape) == (5, 1)


def test_models_take_uint8_pixels_and_scale_them_inside():
    model = models.image_classifier("mlp", image_size=8)
    assert model.inputs[0].dtype.name == "uint8"
    pixels = np.random.default_rng(1).integers(0, 256, (4, 8 * 8 * 3), dtype=np.uint8)
    # The first layer is the only place pixels are scaled: [0, 255] -> [0, 1].
    scaled = model.get_layer("pixels_to_unit_range")(pixels).numpy()
    np.testing.assert_allclose(scaled, pixels / 255.0, rtol=1e-6)


def test_mlp_is_the_tutorial_model():
    model = models.image_classifier("mlp", image_size=28)
    # 28*28*3 inputs -> 64 hidden -> 1 logit, as in the TFCO CelebA tutorial
    # (the scaling layer has no weights).
    assert model.count_params() == (2352 * 64 + 64) + (64 + 1)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        models.image_classifier("resnet")
