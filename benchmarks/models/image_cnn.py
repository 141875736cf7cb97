"""A team's image model for benchmarks/model_module_comparison.py, written against
the README contract: its own pixel normalisation (adapted on `train`), a small
CNN, a logit."""
import tf_keras as keras


def build_model(inputs, train, hparams):
    pixels = inputs["image"]
    size = int(round((pixels.shape[-1] // 3) ** 0.5))
    scale = keras.layers.Normalization(axis=None, name="pixel_scale")
    scale.adapt(train["image"][:5000].astype("float32"))
    x = keras.layers.Reshape((size, size, 3))(scale(pixels))
    for filters in hparams.get("filters", [16, 32]):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(hparams.get("width", 64), activation="relu")(x)
    return keras.Model(pixels, keras.layers.Dense(1, name="team_logit")(x))
