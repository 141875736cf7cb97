"""Generated inputs of the report's three figures (fairgate/report/plots.py), in
the shapes fairgate/report/collect.py gives them: per-group rates at the report's
thresholds with their intervals, calibration bins, and a training history."""
import numpy as np

THRESHOLDS = ["0.22", "0.50", "0.75"]


def group_rates(groups=("Young=0", "Young=1"), models=("candidate", "unconstrained"),
                seed=0):
    """{model: {slice: {threshold: {rate, rate_interval}}}}."""
    rng = np.random.default_rng(seed)
    out = {}
    for model in models:
        out[model] = {}
        for group in groups:
            out[model][group] = {}
            for threshold in THRESHOLDS:
                cell = {}
                for rate in ("false_positive_rate", "false_negative_rate"):
                    value = float(rng.uniform(0.02, 0.5))
                    cell[rate] = value
                    cell[f"{rate}_interval"] = [max(0.0, value - 0.04),
                                                min(1.0, value + 0.05)]
                out[model][group][threshold] = cell
    return out


def calibration(models=("candidate", "unconstrained"), examples=2000, seed=0):
    """{model: [10 score bins]} holding `examples` examples per model."""
    rng = np.random.default_rng(seed)
    out = {}
    for model in models:
        counts = rng.multinomial(examples, rng.dirichlet(np.ones(10)))
        out[model] = [{"lower": i / 10, "upper": (i + 1) / 10,
                       "examples": int(counts[i]),
                       "mean_prediction": (i + 0.5) / 10,
                       "positive_rate": float(np.clip((i + 0.5) / 10 +
                                                      rng.normal(0, 0.05), 0, 1))}
                      for i in range(10)]
    return out


def training(snapshots=13, steps_per_snapshot=100, seed=0):
    """A constrained Trainer's history: violations falling below 0, the chosen
    snapshot the last."""
    rng = np.random.default_rng(seed)
    return {"selection_level": 0.75, "chosen_index": snapshots - 1,
            "candidates": [{"step": steps_per_snapshot * (i + 1),
                            "objective": float(0.45 - 0.01 * i + rng.normal(0, 0.01)),
                            "violations": [float(0.4 - 0.05 * i)]}
                           for i in range(snapshots)]}
