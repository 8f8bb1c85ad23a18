"""From examples to a `Dataset`: a seeded held-out split, standardisation on the training split.

`split_dataset` is what every bundled loader does to its examples, and `from_csv` does the
same to a file's (`microgradx.datasets.tabular`), one-hot encoding its text columns with the
categories of the training split. scikit-learn (for the split) is imported only when called.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

from microgradx.datasets.core import Dataset
from microgradx.datasets.csvfile import CSVError
from microgradx.datasets.tabular import features_matrix, read_csv


def check_split_settings(name: str, seed: Any, test_size: Any, standardize: Any) -> None:
    """ValueError/TypeError naming the dataset and the setting, for a bad seed, test_size or standardize."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"dataset {name!r}: seed must be an int in [0, 2**32), got {seed!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0.0 < test_size < 1.0:
        raise ValueError(f"dataset {name!r}: test_size must be a fraction in (0, 1), got {test_size!r}")
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"dataset {name!r}: standardize must be True or False, got {standardize!r}")


def split_rows(name: str, y: np.ndarray, *, regression: bool, seed: int, test_size: float,
               classes: Any = ()) -> tuple[np.ndarray, np.ndarray]:
    """The training and test row indices: seeded, stratified for classification (scikit-learn's split)."""
    from sklearn.model_selection import train_test_split

    n_test = int(np.ceil(test_size * len(y)))
    if len(y) - n_test < 1 or n_test < 1:
        raise ValueError(f"dataset {name!r}: {len(y)} examples cannot be split into a training and a test part "
                         f"with test_size={test_size}")
    try:
        return train_test_split(np.arange(len(y)), test_size=test_size, random_state=seed,
                                stratify=None if regression else y)
    except ValueError as exc:  # a class with one example cannot be stratified
        counts = np.bincount(y) if not regression else []
        rare = [str(list(classes)[c]) if len(classes) else str(c) for c, k in enumerate(counts) if k < 2]
        detail = f" (class {', '.join(rare)} has a single example)" if rare else ""
        raise ValueError(f"dataset {name!r}: cannot make a stratified split{detail}: {exc}") from None


def split_dataset(name: str, X: Any, y: Any, *, task: str, seed: int = 0, test_size: float = 0.2,
                  standardize_: bool = True, feature_names: Any = (), classes: Any = (),
                  target_name: Optional[str] = None, source: Optional[str] = None, inputs: Sequence = (),
                  fingerprint: Optional[dict] = None, rows: Optional[tuple] = None) -> Dataset:
    """Split ``X, y`` (seeded; stratified for classification), standardise on the training split.

    ``task``: "binary", "multiclass" (``y`` holds codes 0..k-1 and ``classes`` their labels)
    or "regression" (``y`` holds numbers; with ``standardize_`` they are standardised too,
    and the `Dataset` remembers how, for `Dataset.inverse_target`). ``inputs``: the
    `microgradx.datasets.encoding.InputColumn` s that made X's columns (only its number
    columns are standardised; one-hot columns stay 0 and 1); ``rows``: the split's
    ``(train, test)`` row indices when already chosen.
    """
    X = np.asarray(X, dtype=np.float64)
    regression = task == "regression"
    y = np.asarray(y, dtype=np.float64) if regression else np.asarray(y).astype(np.int64)
    train, test = rows if rows is not None else split_rows(name, y, regression=regression, seed=seed,
                                                           test_size=test_size, classes=classes)
    X_train, X_test, y_train, y_test = X[train], X[test], y[train], y[test]  # copies: scaled in place below
    mean = scale = target_mean = target_scale = None
    if standardize_:
        numeric = np.ones(X.shape[1], dtype=bool)
        if inputs:
            numeric = np.concatenate([[c.kind == "number"] * c.width for c in inputs]).astype(bool)
        mean = np.where(numeric, X_train.mean(axis=0), 0.0)
        scale = np.where(numeric, X_train.std(axis=0), 1.0)
        scale[scale == 0.0] = 1.0
        for part in (X_train, X_test):
            part -= mean
            part /= scale
        if regression:
            target_mean, target_scale = float(y_train.mean()), float(y_train.std()) or 1.0
            y_train, y_test = (y_train - target_mean) / target_scale, (y_test - target_mean) / target_scale
    del X
    n_classes = None if regression else int(max(y.max() + 1, len(classes)))
    labels = tuple(classes) if not regression else ()
    for part in (X_train, X_test):
        part.flags.writeable = False  # the Dataset keeps these arrays as they are (no copy)
    return Dataset(name=name, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, task=task,
                   n_classes=n_classes, feature_names=[str(f) for f in feature_names],
                   class_names=[str(c) for c in labels], mean=mean, scale=scale, classes=labels,
                   target_name=target_name, target_mean=target_mean, target_scale=target_scale, source=source,
                   inputs=tuple(inputs), fingerprint=fingerprint)


def from_csv(path: Union[str, os.PathLike], target: Optional[str] = None, task: Optional[str] = None,
             seed: int = 0, test_size: float = 0.2, standardize: bool = True,
             delimiter: Optional[str] = None, categorical: Sequence[str] = (), labels: str = "text",
             impute: Optional[str] = None, ignore: Sequence[str] = (), progress: Optional[bool] = None) -> Dataset:
    """A `Dataset` from a CSV file: a header row, feature columns, the target last unless named.

    ``task`` is ``"classification"``, ``"regression"`` or None to infer it from the target;
    ``categorical``, ``labels``, ``impute``, ``ignore`` and ``progress`` are those of
    `microgradx.datasets.tabular.read_csv`. Text feature columns are one-hot encoded with the
    categories of the training split (a test row's unseen category sets none of its inputs).
    The split and the standardisation (of number columns) are the bundled datasets': seeded,
    stratified for classification, fitted on the training split. The `Dataset` records the
    file's fingerprint (size and SHA-256). Registered as the dataset ``"csv"``:
    ``load("csv", path="bc.csv")``, ``Trainer(dataset="csv:path=bc.csv")``, ``microgradx train
    --data bc.csv``. A problem with the file is a `CSVError` naming the file, row and column.
    """

    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"dataset 'csv': path must name a CSV file, got {path!r}")
    check_split_settings(str(path), seed, test_size, standardize)
    data = read_csv(path, target=target, task=task, delimiter=delimiter, categorical=categorical, labels=labels,
                    impute=impute, ignore=ignore, progress=progress)
    regression = data.task == "regression"
    try:
        rows = split_rows(str(path), data.y, regression=regression, seed=int(seed), test_size=float(test_size),
                          classes=data.classes)
    except ValueError as exc:
        raise CSVError(path, str(exc).split(": ", 1)[-1]) from None
    X, inputs = features_matrix(data, np.sort(rows[0]), impute)
    plain = not data.categorical and impute is None
    return split_dataset(str(path), X, data.y, task=data.task, seed=int(seed), test_size=float(test_size),
                         standardize_=bool(standardize), feature_names=data.feature_names, classes=data.classes,
                         target_name=data.target_name, source=str(path), inputs=() if plain else inputs,
                         fingerprint=data.fingerprint, rows=rows)
