"""Scores that mean what they say: a scale-only sigmoid fitted on the eval split.

Every exported model serves `probabilities = sigmoid(a * margin)` where `margin`
is the logit (minus the example's group threshold in mode group_thresholds) and
`a > 0` is fitted by maximum likelihood on the eval margins of the chosen
snapshot. A positive scale never moves a decision at 0.5 (sign of the margin),
so the gates' decisions are unchanged; what changes is that 0.22 or 0.75 mean a
22% / 75% chance. The TFCO model is trained through a hinge proxy, whose raw
sigmoid is far from a probability (on a tabular set FPR at 0.22 measured
0.91-0.99 while at 0.5 it was 0.06).

`calibration.json` beside the model records the scale, the number of eval
examples and the eval log-loss and expected calibration error (ECE) before
(a = 1) and after.
"""
from __future__ import annotations

import json
from typing import Any, Dict

import numpy as np
from scipy import optimize, special

RECORD = "calibration.json"
ECE_BINS = 10
# The scale is searched in [1e-3, 1e3] (log space); separable eval data would
# push the maximum-likelihood scale to infinity.
LOG_SCALE_RANGE = (-3 * np.log(10), 3 * np.log(10))


def log_loss(margins, labels, scale: float = 1.0) -> float:
    """Mean negative log-likelihood of labels under sigmoid(scale * margin)."""
    z = scale * np.asarray(margins, np.float64).reshape(-1)
    y = np.asarray(labels, np.float64).reshape(-1)
    # -[y log s(z) + (1-y) log s(-z)] = softplus(z) - y z, computed stably
    return float(np.mean(np.logaddexp(0.0, z) - y * z)) if z.size else float("nan")


def expected_calibration_error(probabilities, labels, bins: int = ECE_BINS) -> float:
    """Sum over equal-width bins of (share of examples) * |mean p - positive rate|."""
    p = np.asarray(probabilities, np.float64).reshape(-1)
    y = np.asarray(labels, np.float64).reshape(-1)
    if not p.size:
        return float("nan")
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(p[mask].mean() - y[mask].mean())
    return float(total)


def fit_scale(margins, labels) -> float:
    """The maximum-likelihood a > 0 of sigmoid(a * margin) (1.0 without data or
    without any non-zero margin)."""
    margins = np.asarray(margins, np.float64).reshape(-1)
    labels = np.asarray(labels, np.float64).reshape(-1)
    if not margins.size or not np.any(margins) or labels.min() == labels.max():
        return 1.0
    result = optimize.minimize_scalar(
        lambda log_a: log_loss(margins, labels, float(np.exp(log_a))),
        bounds=LOG_SCALE_RANGE, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def record(margins, labels, scale: float) -> Dict[str, Any]:
    """What calibration.json holds: scale, n, log-loss and ECE before / after."""
    margins = np.asarray(margins, np.float64).reshape(-1)
    before = special.expit(margins)
    after = special.expit(scale * margins)
    return {
        "method": "scale-only sigmoid p = sigmoid(a * margin), a > 0, maximum "
                  "likelihood on the eval split; decisions at 0.5 unchanged",
        "scale": float(scale), "n": int(margins.size),
        "log_loss_before": log_loss(margins, labels, 1.0),
        "log_loss_after": log_loss(margins, labels, scale),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "ece_bins": ECE_BINS,
    }


def write(path: str, content: Dict[str, Any]) -> None:
    import tensorflow as tf
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(content, f, indent=2)
