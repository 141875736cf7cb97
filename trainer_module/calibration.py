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
(a = 1) and after (against the 0/1 labels), and flags a degenerate fit:
`one_class` (the eval split holds one label: scale 1.0) or `at_bound` (the
scale ended on 1e-3 or 1e3), with a `warning` that the Trainer also logs.
"""
from __future__ import annotations

import json
from typing import Any, Dict

import numpy as np
from scipy import optimize, special

RECORD = "calibration.json"
ECE_BINS = 10
# The scale is searched in [1e-3, 1e3] (log space). Platt's smoothed targets
# keep the maximum-likelihood scale finite on separable eval data; a fit that
# still ends on a bound is flagged (`at_bound`) in calibration.json.
LOG_SCALE_RANGE = (-3 * np.log(10), 3 * np.log(10))


def log_loss(margins, labels, scale: float = 1.0) -> float:
    """Mean negative log-likelihood of labels (0/1, or soft targets in [0, 1])
    under sigmoid(scale * margin)."""
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


def platt_targets(labels) -> np.ndarray:
    """Platt's smoothed targets: (N+ + 1) / (N+ + 2) for positives, 1 / (N- + 2)
    for negatives. Fitting to them keeps the scale finite on separable eval data
    (with 0/1 targets the likelihood grows without end as a grows)."""
    labels = np.asarray(labels, np.float64).reshape(-1)
    n_pos = float((labels == 1).sum())
    n_neg = float(labels.size - n_pos)
    return np.where(labels == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))


def one_class(labels) -> bool:
    labels = np.asarray(labels).reshape(-1)
    return bool(labels.size) and bool((labels == labels[0]).all())


def fit_scale(margins, labels) -> float:
    """The a > 0 of sigmoid(a * margin) maximising the likelihood of Platt's
    smoothed targets, searched in [1e-3, 1e3] (1.0 without data, without any
    non-zero margin, or when the eval split has one class only)."""
    margins = np.asarray(margins, np.float64).reshape(-1)
    labels = np.asarray(labels, np.float64).reshape(-1)
    if not margins.size or not np.any(margins) or one_class(labels):
        return 1.0
    targets = platt_targets(labels)
    result = optimize.minimize_scalar(
        lambda log_a: log_loss(margins, targets, float(np.exp(log_a))),
        bounds=LOG_SCALE_RANGE, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def at_bound(scale: float) -> bool:
    """Whether a fitted scale sits on an end of the searched range (the fit was
    degenerate: separable or anti-separable margins, or margins near 0)."""
    log_a = np.log(scale)
    return bool(min(abs(log_a - LOG_SCALE_RANGE[0]),
                    abs(log_a - LOG_SCALE_RANGE[1])) < 1e-2)


def record(margins, labels, scale: float) -> Dict[str, Any]:
    """What calibration.json holds: scale, n, log-loss and ECE before / after,
    and whether the fit was degenerate (`one_class`, `at_bound`, `warning`)."""
    margins = np.asarray(margins, np.float64).reshape(-1)
    before = special.expit(margins)
    after = special.expit(scale * margins)
    single = one_class(labels) if margins.size else False
    bound = at_bound(scale) and not single
    warning = None
    if single:
        warning = ("the eval split has one class only: no scale can be fitted, "
                   "scale kept at 1.0")
    elif bound:
        warning = (f"the fitted scale {scale:.4g} is at the end of the searched range "
                   "[0.001, 1000]: the eval margins are (nearly) separable, "
                   "anti-separable or all near 0, so the probabilities are not "
                   "calibrated")
    return {
        "method": "scale-only sigmoid p = sigmoid(a * margin), a > 0, maximum "
                  "likelihood of Platt's smoothed targets ((N+ + 1)/(N+ + 2), "
                  "1/(N- + 2)) on the eval split, a in [0.001, 1000]; decisions at "
                  "0.5 unchanged",
        "scale": float(scale), "n": int(margins.size),
        "one_class": single, "at_bound": bound, "warning": warning,
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
