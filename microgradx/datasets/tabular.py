"""A CSV file as examples: the target's labels (text, kept exactly) or numbers, and the features' kinds.

`read_csv` reads a file (`microgradx.datasets.csvread`), then decides what each column is: the
target (the last column unless named) holds class labels or numbers to regress on; a feature
column of numbers is a number, a column of text is a category (one-hot encoded when the model is
fitted, `microgradx.datasets.encoding`), and a column mixing numbers with a few words is an
error listing the words (declare it ``categorical`` to keep it). Missing values are an error
naming each cell, unless ``impute`` says how to fill them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Optional

import attrs
import numpy as np

from microgradx.datasets.csvcheck import Problems
from microgradx.datasets.csvfile import (
    MAX_INFERRED_CLASSES,
    TASK_WORDS,
    Columns,
    CSVError,
    PathLike,
    distinct,
    is_missing,
    is_number,
    missing_mask,
    names,
    number_mask,
    text_to_numbers,
)
from microgradx.datasets.csvread import read_columns, read_header
from microgradx.datasets.encoding import IMPUTE, ColumnsSource, encode, fit_inputs

#: How class labels are read: as text (each label exactly as written) or as numbers (equal numbers merge).
LABELS = ("text", "numeric")
_INTEGER = re.compile(r"^\s*[+-]?[0-9]+\s*$")


@attrs.frozen
class CSVData:
    """Examples read from a CSV file, before any split or scaling.

    ``columns``: the raw columns (`microgradx.datasets.csvfile.Columns`); ``feature_names``:
    every column but the target, in file order, and ``categorical`` the text ones among them;
    ``y``: encoded labels 0..k-1 (int64) for classification, the target (float64) for
    regression; ``classes``: the label of each code (the label's text, or a number with
    ``labels="numeric"``); ``fingerprint``: the file's size and SHA-256.
    """

    path: str
    feature_names: tuple
    target_name: str
    y: np.ndarray = attrs.field(repr=False)
    task: str
    classes: tuple = ()
    columns: Columns = attrs.field(default=None, repr=False)
    categorical: tuple = ()
    fingerprint: Optional[dict] = None

    @property
    def X(self) -> np.ndarray:
        """The features as float64 (categories one-hot encoded, with every row's categories; missing imputed)."""
        return features_matrix(self, np.arange(self.columns.n_rows), impute=None)[0]


def read_csv(path: PathLike, target: Optional[str] = None, task: Optional[str] = None,
             delimiter: Optional[str] = None, *, categorical: Sequence[str] = (), labels: str = "text",
             impute: Optional[str] = None, ignore: Sequence[str] = (), progress: Optional[bool] = None) -> CSVData:
    """Read a table of examples: every column but ``target`` (default: the last) is a feature.

    ``task``: ``"classification"`` (or ``"binary"``/``"multiclass"``), ``"regression"``, or None
    to infer it: a target with any label that is not a number, or whole numbers with at most
    `MAX_INFERRED_CLASSES` distinct values, is classification; other numbers are regression.
    ``categorical``: feature columns to read as categories even when they hold numbers.
    ``labels="numeric"`` reads class labels as numbers (``1`` and ``1.0`` are then one class);
    by default each label's text is its own class. ``impute`` (``"mean"``, ``"median"``,
    ``"most_frequent"``) allows missing feature values, filled when a model is fitted;
    without it a missing value is an error naming it. ``ignore``: columns left out (an ID, a
    note). ``progress``: a bar while reading (None: on a terminal, after a second).
    """
    if task is not None and task not in TASK_WORDS:
        raise ValueError(f"task must be one of {', '.join(TASK_WORDS)} (or None to infer it), got {task!r}")
    if labels not in LABELS:
        raise ValueError(f"labels must be 'text' or 'numeric', got {labels!r}")
    if impute is not None and impute not in IMPUTE:
        raise ValueError(f"impute must be one of {', '.join(IMPUTE)} or None, got {impute!r}")
    categorical = [categorical] if isinstance(categorical, str) else list(categorical)
    ignore = [ignore] if isinstance(ignore, str) else list(ignore)
    header, _ = read_header(path, delimiter)
    target_name = header[-1] if target is None else target
    for name in [target_name, *categorical, *ignore]:
        if name not in header:
            raise CSVError(path, f"no column named {name!r}; the columns are {names(header)}")
    if target_name in categorical or target_name in ignore:
        raise ValueError(f"column {target_name!r} is the target; categorical and ignore name feature columns")
    columns = read_columns(path, text=[target_name, *categorical], delimiter=delimiter, progress=progress,
                           skip=ignore)
    problems = Problems(columns.path, columns.columns, columns.header_row, columns.delimiter)
    features = tuple(n for n in columns.columns if n != target_name and n not in ignore)
    if not features:
        raise CSVError(path, "no feature columns are left: the file needs at least one besides the target")
    kinds = _feature_kinds(columns, features, set(categorical), problems)
    if impute is None:
        _refuse_missing(columns, features, kinds, problems)
    y, task, classes = _target(columns, target_name, task, labels, problems)
    problems.raise_if_any()
    return CSVData(path=columns.path, feature_names=features, target_name=target_name, y=y, task=task,
                   classes=classes, columns=columns, categorical=tuple(n for n in features if kinds[n] == "category"),
                   fingerprint=columns.fingerprint)


def _feature_kinds(columns: Columns, features: tuple, declared: set, problems: Problems) -> dict:
    """Each feature's kind; a text column of numbers (and missing cells) becomes numbers, in place."""
    kinds = {}
    for name in features:
        if name in columns.numbers:
            kinds[name] = "number"
            continue
        if name in declared:
            kinds[name] = "category"
            continue
        cells = columns.texts[name]
        missing, numeric = missing_mask(cells), number_mask(cells)
        if (missing | numeric).all():
            columns.numbers[name] = text_to_numbers(cells, missing)
            del columns.texts[name]
            columns.matrix = None  # the numbers are no longer one array in file order
            kinds[name] = "number"
        elif numeric.any():
            problems.add_mask(0, ~(missing | numeric), name, "{value!r} is not a number, but the column holds "
                              "numbers elsewhere", hint="to read such a column as categories, declare it "
                              "categorical (--categorical COLUMN)")
            kinds[name] = "number"
        else:
            kinds[name] = "category"
    return kinds


def _refuse_missing(columns: Columns, features: tuple, kinds: dict, problems: Problems) -> None:
    message, hint = "missing value {value!r}", "to fill missing values, pass --impute mean|median|most_frequent"
    if columns.matrix is not None and all(n in columns.numbers for n in features) and \
            bool(np.isfinite(columns.matrix).all()):
        return  # every number is there and finite: one pass over the reader's array, not one per column
    for name in features:
        if kinds[name] == "number" and name in columns.numbers:
            problems.add_mask(0, np.isnan(columns.numbers[name]), name, message, hint)
            problems.add_mask(0, np.isinf(columns.numbers[name]), name, "{value!r} is not a finite number")
        elif name in columns.texts:
            problems.add_mask(0, missing_mask(columns.texts[name]), name, message, hint)


def _target(columns: Columns, name: str, task: Optional[str], labels: str, problems: Problems) -> tuple:
    """``(y, task, classes)`` from the target column's text (checked value by distinct value, then by code)."""
    values, codes = distinct(columns.texts[name])
    missing_value = np.array([is_missing(t) for t in values], dtype=bool)
    number_value = np.array([is_number(t) for t in values], dtype=bool)
    missing, numeric = missing_value[codes], number_value[codes]
    problems.add_mask(0, missing, name, "missing value {value!r} (every row needs a target)")
    all_numbers = bool((number_value | missing_value).all())
    known = [t for t, m in zip(values, missing_value) if not m]
    if task is None:
        task = "classification"
        if all_numbers and known:
            numbers = np.array([float(t) for t in known])
            whole = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
            if not whole or len(np.unique(numbers)) > MAX_INFERRED_CLASSES:
                task = "regression"
    if task == "regression":
        problems.add_mask(0, ~(numeric | missing), name, "{value!r} is not a number")
        y = np.zeros(columns.n_rows)
        if all_numbers:
            y = np.array([float(t) if is_number(t) else np.nan for t in values])[codes]
            problems.add_mask(0, np.isinf(y), name, "{value!r} is not a finite number")
        return y, "regression", ()
    if problems:
        return np.zeros(columns.n_rows, dtype=np.int64), task, ()
    if labels == "numeric":
        problems.add_mask(0, ~numeric, name, "{value!r} is not a number (labels='numeric')")
        if problems:
            return np.zeros(columns.n_rows, dtype=np.int64), task, ()
        value_of = [int(t) if _INTEGER.match(t) else float(t) for t in values]
        classes = tuple(sorted(set(value_of)))
    elif all(number_value):
        classes = tuple(sorted(values, key=lambda t: (float(t), t)))  # 2 before 10; "1" and "1.0" both kept
        value_of = values
    else:
        classes = tuple(sorted(values))
        value_of = values
    code_of = {v: i for i, v in enumerate(classes)}
    y = np.array([code_of[v] for v in value_of], dtype=np.int64)[codes]
    if len(classes) < 2:
        raise CSVError(columns.path, f"the target column has one class only ({classes[0]!r}); a classifier needs "
                                     f"at least two", column=columns.column_number(name), name=name)
    kind = "binary" if len(classes) == 2 else "multiclass"
    if task in ("binary", "multiclass") and task != kind:
        raise CSVError(columns.path, f"task {task!r} asked for, but the target has {len(classes)} classes",
                       column=columns.column_number(name), name=name)
    return y, kind, classes


def features_matrix(data: CSVData, train_rows: np.ndarray, impute: Optional[str]) -> tuple[np.ndarray, tuple]:
    """``(X, inputs)``: every row's model inputs, with the `InputColumn` s fitted on ``train_rows``.

    Without categories or imputation, X is the reader's own array of numbers (no copy).
    """

    columns = data.columns
    inputs = fit_inputs(columns, data.feature_names, train_rows, impute=impute)
    plain = not data.categorical and impute is None and columns.matrix is not None
    if plain and columns.matrix.shape[1] == len(data.feature_names):
        return columns.matrix, inputs
    problems = Problems(columns.path, columns.columns, columns.header_row, columns.delimiter)
    unseen = tuple(attrs.evolve(c, unknown="ignore") if c.kind == "category" else c for c in inputs)
    X = encode(unseen, ColumnsSource(columns), problems)  # a test row's unseen category: no input set
    problems.raise_if_any()
    return X, inputs
