"""`Predictor`: a model file's network with its schema, predicting from raw feature rows."""

from __future__ import annotations

from typing import Any, Optional

import attrs
import numpy as np

from microgradx.modelfile.checks import ModelFileError, PathLike
from microgradx.modelfile.schema import PROBABILISTIC_LOSSES, Schema


@attrs.define(eq=False)
class Predictor:
    """A trained model and its `Schema`: raw features in, labels (or values) and probabilities out.

    ``predict`` and ``predict_proba`` take the features as they were before training
    (the schema's standardisation is applied here) in the order of ``schema.features``;
    `predict_csv` reads them by name from a CSV file.
    """

    model: Any
    schema: Schema
    path: str = "<model>"
    version: int = 2
    _forward: Any = attrs.field(default=None, init=False, repr=False)  # the model's compiled forward, once made

    @classmethod
    def from_file(cls, path: PathLike) -> Predictor:
        """Read a model file (every check of `microgradx.modelfile.read`) and build its model."""
        from microgradx.modelfile.core import read

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

    def _check(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"{self.path}: expected a 2-D array of feature rows, got shape {X.shape}")
        n = len(self.schema.features) or self.model.spec().get("nin")
        if n is not None and X.shape[1] != n:
            raise ValueError(f"{self.path}: the model takes {n} features, got {X.shape[1]}")
        return X

    def outputs(self, X: Any) -> np.ndarray:
        """The network's raw outputs for raw feature rows ``X``: an (n, k) array.

        A compiled forward (one recording for any number of rows, replayed in chunks: bounded
        memory however many rows).
        """
        if self._forward is None:
            from microgradx.train.steps import compiled_forward

            self._forward = compiled_forward(self.model)
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
        Z = self.outputs(X)
        if not self.classification:
            y = self.schema.inverse_target(Z)
            return y[:, 0] if y.shape[1] == 1 else y
        classes = self.schema.classes or tuple(range(max(2, Z.shape[1])))
        return np.asarray(classes, dtype=object)[self._codes(Z)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, an (n, n_classes) array in the order of ``schema.classes``."""
        self._require_proba()
        return probabilities(self.outputs(X))

    def _require_proba(self) -> None:
        """A ValueError saying why, when the model has no class probabilities."""
        if not self.has_proba:
            why = "a regression model" if not self.classification else f"trained with loss {self.schema.loss!r}, " \
                  f"whose outputs are scores, not log-odds"
            raise ValueError(f"{self.path}: no class probabilities: it is {why}")

    def read_csv(self, path: PathLike, delimiter: Optional[str] = None) -> tuple[np.ndarray, Optional[list]]:
        """The model's feature columns of a CSV file (checked against ``schema.features``), and the
        target column's cells when the file has one (else None)."""
        from microgradx.datasets.csvfile import CSVError, read_features

        if not self.schema.features:
            raise CSVError(path, f"the model file {self.path} names no features to look for in the header")
        X, target, _ = read_features(path, self.schema.features, self.schema.target, delimiter)
        return X, target

    def predict_csv(self, path: PathLike, proba: bool = False) -> tuple[list, list]:
        """Predictions for every row of a CSV file: ``(header, rows)`` ready to write as CSV.

        The header is ``prediction`` (the target's name when known), then with ``proba`` one
        column ``P(label)`` per class. A model without probabilities is refused before the file is read.
        """
        if proba:
            self._require_proba()
        X, _ = self.read_csv(path)
        header = [self.schema.target or "prediction"]
        predicted = self.predict(X)
        columns = [[_cell(v) for v in predicted]] if predicted.ndim == 1 else \
            [[_cell(v) for v in predicted[:, j]] for j in range(predicted.shape[1])]
        if predicted.ndim == 2:
            header = [f"{header[0]}_{j}" for j in range(predicted.shape[1])]
        if proba:
            P = self.predict_proba(X)
            header += [f"P({c})" for c in self.schema.classes or range(P.shape[1])]
            columns += [[repr(float(p)) for p in P[:, j]] for j in range(P.shape[1])]
        return header, [list(row) for row in zip(*columns)]


def probabilities(Z: np.ndarray) -> np.ndarray:
    """Class probabilities from a bce or softmax_ce model's raw outputs ``Z`` (n, k), rows summing to 1.

    One column is a log-odds ``z``: ``[1 - sigmoid(z), sigmoid(z)]``; k columns are logits: their
    softmax. `Predictor` and the scikit-learn classifier both use it.
    """
    if Z.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-Z[:, 0]))
        return np.column_stack([1.0 - p, p])
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _cell(value: Any) -> str:
    """A predicted label or value as CSV text (numbers round-trip exactly)."""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)
