"""`MLPClassifier` and `MLPRegressor`: drop-ins for scikit-learn's, trained with microgradx.

    >>> from microgradx.sklearn import MLPClassifier       # instead of sklearn.neural_network
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    >>> clf.fit(X, y).score(X_test, y_test)                                   # doctest: +SKIP

A script written for ``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` runs with
only the import changed: the constructor takes scikit-learn's parameters under its names and
with its meanings (docs/sklearn.md has the table), and a fitted estimator has its attributes
(``coefs_``, ``intercepts_``, ``loss_``, ``loss_curve_``, ``best_loss_``, ``n_iter_``, ``t_``,
``n_layers_``, ``n_outputs_``, ``out_activation_``, ``classes_``, ``validation_scores_``,
``best_validation_score_``). Beyond scikit-learn: ``fit(X, y, sample_weight=...)`` (scikit-learn
>= 1.7 has it too), ``class_weight``, any registered solver, schedule, activation, loss, layer or
callbacks by name (``"name:key=value"`` included), and ``history_`` / ``model_``.

The estimators follow scikit-learn's conventions and pass its estimator checks: ``__init__``
only stores its arguments, ``fit`` checks them (a ValueError or TypeError naming the
parameter, and for ``solver="lbfgs"`` what to use instead). This module imports scikit-learn;
``import microgradx`` does not import this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from microgradx.modelfile.schema import PROBABILISTIC_LOSSES, probabilities
from microgradx.registry.components import build_component
from microgradx.registry.core import get_registry
from microgradx.sklearn.base import BaseMLP


def _store(est: Any, values: dict) -> None:
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


class MLPClassifier(ClassifierMixin, BaseMLP):
    """A multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained with microgradx.

    scikit-learn's parameters have scikit-learn's meanings (docs/sklearn.md lists them, and what
    microgradx adds). Labels may be anything scikit-learn accepts; two classes train one logit with
    binary cross-entropy, more one logit per class with softmax cross-entropy.

    microgradx's extras: ``class_weight`` (``"balanced"`` or ``{label: weight}``, multiplied into
    the sample weights), ``loss`` (``"auto"`` or a registered classification loss: ``"hinge"``
    trains a score and has no ``predict_proba``), ``optimizer_options`` / ``loss_options`` /
    ``schedule_options`` (further settings of the solver, loss and a schedule named by
    ``learning_rate``), ``layer`` (the registered model to build) and ``callbacks``.
    """

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: Optional[str] = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: Any = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001, power_t: float = 0.5,
                 max_iter: int = 200, shuffle: bool = True, random_state: Any = None, tol: float = 1e-4,
                 verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, class_weight: Any = None, loss: str = "auto",
                 optimizer_options: Optional[dict] = None, loss_options: Optional[dict] = None,
                 schedule_options: Optional[dict] = None, layer: str = "MLP", callbacks: Sequence = ()):
        _store(self, locals())

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features) and class labels ``y``, optionally weighted; returns ``self``."""
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None) -> MLPClassifier:
        """One epoch over ``X``, ``y``, continuing from the current weights; ``classes`` on the first call."""
        first = not hasattr(self, "classes_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on the first call to partial_fit, "
                             f"which was {self.classes_!r}")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple:
        X, y = validate_data(self, X, y, dtype=np.float64, reset=reset)
        return X, y

    def _targets(self, y: np.ndarray, first_pass: bool, classes: Any) -> tuple:
        check_classification_targets(y)
        if type_of_target(y).startswith("multilabel"):
            raise ValueError(f"{type(self).__name__} does not support multilabel targets")
        if first_pass or not hasattr(self, "classes_"):
            labels = unique_labels(classes) if classes is not None else np.unique(y)
            if len(labels) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes to train, got 1 class: "
                                 f"{labels.tolist()[0]!r}")
            self.classes_ = labels
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                             f"'y' has {np.unique(y)}.")
        k = len(self.classes_)
        return np.searchsorted(self.classes_, y).astype(np.int64), ("binary" if k == 2 else "multiclass"), k

    def _class_weights(self, y: np.ndarray, incremental: bool) -> Optional[np.ndarray]:
        cw = self.class_weight
        if cw is None:
            return None
        if cw == "balanced" and incremental:
            raise ValueError("class_weight 'balanced' is not supported for partial_fit: compute the weights with "
                             "sklearn.utils.class_weight.compute_class_weight('balanced', classes=classes, y=y) on "
                             "enough of the data and pass them as a dict")
        if cw != "balanced" and not isinstance(cw, dict):
            raise ValueError(f"{type(self).__name__}: class_weight must be 'balanced', a dict of label -> weight, "
                             f"or None, got {cw!r}")
        weights = cw if cw == "balanced" else {np.searchsorted(self.classes_, k): v for k, v in cw.items()
                                               if k in set(self.classes_.tolist())}
        if isinstance(cw, dict):
            unknown = [k for k in cw if k not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"{type(self).__name__}: class_weight names label(s) {unknown!r}, which are not "
                                 f"among the classes {self.classes_.tolist()!r}")
        return compute_sample_weight(weights, y)

    def _loss(self, n_classes: int) -> Any:
        registry = get_registry()
        if not isinstance(self.loss, str):
            raise TypeError(f"{type(self).__name__}: loss must be 'auto' or a registered loss name, got {self.loss!r}")
        if self.loss == "auto":
            name = "bce" if n_classes == 2 else "softmax_ce"
        else:
            name = self.loss
            task = getattr(registry.get("losses", self._loss_name()), "task", None)
            if task == "binary" and n_classes != 2:
                raise ValueError(f"Only binary classification is supported with loss={self.loss!r}: "
                                 f"{type(self).__name__} got {n_classes} classes; use loss='softmax_ce' or 'auto'")
            if task not in ("binary", "multiclass"):
                raise ValueError(f"{type(self).__name__}: loss {self.loss!r} is not a classification loss (its task "
                                 f"is {task!r}); use 'bce', 'hinge', 'softmax_ce' or 'auto'")

        return build_component(registry, "losses", name, self.loss_options)

    def _n_outputs(self, loss: Any, y: np.ndarray, n_classes: int) -> int:
        return n_classes if getattr(loss, "task", None) == "multiclass" else 1

    def _out_activation(self, loss: Any, n_outputs: int) -> str:
        task = getattr(loss, "task", None)
        return "softmax" if task == "multiclass" else ("logistic" if getattr(loss, "name", "") == "bce" else "identity")

    def _validation_score(self, trainer: Any, X: np.ndarray, y: np.ndarray, w: Optional[np.ndarray]) -> float:
        z = np.column_stack([np.asarray(o.data, dtype=np.float64) for o in trainer.outputs(X)])
        return float(np.average(_codes(z) == y, weights=w))

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores: shape (n,) for two classes (> 0 means ``classes_[1]``), else (n, n_classes) logits."""
        z = self._outputs(X)
        if len(self.classes_) == 2:
            return z[:, 0] if z.shape[1] == 1 else z[:, 1] - z[:, 0]
        return z

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class label of each row of ``X``."""
        codes = _codes(self._outputs(X))  # first: an unfitted estimator raises NotFittedError
        return self.classes_[codes]

    def _has_proba(self) -> bool:
        return self.loss == "auto" or self._loss_name() in PROBABILISTIC_LOSSES

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``."""
        return probabilities(self._outputs(X))

    @available_if(_has_proba)
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of `predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a classifier of dense numeric data; multiclass unless the loss is binary-only."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self._loss_task() != "binary"
        return tags

    def _loss_name(self) -> Optional[str]:
        """The registered name of ``loss`` (``"bce"`` of ``"bce:l2=0.01"``), None for ``"auto"`` or a non-string."""
        return self.loss.split(":")[0] if isinstance(self.loss, str) and self.loss != "auto" else None

    def _loss_task(self) -> Optional[str]:
        if self._loss_name() is None:
            return None
        try:
            return getattr(get_registry().get("losses", self._loss_name()), "task", None)
        except LookupError:
            return None


def _codes(z: np.ndarray) -> np.ndarray:
    """Each row's class index from raw outputs (n, k): one score (> 0 is class 1), else the largest output."""
    return (z[:, 0] > 0).astype(np.int64) if z.shape[1] == 1 else np.argmax(z, axis=1)


class MLPRegressor(RegressorMixin, BaseMLP):
    """A multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained with microgradx.

    ``loss="squared_error"`` is scikit-learn's (half the mean squared error); any registered
    regression loss (``"mse"``, a plugin's ``"huber_regression"``) works too; ``"poisson"`` is
    not available. ``y`` of shape (n, k) trains k outputs and ``predict`` returns the shape ``fit``
    was given. Targets are used as given: scale large ones (``TransformedTargetRegressor``).
    The other parameters are `MLPClassifier`'s, without ``class_weight``.
    """

    def __init__(self, loss: str = "squared_error", hidden_layer_sizes: Any = (100,),
                 activation: Optional[str] = "relu", *, solver: str = "adam", alpha: float = 0.0001,
                 batch_size: Any = "auto", learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True, random_state: Any = None,
                 tol: float = 1e-4, verbose: bool = False, warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False, validation_fraction: float = 0.1,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-8, n_iter_no_change: int = 10,
                 max_fun: int = 15000, optimizer_options: Optional[dict] = None, loss_options: Optional[dict] = None,
                 schedule_options: Optional[dict] = None, layer: str = "MLP", callbacks: Sequence = ()):
        _store(self, locals())

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Train on ``X`` (n_samples, n_features) and targets ``y`` ((n,) or (n, k)); returns ``self``."""
        return self._fit(X, y, sample_weight)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``X``, ``y``, continuing from the current weights (and optimizer state)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple:
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True, reset=reset)
        y = np.asarray(y, dtype=np.float64)
        if reset or not hasattr(self, "_y_ndim"):
            self._y_ndim = y.ndim
        return X, y

    def _targets(self, y: np.ndarray, first_pass: bool, classes: Any) -> tuple:
        return y, "regression", None

    def _loss(self, n_classes: Optional[int]) -> Any:
        loss = self.loss
        if loss == "poisson":
            raise ValueError(f"{type(self).__name__}: loss='poisson' is not available; use loss='squared_error' "
                             f"(the default) or a registered regression loss such as 'mse'")
        if not isinstance(loss, str):
            raise TypeError(f"{type(self).__name__}: loss must be 'squared_error' or a registered loss name, "
                            f"got {loss!r}")
        built = build_component(get_registry(), "losses", loss, self.loss_options)
        task = getattr(built, "task", None)
        if task != "regression":
            raise ValueError(f"{type(self).__name__}: loss {loss!r} is not a regression loss (its task is "
                             f"{task!r}); use 'squared_error' or 'mse'")
        return built

    def _n_outputs(self, loss: Any, y: np.ndarray, n_classes: Optional[int]) -> int:
        return 1 if y.ndim == 1 else y.shape[1]

    def _out_activation(self, loss: Any, n_outputs: int) -> str:
        return "identity"

    def _validation_score(self, trainer: Any, X: np.ndarray, y: np.ndarray, w: Optional[np.ndarray]) -> float:
        from sklearn.metrics import r2_score

        z = np.column_stack([np.asarray(o.data, dtype=np.float64) for o in trainer.outputs(X)])
        return float(r2_score(y, z[:, 0] if y.ndim == 1 else z, sample_weight=w))

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: shape (n,) if ``y`` was 1-D in ``fit``, else (n, n_outputs_)."""
        z = self._outputs(X)
        return z[:, 0] if self._y_ndim == 1 else z

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a regressor of dense numeric data, one or several outputs."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
