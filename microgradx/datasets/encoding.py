"""From raw columns to a model's inputs: numbers (imputed where asked) and one-hot encoded categories.

An `InputColumn` says what one raw column becomes: a number (one input; a missing cell takes
``impute`` or is an error) or a category (one input per category, 1 for the row's category and 0
elsewhere; ``drop`` names a category without an input, as scikit-learn's
``OneHotEncoder(drop=...)``; an unseen category is an error, or all zeros with
``unknown="ignore"``). `fit_inputs` learns them from the training rows of a CSV file, `encode`
applies them to any rows: a CSV file's (`microgradx.datasets.csvfile.Columns`) or arrays by
column name (a DataFrame's). A model file stores them in its schema.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Optional

import attrs
import numpy as np
from attrs.validators import in_

from microgradx.datasets.csvcheck import Problems
from microgradx.datasets.csvfile import CSVError, missing_mask, names, to_numpy
from microgradx.validators import must_be

KINDS = ("number", "category")
UNKNOWN = ("error", "ignore")
IMPUTE = ("mean", "median", "most_frequent")
#: A text column with more distinct values than this in the training rows is refused (an identifier?).
MAX_CATEGORIES = 1000


@attrs.frozen
class InputColumn:
    """What the raw column ``name`` becomes in the model's input (see the module docstring)."""

    name: str
    kind: str = attrs.field(default="number", validator=must_be(f"one of {', '.join(KINDS)}", in_(KINDS)))
    impute: Any = None
    categories: tuple = attrs.field(default=(), converter=tuple)
    drop: Optional[int] = None
    unknown: str = attrs.field(default="error", validator=must_be(f"one of {', '.join(UNKNOWN)}", in_(UNKNOWN)))

    @property
    def width(self) -> int:
        """How many model inputs it makes."""
        if self.kind == "number":
            return 1
        return len(self.categories) - (self.drop is not None)

    @property
    def text(self) -> bool:
        """Whether the raw column holds text (a category column whose categories are strings)."""
        return self.kind == "category" and all(isinstance(c, str) for c in self.categories)

    def output_names(self) -> list:
        """A name for each input it makes: the column's, or ``column=category``."""
        if self.kind == "number":
            return [self.name]
        return [f"{self.name}={c}" for i, c in enumerate(self.categories) if i != self.drop]

    def as_dict(self) -> dict:
        """Plain JSON data (an entry of a model file's ``schema["inputs"]``); defaults left out."""
        d: dict = {"column": self.name, "kind": self.kind}
        if self.impute is not None:
            d["impute"] = _plain(self.impute)
        if self.kind == "category":
            d["categories"] = [_plain(c) for c in self.categories]
            if self.drop is not None:
                d["drop"] = self.drop
            if self.unknown != "error":
                d["unknown"] = self.unknown
        return d


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return x  # a float stays a float: 1.0 is written 1.0
    return x


def total_width(inputs: Sequence[InputColumn]) -> int:
    """The number of model inputs ``inputs`` make."""
    return sum(c.width for c in inputs)


def raw_columns(inputs: Sequence[InputColumn]) -> list:
    """The raw columns ``inputs`` read, each once, in the order first used."""
    return list(dict.fromkeys(c.name for c in inputs))


# -- fitting on a CSV file's training rows ----------------------------------------------------------


def fit_inputs(columns: Any, features: Sequence[str], rows: np.ndarray, impute: Optional[str] = None) -> tuple:
    """The `InputColumn` of each feature, learned on the training ``rows`` of ``columns`` (a CSV file's).

    A number column's ``impute`` (with ``impute``) is the mean, median or most frequent value of
    its training rows; a text column's categories are its distinct training values, sorted, and
    its ``impute`` the most frequent one.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if impute is not None and impute not in IMPUTE:
        raise ValueError(f"impute must be one of {', '.join(IMPUTE)} or None, got {impute!r}")
    out = []
    take = None
    for name in features:
        if name in columns.numbers:
            fill = None
            if impute is not None:
                values = columns.numbers[name][rows]
                values = values[~np.isnan(values)]
                if not len(values):
                    raise CSVError(columns.path, "every training row misses this value: nothing to impute from",
                                   column=columns.column_number(name), name=name)
                fill = float({"mean": np.mean, "median": np.median}.get(impute, _mode)(values))
            out.append(InputColumn(name, "number", impute=fill))
            continue
        take = pa.array(rows) if take is None else take
        cells = pc.take(columns.texts[name], take)
        cells = pc.filter(cells, pa.array(~missing_mask(cells)))
        counts = pc.value_counts(cells).to_pylist()
        if len(counts) > MAX_CATEGORIES or (len(counts) > 20 and len(counts) > len(cells) / 2):
            raise CSVError(columns.path, f"{len(counts)} distinct values in {len(cells)} training rows: an "
                                         f"identifier or free text rather than categories? Leave it out (--ignore "
                                         f"{name})", column=columns.column_number(name), name=name)
        if not counts:
            raise CSVError(columns.path, "every training row misses this value", column=columns.column_number(name),
                           name=name)
        categories = sorted(c["values"] for c in counts)
        fill = None
        if impute is not None:  # the most frequent category (the first in sorted order on a tie)
            fill = min(counts, key=lambda c: (-c["counts"], c["values"]))["values"]
        out.append(InputColumn(name, "category", impute=fill, categories=tuple(categories)))
    return tuple(out)


def _mode(values: np.ndarray) -> float:
    unique, counts = np.unique(values, return_counts=True)
    return float(unique[np.argmax(counts)])  # the smallest of the most frequent, as scikit-learn's imputer


# -- encoding any rows ---------------------------------------------------------------------------------


class EncodingError(ValueError):
    """Rows that cannot be encoded (missing or unknown values), as ``problems``: ``(row, column, value, message)``."""

    def __init__(self, problems: list, count: int, hint: str = ""):
        self.problems, self.count = problems, count
        shown = "; ".join(f"row {r}, column {c!r}: {m.format(value=v)}" for r, c, v, m in problems)
        more = f" (and {count - len(problems)} more)" if count > len(problems) else ""
        super().__init__(shown + more + (f". {hint[:1].upper()}{hint[1:]}" if hint else ""))


class ArrayProblems:
    """Bad cells of arrays by column name (a DataFrame's); rows counted from 0 as the array's."""

    def __init__(self, source: Any):
        self.source, self.found, self.count, self.hints = source, [], 0, {}

    def add_mask(self, first_row: int, bad: np.ndarray, name: str, message: str, hint: str = "") -> None:
        """Note every cell of column ``name`` flagged in ``bad``; ``hint``: what to do (said once)."""
        where = np.flatnonzero(bad)
        if hint and len(where):
            self.hints[hint] = None
        for i in where[: max(0, 10 - len(self.found))]:
            self.found.append((first_row + int(i), name, self.source.value(name, int(i)), message))
        self.count += len(where)

    def raise_if_any(self) -> None:
        """Raise `EncodingError` if any problem was noted."""
        if self.count:
            raise EncodingError(self.found, self.count, "; ".join(self.hints))


MISSING_MESSAGE = "missing value {value!r}"
MISSING_HINT = "the model was trained without imputation (--impute when training fills missing values)"


def encode(inputs: Sequence[InputColumn], source: Any, problems: Any, first_row: int = 0,
           handle_unknown: Optional[str] = None) -> np.ndarray:
    """The model inputs of every row of ``source``: an (n, `total_width`) float64 array.

    ``source`` gives a column's numbers (``numbers(name)``, NaN where missing) and its category
    codes (``codes(name, categories)``: the category's index, -1 for an unknown value, and a mask
    of missing cells). Missing values without an ``impute`` and unknown categories (unless
    ``handle_unknown`` or the column says ``"ignore"``) are noted in ``problems`` (rows from
    ``first_row``); the caller raises them.
    """
    n = source.n_rows
    X = np.zeros((n, total_width(inputs)), dtype=np.float64)
    at = 0
    for col in inputs:
        if col.kind == "number":
            values = source.numbers(col.name)
            missing = np.isnan(values)
            if missing.any():
                if col.impute is None:
                    problems.add_mask(first_row, missing, col.name, MISSING_MESSAGE, MISSING_HINT)
                else:
                    values = np.where(missing, float(col.impute), values)
            infinite = np.isinf(values)
            if infinite.any():
                problems.add_mask(first_row, infinite, col.name, "{value!r} is not a finite number")
            X[:, at] = values
            at += 1
            continue
        codes, missing = source.codes(col.name, col.categories)
        missing &= codes < 0
        if missing.any():
            if col.impute is None:
                problems.add_mask(first_row, missing, col.name, MISSING_MESSAGE, MISSING_HINT)
            else:
                codes = np.where(missing, col.categories.index(col.impute), codes)
        unknown = (codes < 0) & ~missing
        if unknown.any() and (handle_unknown or col.unknown) != "ignore":
            known = names(col.categories, 5).replace("{", "{{").replace("}", "}}")  # the message is a format string
            problems.add_mask(first_row, unknown, col.name, "{value!r} is not one of the categories the model was "
                              f"trained on ({known})",
                              "--handle-unknown ignore (handle_unknown='ignore') encodes an unknown category as "
                              "none of them")
        keep = codes >= 0
        if col.drop is not None:
            keep &= codes != col.drop
        position = codes - (codes > col.drop) if col.drop is not None else codes
        rows = np.flatnonzero(keep)
        X[rows, at + position[rows]] = 1.0
        at += col.width
    return X


class ColumnsSource:
    """A CSV file's rows (`microgradx.datasets.csvfile.Columns`) as `encode` reads them.

    Its ``problems`` report bad cells with the file's row numbers; ``handle_unknown`` (``"error"``,
    ``"ignore"`` or None: each column's own setting) decides what an unseen category does.
    """

    def __init__(self, columns: Any, handle_unknown: Optional[str] = None):
        if handle_unknown is not None and handle_unknown not in UNKNOWN:
            raise ValueError(f"handle_unknown must be 'error' or 'ignore', got {handle_unknown!r}")
        self.columns, self.n_rows, self.first_row = columns, columns.n_rows, columns.first_row
        self.handle_unknown = handle_unknown
        self.problems = Problems(columns.path, columns.columns, columns.header_row, columns.delimiter)

    def numbers(self, name: str) -> np.ndarray:
        """The column as float64, NaN where missing."""
        return self.columns.numbers[name]

    def codes(self, name: str, categories: tuple) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's index among ``categories`` (-1 if none), and which cells are missing."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if name in self.columns.numbers:  # numeric categories (saved from scikit-learn), read as numbers
            values = self.columns.numbers[name]
            return number_codes(values, categories), np.isnan(values)
        cells = self.columns.texts[name]
        if all(isinstance(c, str) for c in categories):
            found = pc.index_in(cells, value_set=pa.array(list(categories), type=pa.string()))
            codes = to_numpy(found, np.float64)
            return np.nan_to_num(codes, nan=-1).astype(np.int64), missing_mask(cells)
        raise TypeError(f"column {name!r}: categories that are not all strings need a number column")


def number_codes(values: np.ndarray, categories: Sequence[Any]) -> np.ndarray:
    """Each value's index among numeric ``categories`` (-1 where none equals it)."""
    cats = np.asarray([float(c) for c in categories], dtype=np.float64)
    order = np.argsort(cats, kind="stable")
    ordered = cats[order]
    pos = np.clip(np.searchsorted(ordered, values), 0, len(ordered) - 1)
    hit = ordered[pos] == values
    return np.where(hit, order[pos], -1).astype(np.int64)


def columns_by_name(frame: Any, features: Sequence[str], target: Optional[str], where: str) -> ArraySource:
    """A DataFrame's columns matched by name to ``features`` (in any order; ``target``'s may be there too).

    A missing feature, an unknown column or a repeated name is a ValueError naming them.
    """
    given = [str(c) for c in frame.columns]
    wanted = list(features)
    if not wanted:
        raise ValueError(f"{where}: the model file names no features, so a DataFrame's columns cannot be matched; "
                         f"pass an array in the model's feature order")
    missing = [n for n in wanted if n not in given]
    unknown = [n for n in given if n not in wanted and n != target]
    if missing or unknown or len(set(given)) != len(given):
        parts = [f"no column {names(missing)}"] if missing else []
        parts += [f"unknown column {names(unknown)}"] if unknown else []
        parts += ["a column name repeats"] if len(set(given)) != len(given) else []
        raise ValueError(f"{where}: the DataFrame's columns do not match the model's features: {'; '.join(parts)} "
                         f"(the model takes {names(wanted, 6)})")
    by_name = dict(zip(given, frame.columns))
    return ArraySource({n: np.asarray(frame[by_name[n]]) for n in wanted}, len(frame))


class ArraySource:
    """Columns by name (a DataFrame, or a mapping of arrays) as `encode` reads them."""

    def __init__(self, columns: dict, n_rows: int):
        self.columns, self.n_rows = columns, n_rows

    def value(self, name: str, row: int) -> Any:
        """The cell in ``row`` of column ``name`` (for messages)."""
        value = self.columns[name][row]
        return value.item() if isinstance(value, np.generic) else value

    def numbers(self, name: str) -> np.ndarray:
        """The column as float64 (NaN where missing); a ValueError naming a cell that is not a number."""
        values = np.asarray(self.columns[name])
        if values.dtype.kind in "fiub":
            return values.astype(np.float64)
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            if _is_missing(v):
                out[i] = np.nan
            elif isinstance(v, numbers.Real) and not isinstance(v, bool):
                out[i] = float(v)
            else:
                raise ValueError(f"row {i}, column {name!r}: {v!r} is not a number")
        return out

    def codes(self, name: str, categories: tuple) -> tuple[np.ndarray, np.ndarray]:
        """Each cell's index among ``categories`` (-1 if none), and which cells are missing."""
        values = np.asarray(self.columns[name])
        if values.dtype.kind in "fiu" and not any(isinstance(c, str) for c in categories):
            floats = values.astype(np.float64)
            return number_codes(floats, categories), np.isnan(floats)
        index = {_key(c): i for i, c in enumerate(categories)}
        codes = np.fromiter((index.get(_key(v), -1) for v in values), dtype=np.int64, count=len(values))
        missing = np.fromiter((_is_missing(v) for v in values), dtype=bool, count=len(values))
        return codes, missing


def _key(v: Any) -> Any:
    """Categories compare as scikit-learn's do: a numpy scalar as its Python value; 1 and 1.0 alike."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return v
    return float(v)


def _is_missing(v: Any) -> bool:
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return True
    try:
        return bool(v != v)  # NaN, and pandas' NA and NaT
    except (TypeError, ValueError):
        return False
