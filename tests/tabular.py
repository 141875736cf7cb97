"""Small generated tabular data for tests: a binary label and a group column."""
import csv
import os

import numpy as np


def write_csv(path, rows=500, label="label", group="group", seed=0, bad_labels=0,
              drop=()):
    """Writes a CSV with numeric, string, label and group columns.

    bad_labels: how many rows get the label value 2 (outside {0, 1}).
    drop: column names to leave out.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    columns = [c for c in ("age", "income", "occupation", group, label) if c not in drop]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for i in range(rows):
            g = rng.choice(["north", "south"])
            age = int(rng.integers(18, 80))
            income = round(float(rng.normal(50 if g == "north" else 45, 10)), 2)
            y = int(income + rng.normal(0, 5) > 48)
            if i < bad_labels:
                y = 2
            values = {"age": age, "income": income,
                      "occupation": rng.choice(["clerk", "nurse", "driver"]),
                      group: g, label: y}
            writer.writerow([values[c] for c in columns])


def biased_rows(count, seed):
    """Rows with a known group FPR gap: `score` puts south's negatives close to the
    positives; `signal` carries the label equally for both groups."""
    rng = np.random.default_rng(seed)
    region = rng.choice(np.array(["north", "south"]), count)
    approved = rng.integers(0, 2, count)
    shifted = (region == "south") & (approved == 0)
    return {
        "age": rng.integers(18, 80, count),
        "score": np.round(approved + 0.8 * shifted + rng.normal(0, 0.3, count), 4),
        "signal": np.round(approved + rng.normal(0, 0.6, count), 4),
        "occupation": rng.choice(np.array(["clerk", "nurse", "driver"]), count),
        "region": region,
        "approved": approved,
    }


def write_biased_csv(path, count, seed):
    rows = biased_rows(count, seed)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(rows))
        for i in range(count):
            writer.writerow([rows[c][i] for c in rows])
    return rows
