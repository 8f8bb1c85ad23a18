"""scikit-learn estimators built on microgradx: `MLPClassifier` and `MLPRegressor`, drop-ins for
``sklearn.neural_network``'s (`microgradx.sklearn.estimators`), and `save` / `load` of a fitted
estimator or a pipeline of preprocessing (column transformers, one-hot encoders, scalers,
imputers) and one as a model file, without pickle (`microgradx.sklearn.files`, `.pipelines`).

This package imports scikit-learn; ``import microgradx`` does not import it.
"""

from microgradx.sklearn.estimators import MLPClassifier, MLPRegressor
from microgradx.sklearn.files import load, save
from microgradx.sklearn.pipelines import InputEncoder

__all__ = ["InputEncoder", "MLPClassifier", "MLPRegressor", "load", "save"]
