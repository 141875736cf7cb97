"""Header names a CSV file repeats, and what a run does with them.

Published files repeat columns: ProPublica's compas-scores-two-years.csv has
`decile_score` and `priors_count` twice, identical in every row. TFX's CSV reader
keys each row by name, so it would silently keep the last of a repeated name.
Here a repeated name is judged over every row of every file instead:

* identical in every row: read as one column (a warning names it);
* different somewhere, and the run uses the name (`run_columns.names_used`):
  an error naming the column, the file and the first line where they differ;
* different somewhere, and unused: left out of the examples (a warning says so).

`RepeatTracker` compares the repeated columns row by row, so a file is read in
one streaming pass (preflight feeds it the rows it reads anyway; the CSV
ExampleGen scans with `scan`). A header without repeats costs one line.
"""
from __future__ import annotations

import csv
import dataclasses
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple


class RepeatedColumnError(ValueError):
    """A repeated header name whose columns differ is one the run uses."""


@dataclasses.dataclass(frozen=True)
class Repeated:
    """A header name that appears more than once in one file."""
    path: str
    name: str
    positions: Tuple[int, ...]  # 0-based column indexes
    # Line of the first row whose cells differ, and those cells; None: identical.
    differs_at: Optional[int] = None
    cells: Tuple[str, ...] = ()

    @property
    def columns(self) -> str:
        numbers = [str(p + 1) for p in self.positions]  # 1-based, as editors count
        return ", ".join(numbers[:-1]) + " and " + numbers[-1]


class RepeatTracker:
    """Feed it a file's rows (with their line numbers) after its header."""

    def __init__(self, path: str, header: Sequence[str]):
        self._path = path
        positions: Dict[str, List[int]] = {}
        for at, name in enumerate(header):
            positions.setdefault(name, []).append(at)
        self._positions = {n: tuple(p) for n, p in positions.items() if len(p) > 1}
        self._differs: Dict[str, Tuple[int, Tuple[str, ...]]] = {}

    def __bool__(self) -> bool:
        return bool(self._positions)

    def add(self, line: int, row: Sequence[str]) -> None:
        for name, positions in self._positions.items():
            if name in self._differs:
                continue
            cells = tuple(row[p] if p < len(row) else "" for p in positions)
            if any(cell != cells[0] for cell in cells[1:]):
                self._differs[name] = (line, cells)

    def repeated(self) -> List[Repeated]:
        found = []
        for name, positions in self._positions.items():
            line, cells = self._differs.get(name, (None, ()))
            found.append(Repeated(self._path, name, positions, line, cells))
        return found


def scan(path: str, open_text: Callable[[str], Iterable[str]] = None) -> List[Repeated]:
    """The repeated names of one CSV file. `open_text(path)`: a context manager
    over its text lines (default `open`; tf.io.gfile.GFile for object storage)."""
    opener = open_text or (lambda p: open(p, newline=""))
    with opener(path) as f:
        reader = csv.reader(f)
        header = next(reader, [])
        tracker = RepeatTracker(path, header)
        if tracker:
            for row in reader:
                if row:
                    tracker.add(reader.line_num, row)
    return tracker.repeated()


@dataclasses.dataclass
class Resolution:
    """What a run reads of the repeated names of its files."""
    dropped: List[str]  # left out of the examples (they differ; the run does not use them)
    warnings: List[str]


def resolve(repeated: Iterable[Repeated], used: Mapping[str, str],
            origin: str) -> Resolution:
    """Raises RepeatedColumnError for a differing name in `used` ({column: the
    config key that names it}); `origin`: the config file, for the message."""
    repeated = list(repeated)
    differing: Dict[str, Repeated] = {}
    for item in repeated:
        if item.differs_at is not None:
            differing.setdefault(item.name, item)
    for name, item in differing.items():
        if name in used:
            raise RepeatedColumnError(
                f"{item.path}: header name '{name}' appears more than once (columns "
                f"{item.columns}) and the columns differ from line {item.differs_at} "
                f"on ({' vs '.join(repr(c) for c in item.cells)}); the run uses "
                f"'{name}' ({used[name]} in {origin}): rename one of the columns")
    warnings = []
    by_file: Dict[str, List[Repeated]] = {}
    for item in repeated:
        by_file.setdefault(item.path, []).append(item)
    for path, items in by_file.items():
        same = [i.name for i in items if i.name not in differing]
        if same:
            warnings.append(
                f"CSV header: {path} repeats {', '.join(repr(n) for n in same)} with "
                "identical values in every row: each is read as one column")
        for item in items:
            if item.name in differing and item.differs_at is not None:
                warnings.append(
                    f"CSV header: {path} repeats '{item.name}' (columns {item.columns}) "
                    f"with different values (first at line {item.differs_at}); the run "
                    "does not use it, so every column of that name is left out of the "
                    "examples")
    return Resolution(dropped=sorted(differing), warnings=warnings)


def read_header(header: Sequence[str], dropped: Iterable[str] = ()) -> Dict[str, int]:
    """{name: the first column holding it} of the names a run reads: each repeated
    name once, the dropped ones not at all."""
    gone = set(dropped)
    columns: Dict[str, int] = {}
    for at, name in enumerate(header):
        if name not in gone:
            columns.setdefault(name, at)
    return columns
