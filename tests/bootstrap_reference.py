"""The paired bootstrap as the gates computed it before it was vectorised (commit
e44ed6b): the scalar quantities over one replicate's counts, the loop over the
seeded replicates and the sorted-list quantiles, copied as they were. The
reference tests/test_paired_bootstrap.py holds the vectorised code to, bit for
bit, and benchmarks/bootstrap_and_figures.py times it against."""
import math

import numpy as np

from fairgate.metrics import intervals, rates


def value(counts, which):
    events, examples = rates.fraction(counts, which)
    return float(events / examples) if examples else math.nan


def by_group(counts):
    totals = {}
    for (group, _), cell in counts.items():
        totals[group] = totals.get(group, np.zeros(4)) + cell
    return totals


def group_rate(counts, which, group=None):
    groups = by_group(counts)
    if group is not None:
        return value(groups[group], which) if group in groups else math.nan
    values = [value(cell, which) for cell in groups.values()]
    if not values or any(math.isnan(v) for v in values):
        return math.nan
    return min(values) if rates.get(which).higher_is_better else max(values)


def rate_gap(counts, which, groups=None):
    totals = by_group(counts)
    names = groups if groups else sorted(totals)
    if len(names) < 2 or any(g not in totals for g in names):
        return math.nan
    values = [value(totals[g], which) for g in names]
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values) - min(values)


def conditional_rate_gap(counts, which, groups=None):
    names = groups if groups else sorted({g for g, _ in counts})
    if len(names) < 2:
        return math.nan
    total_weight, weighted_gap = 0.0, 0.0
    for stratum in sorted({s for _, s in counts}):
        cells = [counts.get((g, stratum)) for g in names]
        present = [c is not None and rates.fraction(c, which)[1] > 0 for c in cells]
        if not any(present):
            continue
        if not all(present):
            return math.nan
        values = [value(c, which) for c in cells]
        weight = sum(rates.fraction(c, which)[1] for c in cells)
        weighted_gap += weight * (max(values) - min(values))
        total_weight += weight
    return weighted_gap / total_weight if total_weight else math.nan


def overall_rate(counts, which):
    return value(sum(counts.values(), np.zeros(4)), which)


def split_paired(paired):
    candidate, baseline = {}, {}
    for cell_key, joint in paired.items():
        t = joint.reshape(2, 2, 2)
        for counts, predicted in ((candidate, t.sum(axis=2)), (baseline, t.sum(axis=1))):
            counts[cell_key] = np.array([predicted[1, 1], predicted[0, 1],
                                         predicted[0, 0], predicted[1, 0]])
    return candidate, baseline


def loop_bootstrap(paired, statistic, replicates, seed):
    def evaluate(table):
        return np.asarray(statistic(*split_paired(table)), dtype=float)

    observed = evaluate(paired)
    keys = sorted(paired)
    flat = np.concatenate([paired[k] for k in keys]) if keys else np.zeros(0)
    total = int(flat.sum())
    if total == 0:
        return observed, np.zeros((0, observed.size))
    draws = np.random.default_rng(seed).multinomial(total, flat / total,
                                                    size=replicates)
    samples = np.array([evaluate({k: draw[8 * i:8 * i + 8] for i, k in enumerate(keys)})
                        for draw in draws]).reshape(replicates, observed.size)
    return observed, samples


def quantile_bounds(samples, level):
    defined = sorted(s for s in samples if not math.isnan(s))
    if not defined or len(defined) < 0.99 * len(samples):
        return intervals.NAN_INTERVAL

    def at(q):
        position = q * (len(defined) - 1)
        below = int(math.floor(position))
        above = min(below + 1, len(defined) - 1)
        return defined[below] + (position - below) * (defined[above] - defined[below])

    return at(1 - level), at(level)
