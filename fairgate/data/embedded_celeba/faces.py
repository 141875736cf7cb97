"""Draws synthetic 218x178 "faces" whose pixels carry the Smiling and Young signals.

The embedded default dataset must run offline yet behave like CelebA for the one
thing fairgate cares about: a smile classifier whose errors differ by age group.
Each face is drawn from a few shapes whose colours and sizes are set by the
example's attributes:

* **Young** shows in the hair: young faces have coloured hair (black, brown, blond),
  older faces grey to white hair. The two overlap a little, so group is learnable
  but not perfectly.
* **Smiling** shows in the mouth: its brightness ("teeth") and width follow a smile
  cue ``s``. Smiling faces draw ``s ~ N(1, SIGMA)``; non-smiling young faces
  ``s ~ N(0, SIGMA)``.
* **Injected group bias**: non-smiling *older* faces carry "laugh lines" that read as
  a partial smile, ``s ~ N(OLDER_NEUTRAL_SMILE_CUE, SIGMA)``. A classifier that puts
  one threshold on the cue therefore has a much higher false positive rate on
  ``Young=0`` than on ``Young=1`` (about 4x for the Bayes threshold at 0.5 when
  ``SIGMA=0.3``; ``tests/test_embedded_celeba.py`` measures it with a trained model).

Everything is numpy and deterministic given the generator passed in.
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np
from PIL import Image

HEIGHT, WIDTH = 218, 178

SIGMA = 0.3
OLDER_NEUTRAL_SMILE_CUE = 0.5

# CelebA's 40 attribute names, in the dataset's own order, with marginal rates close
# to the real dataset's (rounded; rare attributes kept rare). Smiling and Young are
# drawn first and some attributes depend on them (see `sample_attributes`).
ATTRIBUTE_RATES = {
    "5_o_Clock_Shadow": 0.11, "Arched_Eyebrows": 0.27, "Attractive": 0.51,
    "Bags_Under_Eyes": 0.20, "Bald": 0.02, "Bangs": 0.15, "Big_Lips": 0.24,
    "Big_Nose": 0.23, "Black_Hair": 0.24, "Blond_Hair": 0.15, "Blurry": 0.05,
    "Brown_Hair": 0.21, "Bushy_Eyebrows": 0.14, "Chubby": 0.06, "Double_Chin": 0.05,
    "Eyeglasses": 0.07, "Goatee": 0.06, "Gray_Hair": 0.04, "Heavy_Makeup": 0.39,
    "High_Cheekbones": 0.45, "Male": 0.42, "Mouth_Slightly_Open": 0.48,
    "Mustache": 0.04, "Narrow_Eyes": 0.12, "No_Beard": 0.83, "Oval_Face": 0.28,
    "Pale_Skin": 0.04, "Pointy_Nose": 0.28, "Receding_Hairline": 0.08,
    "Rosy_Cheeks": 0.07, "Sideburns": 0.06, "Smiling": 0.48, "Straight_Hair": 0.21,
    "Wavy_Hair": 0.32, "Wearing_Earrings": 0.19, "Wearing_Hat": 0.05,
    "Wearing_Lipstick": 0.47, "Wearing_Necklace": 0.12, "Wearing_Necktie": 0.07,
    "Young": 0.77,
}
ATTRIBUTE_NAMES = tuple(ATTRIBUTE_RATES)

LANDMARK_NAMES = (
    "lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
    "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y",
)

_YOUNG_HAIR = np.array([[0.08, 0.06, 0.05], [0.35, 0.22, 0.12], [0.85, 0.72, 0.40]])
_SKIN = np.array([[0.96, 0.80, 0.69], [0.87, 0.67, 0.52], [0.62, 0.44, 0.32],
                  [0.40, 0.27, 0.20]])


@dataclasses.dataclass(frozen=True)
class Face:
    image: np.ndarray  # (HEIGHT, WIDTH, 3) uint8
    attributes: dict  # name -> bool
    landmarks: dict  # name -> int
    smile_cue: float


def sample_attributes(rng: np.random.Generator) -> dict:
    """Draws the 40 attributes; Smiling and Young independent, a few correlated."""
    attrs = {name: bool(rng.random() < rate) for name, rate in ATTRIBUTE_RATES.items()}
    young, smiling = attrs["Young"], attrs["Smiling"]
    # Correlations that make the data less of a toy and give slicing something to find.
    attrs["Gray_Hair"] = bool(rng.random() < (0.01 if young else 0.15))
    attrs["High_Cheekbones"] = bool(rng.random() < (0.75 if smiling else 0.17))
    attrs["Mouth_Slightly_Open"] = bool(rng.random() < (0.70 if smiling else 0.28))
    return attrs


def smile_cue(rng: np.random.Generator, smiling: bool, young: bool) -> float:
    if smiling:
        mean = 1.0
    else:
        mean = 0.0 if young else OLDER_NEUTRAL_SMILE_CUE
    return float(rng.normal(mean, SIGMA))


def _fill_ellipse(img, cy, cx, ry, rx, color, max_y=HEIGHT):
    """Paints an axis-aligned ellipse, touching only its bounding box (fast)."""
    y0, y1 = max(int(cy - ry), 0), min(int(cy + ry) + 2, HEIGHT, int(max_y))
    x0, x1 = max(int(cx - rx), 0), min(int(cx + rx) + 2, WIDTH)
    if y0 >= y1 or x0 >= x1:
        return
    yy = (np.arange(y0, y1, dtype=np.float32)[:, None] - cy) / ry
    xx = (np.arange(x0, x1, dtype=np.float32)[None, :] - cx) / rx
    img[y0:y1, x0:x1][yy**2 + xx**2 <= 1.0] = color


def draw_face(rng: np.random.Generator) -> Face:
    attrs = sample_attributes(rng)
    cue = smile_cue(rng, attrs["Smiling"], attrs["Young"])

    img = np.empty((HEIGHT, WIDTH, 3), np.float32)
    top, bottom = rng.uniform(0.15, 0.9, 3), rng.uniform(0.15, 0.9, 3)
    ramp = np.linspace(0.0, 1.0, HEIGHT, dtype=np.float32)[:, None, None]
    img[:] = top * (1 - ramp) + bottom * ramp

    cx = WIDTH / 2 + rng.normal(0, 3)
    cy = 120 + rng.normal(0, 3)
    ry, rx = rng.uniform(64, 74), rng.uniform(50, 58)

    if attrs["Young"]:
        hair = _YOUNG_HAIR[rng.integers(len(_YOUNG_HAIR))] + rng.normal(0, 0.05, 3)
        hair = hair * rng.uniform(0.8, 1.1)
    else:
        grey = rng.uniform(0.45, 0.95)
        hair = grey + rng.normal(0, 0.04, 3)
    _fill_ellipse(img, cy - 18, cx, ry + 8, rx + 10, np.clip(hair, 0, 1), max_y=cy + 10)

    skin = _SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 0.03, 3)
    _fill_ellipse(img, cy + 8, cx, ry - 8, rx - 4, np.clip(skin, 0, 1))

    eye_y, eye_dx = cy - 10, rx * 0.42
    left_eye, right_eye = (eye_y, cx - eye_dx), (eye_y, cx + eye_dx)
    for ey, ex in (left_eye, right_eye):
        _fill_ellipse(img, ey, ex, 5, 9, (0.95, 0.95, 0.95))
        _fill_ellipse(img, ey, ex, 4, 4, (0.10, 0.08, 0.06))
    if attrs["Eyeglasses"]:
        img[int(eye_y) - 1:int(eye_y) + 2, int(cx - eye_dx - 14):int(cx + eye_dx + 14)] = 0.05

    nose = (cy + 14, cx)
    _fill_ellipse(img, nose[0], nose[1], 8, 4, np.clip(skin * 0.8, 0, 1))

    # The smile cue sets the mouth's width and how much "teeth" show.
    mouth_y = cy + 40
    half_width = 16 + 6 * np.clip(cue, -0.5, 1.5)
    teeth = float(np.clip(0.5 + 0.5 * cue, 0, 1))
    lips = np.array([0.55, 0.12, 0.15])
    _fill_ellipse(img, mouth_y, cx, 9, half_width, lips)
    _fill_ellipse(img, mouth_y, cx, 5, half_width - 4, lips * (1 - teeth) + teeth * 0.97)

    if attrs["Blurry"]:
        img = (img + np.roll(img, 2, axis=0) + np.roll(img, 2, axis=1)) / 3

    image = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    landmarks = {
        "lefteye_x": left_eye[1], "lefteye_y": left_eye[0],
        "righteye_x": right_eye[1], "righteye_y": right_eye[0],
        "nose_x": nose[1], "nose_y": nose[0],
        "leftmouth_x": cx - half_width, "leftmouth_y": mouth_y,
        "rightmouth_x": cx + half_width, "rightmouth_y": mouth_y,
    }
    landmarks = {k: int(round(float(v))) for k, v in landmarks.items()}
    return Face(image=image, attributes=attrs, landmarks=landmarks, smile_cue=cue)


def jpeg_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def render_examples(seed: int, split_seed: int, start: int, stop: int) -> list:
    """Renders examples [start, stop) of one split as TFDS-ready (key, dict) pairs.

    Each example has its own generator seeded by (seed, split, index), so the data do
    not depend on how the work is chunked or spread over processes. Pure numpy/PIL:
    safe to run in worker processes that never import TensorFlow.
    """
    rendered = []
    for index in range(start, stop):
        face = draw_face(np.random.default_rng([seed, split_seed, index]))
        rendered.append((index, {
            "image": jpeg_bytes(face.image),
            "landmarks": face.landmarks,
            "attributes": face.attributes,
            # Every generated face is its own person.
            "identity": {"Identity_No": split_seed * 1_000_000 + index},
        }))
    return rendered
