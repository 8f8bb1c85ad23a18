"""scikit-learn estimators built on microgradx: `MLPClassifier` and `MLPRegressor`.

This package imports scikit-learn; ``import microgradx`` does not import it.
"""

from microgradx.sklearn.estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
