"""The CSV reader's slow path: the standard library's `csv` module, row by row, where a row's number matters.

pyarrow reads the data (`microgradx.datasets.csvfile`); it does not say on which line of the
file a row is. These functions do, reading the file again only when there is something to
report: `header_of` (the header and its row), `check_structure` (a ragged row, bad quoting, a
byte that is not UTF-8) and `locate_rows` (the line of each data row named in an error, and
its cells). Blank lines, and lines of spaces only, are skipped, as the fast path skips them.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from microgradx.datasets.csvfile import MAX_LISTED, CSVError, PathLike

csv.field_size_limit(1 << 30)  # a cell may be long; pyarrow reads it, so must the check


def _records(f: Any, delimiter: str) -> Any:
    reader = csv.reader(f, delimiter=delimiter, strict=True)
    for record in reader:
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line
        yield reader.line_num, record


def _open_text(path: Path) -> Any:
    try:
        return open(path, encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise CSVError(path, "no such file") from None
    except IsADirectoryError:
        raise CSVError(path, "is a directory, not a CSV file") from None
    except OSError as exc:
        raise CSVError(path, f"cannot read: {exc.strerror or exc}") from None


def header_of(path: Path, delimiter: str) -> tuple[tuple, int]:
    """The stripped column names and the header's row; a `CSVError` for an empty file or a bad header."""
    with _open_text(path) as f:
        try:
            for line, record in _records(f, delimiter):
                return _check_header(path, record, line), line
        except UnicodeDecodeError as exc:
            raise CSVError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise CSVError(path, f"malformed CSV: {exc}", 1) from None
    raise CSVError(path, "the file is empty; expected a header row naming the columns, then one row per example")


def _check_header(path: Path, record: list, row: int) -> tuple:
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


def check_structure(path: Path, delimiter: str) -> None:
    """Read the whole file row by row; raise a `CSVError` for up to `MAX_LISTED` ragged rows, or the first
    quoting or encoding error, naming its row. Returns quietly when the file is sound."""
    problems: list = []
    count = 0
    header: tuple = ()
    line = 0
    with _open_text(path) as f:
        try:
            for line, record in _records(f, delimiter):
                if not header:
                    header = _check_header(path, record, line)
                    continue
                if len(record) == len(header):
                    continue
                count += 1
                if len(problems) < MAX_LISTED:
                    if len(record) < len(header):
                        problems.append((line, len(record) + 1, header[len(record)],
                                         f"the row ends after {len(record)} cells, but the header names "
                                         f"{len(header)} columns"))
                    else:
                        problems.append((line, len(header) + 1, None,
                                         f"{len(record)} cells, but the header names only {len(header)} columns"))
        except UnicodeDecodeError as exc:
            raise CSVError(path, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except csv.Error as exc:
            raise CSVError(path, f"malformed CSV: {exc}", line + 1) from None
    if problems:
        (row, column, name, problem), *more = problems
        raise CSVError(path, problem, row, column, name, more=tuple(more), count=count)


def locate_rows(path: Any, delimiter: str, rows: set) -> dict:
    """``{data row index: (line in the file, cells)}`` for the data rows (counted from 0) in ``rows``."""
    found: dict = {}
    if not rows:
        return found
    last = max(rows)
    index = -1
    with _open_text(Path(path)) as f:
        try:
            for line, record in _records(f, delimiter):
                if index >= 0 and index in rows:
                    found[index] = (line, record)
                index += 1  # the header is index -1
                if index > last:
                    break
            else:
                return found
        except (UnicodeDecodeError, csv.Error):
            return found
    return found


class Problems:
    """Bad cells found while reading (the first `MAX_LISTED` kept), reported together as one `CSVError`.

    A problem is ``(row index among the data rows, column name, message)``; the message may hold
    ``{value!r}``, filled with the cell's text once the row is found in the file.
    """

    def __init__(self, path: PathLike, columns: tuple, header_row: int, delimiter: str):
        self.path, self.columns, self.header_row, self.delimiter = str(path), columns, header_row, delimiter
        self.found: list = []
        self.hints: dict = {}
        self.count = 0

    def add(self, row: int, name: str, message: str, hint: str = "") -> None:
        """Note a bad cell: data row ``row`` (from 0), column ``name``; ``hint``: what to do (said once)."""
        self.count += 1
        if hint:
            self.hints[hint] = None
        if len(self.found) < MAX_LISTED:
            self.found.append((int(row), name, message))

    def add_mask(self, first_row: int, bad: np.ndarray, name: str, message: str, hint: str = "") -> None:
        """Note every cell of column ``name`` where ``bad`` (one flag per row, from ``first_row``) is set."""
        where = np.flatnonzero(bad)
        if hint and len(where):
            self.hints[hint] = None
        for i in where[: max(0, MAX_LISTED - len(self.found))]:
            self.found.append((first_row + int(i), name, message))
        self.count += len(where)

    def __bool__(self) -> bool:
        return self.count > 0

    def error(self) -> CSVError:
        """The `CSVError` listing the problems, rows as counted in the file (the file is read again to find them)."""
        found = sorted(self.found, key=lambda p: (p[0], self.columns.index(p[1])))
        located = locate_rows(self.path, self.delimiter, {row for row, _, _ in found})
        listed = []
        for row, name, message in found:
            line, record = located.get(row, (None, None))
            column = self.columns.index(name)
            value = record[column] if record is not None and column < len(record) else "?"
            listed.append((line, column + 1, name, message.format(value=value)))
        first, *more = listed
        return CSVError(self.path, first[3], first[0], first[1], first[2], more=tuple(more), count=self.count,
                        hint="; ".join(self.hints))

    def raise_if_any(self) -> None:
        """Raise `error` if any problem was noted."""
        if self.count:
            raise self.error()
