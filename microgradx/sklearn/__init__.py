"""scikit-learn estimators built on microgradx: `MLPClassifier` and `MLPRegressor`, drop-ins for
``sklearn.neural_network``'s (`microgradx.sklearn.estimators`), and `save` / `load` of a fitted
estimator or scaler + estimator pipeline as a model file, without pickle (`microgradx.sklearn.files`).

This package imports scikit-learn; ``import microgradx`` does not import it.
"""

from microgradx.sklearn.estimators import HalfSquaredError, MLPClassifier, MLPRegressor
from microgradx.sklearn.files import load, save

__all__ = ["HalfSquaredError", "MLPClassifier", "MLPRegressor", "load", "save"]
