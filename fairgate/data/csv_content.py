"""Preflight checks of what CSV files hold, against what the config asks of them.

Run before anything else (after preflight.check_csv: every row has the header's
width; and after csv_header.resolve judged the names a header repeats: each is
read once, or dropped), naming the file and line of every problem, so a run
never trains on columns that do not exist, labels it cannot map, or groups that
are misspelled:

* every column named by data.features, data.exclude_features and the gates'
  condition columns exists;
* with data.label_positive: no empty label cell, and with data.label_negative
  too, every label cell is one of the two;
* evaluation.groups and the constraint groups occur in the train split (after
  data.group_merge); in a run that trains nothing, evaluation.groups occur in
  the test split;
* no feature is a date or free text (e.g. names, descriptions, identifiers):
  the model has no encoding for them, so they are rejected with the reason.
"""
from __future__ import annotations

import collections
import csv
import fnmatch
import os
import re
from typing import Dict, List, Sequence

from fairgate.config import Config, feature_kinds
from fairgate.data import csv_header, run_columns

DATE = re.compile(r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?"
                  r"|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})\s*$")
# A string feature with more distinct values than this share of its non-empty
# cells (and more than FREE_TEXT_MIN_DISTINCT of them) is free text or an
# identifier: a one-hot vocabulary over it would memorise rows.
FREE_TEXT_DISTINCT_SHARE = 0.5
FREE_TEXT_MIN_DISTINCT = 50
DATE_SHARE = 0.8


class ContentError(ValueError):
    """A CSV file does not hold what the config needs; names file (and line)."""


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _read(path: str):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [(reader.line_num, row) for row in reader if row]
    return header, rows


def groups_split(config: Config) -> str:
    """The split whose groups the config's group values must name: the one the
    model learns from, or the test split when the run trains nothing."""
    return "train" if config.trains else "test"


def _split_files(config: Config, files: Sequence[str], split: str) -> List[str]:
    pattern = config.data.splits.get(split)
    if not pattern:
        return list(files)  # hash-split, or every file is the test split
    base = os.path.abspath(os.path.expanduser(config.data.input_base))
    return [f for f in files if fnmatch.fnmatch(os.path.relpath(f, base), pattern)]


def constraint_groups(config: Config) -> List[tuple]:
    """(config key, group value) of every group the trainer's config names."""
    found = []
    for i, entry in enumerate((config.trainer.constraints or {}).get("constraints")
                              or []):
        if not isinstance(entry, dict):
            continue
        if "group" in entry:
            found.append((f"trainer.constraints.constraints[{i}].group", entry["group"]))
        for value in entry.get("groups") or []:
            found.append((f"trainer.constraints.constraints[{i}].groups", value))
    if config.trainer.mode == "correlation":
        found.append(("trainer.correlation_group", config.trainer.correlation_group))
    return found


def check(config: Config, files: Sequence[str], condition_columns: Sequence[str] = (),
          dropped: Sequence[str] = ()) -> None:
    """`dropped`: repeated header names left out of the examples (csv_header)."""
    data = config.data
    origin = config.source_file or "the config"
    kinds = feature_kinds(data)
    lookup = run_columns.merge_lookup(data.group_merge)
    split = groups_split(config)
    in_split = set(_split_files(config, files, split))
    split_groups: Dict[str, int] = collections.Counter()
    values: Dict[str, List[str]] = collections.defaultdict(list)
    features: List[str] = []
    for path in files:
        raw_header, rows = _read(path)
        column_at = csv_header.read_header(raw_header, dropped)
        header = list(column_at)
        for key, names in (("data.features", list(kinds)),
                           ("data.exclude_features", data.exclude_features),
                           ("evaluation.eval_config (condition column)",
                            list(condition_columns))):
            for name in names:
                if name not in raw_header:
                    raise ContentError(
                        f"{path}: column '{name}' named by {key} in {origin} is not "
                        f"in the header (columns: {', '.join(raw_header)})")
        features = run_columns.resolve_features(
            header, data.label, data.group, kinds,
            [name for name in data.exclude_features if name in column_at])
        label_at, group_at = column_at[data.label], column_at[data.group]
        feature_at = {name: column_at[name] for name in features}
        for line, row in rows:
            if data.label_positive is not None:
                cell = row[label_at]
                if not cell.strip():
                    raise ContentError(f"{path} line {line}: empty label cell "
                                       f"('{data.label}')")
                try:
                    run_columns.mapped_label(cell, data.label_positive,
                                             data.label_negative)
                except run_columns.LabelValueError as error:
                    raise ContentError(f"{path} line {line}: {error} (data.label_"
                                       f"positive / data.label_negative in {origin})"
                                       ) from None
            if path in in_split and row[group_at].strip():
                split_groups[run_columns.merged_group(row[group_at], lookup)] += 1
            for name, at in feature_at.items():
                if row[at].strip():
                    values[name].append(row[at].strip())
    _check_groups(config, split_groups, origin, split)
    for name in features:
        _check_feature(name, kinds.get(name), values[name], files, origin)


def _check_groups(config: Config, found: Dict[str, int], origin: str,
                  split: str) -> None:
    named = [(f"evaluation.groups[{i}]", g) for i, g in enumerate(config.evaluation.groups)]
    if config.trains:
        named += constraint_groups(config)
    listing = ", ".join(f"{g!r} ({n} rows)" for g, n in sorted(found.items()))
    for key, value in named:
        if str(value) not in found:
            raise ContentError(
                f"'{key}' in {origin}: group value {value!r} is not in column "
                f"'{config.data.group}' of the {split} split (values found"
                f"{' after data.group_merge' if config.data.group_merge else ''}: "
                f"{listing or 'none'})")


def _check_feature(name: str, kind, cells: List[str], files, origin: str) -> None:
    where = f"feature '{name}' ({', '.join(files) if len(files) < 4 else files[0] + ', ...'})"
    numeric = all(_is_number(c) for c in cells)
    if kind == "numeric" and not numeric:
        example = next(c for c in cells if not _is_number(c))
        raise ContentError(f"{where}: data.features in {origin} says numeric, but it "
                           f"holds text such as {example!r}")
    if numeric or not cells:
        return
    dates = sum(bool(DATE.match(c)) for c in cells)
    if dates >= DATE_SHARE * len(cells):
        raise ContentError(
            f"{where} holds dates (e.g. {cells[0]!r}): fairgate has no date encoding; "
            "leave it out of data.features (or add it to data.exclude_features), or "
            "derive a numeric column from it")
    distinct = len(set(cells))
    if kind != "categorical" and distinct > FREE_TEXT_MIN_DISTINCT and \
            distinct > FREE_TEXT_DISTINCT_SHARE * len(cells):
        raise ContentError(
            f"{where} looks like free text or an identifier ({distinct} distinct "
            f"values in {len(cells)} cells): a category per value would memorise "
            "rows; leave it out of data.features (or add it to "
            "data.exclude_features), or list it as {" + name + ": categorical} to "
            "keep it")


def train_sample(config: Config, files: Sequence[str], rows: int,
                 dropped: Sequence[str] = ()):
    """(kinds, train) of the model contract (README "Your own model") from CSV
    files, for preflight's build of a team's model: kinds {feature: numeric |
    categorical} as the Trainer will see them (data.features' kind, else numeric
    when every non-empty train cell is a number, as SchemaGen infers), and the
    first `rows` train rows as the contract's `train` arrays (numeric float32
    [n, 1] with NaN for an empty cell, categorical str [n, 1] with ""). A
    repeated header name is read from its first column, a `dropped` one not at
    all (csv_header), as the CSV ExampleGen writes the examples."""
    import numpy as np  # deferred: only a team's model needs this
    data = config.data
    overrides = feature_kinds(data)
    cells: Dict[str, List[str]] = {}
    numeric: Dict[str, bool] = {}
    for path in _split_files(config, files, "train"):
        raw_header, body = _read(path)
        column_at = csv_header.read_header(raw_header, dropped)
        features = run_columns.resolve_features(
            list(column_at), data.label, data.group, overrides,
            [name for name in data.exclude_features if name in column_at])
        for name in features:
            at = column_at[name]
            column = [row[at].strip() for _, row in body]
            numeric[name] = numeric.get(name, True) and \
                all(_is_number(c) for c in column if c)
            cells.setdefault(name, []).extend(column[:max(rows - len(
                cells.get(name, [])), 0)])
    kinds = {name: overrides.get(name) or ("numeric" if numeric[name] else
                                           "categorical") for name in cells}
    train = {}
    for name, column in cells.items():
        if kinds[name] == "numeric":
            train[name] = np.array([float(c) if c else np.nan for c in column],
                                   np.float32).reshape(-1, 1)
        else:
            train[name] = np.array(column, dtype=str).reshape(-1, 1)
    return kinds, train
