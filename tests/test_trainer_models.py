"""The model building blocks: shapes, parameter counts, clear errors."""
import numpy as np
import pytest

from trainer_module import models


@pytest.mark.parametrize("kind", models.MODELS)
def test_models_map_flat_images_to_one_logit(kind):
    model = models.image_classifier(kind, image_size=16)
    logits = model(np.random.default_rng(0).random((5, 16 * 16 * 3), dtype=np.float32))
    assert tuple(logits.shape) == (5, 1)


def test_mlp_is_the_tutorial_model():
    model = models.image_classifier("mlp", image_size=28)
    # 28*28*3 inputs -> 64 hidden -> 1 logit, as in the TFCO CelebA tutorial.
    assert model.count_params() == (2352 * 64 + 64) + (64 + 1)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        models.image_classifier("resnet")
