"""A fitted estimator, or a pipeline of preprocessing and one, as a microgradx model file: no pickle.

    >>> from microgradx.sklearn import save, load
    >>> save(make_pipeline(StandardScaler(), MLPClassifier()).fit(X, y), "model.json")   # doctest: +SKIP
    >>> load("model.json").predict(X_raw)                                                # doctest: +SKIP

The steps before the estimator may be ``ColumnTransformer``, ``OneHotEncoder``,
``StandardScaler``, ``MinMaxScaler``, ``SimpleImputer``, ``"passthrough"`` and nested pipelines
of them (`microgradx.sklearn.pipelines`). The file is an ordinary model file
(`microgradx.modelfile`): the network, and in its schema what each raw column becomes
(imputed values, one-hot categories), the scalers' statistics, the class labels, the raw
column names (the first step's ``feature_names_in_`` when fitted on a DataFrame, else ``x0``,
``x1``, ...) and the loss, so ``microgradx predict`` reads it too and predicts what the pipeline
predicts. `load` gives back a fitted estimator: behind a fitted ``StandardScaler`` when the file
has only a standardisation, behind an `~microgradx.sklearn.pipelines.InputEncoder` when it has
more. Loading runs no code from the file.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np

from microgradx import modelfile
from microgradx.modelfile import ModelFileError, Schema
from microgradx.sklearn.estimators import MLPClassifier, MLPRegressor
from microgradx.sklearn.pipelines import InputEncoder, schema_inputs

_PLAIN = (str, int, float, bool, type(None))


def _parts(estimator: Any) -> tuple[list, Any]:
    """``(the steps before the estimator, the microgradx estimator)`` of an estimator or a pipeline."""
    from sklearn.pipeline import Pipeline

    steps: list = []
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps if step is not None and not
                 (isinstance(step, str) and step == "passthrough")]
        if not steps:
            raise TypeError("save takes a microgradx estimator or a pipeline ending in one; this pipeline is empty")
        *steps, estimator = steps
    if not isinstance(estimator, (MLPClassifier, MLPRegressor)):
        raise TypeError(f"save takes a microgradx MLPClassifier or MLPRegressor (or a pipeline ending in one), not "
                        f"{type(estimator).__name__}")
    if not hasattr(estimator, "model_"):
        raise ValueError(f"save: this {type(estimator).__name__} is not fitted yet; call fit first")
    return steps, estimator


def _raw_names(steps: list, est: Any) -> list:
    """The raw column names: the first step's ``feature_names_in_`` (a DataFrame's), else x0, x1, ..."""
    first = steps[0] if steps else est
    names = getattr(first, "feature_names_in_", None)
    if names is not None:
        return [str(f) for f in names]
    n = getattr(first, "n_features_in_", None)
    if n is None:
        raise ValueError(f"save: the first step {type(first).__name__} is not fitted (it has no n_features_in_)")
    return [f"x{i}" for i in range(n)]


def save(estimator: Any, path: Any) -> Path:
    """Write a fitted estimator (or a pipeline of preprocessing and one) to a model file, atomically.

    A step that a model file cannot hold is a TypeError naming it and the steps it can.
    """

    steps, est = _parts(estimator)
    names = _raw_names(steps, est)
    inputs, mean, scale = schema_inputs(steps, names, est.n_features_in_)
    classifier = hasattr(est, "classes_")
    task = ("binary" if len(est.classes_) == 2 else "multiclass") if classifier else "regression"
    classes = [c.item() if isinstance(c, np.generic) else c for c in est.classes_] if classifier else None
    if classes is not None and not all(isinstance(c, (str, numbers.Number)) for c in classes):
        raise ValueError("save: class labels must be strings or numbers to be written to a model file")
    schema = Schema(task=task, loss=est.loss_name_, features=names, mean=mean, scale=scale, classes=classes,
                    inputs=inputs)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()
              if isinstance(v, _PLAIN) or (isinstance(v, tuple) and all(isinstance(i, int) for i in v))}
    meta = {"estimator": type(est).__name__, "params": params, "loss_curve": list(est.loss_curve_),
            "y_ndim": getattr(est, "_y_ndim", 1), "out_activation": est.out_activation_}
    return modelfile.save(est.model_, path, meta=meta, schema=schema)


def load(path: Any) -> Any:
    """A fitted estimator from a model file written by `save`: behind a fitted ``StandardScaler`` when the file
    has a standardisation only, behind an `~microgradx.sklearn.pipelines.InputEncoder` when it has more."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mf = modelfile.read(path)
    kind = mf.meta.get("estimator")
    cls = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}.get(kind)
    if cls is None or mf.schema is None:
        raise ModelFileError(path, "not an estimator's model file (saved by microgradx.sklearn.save): its meta "
                                   f"names estimator {kind!r}")
    est = cls()
    params = mf.meta.get("params", {})
    known = set(est.get_params())
    est.set_params(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items() if k in known})
    model = mf.build()
    spec = model.spec()
    est.model_ = model
    est._model_recipe = {"layer": spec["layer"], "nin": spec["nin"], "nouts": list(spec["nouts"]),
                         "activation": spec.get("activation"), "seed": spec.get("seed", 0)}
    est._trainer = None
    est.n_features_in_ = spec["nin"]
    names = mf.schema.features
    named = bool(names) and names != tuple(f"x{i}" for i in range(len(names)))
    if named and not mf.schema.inputs and not mf.schema.standardized:
        est.feature_names_in_ = np.asarray(names, dtype=object)  # the estimator alone was fitted on a DataFrame
    est.n_outputs_ = spec["nouts"][-1]
    est.n_layers_ = len(spec["nouts"]) + 1
    est.out_activation_ = mf.meta.get("out_activation", "identity")
    est.loss_name_ = mf.schema.loss
    est.loss_curve_ = list(mf.meta.get("loss_curve", []))
    est.loss_ = est.loss_curve_[-1] if est.loss_curve_ else None
    est.n_iter_ = len(est.loss_curve_)
    if mf.schema.classes is not None:
        est.classes_ = np.asarray(mf.schema.classes)
    else:
        est._y_ndim = int(mf.meta.get("y_ndim", 1))
    if mf.schema.inputs:
        return make_pipeline(InputEncoder(mf.schema), est)
    if not mf.schema.standardized:
        return est
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = np.asarray(mf.schema.mean), np.asarray(mf.schema.scale)
    scaler.var_, scaler.n_features_in_, scaler.n_samples_seen_ = scaler.scale_ ** 2, spec["nin"], 1
    if named:  # the pipeline's first step checks a DataFrame's column names, as the saved one did
        scaler.feature_names_in_ = np.asarray(names, dtype=object)
    return make_pipeline(scaler, est)
