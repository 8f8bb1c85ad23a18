"""Reading a table of examples from a CSV file: what the reader's parts share.

A file has a header row naming its columns, then one example per row. A column holds numbers
(what a CSV means by a number: ASCII digits, an optional sign, point and exponent; never
``1_000`` or other scripts' digits) or text (categories, class labels, IDs), each cell kept
exactly as written. Any problem is a `CSVError` naming the file, the row (counted as in the
file, the header being row 1), the column (counted from 1, with its name) and the value, for
up to `MAX_LISTED` bad cells: a missing or non-numeric value, a ragged row, an unknown column,
an empty file. Nothing else in microgradx needs to know how the file was read.

This module holds what the parts share: `CSVError`, what a number and a missing cell are,
`Columns` (rows read, column by column). `microgradx.datasets.csvread` reads with pyarrow
(imported only when a file is read), `microgradx.datasets.csvcheck` is the row-by-row slow path
that finds the line of a bad row, and `microgradx.datasets.tabular` turns a file into examples.
Why pyarrow: docs/design.md, "Reading CSV".
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import Any, Optional, Union

import attrs
import numpy as np

#: Cells that mean "no value here" (compared case-insensitively, after stripping spaces).
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
#: Integer targets with at most this many distinct values are taken as class labels.
MAX_INFERRED_CLASSES = 20
#: The words ``task=`` accepts: "classification" picks binary or multiclass from the labels.
TASK_WORDS = ("classification", "regression", "binary", "multiclass")
#: At most this many bad cells are listed in one error.
MAX_LISTED = 10
#: A number as a CSV writes one (ASCII only; surrounding spaces allowed), and inf/nan words.
NUMBER = r"^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$"
INFINITE = r"(?i)^\s*[+-]?(inf|infinity)\s*$"
_NUMBER = re.compile(NUMBER)

PathLike = Union[str, os.PathLike]


def null_words() -> list:
    """Every case spelling of the `MISSING` words: the cells pyarrow reads as null in a number column."""
    words = set()
    for word in MISSING:
        variants = {""}
        for ch in word:  # every upper/lower case spelling: "NA", "Na", "nA", "na"
            variants = {v + c for v in variants for c in {ch.lower(), ch.upper()}}
        words |= variants
    return sorted(words)


class CSVError(ValueError):
    """A problem with a CSV file, naming the file and, where it applies, the row and column.

    Attributes ``path``, ``row`` (as counted in the file, header = 1), ``column`` (from 1),
    ``name`` (the column's header) and ``problem`` of the first problem found; ``problems``
    lists every problem reported (up to `MAX_LISTED`) as ``(row, column, name, problem)``,
    ``count`` is how many were found in all, and ``hint`` what to do about them (or "").
    """

    def __init__(self, path: PathLike, problem: str, row: Optional[int] = None, column: Optional[int] = None,
                 name: Optional[str] = None, more: tuple = (), count: Optional[int] = None, hint: str = ""):
        self.path, self.problem, self.row, self.column, self.name = str(path), problem, row, column, name
        self.problems = [(row, column, name, problem), *more]
        self.count = len(self.problems) if count is None else count
        text = "; ".join(_where(*p) for p in self.problems)
        if self.count > len(self.problems):
            text += f" (and {self.count - len(self.problems)} more: {self.count} in all)"
        self.hint = hint
        super().__init__(f"{self.path}: {text}" + (f". {hint[:1].upper()}{hint[1:]}" if hint else ""))


def _where(row: Optional[int], column: Optional[int], name: Optional[str], problem: str) -> str:
    where = []
    if row is not None:
        where.append(f"row {row}")
    if column is not None:
        where.append(f"column {column}" + (f" ({name!r})" if name is not None else ""))
    return f"{', '.join(where) + ': ' if where else ''}{problem}"


def names(items: Any, limit: int = 8) -> str:
    """``'a', 'b', 'c'`` for messages; past ``limit`` names, the first ones and how many more."""
    items = list(items)
    shown = ", ".join(map(repr, items[:limit]))
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


def is_number(text: str) -> bool:
    """Whether ``text`` is a number as a CSV file writes one (see `NUMBER`); inf and nan are not."""
    return _NUMBER.match(text) is not None


def is_missing(text: str) -> bool:
    """Whether a cell's text means "no value here" (`MISSING`)."""
    return text.strip().lower() in MISSING


def fingerprint_of(path: PathLike) -> dict:
    """``{"size": bytes, "sha256": hex}`` of a file, read in blocks (what a model file records of its data)."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


# -- the result --------------------------------------------------------------------------------


@attrs.define(eq=False)
class Columns:
    """Some rows of a CSV file, column by column.

    ``numbers``: name -> float64 array (NaN where a cell is missing); ``texts``: name -> the
    cells' exact text (a pyarrow string array); ``first_row``: the index (from 0, among the
    data rows) of the first row here; ``fingerprint``: ``{"size", "sha256"}`` of the file, once
    it has been read to the end (`read_columns`).
    """

    path: str
    columns: tuple
    n_rows: int
    numbers: dict = attrs.Factory(dict)
    texts: dict = attrs.Factory(dict)
    first_row: int = 0
    header_row: int = 1
    delimiter: str = ","
    fingerprint: Optional[dict] = None
    #: the number columns as one (n, k) array in file order (`read_columns`; ``numbers`` are its columns)
    matrix: Optional[np.ndarray] = attrs.field(default=None, repr=False)

    def column_number(self, name: str) -> int:
        """The column's position in the file, counted from 1 (for messages)."""
        return self.columns.index(name) + 1

    def text_list(self, name: str) -> list:
        """A text column's cells as a list of str."""
        return self.texts[name].to_pylist()


# -- column helpers --------------------------------------------------------------------------------


def missing_array(column: Any) -> Any:
    """Which cells of a text column mean "no value" (`MISSING`), as a pyarrow boolean array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    return pc.is_in(lowered, value_set=pa.array(sorted(MISSING)))


def to_numpy(array: Any, dtype: Any) -> np.ndarray:
    """A pyarrow array (or chunked array) of numbers or booleans as numpy, nulls as NaN (floats) or False.

    Read from the array's buffers: pyarrow's own ``to_numpy`` imports pandas when it is installed
    (a quarter of a second), which a reader of numbers does not need.
    """
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        if array.num_chunks == 0:
            return np.empty(0, dtype=dtype)
        return np.concatenate([to_numpy(chunk, dtype) for chunk in array.chunks])
    n, offset = len(array), array.offset
    validity, data = array.buffers()[0], array.buffers()[1]
    if pa.types.is_boolean(array.type):
        values = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")[offset:offset + n]
        values = values.astype(bool)
    else:
        values = np.frombuffer(data, dtype=array.type.to_pandas_dtype(), count=n, offset=offset *
                               array.type.bit_width // 8).astype(dtype)
    if array.null_count and validity is not None:
        valid = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")[offset:offset + n]
        values = values.astype(dtype, copy=True)
        values[valid == 0] = np.nan if np.dtype(dtype).kind == "f" else 0
    return values


def distinct(column: Any) -> tuple[list, np.ndarray]:
    """``(values, codes)`` of a pyarrow text column: its distinct cells (in order of appearance) and each
    row's index among them. Checking the few distinct values of a label or category column, then indexing
    by the codes, is far cheaper than checking a million cells."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    encoded = pc.dictionary_encode(column)
    codes = to_numpy(encoded.indices, np.int64)
    return encoded.dictionary.to_pylist(), codes


def missing_mask(column: Any) -> np.ndarray:
    """`MISSING` cells of a pyarrow text column, as a numpy boolean array."""
    return to_numpy(missing_array(column), bool)


def number_mask(column: Any) -> np.ndarray:
    """Cells of a pyarrow text column that are numbers (`NUMBER`), as a numpy boolean array."""
    import pyarrow.compute as pc

    return to_numpy(pc.match_substring_regex(column, NUMBER), bool)


def text_to_numbers(column: Any, missing: np.ndarray) -> np.ndarray:
    """A pyarrow text column of numbers (and `MISSING` cells, given as a mask) as float64, NaN where missing."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = pc.if_else(pa.array(missing), pa.scalar("0"), pc.utf8_trim_whitespace(column))
    values = to_numpy(pc.cast(cells, pa.float64()), np.float64)
    values[missing] = np.nan
    return values


#: What a spreadsheet may run as a formula when a cell starts with it (OWASP's CSV-injection list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """A text cell as it is safe to write to a CSV file: ``'`` put before one that starts like a formula.

    OWASP's guidance on CSV injection: a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return gets a leading single quote, so a spreadsheet shows it as text instead of
    running it. A cell that is a plain number (``-1.5``) is left alone: a spreadsheet reads it as
    that number, never as a formula.
    """
    if text.startswith(FORMULA_START) and not _NUMBER.match(text):
        return "'" + text
    return text


def safe_texts(column: Any) -> Any:
    """`safe_text` on every cell of a pyarrow text column, vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    risky = pc.and_(pc.match_substring_regex(column, r"^[=+\-@\t\r]"),
                    pc.invert(pc.match_substring_regex(column, NUMBER)))
    quoted = pc.binary_join_element_wise(pa.scalar("'"), column, "")
    return pc.if_else(risky, quoted, column)


class HeaderMismatch(CSVError):
    """A header that lacks columns a model needs, or has columns it does not know."""

    def __init__(self, path: PathLike, row: int, missing: list, extra: list):
        self.missing, self.extra = missing, extra
        super().__init__(path, header_problems(missing, extra), row=row)


def header_problems(missing: list, extra: list) -> str:
    """What is wrong with a header, in words: the columns it lacks, and those no model feature is."""
    parts = []
    if missing:
        parts.append(f"no column {names(missing)}" if len(missing) == 1 else f"no columns {names(missing)}")
    if extra:
        parts.append(f"column {names(extra)} is not a feature of the model" if len(extra) == 1 else
                     f"columns {names(extra)} are not features of the model")
    return "; ".join(parts)
