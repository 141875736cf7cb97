"""Two per-run Python costs every pipeline run pays (issue 17 item 7): the paired
bootstrap behind each change gate and the side-effect check, and the report's
three figures. Prints JSON.

* Bootstrap: `group_metrics.paired_regression` as the Evaluator's change gates
  call it (2,000 replicates, the project's seed) for each gated quantity, and the
  side-effect check's bootstrap (`side_effects.measure`, every group's rates and
  gaps), against the per-replicate loop they replaced
  (tests/bootstrap_reference.py), on a generated two-group table of
  `--examples` examples; seconds per call (median of `--repeats`) and whether
  the results are the same bits.
* Figures: `fairgate/report/plots.py` as it is against the file at `--before`
  (a git revision), on tests/figure_inputs.py's generated inputs, the two
  alternating; seconds for the three figures (median of `--repeats`) and
  whether the PNGs' pixels are identical.

  .venv/bin/python benchmarks/bootstrap_and_figures.py --before e44ed6b
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

GATES = (("GroupRateGap", "false_positive_rate"), ("GroupRate", "false_positive_rate"),
         ("OverallRate", "accuracy"), ("ConditionalRateGap", "false_positive_rate"))


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _table(examples: int, seed: int = 0):
    """Two groups, two strata; the candidate flips 5% of the baseline's decisions."""
    from fairgate.metrics import side_effects
    rng = np.random.default_rng(seed)
    group = np.where(rng.random(examples) < 0.4, "a", "b")
    stratum = np.where(rng.random(examples) < 0.5, "m", "f")
    label = rng.random(examples) < 0.45
    baseline = np.where(label, rng.random(examples) > 0.2, rng.random(examples) < 0.1)
    candidate = np.where(rng.random(examples) < 0.05, ~baseline, baseline)
    table = {}
    for s in ("m", "f"):
        mask = stratum == s
        for (g, _), cell in side_effects.paired_table(
                group[mask], label[mask], candidate[mask], baseline[mask]).items():
            table[(g, s)] = cell
    flat = side_effects.paired_table(group, label, candidate, baseline)
    return table, flat


def bootstrap(examples: int, repeats: int) -> dict:
    from fairgate.metrics import group_metrics as gm
    from fairgate.metrics import rates, side_effects
    from tests import bootstrap_reference as old
    table, flat = _table(examples)
    scalar = {"GroupRateGap": old.rate_gap, "GroupRate": old.group_rate,
              "OverallRate": old.overall_rate,
              "ConditionalRateGap": old.conditional_rate_gap}
    gates = {}
    for metric, which in GATES:
        quantity = gm._quantity(metric, "q", which)
        higher = rates.get(which).higher_is_better

        def vectorised():
            return gm.paired_regression(table, quantity.point, higher, 0.95)

        def loop(point=scalar[metric]):
            def change(candidate, baseline):
                delta = float(point(candidate, which)) - float(point(baseline, which))
                return [-delta if higher else delta]
            observed, samples = old.loop_bootstrap(table, change, gm.BOOTSTRAP_REPLICATES,
                                                   gm.BOOTSTRAP_SEED)
            return (float(observed[0]),) + tuple(old.quantile_bounds(
                list(samples[:, 0]), 0.95))

        new, ref = vectorised(), loop()
        gates[f"{metric}:{which}"] = {
            "loop_seconds": round(_median_seconds(loop, repeats), 4),
            "vectorised_seconds": round(_median_seconds(vectorised, repeats), 4),
            "same_bits": np.array(new).tobytes() == np.array(ref).tobytes()}
    for entry in gates.values():
        entry["ratio"] = round(entry["vectorised_seconds"] / entry["loop_seconds"], 4)

    compared = side_effects.comparisons(side_effects.RATES, ["a", "b"])

    def old_value(comparison, counts):
        if comparison.kind == "rate":
            return old.group_rate(counts, comparison.rate, comparison.groups[0])
        return old.rate_gap(counts, comparison.rate, list(comparison.groups))

    def side_loop():
        observed, samples = old.loop_bootstrap(
            flat, lambda c, r: [old_value(x, c) for x in compared] +
            [old_value(x, r) for x in compared], gm.BOOTSTRAP_REPLICATES,
            gm.BOOTSTRAP_SEED)
        k = len(compared)
        changes = samples[:, :k] - samples[:, k:]
        return [old.quantile_bounds(list(changes[:, i]), 0.95) for i in range(k)]

    def side_vectorised():
        return side_effects.measure(flat, rates=side_effects.RATES, groups=["a", "b"])

    same = [tuple(r["interval"]) for r in side_vectorised()["changes"]] == \
        [tuple(map(float, b)) for b in side_loop()]
    side = {"comparisons": len(compared),
            "loop_seconds": round(_median_seconds(side_loop, repeats), 4),
            "vectorised_seconds": round(_median_seconds(side_vectorised, repeats), 4),
            "same_bits": same}
    side["ratio"] = round(side["vectorised_seconds"] / side["loop_seconds"], 4)
    per_gate = [e["loop_seconds"] for e in gates.values()], \
        [e["vectorised_seconds"] for e in gates.values()]
    return {"examples": examples, "cells": len(table),
            "replicates": gm.BOOTSTRAP_REPLICATES, "change_gates": gates,
            "seconds_per_change_gate": {
                "loop": round(statistics.mean(per_gate[0]), 4),
                "vectorised": round(statistics.mean(per_gate[1]), 4),
                "ratio": round(statistics.mean(per_gate[1]) /
                               statistics.mean(per_gate[0]), 4)},
            "side_effect_check": side}


def _plots_at(revision: str):
    """fairgate/report/plots.py as it was at `revision`, loaded as a module."""
    source = subprocess.run(
        ["git", "-C", HERE, "show", f"{revision}:fairgate/report/plots.py"],
        check=True, capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(), f"plots_{revision}.py")
    with open(path, "w") as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(f"plots_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(before: str, repeats: int) -> dict:
    from PIL import Image

    from fairgate.report import plots
    from tests import figure_inputs
    inputs = (figure_inputs.group_rates(), figure_inputs.calibration(),
              figure_inputs.training())
    ways = {"before": _plots_at(before), "after": plots}
    folders = {way: tempfile.mkdtemp() for way in ways}

    def draw(way):
        module, out = ways[way], folders[way]
        module.group_rate_bars(inputs[0], figure_inputs.THRESHOLDS,
                               os.path.join(out, "group_rates.png"))
        module.reliability_curves(inputs[1], os.path.join(out, "calibration.png"))
        module.training_violation(inputs[2], os.path.join(out, "training.png"))

    for way in ways:  # warm-up: fonts, caches
        draw(way)
    times = {way: [] for way in ways}
    for _ in range(repeats):
        for way in ways:
            start = time.perf_counter()
            draw(way)
            times[way].append(time.perf_counter() - start)
    identical = {}
    for name in ("group_rates.png", "calibration.png", "training.png"):
        a, b = (np.asarray(Image.open(os.path.join(folders[w], name))) for w in ways)
        identical[name] = bool(a.shape == b.shape and (a == b).all())
    seconds = {way: round(statistics.median(t), 3) for way, t in times.items()}
    return {"before_revision": before, "seconds": seconds,
            "ratio": round(seconds["after"] / seconds["before"], 3),
            "pixels_identical": identical}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default="e44ed6b",
                        help="git revision of the figures' code to compare with")
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    result = {"date": time.strftime("%Y-%m-%d"), "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version()},
        "bootstrap": bootstrap(args.examples, args.repeats),
        "figures": figures(args.before, args.repeats)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
