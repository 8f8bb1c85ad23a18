"""A fitted estimator (or a ``StandardScaler`` + estimator pipeline) as a microgradx model file: no pickle.

    >>> from microgradx.sklearn import save, load
    >>> save(make_pipeline(StandardScaler(), MLPClassifier()).fit(X, y), "model.json")   # doctest: +SKIP
    >>> load("model.json").predict(X_raw)                                                # doctest: +SKIP

The file is an ordinary model file (`microgradx.modelfile`): the network, and in its schema the
scaler's statistics, the class labels, the feature names (``feature_names_in_`` when fitted on
a DataFrame, else ``x0``, ``x1``, ...) and the loss, so ``microgradx predict`` reads it too.
`load` gives back a fitted estimator, inside a pipeline behind a fitted ``StandardScaler`` when
the file has a standardisation. Loading runs no code from the file.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import numpy as np

from microgradx import modelfile
from microgradx.modelfile import ModelFileError, Schema

_PLAIN = (str, int, float, bool, type(None))


def _parts(estimator: Any) -> tuple[Any, Any]:
    """``(scaler or None, the microgradx estimator)`` of an estimator or a two-step pipeline."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from microgradx.sklearn.estimators import MLPClassifier, MLPRegressor

    scaler = None
    if isinstance(estimator, Pipeline):
        steps = [step for _, step in estimator.steps if step not in (None, "passthrough")]
        if len(steps) == 2 and isinstance(steps[0], StandardScaler):
            scaler, estimator = steps
        elif len(steps) != 1:
            raise TypeError("save takes a microgradx estimator or a pipeline of a StandardScaler and one; "
                            f"got the steps {[type(s).__name__ for s in steps]}")
        else:
            estimator = steps[0]
    if not isinstance(estimator, (MLPClassifier, MLPRegressor)):
        raise TypeError(f"save takes a microgradx MLPClassifier or MLPRegressor, not {type(estimator).__name__}")
    if not hasattr(estimator, "model_"):
        raise ValueError(f"save: this {type(estimator).__name__} is not fitted yet; call fit first")
    return scaler, estimator


def save(estimator: Any, path: Any) -> Path:
    """Write a fitted estimator (or ``StandardScaler`` + estimator pipeline) to a model file, atomically."""
    scaler, est = _parts(estimator)
    n = est.n_features_in_
    names = [str(f) for f in getattr(est, "feature_names_in_", [f"x{i}" for i in range(n)])]
    mean = scale = None
    if scaler is not None:
        mean = scaler.mean_ if scaler.with_mean else np.zeros(n)
        scale = scaler.scale_ if scaler.with_std else np.ones(n)
    classifier = hasattr(est, "classes_")
    task = ("binary" if len(est.classes_) == 2 else "multiclass") if classifier else "regression"
    classes = [c.item() if isinstance(c, np.generic) else c for c in est.classes_] if classifier else None
    if classes is not None and not all(isinstance(c, (str, numbers.Number)) for c in classes):
        raise ValueError("save: class labels must be strings or numbers to be written to a model file")
    schema = Schema(task=task, loss=est.loss_name_, features=names, mean=mean, scale=scale, classes=classes)
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in est.get_params().items()
              if isinstance(v, _PLAIN) or (isinstance(v, tuple) and all(isinstance(i, int) for i in v))}
    meta = {"estimator": type(est).__name__, "params": params, "loss_curve": list(est.loss_curve_),
            "y_ndim": getattr(est, "_y_ndim", 1), "out_activation": est.out_activation_}
    return modelfile.save(est.model_, path, meta=meta, schema=schema)


def load(path: Any) -> Any:
    """A fitted estimator from a model file written by `save` (behind a fitted scaler if it had one)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from microgradx.sklearn.estimators import MLPClassifier, MLPRegressor

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
    if names and names != tuple(f"x{i}" for i in range(spec["nin"])):
        est.feature_names_in_ = np.asarray(names, dtype=object)
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
    if not mf.schema.standardized:
        return est
    scaler = StandardScaler()
    scaler.mean_, scaler.scale_ = np.asarray(mf.schema.mean), np.asarray(mf.schema.scale)
    scaler.var_, scaler.n_features_in_, scaler.n_samples_seen_ = scaler.scale_ ** 2, spec["nin"], 1
    if hasattr(est, "feature_names_in_"):
        scaler.feature_names_in_ = est.feature_names_in_
    return make_pipeline(scaler, est)
