"""The report's figures (fairgate/report/plots.py): file names, pixel sizes, the
bars in the models' colours, and margins fitted to the labels (nothing drawn at
the image's edge, whatever the group names, counts or training values)."""
import numpy as np
import pytest
from PIL import Image

from fairgate.report import plots
from tests import figure_inputs

WHITE = 255
EDGE = 6  # pixels; the tight layout's pad is 1.08 font sizes (~13 px at 90 dpi)


def _image(path):
    return np.asarray(Image.open(path))[..., :3].astype(int)


def _edges_blank(image, note=0):
    """Nothing within EDGE pixels of the border, except a note `note` pixels
    wide placed in the bottom-left corner on purpose."""
    frame = np.concatenate([image[:EDGE].reshape(-1, 3),
                            image[-EDGE:, note:].reshape(-1, 3),
                            image[EDGE:-EDGE, :EDGE].reshape(-1, 3),
                            image[:, -EDGE:].reshape(-1, 3)])
    return bool((frame == WHITE).all())


def _pixels_of(image, colour):
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=-1) <= 6).sum())


@pytest.mark.parametrize("groups", [("Young=0", "Young=1"),
                                    ("region=north-east", "region=south-west",
                                     "region=centre")])
def test_group_rate_bars(tmp_path, groups):
    rates = figure_inputs.group_rates(groups=groups)
    name = plots.group_rate_bars(rates, figure_inputs.THRESHOLDS,
                                 str(tmp_path / "group_rates.png"))
    assert name == "group_rates.png"
    image = _image(tmp_path / name)
    assert image.shape[:2] == (int(6.8 * 90), int(12.6 * 90))
    # the note under the panels ("error bars: ...") sits at the bottom edge
    assert _edges_blank(image, note=image.shape[1] // 4)
    assert _pixels_of(image, plots.COLOURS["candidate"]) > 2_000
    assert _pixels_of(image, plots.COLOURS["unconstrained"]) > 2_000


@pytest.mark.parametrize("examples", [40, 2_000, 400_000])
def test_reliability_curves(tmp_path, examples):
    bins = figure_inputs.calibration(examples=examples)
    name = plots.reliability_curves(bins, str(tmp_path / "calibration.png"))
    assert name == "calibration.png"
    image = _image(tmp_path / name)
    assert image.shape[:2] == (int(4.6 * 90), int(8.8 * 90))
    assert _edges_blank(image)
    assert _pixels_of(image, plots.COLOURS["candidate"]) > 200


@pytest.mark.parametrize("steps", [100, 25_000])
def test_training_violation(tmp_path, steps):
    history = figure_inputs.training(steps_per_snapshot=steps)
    name = plots.training_violation(history, str(tmp_path / "training.png"))
    assert name == "training.png"
    image = _image(tmp_path / name)
    assert image.shape[:2] == (5 * 90, 7 * 90)
    assert _edges_blank(image)


def test_nothing_to_draw_writes_nothing(tmp_path):
    assert plots.group_rate_bars({}, figure_inputs.THRESHOLDS,
                                 str(tmp_path / "g.png")) is None
    assert plots.reliability_curves({"candidate": []}, str(tmp_path / "c.png")) is None
    assert plots.training_violation({"candidate": []}, str(tmp_path / "t.png")) is None
    assert not list(tmp_path.iterdir())
