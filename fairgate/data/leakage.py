"""The leakage guard: features that predict the label almost perfectly alone.

A column that carries the label's information (an outcome recorded after the
fact, a recoding of the label) makes a model look excellent and learn nothing
useful. Each feature is scored on the train split by its single-feature AUC:

* numeric: the AUC of the raw value (rows with a value), max(AUC, 1 - AUC), so
  a threshold in either direction counts;
* categorical: the AUC of each row's category positive rate, estimated on the
  other half of the rows (2-fold cross-fitting; a category unseen in the other
  half gets that half's overall rate), so an identifier or free-text column,
  whose every value is unique, scores ~0.5 instead of a memorised 1.0.

A feature scoring at least THRESHOLD is named in the log and in the report.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
from scipy.stats import rankdata

THRESHOLD = 0.95
STATISTIC = "single-feature AUC on the train split"
MIN_ROWS = 20


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC (ties count half), NaN without both classes."""
    labels = np.asarray(labels).reshape(-1) > 0.5
    positives, negatives = labels.sum(), (~labels).sum()
    if not positives or not negatives:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=float).reshape(-1))
    return float((ranks[labels].sum() - positives * (positives + 1) / 2)
                 / (positives * negatives))


def numeric_score(values: np.ndarray, labels: np.ndarray) -> float:
    values = np.asarray(values, dtype=float).reshape(-1)
    present = ~np.isnan(values)
    if present.sum() < MIN_ROWS:
        return float("nan")
    value = auc(values[present], np.asarray(labels).reshape(-1)[present])
    return max(value, 1.0 - value) if value == value else value


def categorical_score(values: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    values = np.asarray(values).reshape(-1)
    labels = np.asarray(labels, dtype=float).reshape(-1)
    if len(values) < MIN_ROWS:
        return float("nan")
    fold = np.random.default_rng(seed).permutation(len(values)) % 2
    _, codes = np.unique(values, return_inverse=True)
    codes = codes.reshape(-1)
    scores = np.empty(len(values))
    for part in (0, 1):
        other = fold != part
        positives = np.bincount(codes[other], weights=labels[other],
                                minlength=codes.max() + 1)
        counts = np.bincount(codes[other], minlength=codes.max() + 1)
        mine = codes[~other]
        scores[~other] = np.where(counts[mine] > 0,
                                  positives[mine] / np.maximum(counts[mine], 1),
                                  labels[other].mean())
    value = auc(scores, labels)
    return max(value, 1.0 - value) if value == value else value


def scores(features: Dict[str, np.ndarray], kinds: Dict[str, str],
           labels: np.ndarray) -> Dict[str, float]:
    """{feature: single-feature AUC} for every feature."""
    result = {}
    for name, kind in kinds.items():
        score = (categorical_score if kind == "categorical" else numeric_score)(
            features[name], labels)
        result[name] = round(score, 4) if score == score else None
    return result


def flagged(feature_scores: Dict[str, float], threshold: float = THRESHOLD
            ) -> List[Dict[str, object]]:
    return [{"feature": name, "statistic": STATISTIC, "value": score,
             "threshold": threshold}
            for name, score in sorted(feature_scores.items(),
                                      key=lambda item: -(item[1] or 0))
            if score is not None and score >= threshold]
