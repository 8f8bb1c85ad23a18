"""`Predictor`: a model file's network with its schema, predicting from raw feature rows."""

from __future__ import annotations

from typing import Any, Optional

import attrs
import numpy as np

from microgradx.compiler import compile
from microgradx.datasets.encoding import columns_by_name
from microgradx.modelfile.checks import ModelFileError, PathLike
from microgradx.modelfile.core import read
from microgradx.modelfile.csvpredict import predict_chunks
from microgradx.modelfile.schema import PROBABILISTIC_LOSSES, Schema, probabilities


@attrs.define(eq=False)
class Predictor:
    """A trained model and its `Schema`: raw features in, labels (or values) and probabilities out.

    ``predict`` and ``predict_proba`` take the features as they were before training (the
    schema's imputation, one-hot encoding and standardisation are applied here): a 2-D array
    in the order of ``schema.features``, or a DataFrame, whose columns are matched by name (in
    any order; a missing or unknown column is an error). `predict_csv` reads them by name from
    a CSV file; `microgradx.modelfile.csvpredict` does it in chunks.
    """

    model: Any
    schema: Schema
    path: str = "<model>"
    version: int = 2
    _forward: Any = attrs.field(default=None, init=False, repr=False)  # the model's compiled forward, once made

    @classmethod
    def from_file(cls, path: PathLike) -> Predictor:
        """Read a model file (every check of `microgradx.modelfile.read`) and build its model."""
        mf = read(path)
        if mf.schema is None:
            why = (f"it is a format version {mf.version} file, saved by an older microgradx before model files held "
                   f"them" if mf.version < 2 else "it was saved without one")
            raise ModelFileError(path, f"the file has no schema (feature names, preprocessing, class labels): {why}; "
                                       f"train and save the model again to predict from raw data")
        return cls(model=mf.build(), schema=mf.schema, path=mf.path, version=mf.version)

    @property
    def task(self) -> Optional[str]:
        """``"binary"``, ``"multiclass"``, ``"regression"`` or None."""
        return self.schema.task

    @property
    def classification(self) -> bool:
        """Whether the model predicts class labels."""
        return self.schema.task in ("binary", "multiclass")

    @property
    def has_proba(self) -> bool:
        """Whether the outputs are log-odds or logits, so `predict_proba` exists."""
        return self.classification and self.schema.loss in PROBABILISTIC_LOSSES

    def _check(self, X: Any) -> Any:
        """Raw rows as `Schema.transform` takes them: a float array, or columns by name."""
        if hasattr(X, "codes"):  # already columns by name (a CSV file's chunk)
            return X
        if hasattr(X, "columns") and hasattr(X, "__getitem__") and not isinstance(X, np.ndarray):
            return self._frame(X)
        X = np.asarray(X, dtype=None if self.schema.inputs else np.float64)
        if X.ndim != 2:
            raise ValueError(f"{self.path}: expected a 2-D array of feature rows, got shape {X.shape}")
        n = len(self.schema.features) or self.model.spec().get("nin")
        if n is not None and X.shape[1] != n:
            raise ValueError(f"{self.path}: the model takes {n} features, got {X.shape[1]}")
        return X

    def _frame(self, frame: Any) -> Any:
        """A DataFrame's columns matched by name to ``schema.features`` (the target's may be there too)."""

        return columns_by_name(frame, self.schema.features, self.schema.target, self.path)

    def outputs(self, X: Any) -> np.ndarray:
        """The network's raw outputs for raw feature rows ``X``: an (n, k) array.

        A compiled forward (one recording for any number of rows, replayed in chunks: bounded
        memory however many rows).
        """
        if self._forward is None:
            model = self.model
            self._forward = compile(lambda xs: list(model(xs)))
        Z = self._forward.forward(self.schema.transform(self._check(X)))
        return np.column_stack([np.atleast_1d(z) for z in Z])

    def _codes(self, Z: np.ndarray) -> np.ndarray:
        loss = self.schema.loss
        if Z.shape[1] == 1:
            threshold = 0.5 if loss == "mse" else 0.0  # mse on 0/1 labels: above one half means 1
            return (Z[:, 0] > threshold).astype(np.int64)
        return np.argmax(Z, axis=1).astype(np.int64)

    def predict(self, X: Any) -> np.ndarray:
        """Class labels (from ``schema.classes``) or regression values in the target's units."""
        return self.decode(self.outputs(X))

    def check_outputs(self, Z: np.ndarray) -> np.ndarray:
        """``Z`` if its number of columns fits the class labels; else a ValueError naming the file."""
        classes = self.schema.classes
        if self.classification and classes and not (Z.shape[1] == len(classes) or
                                                    (Z.shape[1] == 1 and len(classes) == 2)):
            raise ValueError(f"{self.path}: the model has {Z.shape[1]} outputs but the schema lists {len(classes)} "
                             f"classes (one output serves 2 classes; more need one each)")
        return Z

    def decode(self, Z: np.ndarray) -> np.ndarray:
        """What raw outputs ``Z`` (n, k) predict: class labels, or values in the target's units."""
        Z = self.check_outputs(Z)
        if not self.classification:
            y = self.schema.inverse_target(Z)
            return y[:, 0] if y.shape[1] == 1 else y
        classes = self.schema.classes or tuple(range(max(2, Z.shape[1])))
        return np.asarray(classes, dtype=object)[self._codes(Z)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, an (n, n_classes) array in the order of ``schema.classes``."""
        self._require_proba()
        return probabilities(self.check_outputs(self.outputs(X)))

    def _require_proba(self) -> None:
        """A ValueError saying why, when the model has no class probabilities."""
        if not self.has_proba:
            why = "a regression model" if not self.classification else f"trained with loss {self.schema.loss!r}, " \
                  f"whose outputs are scores, not log-odds"
            raise ValueError(f"{self.path}: no class probabilities: it is {why}")

    def predict_csv(self, path: PathLike, proba: bool = False) -> tuple[list, list]:
        """Predictions for every row of a CSV file: ``(header, rows)`` of text, ready to write as CSV.

        The header is ``prediction`` (the target's name when known), then with ``proba`` one
        column ``P(label)`` per class. A model without probabilities is refused before the file is
        read. For files larger than memory, `microgradx.modelfile.csvpredict.predict_chunks`.
        """
        header: list = []
        rows: list = []
        for table in predict_chunks(self, path, proba=proba, neutralise=False, progress=False):
            header = list(table.column_names)
            rows += [[_cell(v) for v in row] for row in zip(*(c.to_pylist() for c in table.columns))]
        return header, rows


def _cell(value: Any) -> str:
    """A predicted label or value as CSV text (numbers round-trip exactly)."""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def load_predictor(path: PathLike) -> Predictor:
    """A `Predictor`: the model of a file with its schema, to predict from raw feature rows.

    It standardises the features as the training data was, decodes class labels and
    un-scales regression targets: ``load_predictor("m.json").predict(X_raw)``.
    """
    return Predictor.from_file(path)
