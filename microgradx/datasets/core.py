"""The `Dataset` record every dataset loader returns, `standardize`, and `load` by registered name."""

from __future__ import annotations

from typing import Any, Optional

import attrs
import numpy as np
from attrs.validators import in_, min_len

from microgradx.registry.components import named_with_options
from microgradx.registry.core import get_registry
from microgradx.validators import must_be, satisfies

TASKS = ("binary", "multiclass", "regression")


# (the converter has made every array an ndarray; a bad kind of array is a TypeError, an empty one a ValueError)
_EXAMPLES = must_be("non-empty (at least one example)", min_len(1))
_MATRIX = [must_be("a 2-D float64 array", satisfies(lambda a: a.ndim == 2 and a.dtype == np.float64), error=TypeError),
           _EXAMPLES]
_VECTOR = must_be("a 1-D numpy array", satisfies(lambda a: a.ndim == 1), error=TypeError)


def _readonly(a: np.ndarray) -> np.ndarray:
    if isinstance(a, np.ndarray) and a.flags.owndata and not a.flags.writeable:
        return a  # already frozen by its maker (split_dataset): no second copy of a large table
    a = np.array(a)  # a private copy, frozen like the Dataset
    a.flags.writeable = False
    return a


@attrs.frozen(eq=False)
class Dataset:
    """A train/test split of a dataset, ready to train on.

    Attributes:
        name: the registered name (``"breast_cancer"``, ``"moons"`` ...).
        X_train, X_test: float64 arrays of shape (n, n_features), read-only.
        y_train, y_test: class labels (int64, 0..n_classes-1) or float targets (regression).
        task: ``"binary"``, ``"multiclass"`` or ``"regression"``.
        n_classes: the number of classes (None for regression).
        feature_names, class_names: tuples of strings.
        mean, scale: the standardisation fitted on the training split (``(X - mean) / scale``
            was applied to both splits), or None when the data was not standardised.
        inputs: for a CSV file with text columns or imputed values, what each raw column became
            (`microgradx.datasets.encoding.InputColumn`; X holds their one-hot inputs); else empty.
        fingerprint: a CSV file's ``{"size", "sha256"}``, so a model can tell its data changed.
    """

    name: str
    X_train: np.ndarray = attrs.field(converter=_readonly, validator=_MATRIX, repr=False)
    y_train: np.ndarray = attrs.field(converter=_readonly, validator=_VECTOR, repr=False)
    X_test: np.ndarray = attrs.field(converter=_readonly, validator=_MATRIX, repr=False)
    y_test: np.ndarray = attrs.field(converter=_readonly, validator=_VECTOR, repr=False)
    task: str = attrs.field(validator=must_be(f"one of {', '.join(TASKS)}", in_(TASKS)))
    n_classes: Optional[int] = None
    feature_names: tuple = attrs.field(default=(), converter=tuple, repr=False)
    class_names: tuple = attrs.field(default=(), converter=tuple, repr=False)
    mean: Optional[np.ndarray] = attrs.field(default=None, repr=False)
    scale: Optional[np.ndarray] = attrs.field(default=None, repr=False)
    classes: tuple = attrs.field(default=(), converter=tuple, repr=False)
    target_name: Optional[str] = attrs.field(default=None, repr=False)
    target_mean: Optional[float] = attrs.field(default=None, repr=False)
    target_scale: Optional[float] = attrs.field(default=None, repr=False)
    source: Optional[str] = attrs.field(default=None, repr=False)
    inputs: tuple = attrs.field(default=(), converter=tuple, repr=False)
    fingerprint: Optional[dict] = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        for X, y, split in ((self.X_train, self.y_train, "train"), (self.X_test, self.y_test, "test")):
            if X.shape[0] != y.shape[0]:
                raise ValueError(f"Dataset {self.name!r}: {split} split has {X.shape[0]} rows of X "
                                 f"but {y.shape[0]} labels")
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise ValueError(f"Dataset {self.name!r}: train has {self.X_train.shape[1]} features, "
                             f"test has {self.X_test.shape[1]}")
        if self.task != "regression":
            if self.n_classes is None or self.n_classes < 2:
                raise ValueError(f"Dataset {self.name!r}: a {self.task} task needs n_classes >= 2, "
                                 f"got {self.n_classes!r}")
            for y, split in ((self.y_train, "train"), (self.y_test, "test")):
                if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= self.n_classes:
                    raise ValueError(f"Dataset {self.name!r}: {split} labels must be ints in "
                                     f"0..{self.n_classes - 1}")

    @property
    def n_features(self) -> int:
        """The number of input features (columns of X)."""
        return self.X_train.shape[1]

    @property
    def n_train(self) -> int:
        """The number of training examples."""
        return self.X_train.shape[0]

    @property
    def n_test(self) -> int:
        """The number of test examples."""
        return self.X_test.shape[0]

    def transform(self, X: Any) -> np.ndarray:
        """Apply this dataset's standardisation (fitted on its training split) to new raw data."""
        X = np.asarray(X, dtype=np.float64)
        if self.mean is None or self.scale is None:
            return X
        return (X - self.mean) / self.scale

    def inverse_target(self, y: Any) -> np.ndarray:
        """Regression predictions in the target's own units (undoing ``target_mean``/``target_scale``)."""
        y = np.asarray(y, dtype=np.float64)
        if self.target_mean is None or self.target_scale is None:
            return y
        return y * self.target_scale + self.target_mean

    def labels(self, encoded: Any) -> np.ndarray:
        """The original class labels (``classes``, else ``class_names``) of encoded labels 0..n_classes-1."""
        names = self.classes or self.class_names or tuple(range(self.n_classes or 0))
        return np.asarray(names, dtype=object)[np.asarray(encoded, dtype=np.int64)]

    def __repr__(self) -> str:
        classes = f", {self.n_classes} classes" if self.n_classes else ""
        return (f"Dataset({self.name!r}: {self.n_train} train / {self.n_test} test, "
                f"{self.n_features} features, {self.task}{classes})")


def standardize(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scale features to mean 0 and std 1 *on the training split*, and apply the same to test.

    Returns ``(X_train, X_test, mean, scale)``. A constant training feature keeps scale 1
    (as scikit-learn's StandardScaler does).
    """
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0)
    scale[scale == 0.0] = 1.0
    return (X_train - mean) / scale, (X_test - mean) / scale, mean, scale


def load(name: str, **settings: Any) -> Dataset:
    """Load the dataset registered as ``name`` (``load("iris", seed=1)``, ``load("csv", path="bc.csv")``).

    ``name`` may carry settings: ``load("csv:path=bc.csv:target=diagnosis")``.
    """

    registry = get_registry()
    name, settings = named_with_options(registry, "datasets", name, settings)
    return registry.get("datasets", name)(**settings)
