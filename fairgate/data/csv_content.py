"""Preflight checks of what CSV files hold, against what the config asks of them.

Run before anything else (after preflight.check_csv: the header has no name
twice, every row its width), naming the file and line of every problem, so a run
never trains on columns that do not exist, labels it cannot map, or groups that
are misspelled:

* every column named by data.features, data.exclude_features and the gates'
  condition columns exists;
* with data.label_positive: no empty label cell, and with data.label_negative
  too, every label cell is one of the two;
* evaluation.groups and the constraint groups occur in the train split (after
  data.group_merge);
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
from fairgate.data import run_columns

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


def _train_files(config: Config, files: Sequence[str]) -> List[str]:
    pattern = config.data.splits.get("train")
    if not pattern:
        return list(files)  # hash-split: train is a subset of every file
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


def check(config: Config, files: Sequence[str], condition_columns: Sequence[str] = ()
          ) -> None:
    data = config.data
    origin = config.source_file or "the config"
    kinds = feature_kinds(data)
    lookup = run_columns.merge_lookup(data.group_merge)
    train = set(_train_files(config, files))
    train_groups: Dict[str, int] = collections.Counter()
    values: Dict[str, List[str]] = collections.defaultdict(list)
    features: List[str] = []
    for path in files:
        header, rows = _read(path)  # header names are unique (preflight.check_csv)
        for key, names in (("data.features", list(kinds)),
                           ("data.exclude_features", data.exclude_features),
                           ("evaluation.eval_config (condition column)",
                            list(condition_columns))):
            for name in names:
                if name not in header:
                    raise ContentError(
                        f"{path}: column '{name}' named by {key} in {origin} is not "
                        f"in the header (columns: {', '.join(header)})")
        features = run_columns.resolve_features(header, data.label, data.group, kinds,
                                                data.exclude_features)
        label_at, group_at = header.index(data.label), header.index(data.group)
        feature_at = {name: header.index(name) for name in features}
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
            if path in train and row[group_at].strip():
                train_groups[run_columns.merged_group(row[group_at], lookup)] += 1
            for name, at in feature_at.items():
                if row[at].strip():
                    values[name].append(row[at].strip())
    _check_groups(config, train_groups, origin)
    for name in features:
        _check_feature(name, kinds.get(name), values[name], files, origin)


def _check_groups(config: Config, found: Dict[str, int], origin: str) -> None:
    named = [(f"evaluation.groups[{i}]", g) for i, g in enumerate(config.evaluation.groups)]
    named += constraint_groups(config)
    listing = ", ".join(f"{g!r} ({n} rows)" for g, n in sorted(found.items()))
    for key, value in named:
        if str(value) not in found:
            raise ContentError(
                f"'{key}' in {origin}: group value {value!r} is not in column "
                f"'{config.data.group}' of the train split (values found"
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
