"""The fast path of the CSV reader: pyarrow's streaming reader, a progress bar, a SHA-256 on the way.

`read_columns` reads a whole file (the column kinds inferred unless given); `iter_columns` reads
a file of known column kinds in chunks (predictions over files larger than memory). pyarrow is
imported when a file is read, not before. The vocabulary (`Columns`, `CSVError`, what a number
is) is `microgradx.datasets.csvfile`; the row-by-row slow path for errors, `csvcheck`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.datasets.csvcheck import Problems, check_structure, header_of
from microgradx.datasets.csvfile import (
    NUMBER,
    Columns,
    CSVError,
    HeaderMismatch,
    PathLike,
    missing_array,
    names,
    null_words,
    to_numpy,
)
from microgradx.datasets.csvio import BLOCK as _BLOCK
from microgradx.datasets.csvio import Scan, Source, progress_bar

# -- reading ---------------------------------------------------------------------------------------


def default_delimiter(path: PathLike, delimiter: Optional[str]) -> str:
    """A tab for ``.tsv`` files, a comma otherwise, unless given; a `CSVError` for a bad one."""
    if delimiter is None:
        delimiter = "\t" if Path(path).suffix.lower() == ".tsv" else ","
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\r\n\"":
        raise CSVError(path, f"delimiter must be one character (not a quote or line break), got {delimiter!r}")
    return delimiter


def _skip_blank(row: Any) -> str:
    """A line of spaces is a blank line, not a ragged row."""
    return "skip" if row.text is not None and not row.text.strip() else "error"


def _options(delimiter: str, types: dict, block_size: int, include: Optional[list], newlines: bool = True) -> dict:
    """pyarrow's options: quoted line breaks allowed (unless ``newlines`` is False: a file without a quote
    has none, and pyarrow splits such a file among its threads faster), `MISSING` words as nulls in number
    columns, no booleans, dates or times guessed, text kept as it is."""
    import pyarrow.csv as pacsv

    return {"read_options": pacsv.ReadOptions(block_size=block_size, use_threads=True),
            "parse_options": pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=newlines,
                                                invalid_row_handler=_skip_blank),
            "convert_options": pacsv.ConvertOptions(column_types=types, null_values=null_words(),
                                                    strings_can_be_null=False, true_values=[], false_values=[],
                                                    timestamp_parsers=[], include_columns=include or [])}


def _open(path: Path, delimiter: str, types: dict, bar: Any, block_size: int,
          include: Optional[list] = None) -> tuple[Any, Source]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    source = Source(path, bar)
    try:
        reader = pacsv.open_csv(source, **_options(delimiter, types, block_size, include))
    except pa.ArrowInvalid as exc:  # pyarrow reads the first block when it opens
        source.close()
        match = _CONVERSION.search(str(exc))
        if match:
            raise _Retry(int(match.group(1))) from None  # a bad number: the caller knows the column
        raise _arrow_failure(path, delimiter, exc) from None
    except BaseException:
        source.close()
        raise
    return reader, source


def _close(reader: Any, source: Source) -> None:
    """Stop the reader (its threads read from the source), then close the file."""
    try:
        reader.close()
    finally:
        source.close()


def _arrow_failure(path: Path, delimiter: str, exc: Exception) -> CSVError:
    """A pyarrow error that is not a bad number: the row-by-row check names it; else pyarrow's words."""
    check_structure(path, delimiter)  # raises the precise CSVError (ragged row, bad quoting, not UTF-8 ...)
    return CSVError(path, f"cannot read as CSV: {' '.join(str(exc).split())[:300]}")


_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to (?:double|float)")


@attrs.define
class _Header:
    raw: tuple  # as pyarrow names them
    columns: tuple  # stripped: how microgradx names them
    row: int
    inferred: dict  # raw name -> pyarrow type of the first block


def read_header(path: PathLike, delimiter: Optional[str] = None) -> tuple[tuple, int]:
    """The column names of a CSV file and the header's row number; a `CSVError` for a bad header."""
    path = Path(path)
    return header_of(path, default_delimiter(path, delimiter))


def _header(path: Path, delimiter: str) -> _Header:
    import pyarrow as pa

    columns, row = read_header(path, delimiter)
    reader, source = _open(path, delimiter, {}, None, 1 << 20)
    try:
        schema = reader.schema
    except pa.ArrowInvalid as exc:
        raise _arrow_failure(path, delimiter, exc) from None
    finally:
        _close(reader, source)
    raw = tuple(schema.names)
    if len(raw) != len(columns):
        raise _arrow_failure(path, delimiter, ValueError(f"found {len(raw)} columns, expected {len(columns)}"))
    return _Header(raw, columns, row, {n: schema.field(n).type for n in raw})


def after_header(block: bytes, lines: int) -> int:
    """Where the data rows start in ``block`` (a file's first bytes): after the header's ``lines`` lines.

    0 where that is not certain (the lines do not all end in the block, or a bare ``\r`` ends a
    line): then quotes in the header count as quotes in the data, which only costs speed.
    """
    at = 0
    for _ in range(lines):
        at = block.find(b"\n", at) + 1
        if at == 0:
            return 0
    return 0 if b"\r" in block[:at].replace(b"\r\n", b"") else at


def _number_type(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_null(t)


def read_columns(path: PathLike, text: Any = (), delimiter: Optional[str] = None,
                 progress: Optional[bool] = None, required: Any = (), skip: Any = ()) -> Columns:
    """Every column of a CSV file, numbers as float64 and text as text.

    Columns named in ``text`` are read as text; any other column is numbers when every cell is a
    number or missing, text when none is a number, and an error listing the cells that are not
    numbers when some are (declare such a column text to keep it). ``required``: names that must
    be columns; ``skip``: columns not read at all. ``progress``: a bar on standard error (None:
    on a terminal, after a second).
    """
    import pyarrow as pa

    path = Path(path)
    delimiter = default_delimiter(path, delimiter)
    _check_file(path)
    head = _header(path, delimiter)
    stripped = dict(zip(head.raw, head.columns))
    for name in list(text) + list(required) + list(skip):
        if name not in head.columns:
            raise CSVError(path, f"no column named {name!r}; the columns are {names(head.columns)}")
    kinds = {}
    for raw, name in stripped.items():
        if name not in skip:
            kinds[raw] = "text" if name in text or not _number_type(head.inferred[raw]) else "number"
    with open(path, "rb") as f:
        first = f.read(_BLOCK)
    data_start = after_header(first, head.row)  # a quoted header (pyarrow and R write one) quotes no data
    newlines = b'"' in first[data_start:]  # a quote in the first block: quoted line breaks may follow
    bar = progress_bar(path, progress)
    scan = Scan(path, bar, data_start)
    scan.start()
    try:
        while True:
            try:
                columns = _read_all(path, delimiter, head, kinds, newlines)
            except _Retry as retry:  # a column that looked like numbers holds text further down
                kinds[head.raw[retry.index]] = "text"
                continue
            except pa.ArrowInvalid as exc:
                if not newlines and scan.result().quoted:
                    newlines = True
                    continue
                raise _arrow_failure(path, delimiter, exc) from None
            if not newlines and scan.result().quoted:  # read again, quoted line breaks allowed: never misread
                newlines = True
                continue
            columns.fingerprint = scan.result().fingerprint
            return columns
    finally:
        scan.stop()
        if bar is not None:
            bar.close()


class _Retry(Exception):
    """A number column (by position) holds a cell that is not a number."""

    def __init__(self, index: int):
        self.index = index


def _types(head: _Header, kinds: dict) -> dict:
    import pyarrow as pa

    return {raw: pa.float64() if kind == "number" else pa.string() for raw, kind in kinds.items()}


def _read_all(path: Path, delimiter: str, head: _Header, kinds: dict, newlines: bool) -> Columns:
    """The whole file in one call (pyarrow parses and converts blocks on every core), then the numbers
    copied into one (n, k) array column by column (column-major, so each copy is contiguous), each
    pyarrow column let go once copied."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(str(path), **_options(delimiter, _types(head, kinds), _BLOCK, list(kinds), newlines))
    except pa.ArrowInvalid as exc:
        match = _CONVERSION.search(str(exc))
        if match and int(match.group(1)) < len(head.raw):
            raise _Retry(int(match.group(1))) from None
        raise
    n = table.num_rows
    if n == 0:
        raise CSVError(path, "the file has a header row but no data rows")
    number_raw = [raw for raw in head.raw if kinds.get(raw) == "number"]
    X = np.empty((n, len(number_raw)), dtype=np.float64, order="F")  # a column is one contiguous copy
    for j, raw in enumerate(number_raw):
        column = table.column(raw)
        at = 0
        for chunk in column.chunks:
            X[at:at + len(chunk), j] = to_numpy(chunk, np.float64)
            at += len(chunk)
        table = table.drop_columns([raw])
    numbers = {head.columns[head.raw.index(raw)]: X[:, j] for j, raw in enumerate(number_raw)}
    text_columns = {stripped: table.column(raw) for raw, stripped in zip(head.raw, head.columns) if raw in
                    table.column_names}
    return Columns(path=str(path), columns=head.columns, n_rows=n, numbers=numbers, texts=text_columns,
                   header_row=head.row, delimiter=delimiter, matrix=X)


def _batches(reader: Any, head: _Header) -> Iterator[Any]:
    import pyarrow as pa

    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            match = _CONVERSION.search(str(exc))
            if match and int(match.group(1)) < len(head.raw):
                raise _Retry(int(match.group(1))) from None
            raise
        yield batch


def iter_columns(path: PathLike, kinds: dict, delimiter: Optional[str] = None, progress: Optional[bool] = None,
                 block_size: int = 8 << 20, allowed: Any = ()) -> Iterator[Columns]:
    """The rows of a CSV file in chunks (about ``block_size`` bytes each), with known column kinds.

    ``kinds``: column name -> ``"number"`` or ``"text"``; every one must be in the header, and
    any other column is an error unless named in ``allowed`` (read as text). A cell that is
    not a number in a number column is a `CSVError` (the file is read again to list up to
    `MAX_LISTED`); missing numbers are NaN.
    """
    import pyarrow as pa

    path = Path(path)
    delimiter = default_delimiter(path, delimiter)
    _check_file(path)
    head = _header(path, delimiter)
    missing = [n for n in kinds if n not in head.columns]
    extra = [n for n in head.columns if n not in kinds and n not in allowed]
    if missing or extra:
        raise HeaderMismatch(path, head.row, missing, extra)
    raw_kinds = {raw: kinds.get(name, "text") for raw, name in zip(head.raw, head.columns)}
    bar = progress_bar(path, progress)
    try:
        reader, source = _open(path, delimiter, _types(head, raw_kinds), bar, block_size)
    except _Retry as retry:
        if bar is not None:
            bar.close()
        raise _not_numbers(path, delimiter, head, head.columns[retry.index]) from None
    first = 0
    try:
        for batch in _batches(reader, head):
            m = batch.num_rows
            numbers = {name: to_numpy(batch.column(raw), np.float64)
                       for raw, name in zip(head.raw, head.columns) if raw_kinds[raw] == "number"}
            texts = {name: batch.column(raw) for raw, name in zip(head.raw, head.columns)
                     if raw_kinds[raw] == "text"}
            yield Columns(path=str(path), columns=head.columns, n_rows=m, numbers=numbers, texts=texts,
                          first_row=first, header_row=head.row, delimiter=delimiter)
            first += m
    except _Retry as retry:
        raise _not_numbers(path, delimiter, head, head.columns[retry.index]) from None
    except pa.ArrowInvalid as exc:
        raise _arrow_failure(path, delimiter, exc) from None
    finally:
        _close(reader, source)
        if bar is not None:
            bar.close()
    if first == 0:
        raise CSVError(path, "the file has a header row but no data rows")


def _not_numbers(path: Path, delimiter: str, head: _Header, name: str) -> CSVError:
    """The cells of column ``name`` that are not numbers (read again as text), as one `CSVError`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = head.raw[head.columns.index(name)]
    reader, source = _open(path, delimiter, _types(head, {raw: "text"}), None, 8 << 20, include=[raw])
    problems = Problems(path, head.columns, head.row, delimiter)
    first = 0
    try:
        for batch in reader:
            column = batch.column(raw)
            bad = pc.invert(pc.or_(pc.match_substring_regex(column, NUMBER), missing_array(column)))
            problems.add_mask(first, to_numpy(bad, bool), name, "{value!r} is not a number")
            first += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise _arrow_failure(path, delimiter, exc) from None
    finally:
        _close(reader, source)
    if not problems:
        return CSVError(path, "a number column could not be read as numbers", column=head.columns.index(name) + 1,
                        name=name)
    return problems.error()


def _check_file(path: Path) -> None:
    try:
        if path.is_dir():
            raise CSVError(path, "is a directory, not a CSV file")
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        raise CSVError(path, "no such file") from None
    except CSVError:
        raise
    except OSError as exc:
        raise CSVError(path, f"cannot read: {exc.strerror or exc}") from None
