"""scikit-learn preprocessing in front of a microgradx estimator, as a model file's schema.

`schema_inputs` reads the fitted steps of a pipeline before the estimator (``ColumnTransformer``,
``OneHotEncoder``, ``StandardScaler``, ``MinMaxScaler``, ``SimpleImputer``, ``"passthrough"``,
nested pipelines) and says the same with a model file's words: what each raw column becomes
(`microgradx.datasets.encoding.InputColumn`: a number, imputed or not, or one-hot categories)
and one affine map per network input (the scalers, composed). Anything else is refused with the
step's name and what is supported, so a saved file never predicts differently from the pipeline.
`InputEncoder` is the way back: a fitted transformer that applies a schema to raw rows.
"""

from __future__ import annotations

import math
from typing import Any, Optional

import attrs
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from microgradx.datasets.encoding import InputColumn, columns_by_name

SUPPORTED = "ColumnTransformer, OneHotEncoder, StandardScaler, MinMaxScaler, SimpleImputer, 'passthrough', Pipeline"


@attrs.frozen
class _Out:
    """One column of a step's output: a raw column (``column``) or one-hot input ``index`` of ``block``,
    mapped by ``x * a + b``."""

    column: Optional[str] = None
    impute: Any = None
    block: Optional[int] = None
    index: int = 0
    a: float = 1.0
    b: float = 0.0


class _Reader:
    def __init__(self) -> None:
        self.blocks: list = []  # the one-hot InputColumns, by block number

    def apply(self, step: Any, outs: list) -> list:
        """What the fitted ``step`` makes of the columns ``outs`` (see `schema_inputs`)."""
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, OneHotEncoder, StandardScaler

        if step is None or (isinstance(step, str) and step == "passthrough"):
            return outs
        if isinstance(step, FunctionTransformer) and step.func is None:
            return outs  # the identity: how a fitted ColumnTransformer keeps remainder="passthrough"
        if isinstance(step, str) and step == "drop":
            return []
        if isinstance(step, Pipeline):
            for _, inner in step.steps:
                outs = self.apply(inner, outs)
            return outs
        _check_width(step, outs)
        if isinstance(step, StandardScaler):
            n = len(outs)
            mean = step.mean_ if step.with_mean else np.zeros(n)
            scale = step.scale_ if step.with_std else np.ones(n)
            return [attrs.evolve(o, a=o.a / s, b=(o.b - m) / s) for o, m, s in zip(outs, mean, scale)]
        if isinstance(step, MinMaxScaler):
            if step.clip:
                raise TypeError("save: MinMaxScaler(clip=True) is not an affine map; a model file cannot hold it")
            return [attrs.evolve(o, a=o.a * s, b=o.b * s + m) for o, m, s in zip(outs, step.min_, step.scale_)]
        if isinstance(step, SimpleImputer):
            return self._imputer(step, outs)
        if isinstance(step, OneHotEncoder):
            return self._encoder(step, outs)
        if isinstance(step, ColumnTransformer):
            return self._columns(step, outs)
        raise TypeError(f"save: a pipeline step {type(step).__name__} cannot be written to a model file; the steps "
                        f"before the estimator may be {SUPPORTED}")

    def _imputer(self, step: Any, outs: list) -> list:
        if step.add_indicator:
            raise TypeError("save: SimpleImputer(add_indicator=True) is not supported in a model file")
        missing = step.missing_values
        if not (missing is None or (isinstance(missing, float) and math.isnan(missing)) or
                type(missing).__name__ == "NAType"):
            raise TypeError(f"save: SimpleImputer(missing_values={missing!r}): a model file fills missing cells "
                            f"(NaN, None, an empty CSV cell) only")
        kept = []
        for o, value in zip(outs, step.statistics_):
            value = value.item() if isinstance(value, np.generic) else value
            if isinstance(value, float) and math.isnan(value):
                if not getattr(step, "keep_empty_features", False):
                    continue  # scikit-learn drops a column with no value at fit
                value = 0.0
            if o.block is not None:  # a one-hot input is never missing: the imputer leaves it as it is
                kept.append(o)
                continue
            if isinstance(value, str):
                if (o.a, o.b) != (1.0, 0.0):
                    raise TypeError("save: a SimpleImputer filling text after a scaler is not supported")
                kept.append(attrs.evolve(o, impute=value))
            else:  # a number filled after a scaler is the raw value the scaler maps to it
                kept.append(attrs.evolve(o, impute=(float(value) - o.b) / o.a))
        return kept

    def _encoder(self, step: Any, outs: list) -> list:
        if getattr(step, "min_frequency", None) is not None or getattr(step, "max_categories", None) is not None:
            raise TypeError("save: OneHotEncoder with min_frequency or max_categories (infrequent categories) is not "
                            "supported in a model file")
        unknown = "error" if step.handle_unknown == "error" else "ignore"  # ignore, warn, infrequent_if_exist
        drops = getattr(step, "drop_idx_", None)
        new = []
        for i, (o, categories) in enumerate(zip(outs, step.categories_)):
            if o.column is None or (o.a, o.b) != (1.0, 0.0):
                raise TypeError("save: a OneHotEncoder must read raw columns (or imputed ones), not scaled or "
                                "encoded ones")
            cats = [c.item() if isinstance(c, np.generic) else c for c in categories]
            if any(c is None or (isinstance(c, float) and math.isnan(c)) for c in cats):
                raise TypeError(f"save: column {o.column!r}: OneHotEncoder learned a missing value as a category; "
                                f"fill missing values first (SimpleImputer) to save the pipeline")
            if not all(isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in cats):
                raise TypeError(f"save: column {o.column!r}: categories must be strings or numbers")
            drop = None if drops is None or drops[i] is None else int(drops[i])
            impute = o.impute
            if impute is not None and not any(_same(impute, c) for c in cats):
                raise TypeError(f"save: column {o.column!r}: the imputed value {impute!r} is not a category")
            if impute is not None:
                impute = next(c for c in cats if _same(impute, c))
            block = InputColumn(o.column, "category", impute=impute, categories=tuple(cats), drop=drop,
                                unknown=unknown)
            self.blocks.append(block)
            new += [_Out(block=len(self.blocks) - 1, index=j) for j in range(block.width)]
        return new

    def _columns(self, step: Any, outs: list) -> list:
        indices = getattr(step, "_transformer_to_input_indices", None)
        if indices is None:
            raise TypeError("save: this scikit-learn's ColumnTransformer does not say which columns each transformer "
                            "read; upgrade scikit-learn (>= 1.2)")
        new: list = []
        for name, transformer, _ in step.transformers_:
            if isinstance(transformer, str) and transformer == "drop":
                continue
            picked = [outs[i] for i in indices.get(name, [])]
            if picked:
                new += self.apply(transformer, picked)
        return new


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b and type(a) is type(b)
    return float(a) == float(b)


def _check_width(step: Any, outs: list) -> None:
    n = getattr(step, "n_features_in_", None)
    if n is not None and n != len(outs):
        raise ValueError(f"save: {type(step).__name__} was fitted on {n} columns but receives {len(outs)} here")


def schema_inputs(steps: list, names: list, n_features: int) -> tuple[tuple, Optional[np.ndarray], Any]:
    """``(inputs, mean, scale)`` of the fitted ``steps`` before an estimator taking ``n_features``, on raw ``names``.

    ``inputs`` is empty when every raw column reaches the network as it is (only scaled);
    ``mean``/``scale`` (``(x - mean) / scale`` per network input) are None when nothing is scaled.
    """
    reader = _Reader()
    outs = [_Out(column=name) for name in names]
    for step in steps:
        outs = reader.apply(step, outs)
    if len(outs) != n_features:
        raise ValueError(f"save: the preprocessing makes {len(outs)} columns but the estimator takes {n_features}")
    inputs, mean, scale = [], [], []
    for o in outs:
        if o.a <= 0 or not math.isfinite(o.a) or not math.isfinite(o.b):
            raise ValueError(f"save: a scaler maps an input by x * {o.a!r} + {o.b!r}; a model file needs a positive "
                             f"finite scale")
        mean.append(-o.b / o.a)
        scale.append(1.0 / o.a)
        if o.block is None:
            inputs.append(InputColumn(o.column, "number", impute=o.impute))
        elif o.index == 0:
            inputs.append(reader.blocks[o.block])
        elif not inputs or inputs[-1] is not reader.blocks[o.block]:
            raise ValueError("save: a one-hot encoder's columns were reordered; a model file keeps them together")
    plain = all(c.kind == "number" and c.impute is None for c in inputs) and [c.name for c in inputs] == list(names)
    scaled = any(m != 0.0 or s != 1.0 for m, s in zip(mean, scale))
    return (() if plain else tuple(inputs)), (np.array(mean) if scaled else None), (np.array(scale) if scaled else None)


class InputEncoder(TransformerMixin, BaseEstimator):
    """A fitted transformer applying a model file's schema (imputation, one-hot categories, scaling) to raw rows.

    `microgradx.sklearn.load` puts it in front of the estimator when the file has more than a
    standardisation. ``transform`` takes a DataFrame (columns matched by name, in any order) or
    an array in the order of ``feature_names_in_``.
    """

    def __init__(self, schema: Any = None):
        self.schema = schema

    def fit(self, X: Any = None, y: Any = None) -> InputEncoder:
        """Nothing to learn: the schema holds it all."""
        return self

    @property
    def feature_names_in_(self) -> np.ndarray:
        """The raw columns, in order."""
        return np.asarray(self.schema.features, dtype=object)

    @property
    def n_features_in_(self) -> int:
        """How many raw columns it reads."""
        return len(self.schema.features)

    def transform(self, X: Any) -> np.ndarray:
        """The network's inputs for raw rows ``X``; a ValueError naming a missing value or unknown category."""
        if hasattr(X, "columns") and not isinstance(X, np.ndarray):
            X = columns_by_name(X, self.schema.features, self.schema.target, "InputEncoder")
        return self.schema.transform(X)

    def __sklearn_is_fitted__(self) -> bool:
        return self.schema is not None


