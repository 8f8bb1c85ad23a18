"""Reading a table of examples from a CSV file: the standard library's `csv` module and numpy.

A file has a header row naming its columns, then one example per row. Every feature is a
number; the target (the last column unless named) holds class labels (strings or numbers)
or numbers to regress on. Any problem is a `CSVError` naming the file, the row (counted
as in the file, the header being row 1), the column (counted from 1, with its name) and
what is wrong: a missing or non-numeric value, a ragged row, an unknown column, an empty
file. Nothing else in microgradx needs to know how the file was read.

Why not pandas: see docs/design.md, "Reading CSV".
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any, Optional, Union

import attrs
import numpy as np

#: Cells that mean "no value here" (compared case-insensitively, after stripping spaces).
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
#: Integer targets with at most this many distinct values are taken as class labels.
MAX_INFERRED_CLASSES = 20
#: The words ``task=`` accepts: "classification" picks binary or multiclass from the labels.
TASK_WORDS = ("classification", "regression", "binary", "multiclass")

PathLike = Union[str, os.PathLike]


class CSVError(ValueError):
    """A problem with a CSV file, naming the file and, where it applies, the row and column.

    Attributes ``path``, ``row`` (as counted in the file, header = 1), ``column`` (from 1),
    ``name`` (the column's header) and ``problem``.
    """

    def __init__(self, path: PathLike, problem: str, row: Optional[int] = None, column: Optional[int] = None,
                 name: Optional[str] = None):
        self.path, self.problem, self.row, self.column, self.name = str(path), problem, row, column, name
        where = []
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column}" + (f" ({name!r})" if name is not None else ""))
        super().__init__(f"{self.path}: {', '.join(where) + ': ' if where else ''}{problem}")


@attrs.frozen
class Table:
    """A CSV file's cells as text: the header, the data rows, each row's number in the file, the header's."""

    path: str
    columns: tuple
    rows: list = attrs.field(repr=False)
    row_numbers: list = attrs.field(repr=False)
    header_row: int = 1

    def index(self, name: str) -> int:
        """The position (from 0) of the column named ``name``; a `CSVError` listing the columns if none."""
        try:
            return self.columns.index(name)
        except ValueError:
            raise CSVError(self.path, f"no column named {name!r}; the columns are {names(self.columns)}") from None

    def numbers(self, index: int) -> np.ndarray:
        """Column ``index`` as float64; a `CSVError` at the first missing, non-numeric or infinite cell."""
        out = np.empty(len(self.rows), dtype=np.float64)
        name = self.columns[index]
        for i, row in enumerate(self.rows):
            out[i] = _number(self, row[index], self.row_numbers[i], index, name)
        return out

    def texts(self, index: int) -> list:
        """Column ``index`` as stripped strings; a `CSVError` at the first missing cell."""
        name = self.columns[index]
        values = []
        for i, row in enumerate(self.rows):
            text = row[index].strip()
            if text.lower() in MISSING:
                raise CSVError(self.path, f"missing value {row[index]!r}", self.row_numbers[i], index + 1, name)
            values.append(text)
        return values


def names(items: Any, limit: int = 8) -> str:
    """``'a', 'b', 'c'`` for messages; past ``limit`` names, the first ones and how many more."""
    items = list(items)
    shown = ", ".join(map(repr, items[:limit]))
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def _number(table: Table, text: str, row: int, index: int, name: str) -> float:
    cell = text.strip()
    if cell.lower() in MISSING:
        raise CSVError(table.path, f"missing value {text!r} (every feature needs a number)", row, index + 1, name)
    try:
        value = float(cell)
    except ValueError:
        raise CSVError(table.path, f"{text!r} is not a number", row, index + 1, name) from None
    if not math.isfinite(value):
        raise CSVError(table.path, f"{text!r} is not a finite number", row, index + 1, name)
    return value


def read_table(path: PathLike, delimiter: Optional[str] = None) -> Table:
    """Read ``path`` (UTF-8, a header row first) into a `Table` of text cells.

    ``delimiter`` defaults to a tab for ``.tsv`` files and a comma otherwise. Blank lines
    are skipped. A missing or unreadable file, an empty file, a header with an empty or
    repeated name, a header without data rows and a row with more or fewer cells than the
    header are `CSVError` s.
    """
    path = Path(path)
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise CSVError(path, f"delimiter must be one character, got {delimiter!r}")
    try:
        f = open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CSVError(path, "no such file") from None
    except IsADirectoryError:
        raise CSVError(path, "is a directory, not a CSV file") from None
    except OSError as exc:
        raise CSVError(path, f"cannot read: {exc.strerror or exc}") from None
    rows, numbers = [], []
    try:
        with f:
            reader = csv.reader(f, delimiter=delimiter, strict=True)
            header, header_row = None, 1
            for record in reader:
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # a blank line
                if header is None:
                    header, header_row = _header(path, record, reader.line_num), reader.line_num
                    continue
                if len(record) < len(header):
                    raise CSVError(path, f"the row ends after {len(record)} cells, but the header names "
                                         f"{len(header)} columns", reader.line_num, len(record) + 1,
                                   header[len(record)])
                if len(record) > len(header):
                    raise CSVError(path, f"{len(record)} cells, but the header names only {len(header)} columns",
                                   reader.line_num, len(header) + 1)
                rows.append(record)
                numbers.append(reader.line_num)
    except UnicodeDecodeError as exc:
        raise CSVError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise CSVError(path, f"malformed CSV: {exc}", reader.line_num) from None
    if header is None:
        raise CSVError(path, "the file is empty; expected a header row naming the columns, then one row per example")
    if not rows:
        raise CSVError(path, "the file has a header row but no data rows")
    return Table(path=str(path), columns=header, rows=rows, row_numbers=numbers, header_row=header_row)


def _header(path: Path, record: list, row: int) -> tuple:
    names = tuple(cell.strip() for cell in record)
    seen: dict = {}
    for i, name in enumerate(names):
        if not name:
            raise CSVError(path, "the header gives this column no name", row, i + 1)
        if name in seen:
            raise CSVError(path, f"column name {name!r} repeats column {seen[name] + 1}", row, i + 1, name)
        seen[name] = i
    if len(names) < 2:
        raise CSVError(path, f"the header names {len(names)} column ({names[0]!r}); a table needs at least one "
                             f"feature column and a target column (is the delimiter right?)", row)
    return names


@attrs.frozen
class CSVData:
    """Examples read from a CSV file, before any split or scaling.

    ``X``: the raw features (float64, one row per example); ``y``: encoded labels 0..k-1
    (int64) for classification, the raw target (float64) for regression; ``classes``: the
    original label of each code (strings, or numbers when every label is a number).
    """

    path: str
    feature_names: tuple
    target_name: str
    X: np.ndarray = attrs.field(repr=False)
    y: np.ndarray = attrs.field(repr=False)
    task: str
    classes: tuple = ()


def read_csv(path: PathLike, target: Optional[str] = None, task: Optional[str] = None,
             delimiter: Optional[str] = None) -> CSVData:
    """Read a table of examples: every column but ``target`` (default: the last) is a numeric feature.

    ``task``: ``"classification"`` (or ``"binary"``/``"multiclass"``), ``"regression"``, or None
    to infer it: a target with any non-numeric label, or whole numbers with at most
    `MAX_INFERRED_CLASSES` distinct values, is classification; other numbers are regression.
    """
    if task is not None and task not in TASK_WORDS:
        raise ValueError(f"task must be one of {', '.join(TASK_WORDS)} (or None to infer it), got {task!r}")
    table = read_table(path, delimiter)
    t = len(table.columns) - 1 if target is None else table.index(target)
    target_name = table.columns[t]
    features = [i for i in range(len(table.columns)) if i != t]
    X = np.column_stack([table.numbers(i) for i in features])
    texts = table.texts(t)
    numeric = _as_numbers(texts)
    if task is None:
        whole = numeric is not None and bool(np.all(numeric == np.round(numeric)))
        distinct = len(set(texts)) if numeric is None else len(np.unique(numeric))
        task = "classification" if numeric is None or (whole and distinct <= MAX_INFERRED_CLASSES) else "regression"
    if task == "regression":
        if numeric is None:
            y = table.numbers(t)  # raises at the first label that is not a number, naming its row
        else:
            y = numeric
        return CSVData(str(table.path), tuple(table.columns[i] for i in features), target_name, X, y, "regression")
    classes, y = _encode(texts, numeric)
    if len(classes) < 2:
        raise CSVError(path, f"the target column has one class only ({classes[0]!r}); a classifier needs at "
                             f"least two", column=t + 1, name=target_name)
    kind = "binary" if len(classes) == 2 else "multiclass"
    if task in ("binary", "multiclass") and task != kind:
        raise CSVError(path, f"task {task!r} asked for, but the target has {len(classes)} classes",
                       column=t + 1, name=target_name)
    return CSVData(str(table.path), tuple(table.columns[i] for i in features), target_name, X, y, kind, classes)


def _as_numbers(texts: list) -> Optional[np.ndarray]:
    """The labels as floats when every one is a finite number, else None."""
    try:
        values = np.array([float(t) for t in texts], dtype=np.float64)
    except ValueError:
        return None
    return values if np.all(np.isfinite(values)) else None


def _encode(texts: list, numeric: Optional[np.ndarray]) -> tuple[tuple, np.ndarray]:
    """Sorted class labels (ints or floats when numeric, else strings) and each row's code."""
    if numeric is None:
        classes, codes = np.unique(np.array(texts, dtype=object).astype(str), return_inverse=True)
        return tuple(str(c) for c in classes), codes.astype(np.int64)
    classes, codes = np.unique(numeric, return_inverse=True)
    whole = bool(np.all(classes == np.round(classes)))
    return tuple(int(c) if whole else float(c) for c in classes), codes.astype(np.int64)


def read_features(path: PathLike, feature_names: Any, target: Optional[str] = None,
                  delimiter: Optional[str] = None) -> tuple[np.ndarray, Optional[list], Table]:
    """The columns ``feature_names`` of a CSV file as a float64 matrix, in that order.

    The header must name every feature (in any order); the column ``target``, if present, is
    returned as text (else None) for scoring; any other column is an error, as is a missing
    feature: both are named. Returns ``(X, target_texts, table)``.
    """
    table = read_table(path, delimiter)
    wanted = list(feature_names)
    missing = [n for n in wanted if n not in table.columns]
    extra = [n for n in table.columns if n not in wanted and n != target]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no column {names(missing)}" if len(missing) == 1 else f"no columns {names(missing)}")
        if extra:
            parts.append(f"column {names(extra)} is not a feature of the model" if len(extra) == 1 else
                         f"columns {names(extra)} are not features of the model")
        also = f", and optionally the target {target!r}" if target else ""
        raise CSVError(path, f"the header does not match the model's {len(wanted)} features: {'; '.join(parts)} "
                             f"(the model takes {names(wanted, 4)}{also})", row=table.header_row)
    X = np.column_stack([table.numbers(table.columns.index(n)) for n in wanted])
    texts = table.texts(table.columns.index(target)) if target is not None and target in table.columns else None
    return X, texts, table
