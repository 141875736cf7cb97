"""Confidence bounds for the gated quantities: pure functions over counts.

Both the TFMA gate metrics (`fairgate/metrics/group_metrics.py`) and the report call these,
so a gate and the page that explains it use the same numbers. No resampling for
the absolute bounds: everything is a closed form of the confusion counts.

Conventions. `level` is the confidence of ONE side: `upper` is a one-sided
`level` upper bound, `lower` a one-sided `level` lower bound, so the interval
[lower, upper] is a two-sided (2 * level - 1) interval (90% for level 0.95). A
gate uses one side only ("upper 95% bound of FPR <= 0.10").

* One rate x/n: Wilson's score interval; Clopper-Pearson (exact, conservative)
  when fewer than `SMALL_COUNT` (5) events or non-events, where Wilson's
  one-sided coverage falls below nominal.
* Difference of two rates: Newcombe's hybrid score interval (method 10 of
  Newcombe 1998), from the two Wilson intervals at the same z.
* Largest minus smallest rate over k groups: upper bound = the largest Newcombe
  upper bound over ordered pairs, at the same level (no adjustment is needed: the
  true gap is the difference of one fixed, unknown pair, whose bound this
  dominates). Lower bound = the largest Newcombe lower bound over ordered pairs at
  level 1 - alpha / (k (k - 1)) (Bonferroni: any pair may be the maximiser), and
  at least 0.
* Worst group's rate (largest; smallest for accuracy-like rates): the bound on
  the bad side is the extreme of the groups' bounds at the same level (valid for
  the same reason as the gap); the other side is Bonferroni-adjusted over groups.
* Conditional gap (sum over strata of w_s * gap_s, w_s the fixed share of the
  rate's denominator): each stratum's gap bounded as above at level
  1 - alpha / S (Bonferroni over the S strata, so all hold at once with
  probability >= level), then weighted.
"""
from __future__ import annotations

import math
from itertools import permutations
from typing import Sequence, Tuple

import numpy as np
from scipy import special, stats

SMALL_COUNT = 5
Interval = Tuple[float, float]
NAN_INTERVAL = (math.nan, math.nan)


def check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or \
            not 0.5 < float(level) < 1.0:
        raise ValueError(f"level must be a number strictly between 0.5 and 1, "
                         f"got {level!r}")
    return float(level)


def z_value(level: float) -> float:
    """The standard normal quantile of a one-sided `level` bound."""
    return float(stats.norm.ppf(level))


def wilson(x: float, n: float, level: float) -> Interval:
    """Wilson score bounds (each one-sided at `level`) of x/n."""
    if n <= 0:
        return NAN_INTERVAL
    z = z_value(level)
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson(x: float, n: float, level: float) -> Interval:
    """Exact (Clopper-Pearson) bounds, each one-sided at `level`."""
    if n <= 0:
        return NAN_INTERVAL
    alpha = 1 - level
    lower = 0.0 if x <= 0 else float(special.betaincinv(x, n - x + 1, alpha))
    upper = 1.0 if x >= n else float(special.betaincinv(x + 1, n - x, 1 - alpha))
    return lower, upper


def rate_method(x: float, n: float) -> str:
    return "clopper-pearson" if min(x, n - x) < SMALL_COUNT else "wilson"


def rate_interval(x: float, n: float, level: float) -> Interval:
    """Bounds of one rate x/n: Wilson, or Clopper-Pearson for small counts."""
    if n <= 0:
        return NAN_INTERVAL
    if rate_method(x, n) == "clopper-pearson":
        return clopper_pearson(x, n, level)
    return wilson(x, n, level)


def newcombe(x1: float, n1: float, x2: float, n2: float, level: float) -> Interval:
    """Newcombe's hybrid score bounds (method 10) of x1/n1 - x2/n2, each one-sided
    at `level` (level 0.975 gives the usual two-sided 95% interval)."""
    if n1 <= 0 or n2 <= 0:
        return NAN_INTERVAL
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, level)
    l2, u2 = wilson(x2, n2, level)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
            d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


Fraction = Tuple[float, float]  # (numerator, denominator)


def gap_interval(fractions: Sequence[Fraction], level: float) -> Interval:
    """Bounds of max - min over the groups' rates (see the module docstring)."""
    if len(fractions) < 2 or any(n <= 0 for _, n in fractions):
        return NAN_INTERVAL
    k = len(fractions)
    adjusted = 1 - (1 - level) / (k * (k - 1))
    upper = max(newcombe(*a, *b, level)[1] for a, b in permutations(fractions, 2))
    lower = max(newcombe(*a, *b, adjusted)[0] for a, b in permutations(fractions, 2))
    return max(0.0, lower), min(1.0, upper)


def worst_rate_interval(fractions: Sequence[Fraction], level: float,
                        worst_is_lowest: bool) -> Interval:
    """Bounds of the worst group's rate: max over groups (min when
    worst_is_lowest, e.g. accuracy)."""
    if not fractions or any(n <= 0 for _, n in fractions):
        return NAN_INTERVAL
    adjusted = 1 - (1 - level) / len(fractions)
    same = [rate_interval(x, n, level) for x, n in fractions]
    other = [rate_interval(x, n, adjusted) for x, n in fractions]
    if worst_is_lowest:  # the bad side is the lower one
        return min(lo for lo, _ in same), min(hi for _, hi in other)
    return max(lo for lo, _ in other), max(hi for _, hi in same)


def conditional_gap_interval(strata: Sequence[Sequence[Fraction]],
                             level: float) -> Interval:
    """Bounds of sum_s w_s * gap_s, w_s = the stratum's share of the denominators.

    `strata`: per stratum, the groups' (numerator, denominator), every group
    present (the caller returns NaN otherwise, as for the point value)."""
    strata = [s for s in strata if sum(n for _, n in s) > 0]
    if not strata:
        return NAN_INTERVAL
    adjusted = 1 - (1 - level) / len(strata)
    total = sum(n for s in strata for _, n in s)
    lower = upper = 0.0
    for fractions in strata:
        weight = sum(n for _, n in fractions) / total
        lo, hi = gap_interval(fractions, adjusted)
        lower += weight * lo
        upper += weight * hi
    return lower, upper


def quantile_bounds(samples: Sequence[float], level: float) -> Interval:
    """Percentile bounds (each one-sided at `level`) of bootstrap replicates;
    NaN when more than 1% of the replicates are undefined."""
    samples = np.asarray(samples, dtype=float)
    # A stable sort, as sorted() is: ties (0.0 and -0.0) keep their order.
    defined = np.sort(samples[~np.isnan(samples)], kind="stable")
    if not defined.size or defined.size < 0.99 * samples.size:
        return NAN_INTERVAL

    def at(q):
        position = q * (len(defined) - 1)
        below = int(math.floor(position))
        above = min(below + 1, len(defined) - 1)
        return defined[below] + (position - below) * (defined[above] - defined[below])

    return at(1 - level), at(level)
