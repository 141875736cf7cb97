"""The report's figures, as PNG files (matplotlib, no display needed).

What a figure costs is matplotlib laying it out: every tick, label and title is
measured once to fit the margins, then again to draw. Hence standalone `Figure`s
(no pyplot: no figure manager, nothing to close), the tight layout applied once
by its engine (`Figure.tight_layout` leaves a placeholder engine behind, which
makes `savefig` lay the figure out a third time before drawing it; the margins
are the same), and titles placed at the top of their axes where nothing can sit
above them (matplotlib otherwise measures the y axis again for each title).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from matplotlib.figure import Figure
from matplotlib.layout_engine import TightLayoutEngine

COLOURS = {"candidate": "#1b7837", "unconstrained": "#b2182b", "baseline": "#2166ac"}
RATES = (("false_positive_rate", "False positive rate"),
         ("false_negative_rate", "False negative rate"))


def group_rate_bars(models: Dict[str, Dict[str, Any]], thresholds: List[str],
                    path: str) -> Optional[str]:
    """FPR and FNR per group at each threshold, one bar per model, with error
    bars from each rate's one-sided 95% bounds (`<rate>_interval`, Wilson or
    Clopper-Pearson on the group's negatives / positives).

    `models`: {model label: {slice: {threshold: {rate: value}}}} (group slices only).
    """
    slices = sorted({s for rates in models.values() for s in rates})
    if not slices or not thresholds:
        return None
    fig = Figure(figsize=(4.2 * len(thresholds), 3.4 * len(RATES)))
    axes = fig.subplots(len(RATES), len(thresholds), squeeze=False, sharey="row")
    width = 0.8 / max(len(models), 1)
    for row, (rate, title) in enumerate(RATES):
        for col, threshold in enumerate(thresholds):
            ax = axes[row][col]
            for i, (label, rates) in enumerate(models.items()):
                cells = [rates.get(s, {}).get(threshold, {}) for s in slices]
                values = [(cell.get(rate) or 0.0) for cell in cells]
                positions = [x + (i - (len(models) - 1) / 2) * width
                             for x in range(len(slices))]
                ax.bar(positions, values, width, label=label,
                       color=COLOURS.get(label, None))
                errors = [_error(cell.get(rate), cell.get(f"{rate}_interval"))
                          for cell in cells]
                if any(e != (0.0, 0.0) for e in errors):
                    ax.errorbar(positions, values, fmt="none", ecolor="black",
                                elinewidth=1, capsize=3,
                                yerr=[[e[0] for e in errors], [e[1] for e in errors]])
            ax.set_xticks(range(len(slices)), slices)
            # y fixed: the rates' axis runs 0 to 1, so no offset text sits above.
            ax.set_title(f"{title} @ {threshold}", y=1.0)
            ax.set_ylim(0, 1)
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(loc="upper left", fontsize="small")
    fig.text(0.01, 0.002, "error bars: one-sided 95% bounds of each rate", fontsize=8)
    return _save(fig, path)


def _save(fig: Figure, path: str) -> str:
    """Fits the margins to the labels (tight layout), writes the PNG at 90 dpi."""
    TightLayoutEngine().execute(fig)
    fig.savefig(path, dpi=90)
    return os.path.basename(path)


def _error(value, interval):
    """(below, above) lengths of an error bar; none without an interval."""
    if value is None or not interval:
        return 0.0, 0.0
    return max(0.0, value - interval[0]), max(0.0, interval[1] - value)


def training_violation(history: Dict[str, Any], path: str) -> Optional[str]:
    """Max constraint violation and eval objective at each snapshot; the chosen one
    marked."""
    candidates = history.get("candidates") or []
    if not candidates:
        return None
    steps = [c["step"] for c in candidates]
    violation = [max(c["violations"], default=0.0) for c in candidates]
    objective = [c["objective"] for c in candidates]
    chosen = history.get("chosen_index")
    fig = Figure(figsize=(7, 5))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(steps, violation, marker=".", color="#b2182b")
    top.axhline(0.0, color="black", linewidth=0.8)
    top.set_ylabel("max constraint violation")
    level = history.get("selection_level")
    judged = f"{level * 100:g}% bound" if level else "point estimate"
    top.set_title(f"Constraint violation over training (eval split, {judged}; "
                  "<= 0 is feasible)", fontsize=10)
    bottom.plot(steps, objective, marker=".", color="#2166ac")
    bottom.set_ylabel("objective (error rate)")
    bottom.set_xlabel("training step")
    if chosen is not None and 0 <= chosen < len(steps):
        for ax, series in ((top, violation), (bottom, objective)):
            ax.scatter([steps[chosen]], [series[chosen]], s=120, facecolors="none",
                       edgecolors="black", linewidths=2, zorder=3, label="chosen")
        top.legend(loc="upper right", fontsize="small")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return _save(fig, path)


def reliability_curves(models: Dict[str, List[Dict[str, Any]]],
                       path: str) -> Optional[str]:
    """One panel per model: mean predicted probability vs observed positive rate
    per score bin (TFMA's CalibrationPlot on the evaluated split), the diagonal
    of perfect calibration, and the examples per bin as grey bars (right axis,
    count written above each bar).

    `models`: {model label: [{lower, upper, examples, mean_prediction,
    positive_rate}]}; models without bins are left out.
    """
    models = {label: bins for label, bins in models.items() if bins}
    if not models:
        return None
    fig = Figure(figsize=(4.4 * len(models), 4.6))
    axes = fig.subplots(1, len(models), squeeze=False)
    for ax, (label, bins) in zip(axes[0], models.items()):
        centres = [(b["lower"] + b["upper"]) / 2 for b in bins]
        widths = [max(b["upper"] - b["lower"], 0.02) * 0.9 for b in bins]
        counts = ax.twinx()
        bars = counts.bar(centres, [b["examples"] for b in bins], widths,
                          color="#cccccc", alpha=0.6, zorder=0)
        for bar, b in zip(bars, bins):
            counts.text(bar.get_x() + bar.get_width() / 2, bar.get_height(),
                        str(b["examples"]), ha="center", va="bottom", fontsize=6)
        counts.set_ylabel("examples per bin", fontsize=8)
        ax.set_zorder(counts.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.plot([0, 1], [0, 1], color="black", linestyle=":", linewidth=1,
                label="perfectly calibrated")
        ax.plot([b["mean_prediction"] for b in bins], [b["positive_rate"] for b in bins],
                marker="o", color=COLOURS.get(label, "#555555"), label=label)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed positive rate")
        # y fixed: the short title never reaches the counts' offset text ("1e6")
        # in the corner, the one thing matplotlib would move it above.
        ax.set_title(f"Calibration: {label}", fontsize=10, y=1.0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2,
                  fontsize="small")
    return _save(fig, path)
