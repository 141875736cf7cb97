"""Post-processing for fairness: one decision threshold per group (numpy; every
rate is fairgate/metrics/rates.py's, over the confusion counts at each candidate).

`trainer.mode: group_thresholds` trains the unconstrained model (as mode `none`)
and then picks, on the **eval** split, a threshold in logit space for each group
(decision: logit > threshold) that meets `trainer.constraints` (the same
RateBound / RateGap spec as TFCO mode) and minimises the spec's objective
(error_rate by default: maximises eval accuracy).

Feasibility is judged as the Trainer judges its snapshots
(`constraints.measure(..., level=selection_level)`): with a level, a constraint
is met when its one-sided Wilson / Clopper-Pearson bound (RateBound) or Newcombe
bound (RateGap) is within the limit; with `level=None` the point rates are.

Rules (documented choices):

* Candidates per group: the group's unique float32 eval logits (subsampled to
  at most `MAX_CANDIDATES` by quantiles; the largest makes everyone negative),
  the next float32 below the smallest (everyone positive), and 0.0 (the model's
  own decision). All are float32 numbers taken from the logits unchanged, so
  `logit > threshold` is the same comparison in numpy and inside the exported
  float32 model and no cut is lost to rounding.
* Groups that no constraint names keep 0.0, the model's own decision: the
  post-processing moves only what the constraints require (the least disparate
  treatment), and a small unnamed group's eval-optimal threshold would be noise.
* Only groups present in the **eval** split get a threshold (a group seen only
  in train has none). A group value without one gets `default` (0.0) in
  `decide` and in the exported model, which logs it
  (see trainer_module/serving_head.py).
* Search: exhaustive (vectorised) over every combination when the constraints
  name one or two groups; coordinate descent from all-0.0 (each round, each
  group's threshold set to its best candidate with the others fixed; infeasible
  points ranked by their largest violation) for three or more.
* Ties in the objective go to the thresholds closest to 0.0 (sum of |t|).
* No feasible combination: ValueError naming the constraint that cannot be met
  (alone, or the ones that cannot be met together), with its best violation.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from scipy import special, stats

from fairgate.metrics import rates
from fairgate.metrics.groups import group_array, group_text, group_value
from fairgate.metrics.intervals import SMALL_COUNT

MAX_CANDIDATES = 256
DEFAULT_THRESHOLD = 0.0
MAX_ROUNDS = 20  # coordinate descent


# --- vectorised confidence bounds (the same formulas as fairgate.metrics.intervals) ---
# Kept vectorised for speed: the exhaustive search bounds every pair of
# candidates at once (257 x 257 for a two-group gap); scalar calls of
# fairgate.metrics.intervals would take seconds. tests/test_group_thresholds.py checks
# these against fairgate.metrics.intervals (rate bounds and the Newcombe gap).

def _wilson(x, n, z):
    x, n = np.asarray(x, float), np.asarray(n, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.maximum(0.0, centre - half), np.minimum(1.0, centre + half)


def _clopper_pearson(x, n, level):
    x, n = np.asarray(x, float), np.asarray(n, float)
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(x <= 0, 0.0, special.betaincinv(np.maximum(x, 1e-300),
                                                         n - x + 1, alpha))
        upper = np.where(x >= n, 1.0, special.betaincinv(
            x + 1, np.maximum(n - x, 1e-300), 1 - alpha))
    return lower, upper


def _newcombe_upper(xa, na, xb, nb, z):
    """intervals.newcombe(xa, na, xb, nb, level)[1], vectorised (z = z_value(level)):
    the upper bound of rate a minus rate b."""
    pa, pb = xa / na, xb / nb
    _, ua = _wilson(xa, na, z)
    lb, _ = _wilson(xb, nb, z)
    return pa - pb + np.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def _rate_interval(x, n, level):
    """intervals.rate_interval, vectorised: Wilson, or Clopper-Pearson when
    fewer than 5 events or non-events."""
    z = float(stats.norm.ppf(level))
    wl, wu = _wilson(x, n, z)
    cl, cu = _clopper_pearson(x, n, level)
    small = np.minimum(x, n - x) < SMALL_COUNT
    return np.where(small, cl, wl), np.where(small, cu, wu)


# --- per-group counts at each candidate threshold ---

class _Group:
    """One group's eval logits, its candidate thresholds and the counts of
    positive decisions among its positives / negatives at each candidate."""

    def __init__(self, value, logits, labels, max_candidates=MAX_CANDIDATES):
        self.value = value
        logits = logits.astype(np.float32)
        self.n = len(logits)
        self.n_pos = int((labels == 1).sum())
        self.n_neg = self.n - self.n_pos
        self.candidates = candidate_thresholds(logits, max_candidates)
        pos = np.sort(logits[labels == 1])
        neg = np.sort(logits[labels != 1])
        # decision logit > t: the count above t
        self.tp = len(pos) - np.searchsorted(pos, self.candidates, side="right")
        self.fp = len(neg) - np.searchsorted(neg, self.candidates, side="right")
        self.zero = int(np.argmin(np.abs(self.candidates - DEFAULT_THRESHOLD)))

    def counts(self, rate: str) -> Tuple[np.ndarray, np.ndarray]:
        """(events, examples) of `rate` at every candidate."""
        return rates.fraction(
            (self.tp, self.fp, self.n_neg - self.fp, self.n_pos - self.tp), rate)


def candidate_thresholds(logits, max_candidates: int = MAX_CANDIDATES) -> np.ndarray:
    """Sorted float32 candidates for the rule `logit > t`: the group's unique
    float32 logits themselves (t = a logit cuts just above it; the largest makes
    everyone negative), subsampled to at most `max_candidates` by quantiles
    (the smallest and largest kept), the next float32 below the smallest
    (everyone positive) and 0.0. No arithmetic on the logits, so no cut is lost
    to rounding (a midpoint of two adjacent floats, or min - 1 above 2**24)."""
    unique = np.unique(np.asarray(logits, np.float32))
    if unique.size == 0:
        return np.array([DEFAULT_THRESHOLD], np.float32)
    if unique.size > max_candidates:
        picks = np.round(np.linspace(0, unique.size - 1, max_candidates)).astype(int)
        unique = unique[np.unique(picks)]
    below = np.nextafter(unique[0], np.float32(-np.inf))
    return np.unique(np.concatenate(
        [unique, [below, np.float32(DEFAULT_THRESHOLD)]]).astype(np.float32))


# --- the search ---

def _named_groups(spec) -> List[Any]:
    from trainer_module.constraints import RateBound
    named = []
    for c in spec.constraints:
        for g in ([c.group] if isinstance(c, RateBound) else list(c.groups)):
            if g not in named:
                named.append(g)
    return named


def _violation(c, index: Dict[Any, np.ndarray], table: Dict[Any, _Group],
               level: Optional[float]) -> np.ndarray:
    """The constraint's largest violation (> 0: violated, as constraints.measure)
    at the candidate indices `index[group]` (broadcastable arrays)."""
    from trainer_module.constraints import RateBound
    if isinstance(c, RateBound):
        x, n = (a[index[c.group]] for a in table[c.group].counts(c.rate))
        if n.size and n.flat[0] == 0:
            return np.ones(np.shape(x))
        if level is None:
            value = x / n
        else:
            low, high = _rate_interval(x, n, level)
            value = high if c.upper else low
        return value - c.bound if c.upper else c.bound - value
    worst = None
    z = None if level is None else float(stats.norm.ppf(level))
    for first, second in c.pairs:
        xa, na = (a[index[first]] for a in table[first].counts(c.rate))
        xb, nb = (a[index[second]] for a in table[second].counts(c.rate))
        if (na.size and na.flat[0] == 0) or (nb.size and nb.flat[0] == 0):
            both = np.ones(np.broadcast(xa, xb).shape)
        else:
            pa, pb = xa / na, xb / nb
            if z is None:
                both = np.maximum(pa - pb, pb - pa) - c.max_gap
            else:
                both = np.maximum(_newcombe_upper(xa, na, xb, nb, z),
                                  _newcombe_upper(xb, nb, xa, na, z)) - c.max_gap
        worst = both if worst is None else np.maximum(worst, both)
    return worst


def _objective(spec, index, table, fixed_events: float, denominator: float):
    events = fixed_events
    for g, idx in index.items():
        events = events + table[g].counts(spec.objective)[0][idx]
    return events / denominator if denominator else np.zeros(np.shape(events))


def _evaluate(spec, index, table, fixed_events, denominator, level):
    """(objective, per-constraint violations) at broadcastable candidate indices."""
    objective = _objective(spec, index, table, fixed_events, denominator)
    violations = [_violation(c, index, table, level) for c in spec.constraints]
    shape = np.broadcast_shapes(np.shape(objective), *(np.shape(v) for v in violations))
    return (np.broadcast_to(objective, shape),
            [np.broadcast_to(v, shape) for v in violations])


def choose(spec, logits, labels, groups, level: Optional[float] = None
           ) -> Dict[Any, float]:
    """{group value: threshold in logit space} meeting `spec` on these examples
    (judged at `level`, None = point estimates) with the best objective.

    Every group in `groups` gets a threshold (unnamed groups 0.0); bytes group
    values are decoded to str. Raises ValueError naming the constraint when no
    combination of candidates meets the constraints.
    """
    logits = np.asarray(logits, np.float32).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    groups = group_array(groups)
    if not (len(logits) == len(labels) == len(groups)):
        raise ValueError(f"logits, labels and groups differ in length: "
                         f"{len(logits)}, {len(labels)}, {len(groups)}")
    present = [group_value(g) for g in np.unique(groups)]
    named = _named_groups(spec)
    missing = [g for g in named if g not in present]
    if missing:
        raise ValueError(f"trainer.constraints names group {missing[0]!r}, which "
                         f"has no example in the eval split (groups: "
                         f"{', '.join(map(repr, present))})")
    thresholds = {g: DEFAULT_THRESHOLD for g in present}
    if not named:
        return thresholds
    table = {g: _Group(g, logits[groups == g], labels[groups == g]) for g in named}
    # Events of the objective from the groups that keep 0.0.
    others = ~np.isin(groups, np.array(named, dtype=groups.dtype))
    fixed = int(rates.fraction(rates.confusion_counts(
        logits[others] > DEFAULT_THRESHOLD, labels[others]), spec.objective)[0])
    denominator = int(rates.fraction(rates.confusion_counts(
        logits > DEFAULT_THRESHOLD, labels), spec.objective)[1])
    if len(named) <= 2:
        chosen = _exhaustive(spec, named, table, fixed, denominator, level)
    else:
        chosen = _coordinate_descent(spec, named, table, fixed, denominator, level)
    for g in named:
        thresholds[g] = float(table[g].candidates[chosen[g]])
    return thresholds


def _best(objective, violations, distance) -> Optional[Tuple[int, ...]]:
    """Index of the feasible point with the smallest objective (ties: smallest
    distance from 0.0); None when nothing is feasible."""
    feasible = np.ones(objective.shape, bool)
    for v in violations:
        feasible &= v <= 0
    if not feasible.any():
        return None
    score = np.where(feasible, objective, np.inf)
    best = score.min()
    ties = feasible & (score <= best + 1e-12)
    tie_distance = np.where(ties, distance, np.inf)
    return np.unravel_index(int(np.argmin(tie_distance)), objective.shape)


def _infeasible(spec, violations) -> ValueError:
    alone = [(c, float(np.min(v))) for c, v in zip(spec.constraints, violations)
             if np.min(v) > 0]
    if alone:
        c, v = min(alone, key=lambda item: -item[1])
        return ValueError(
            f"trainer.constraints: no per-group thresholds meet the constraint "
            f"'{c.describe()}' on the eval split (the best candidate misses it by "
            f"{v:.4f}); loosen it, lower trainer.selection_level, or use more eval data")
    return ValueError(
        "trainer.constraints: no per-group thresholds meet the constraints "
        f"{'; '.join(repr(c.describe()) for c in spec.constraints)} together on the "
        "eval split (each can be met alone); loosen one of them")


def _exhaustive(spec, named, table, fixed, denominator, level):
    if len(named) == 1:
        index = {named[0]: np.arange(len(table[named[0]].candidates))}
    else:
        a, b = named
        index = {a: np.arange(len(table[a].candidates))[:, None],
                 b: np.arange(len(table[b].candidates))[None, :]}
    objective, violations = _evaluate(spec, index, table, fixed, denominator, level)
    distance = sum(np.abs(table[g].candidates[i]) for g, i in index.items())
    distance = np.broadcast_to(distance, objective.shape)
    best = _best(objective, violations, distance)
    if best is None:
        raise _infeasible(spec, violations)
    return {g: int(np.asarray(index[g]).reshape(-1)[best[k] if len(named) == 2 else best[0]])
            for k, g in enumerate(named)}


def _coordinate_descent(spec, named, table, fixed, denominator, level,
                        explain: bool = True):
    current = {g: table[g].zero for g in named}

    def score(objective, violations):
        worst = np.max(np.stack(violations), axis=0)
        # feasible points first (by objective), then the least violating
        return np.where(worst <= 0, objective, 1.0 + np.maximum(worst, 0))

    for _ in range(MAX_ROUNDS):
        changed = False
        for g in named:
            index = {h: (np.arange(len(table[h].candidates)) if h == g else
                         np.array([current[h]])) for h in named}
            objective, violations = _evaluate(spec, index, table, fixed,
                                              denominator, level)
            values = score(objective, violations)
            distance = np.abs(table[g].candidates)
            best = float(values.min())
            ties = np.flatnonzero(values <= best + 1e-12)
            pick = int(ties[np.argmin(distance[ties])])
            if pick != current[g] and values[pick] < values[current[g]] - 1e-12:
                current[g] = pick
                changed = True
        if not changed:
            break
    index = {g: np.array([current[g]]) for g in named}
    _, violations = _evaluate(spec, index, table, fixed, denominator, level)
    if all(float(v.max()) <= 0 for v in violations):
        return current
    if explain and len(spec.constraints) > 1:
        for c in spec.constraints:  # a constraint that cannot be met even alone
            single = type(spec)(objective=spec.objective, constraints=(c,))
            try:
                _coordinate_descent(single, _named_groups(single), table, fixed,
                                    denominator, level, explain=False)
            except ValueError as alone:
                raise alone from None
        raise _infeasible(spec, [np.array([-1.0]) for _ in spec.constraints])
    raise _infeasible(spec, violations)


def per_example(thresholds: Dict[Any, float], groups,
                default: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Each example's threshold (float32), as `decide` uses it. Group keys match
    by value or by their text (JSON turns integer keys into strings)."""
    by_text = {group_text(k): np.float32(v) for k, v in thresholds.items()}
    return np.array([by_text.get(group_text(g), np.float32(default))
                     for g in group_array(groups)], np.float32).reshape(-1)


def decide(thresholds: Dict[Any, float], logits, groups,
           default: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Decisions (bool): logit > the example's group threshold; a group without
    a threshold (absent from the eval split the thresholds were chosen on) uses
    `default`."""
    logits = np.asarray(logits, np.float32).reshape(-1)
    return logits > per_example(thresholds, groups, default)
