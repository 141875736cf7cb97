"""The rate table: every rate fairgate gates, trains or reports, defined once.

A rate is events / examples over the confusion counts of binary decisions
(label 1 = positive). The TFMA gate metrics (fairgate/metrics/group_metrics.py), their
confidence bounds (fairgate/metrics/intervals.py takes the (events, examples) pairs made
here), the Trainer's constraint measurement and snapshot selection
(trainer_module/constraints.py), the per-group thresholds
(trainer_module/group_thresholds.py) and the report all read this table, so a
rate cannot mean one thing in training and another at the gate.

Counts are indexed TP, FP, TN, FN: a length-4 vector, or four arrays of the same
shape (group_thresholds counts every candidate threshold at once, the paired
bootstrap every replicate); `fraction` and `value` work on either. No
TensorFlow here: the report and the config check import it.

Canonical names are the constraint spellings (`positive_prediction_rate`, as
TFCO names it). `ALIASES` keeps the names users already write working
(`positive_rate` in EvalConfigs); `canonical` resolves them.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence, Tuple

import numpy as np

TP, FP, TN, FN = range(4)

# The populations a rate's denominator counts, as confusion cells; the report's
# per-group rows name their sample sizes the same way.
EXAMPLES, NEGATIVES, POSITIVES = "examples", "negatives", "positives"
POPULATIONS = {EXAMPLES: (TP, FP, TN, FN), NEGATIVES: (FP, TN), POSITIVES: (TP, FN)}


@dataclasses.dataclass(frozen=True)
class Rate:
    name: str
    events: Tuple[int, ...]  # the confusion cells counted as events
    population: str  # EXAMPLES, NEGATIVES or POSITIVES: the denominator
    # True for accuracy and TPR: the worst group is the lowest, a regression is a
    # decrease, and a gate checks the lower confidence bound.
    higher_is_better: bool = False


ACCURACY = "accuracy"
ERROR_RATE = "error_rate"
FALSE_POSITIVE_RATE = "false_positive_rate"
FALSE_NEGATIVE_RATE = "false_negative_rate"
TRUE_POSITIVE_RATE = "true_positive_rate"
POSITIVE_PREDICTION_RATE = "positive_prediction_rate"

TABLE = {rate.name: rate for rate in (
    Rate(ACCURACY, (TP, TN), EXAMPLES, higher_is_better=True),
    Rate(ERROR_RATE, (FP, FN), EXAMPLES),
    Rate(FALSE_POSITIVE_RATE, (FP,), NEGATIVES),
    Rate(FALSE_NEGATIVE_RATE, (FN,), POSITIVES),
    Rate(TRUE_POSITIVE_RATE, (TP,), POSITIVES, higher_is_better=True),
    Rate(POSITIVE_PREDICTION_RATE, (TP, FP), EXAMPLES),
)}
RATES = tuple(TABLE)
ALIASES = {"positive_rate": POSITIVE_PREDICTION_RATE}


def canonical(name: Any) -> Any:
    """The canonical name of a rate name or alias; anything else unchanged (the
    caller rejects it with its own config key)."""
    return ALIASES.get(name, name) if isinstance(name, str) else name


def get(name: str) -> Rate:
    """The table entry of a rate name or alias; ValueError naming the known rates."""
    rate = TABLE.get(canonical(name))
    if rate is None:
        raise ValueError(f"unknown rate {name!r} (known: {', '.join(RATES)}; "
                         f"aliases: {', '.join(ALIASES)})")
    return rate


def fraction(counts: Sequence[Any], which: str):
    """(events, examples) of `which` for confusion counts (TP, FP, TN, FN), each a
    number or an array (element-wise)."""
    rate = get(which)
    events = sum(counts[i] for i in rate.events)
    examples = sum(counts[i] for i in POPULATIONS[rate.population])
    return events, examples


def value(counts: Sequence[Any], which: str):
    """`which` of one confusion-count vector (a float), or element-wise (an
    array) when each count is an array; NaN where the denominator is 0."""
    events, examples = fraction(counts, which)
    if np.ndim(examples) == 0:
        return float(events / examples) if examples else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(examples > 0, events / examples, math.nan)


def confusion_counts(positive, labels, mask=None) -> np.ndarray:
    """[TP, FP, TN, FN] (int) of boolean decisions `positive` against labels (1 =
    positive) on the examples in `mask` (all when None)."""
    positive = np.asarray(positive, bool).reshape(-1)
    actual = np.asarray(labels).reshape(-1) == 1
    if mask is not None:
        mask = np.asarray(mask, bool).reshape(-1)
        positive, actual = positive[mask], actual[mask]
    tp = int((positive & actual).sum())
    fp = int((positive & ~actual).sum())
    fn = int((~positive & actual).sum())
    return np.array([tp, fp, positive.size - tp - fp - fn, fn])


def population_named_in(name: str) -> str:
    """The population behind a metric named after a rate (e.g. 'negatives' for
    'worst_group_false_positive_rate'); EXAMPLES when no non-example rate is
    named in it."""
    return next((rate.population for rate in TABLE.values()
                 if rate.population != EXAMPLES and rate.name in name), EXAMPLES)
