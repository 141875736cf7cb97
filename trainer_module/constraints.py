"""Constraint specs (data, from the run config) -> a TFCO rate minimization problem.

A spec looks like this in YAML:

    objective: error_rate            # minimised, through TFCO's hinge proxy
    constraints:
      - {rate: false_positive_rate, group: 0, upper_bound: 0.05}   # the tutorial's
      - {rate: true_positive_rate, group: 1, lower_bound: 0.6}
      - {gap: false_positive_rate, groups: [0, 1], max_gap: 0.05}   # FPR parity
      - {gap: false_positive_rate, groups: [a, b, c], max_gap: 0.05}  # largest gap

Group values are values of the run's group feature (0/1 for CelebA's `Young`,
strings for a CSV column). Invalid specs are rejected before any training.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_constrained_optimization as tfco

from fairgate.metrics import rates
from fairgate.metrics.groups import group_array, group_text, group_value
from trainer_module.tfco_compat import BatchSlot

# The rates TFCO can train, by their names in fairgate/metrics/rates.py (which measures
# them exactly for snapshot selection). Aliases (positive_rate) are accepted.
RATES = {
    rates.FALSE_POSITIVE_RATE: tfco.false_positive_rate,
    rates.FALSE_NEGATIVE_RATE: tfco.false_negative_rate,
    rates.TRUE_POSITIVE_RATE: tfco.true_positive_rate,
    rates.ERROR_RATE: tfco.error_rate,
    rates.POSITIVE_PREDICTION_RATE: tfco.positive_prediction_rate,
}


class ConstraintSpecError(ValueError):
    """The constraint spec is invalid; the message names the offending entry."""


@dataclasses.dataclass(frozen=True)
class RateBound:
    rate: str
    group: Any
    bound: float
    upper: bool  # True: rate <= bound; False: rate >= bound

    def describe(self) -> str:
        return f"{self.rate}(group={self.group}) {'<=' if self.upper else '>='} {self.bound:g}"


@dataclasses.dataclass(frozen=True)
class RateGap:
    """The largest gap between the groups' rates is at most max_gap: one
    |a - b| <= max_gap constraint per pair of groups."""
    rate: str
    groups: Tuple[Any, ...]
    max_gap: float

    @property
    def pairs(self) -> List[Tuple[Any, Any]]:
        return [(a, b) for i, a in enumerate(self.groups) for b in self.groups[i + 1:]]

    def describe(self) -> str:
        if len(self.groups) == 2:
            a, b = self.groups
            return f"|{self.rate}(group={a}) - {self.rate}(group={b})| <= {self.max_gap:g}"
        return (f"max - min of {self.rate} over groups "
                f"{', '.join(map(str, self.groups))} <= {self.max_gap:g}")


@dataclasses.dataclass(frozen=True)
class ConstraintSpec:
    objective: str = "error_rate"
    constraints: Tuple[Any, ...] = ()

    @property
    def num_tfco_constraints(self) -> int:
        return sum(2 * len(c.pairs) if isinstance(c, RateGap) else 1
                   for c in self.constraints)


def parse(raw: Optional[Dict[str, Any]], known_groups: Optional[Sequence[Any]],
          where: str = "trainer.constraints") -> ConstraintSpec:
    """Validates a raw spec against the rates TFCO knows and the groups in the data.

    `known_groups=None` skips the group check (the config is read before the data).
    """
    raw = dict(raw or {})
    unknown = sorted(set(raw) - {"objective", "constraints"})
    if unknown:
        raise ConstraintSpecError(f"{where}: unknown key '{unknown[0]}' "
                                  "(known: objective, constraints)")
    objective = _check_rate(raw.get("objective", "error_rate"), f"{where}.objective")
    known = None if known_groups is None else list(known_groups)
    parsed = []
    for i, entry in enumerate(raw.get("constraints") or []):
        at = f"{where}.constraints[{i}]"
        if not isinstance(entry, dict):
            raise ConstraintSpecError(f"{at}: must be a mapping, got {entry!r}")
        if "gap" in entry:
            parsed.append(_parse_gap(entry, known, at))
        else:
            parsed.append(_parse_bound(entry, known, at))
    return ConstraintSpec(objective=objective, constraints=tuple(parsed))


def _check_rate(rate, at) -> str:
    """The rate's canonical name; ConstraintSpecError for a rate TFCO cannot train."""
    if rates.canonical(rate) not in RATES:
        raise ConstraintSpecError(f"{at}: unknown rate '{rate}' (known: "
                                  f"{', '.join(RATES)})")
    return rates.canonical(rate)


def _check_group(group, known, at):
    """The group value in its one spelling (fairgate/metrics/groups.py), if the data has it."""
    group = group_value(group)
    if known is not None and group not in known:
        raise ConstraintSpecError(f"{at}: unknown group value {group!r} (the group "
                                  f"feature has: {', '.join(map(repr, known))})")
    return group


def _check_fraction(value, at, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0.0 <= value <= 1.0:
        raise ConstraintSpecError(f"{at}: {name} must be a number in [0, 1], got {value!r}")
    return float(value)


def _parse_bound(entry, known, at) -> RateBound:
    extra = sorted(set(entry) - {"rate", "group", "upper_bound", "lower_bound"})
    if extra:
        raise ConstraintSpecError(f"{at}: unknown key '{extra[0]}' (a rate bound has "
                                  "rate, group, upper_bound or lower_bound)")
    rate = _check_rate(entry.get("rate"), f"{at}.rate")
    group = _check_group(entry.get("group"), known, f"{at}.group")
    if ("upper_bound" in entry) == ("lower_bound" in entry):
        raise ConstraintSpecError(f"{at}: give exactly one of upper_bound, lower_bound")
    upper = "upper_bound" in entry
    name = "upper_bound" if upper else "lower_bound"
    return RateBound(rate=rate, group=group,
                     bound=_check_fraction(entry[name], at, name), upper=upper)


def _parse_gap(entry, known, at) -> RateGap:
    extra = sorted(set(entry) - {"gap", "groups", "max_gap"})
    if extra:
        raise ConstraintSpecError(f"{at}: unknown key '{extra[0]}' (a gap has gap, "
                                  "groups, max_gap)")
    rate = _check_rate(entry["gap"], f"{at}.gap")
    groups = entry.get("groups")
    if not isinstance(groups, (list, tuple)) or len(groups) < 2 or \
            len(set(map(group_text, groups))) != len(groups):
        raise ConstraintSpecError(f"{at}.groups: must be two different group values, "
                                  f"or more, got {groups!r}")
    groups = tuple(_check_group(g, known, f"{at}.groups") for g in groups)
    return RateGap(rate=rate, groups=groups,
                   max_gap=_check_fraction(entry.get("max_gap"), at, "max_gap"))


def build_problem(spec: ConstraintSpec, predictions, slot: BatchSlot
                  ) -> tfco.RateMinimizationProblem:
    """The TFCO problem: minimise the objective subject to the spec's constraints.

    `predictions` is a nullary callable returning the model's logits on
    `slot.features`; labels and groups come from `slot`.
    """
    context = tfco.rate_context(predictions, labels=lambda: slot.labels)

    def in_group(value):
        return context.subset(lambda: group_mask(slot.groups, value))

    constraints = []
    for c in spec.constraints:
        if isinstance(c, RateBound):
            rate = RATES[c.rate](in_group(c.group))
            constraints.append(rate <= c.bound if c.upper else rate >= c.bound)
        else:
            rates = {g: RATES[c.rate](in_group(g)) for g in c.groups}
            for first, second in c.pairs:
                a, b = rates[first], rates[second]
                constraints += [a - b <= c.max_gap, b - a <= c.max_gap]
    return tfco.RateMinimizationProblem(RATES[spec.objective](context), constraints)


def group_mask(groups: tf.Tensor, value) -> tf.Tensor:
    """True where an example's group is `value` (int or string groups)."""
    return tf.equal(groups, tf.constant(value, dtype=groups.dtype))


def describe(spec: ConstraintSpec) -> List[str]:
    return [c.describe() for c in spec.constraints]


def _counts(rate: str, positive, labels, mask) -> Tuple[int, int]:
    """(events, examples) behind `rate` on the examples in `mask`."""
    return tuple(int(c) for c in rates.fraction(
        rates.confusion_counts(positive, labels, mask), rate))


def measure(spec: ConstraintSpec, logits, labels, groups,
            level: Optional[float] = None):
    """(objective, violations) measured exactly on a whole split, as numpy.

    Violations follow TFCO's sign: positive means violated. A gap gives two
    violations per pair of its groups (a - b - max_gap, b - a - max_gap), as in
    `build_problem`. An undefined rate (empty group) counts as violated by 1.

    With `level` (the Trainer's selection_level), a constraint is judged by its
    one-sided confidence bound on the split instead of the point rate, the same
    bounds the release gates use (fairgate/metrics/intervals.py): the upper bound of a
    rate for an upper_bound constraint, the lower bound for a lower_bound, the
    Newcombe upper bound of each signed difference for a gap. "Feasible" then
    means feasible with that confidence, not by a point estimate that the
    best-objective choice pushes to the edge of the bound.
    """
    import numpy as np
    from fairgate.metrics import intervals
    positive = np.asarray(logits).reshape(-1) > 0
    labels = np.asarray(labels).reshape(-1)
    groups = group_array(groups)
    objective = rates.value(rates.confusion_counts(positive, labels), spec.objective)
    violations = []
    for c in spec.constraints:
        if isinstance(c, RateBound):
            x, n = _counts(c.rate, positive, labels, groups == c.group)
            if level is None:
                value = x / n if n else float("nan")
            else:
                low, high = intervals.rate_interval(x, n, level)
                value = high if c.upper else low
            violations.append(value - c.bound if c.upper else c.bound - value)
        else:
            for first, second in c.pairs:
                a = _counts(c.rate, positive, labels, groups == first)
                b = _counts(c.rate, positive, labels, groups == second)
                if level is None:
                    pa = a[0] / a[1] if a[1] else float("nan")
                    pb = b[0] / b[1] if b[1] else float("nan")
                    violations += [pa - pb - c.max_gap, pb - pa - c.max_gap]
                else:
                    violations += [intervals.newcombe(*a, *b, level)[1] - c.max_gap,
                                   intervals.newcombe(*b, *a, level)[1] - c.max_gap]
    violations = [1.0 if v != v else v for v in violations]  # NaN -> violated
    return objective, violations
