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


def biased_examples(rows, count=None):
    """biased_rows' features (not label, not group) as serialized tf.Examples."""
    import tensorflow as tf
    serialized = []
    for i in range(len(rows["approved"]) if count is None else count):
        feature = {
            "age": tf.train.Feature(int64_list=tf.train.Int64List(value=[rows["age"][i]])),
            "score": tf.train.Feature(float_list=tf.train.FloatList(value=[rows["score"][i]])),
            "signal": tf.train.Feature(float_list=tf.train.FloatList(value=[rows["signal"][i]])),
            "occupation": tf.train.Feature(
                bytes_list=tf.train.BytesList(value=[rows["occupation"][i].encode()])),
        }
        serialized.append(tf.train.Example(
            features=tf.train.Features(feature=feature)).SerializeToString())
    return serialized


def write_biased_csv(path, count, seed):
    rows = biased_rows(count, seed)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(rows))
        for i in range(count):
            writer.writerow([rows[c][i] for c in rows])
    return rows


MESSY_AGE_BANDS = ("18-30", "31-44", "45+", "60+", "75+")


def messy_rows(count, seed, unseen_share=0.0):
    """Rows as a real-world CSV holds them: an ID, person names, dates, free text,
    a ">50K"/"<=50K" label, a column that leaks the label, an age band group with
    five values (45+ and 60+ to merge; 75+ held by ~1% of rows), a region column
    for a conditional gate, empty cells in numeric and categorical features, and
    (with unseen_share) occupations never seen in training."""
    rng = np.random.default_rng(seed)
    band = rng.choice(np.array(MESSY_AGE_BANDS), count, p=[0.35, 0.3, 0.17, 0.17, 0.01])
    hours = np.round(rng.normal(40, 8, count), 1)
    education = rng.integers(6, 17, count)
    occupation = rng.choice(np.array(["clerk", "nurse", "driver", "teacher"]), count)
    score = 0.08 * (hours - 40) + 0.35 * (education - 11) + \
        0.6 * (occupation == "teacher") + rng.normal(0, 1.0, count)
    rich = score > 0.3
    unseen = rng.random(count) < unseen_share
    occupation = np.where(unseen, np.array([f"rare-job-{i}" for i in range(count)]),
                          occupation)
    rows = {
        "id": [f"R{seed:02d}{i:05d}" for i in range(count)],
        "name": [f"{rng.choice(['Ann', 'Bo', 'Cy', 'Di', 'Ed'])} "
                 f"{rng.choice(['Smith', 'Lee', 'Ngo', 'Diaz'])}-{i}" for i in range(count)],
        "signup_date": [f"20{rng.integers(10, 24)}-{rng.integers(1, 13):02d}-"
                        f"{rng.integers(1, 29):02d}" for _ in range(count)],
        "notes": [f"customer called about order {rng.integers(10**6)}" for _ in range(count)],
        "hours": ["" if rng.random() < 0.05 else str(h) for h in hours],
        "education_num": education,
        "occupation": ["" if rng.random() < 0.03 else o for o in occupation],
        "region": rng.choice(np.array(["north", "south"]), count),
        "age_band": band,
        "outcome_code": np.where(rich, "A7", "B2"),  # recorded after the fact: a leak
        "income": np.where(rich, ">50K", "<=50K"),
    }
    return rows


def write_rows(path, rows, header=None):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    names = list(rows)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header or names)
        for i in range(len(rows[names[0]])):
            writer.writerow([rows[c][i] for c in names])


# The columns of ProPublica's compas-scores-two-years.csv that matter here, in
# its order: it repeats decile_score and priors_count, identical in every row.
COMPAS_HEADER = ["id", "sex", "age", "race", "juv_fel_count", "decile_score",
                 "priors_count", "c_charge_degree", "decile_score", "priors_count",
                 "start", "two_year_recid"]


def write_compas_like(path, count, seed, differing=(), start=0):
    """A COMPAS-like CSV: `differing` names get a second column of their own name
    whose values differ from the first from data row `start` on (0-based; the
    file's line start + 2)."""
    rng = np.random.default_rng(seed)
    header = list(COMPAS_HEADER) + list(differing)
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for i in range(count):
            race = str(rng.choice(["African-American", "Caucasian"]))
            decile = int(rng.integers(1, 11))
            priors = int(rng.poisson(2 if race == "Caucasian" else 3))
            recid = int(rng.random() < 0.15 + 0.05 * decile)
            first = {"id": i + 1, "sex": str(rng.choice(["Male", "Female"])),
                     "age": int(rng.integers(18, 70)), "race": race,
                     "juv_fel_count": int(rng.poisson(0.2)), "decile_score": decile,
                     "priors_count": priors,
                     "c_charge_degree": str(rng.choice(["F", "M"])),
                     "start": int(rng.integers(0, 30)), "two_year_recid": recid}
            row, seen = [], set()
            for name in header:
                value = first[name]
                if name in seen and name in differing and i >= start:
                    value = value + 1000
                seen.add(name)
                row.append(value)
            writer.writerow(row)
    return header
