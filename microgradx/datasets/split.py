"""From examples to a `Dataset`: a seeded held-out split, standardisation on the training split.

`split_dataset` is what every bundled loader does to its examples, and `from_csv` does the
same to a file's (`microgradx.datasets.csvfile`). scikit-learn (for the split) is imported
only when called.
"""

from __future__ import annotations

import numbers
import os
from typing import Any, Optional, Union

import numpy as np

from microgradx.datasets.core import Dataset, standardize
from microgradx.datasets.csvfile import CSVError, read_csv


def check_split_settings(name: str, seed: Any, test_size: Any, standardize: Any) -> None:
    """ValueError/TypeError naming the dataset and the setting, for a bad seed, test_size or standardize."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"dataset {name!r}: seed must be an int in [0, 2**32), got {seed!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) or not 0.0 < test_size < 1.0:
        raise ValueError(f"dataset {name!r}: test_size must be a fraction in (0, 1), got {test_size!r}")
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"dataset {name!r}: standardize must be True or False, got {standardize!r}")


def split_dataset(name: str, X: Any, y: Any, *, task: str, seed: int = 0, test_size: float = 0.2,
                  standardize_: bool = True, feature_names: Any = (), classes: Any = (),
                  target_name: Optional[str] = None, source: Optional[str] = None) -> Dataset:
    """Split ``X, y`` (seeded; stratified for classification), standardise on the training split.

    ``task``: "binary", "multiclass" (``y`` holds codes 0..k-1 and ``classes`` their labels)
    or "regression" (``y`` holds numbers; with ``standardize_`` they are standardised too,
    and the `Dataset` remembers how, for `Dataset.inverse_target`).
    """
    from sklearn.model_selection import train_test_split

    X = np.asarray(X, dtype=np.float64)
    regression = task == "regression"
    y = np.asarray(y, dtype=np.float64) if regression else np.asarray(y).astype(np.int64)
    n_test = int(np.ceil(test_size * len(y)))
    if len(y) - n_test < 1 or n_test < 1:
        raise ValueError(f"dataset {name!r}: {len(y)} examples cannot be split into a training and a test part "
                         f"with test_size={test_size}")
    try:
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=seed,
                                                            stratify=None if regression else y)
    except ValueError as exc:  # a class with one example cannot be stratified
        counts = np.bincount(y) if not regression else []
        rare = [str(list(classes)[c]) if len(classes) else str(c) for c, k in enumerate(counts) if k < 2]
        detail = f" (class {', '.join(rare)} has a single example)" if rare else ""
        raise ValueError(f"dataset {name!r}: cannot make a stratified split{detail}: {exc}") from None
    mean = scale = target_mean = target_scale = None
    if standardize_:
        X_train, X_test, mean, scale = standardize(X_train, X_test)
        if regression:
            target_mean, target_scale = float(y_train.mean()), float(y_train.std()) or 1.0
            y_train, y_test = (y_train - target_mean) / target_scale, (y_test - target_mean) / target_scale
    n_classes = None if regression else int(max(y.max() + 1, len(classes)))
    labels = tuple(classes) if not regression else ()
    return Dataset(name=name, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test, task=task,
                   n_classes=n_classes, feature_names=[str(f) for f in feature_names],
                   class_names=[str(c) for c in labels], mean=mean, scale=scale, classes=labels,
                   target_name=target_name, target_mean=target_mean, target_scale=target_scale, source=source)


def from_csv(path: Union[str, os.PathLike], target: Optional[str] = None, task: Optional[str] = None,
             seed: int = 0, test_size: float = 0.2, standardize: bool = True,
             delimiter: Optional[str] = None) -> Dataset:
    """A `Dataset` from a CSV file: a header row, numeric features, the target last unless named.

    ``task`` is ``"classification"``, ``"regression"`` or None to infer it from the target
    (see `microgradx.datasets.csvfile.read_csv`). The split and the standardisation are the
    bundled datasets': seeded, stratified for classification, fitted on the training split.
    Registered as the dataset ``"csv"``: ``load("csv", path="bc.csv")``,
    ``Trainer(dataset="csv:path=bc.csv")``, ``microgradx train --data bc.csv``. A problem
    with the file is a `CSVError` naming the file, row and column.
    """
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"dataset 'csv': path must name a CSV file, got {path!r}")
    check_split_settings(str(path), seed, test_size, standardize)
    data = read_csv(path, target=target, task=task, delimiter=delimiter)
    try:
        return split_dataset(str(path), data.X, data.y, task=data.task, seed=int(seed), test_size=float(test_size),
                             standardize_=bool(standardize), feature_names=data.feature_names, classes=data.classes,
                             target_name=data.target_name, source=str(path))
    except ValueError as exc:
        raise CSVError(path, str(exc).split(": ", 1)[-1]) from None
