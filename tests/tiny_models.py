"""The built-in models on a few hundred generated rows, as the Trainer builds
them, for tests of the training steps (no pipeline)."""
import numpy as np

from trainer_module import models

ROWS = 256


def tabular(seed=0, rows=ROWS):
    """The built-in tabular model (string lookups, normalisers) and its rows as
    the Trainer batches them: (model, features, labels, groups)."""
    rng = np.random.default_rng(seed)
    train = {"age": rng.integers(18, 80, (rows, 1)).astype(np.float32),
             "income": rng.normal(50, 10, (rows, 1)).astype(np.float32),
             "occupation": rng.choice(np.array(["clerk", "nurse", "driver"]), (rows, 1))}
    kinds = {"age": "numeric", "income": "numeric", "occupation": "categorical"}
    model = models.build(models.tabular_network, models.raw_inputs(kinds), train, {},
                         where="built-in model tabular")
    labels = (train["income"][:, 0] + rng.normal(0, 5, rows) > 48).astype(np.float32)
    groups = rng.choice(np.array([b"north", b"south"]), rows)
    features = dict(train, occupation=train["occupation"].astype(bytes))
    return model, features, labels, groups


def image(seed=0, rows=ROWS):
    """The built-in image MLP on 4x4x3 uint8 images: (model, features, labels,
    groups)."""
    rng = np.random.default_rng(seed)
    function, hparams, _ = models.builtin("mlp", image=True)
    model = models.build(function, models.raw_inputs({}, 4), {}, hparams,
                         where="built-in model mlp")
    features = rng.integers(0, 256, (rows, 4 * 4 * 3)).astype(np.uint8)
    labels = rng.integers(0, 2, rows).astype(np.float32)
    groups = rng.integers(0, 2, rows).astype(np.int64)
    return model, features, labels, groups
