"""scikit-learn estimators built on microgradx: `MLPClassifier` and `MLPRegressor`.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from microgradx.sklearn import MLPClassifier
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16, 16), random_state=0))
    >>> clf.fit(X, y).score(X_test, y_test)                                   # doctest: +SKIP
    0.97...

Every component is chosen by its registered name, so a plugin's layer, activation, loss,
optimizer, schedule or callback is used exactly like a bundled one: the estimator builds a
model (``layer``, default ``"MLP"``) and hands it, with the training data, to
`microgradx.train.Trainer`, which runs the same training loop as ``microgradx train``.

The estimators follow scikit-learn's conventions (and pass its estimator checks, see
``tests/test_sklearn.py``): ``__init__`` only stores its arguments; ``fit`` validates
them and the data and sets the fitted attributes, whose names end in ``_``; ``clone``,
``Pipeline``, ``GridSearchCV`` and ``cross_val_score`` work. A fitted estimator pickles
(parallel ``GridSearchCV(n_jobs=...)`` ships estimators to worker processes that way):
its model travels as a recipe (layer name and sizes) plus its weights as a float array.
Model *files* are another matter: save a model with `microgradx.modelfile`, never pickle.

This module imports scikit-learn; ``import microgradx`` does not import this module.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from microgradx.registry.core import get_registry
from microgradx.train import History, Trainer, model_outputs

__all__ = ["MLPClassifier", "MLPRegressor"]

#: Losses whose outputs are log-odds (bce) or logits (softmax_ce), so ``predict_proba`` exists.
PROBABILISTIC_LOSSES = ("auto", "bce", "softmax_ce")


class _Data:
    """The training data in the shape `Trainer` takes as a dataset (no file, no scaling)."""

    def __init__(self, X_train: np.ndarray, y_train: np.ndarray, X_test: Optional[np.ndarray],
                 y_test: Optional[np.ndarray], task: str, n_classes: Optional[int]):
        self.name = "fit data"
        self.X_train, self.y_train, self.X_test, self.y_test = X_train, y_train, X_test, y_test
        self.task = task
        self.n_classes = n_classes


class _BaseMLP(BaseEstimator):
    """What both estimators share: the parameters, checking them, training, pickling."""

    def __init__(self, hidden_layer_sizes: Any = (16, 16), activation: Optional[str] = "relu", *,
                 loss: str = "auto", optimizer: str = "adam", lr: Optional[float] = None,
                 schedule: Optional[str] = "cosine", epochs: int = 40, batch_size: Optional[int] = 32,
                 l2: float = 0.0, optimizer_options: Optional[dict] = None, loss_options: Optional[dict] = None,
                 schedule_options: Optional[dict] = None, layer: str = "MLP",
                 validation_fraction: Optional[float] = None, callbacks: Sequence = (), shuffle: bool = True,
                 random_state: Any = None):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.schedule = schedule
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.optimizer_options = optimizer_options
        self.loss_options = loss_options
        self.schedule_options = schedule_options
        self.layer = layer
        self.validation_fraction = validation_fraction
        self.callbacks = callbacks
        self.shuffle = shuffle
        self.random_state = random_state

    # -- checking the parameters (in fit, as scikit-learn wants) --------------------------

    def _checked_params(self) -> dict:
        """The parameters, checked and normalised; a ValueError/TypeError naming the bad one."""
        who = type(self).__name__
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
            raise TypeError(f"{who}: hidden_layer_sizes must be a tuple of layer sizes such as (16, 16), "
                            f"got {self.hidden_layer_sizes!r}")
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"{who}: hidden_layer_sizes must hold positive integers, got "
                                 f"{self.hidden_layer_sizes!r}")
        epochs = self.epochs
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
            raise ValueError(f"{who}: epochs must be a positive integer, got {epochs!r}")
        bs = self.batch_size
        if bs is not None and (isinstance(bs, bool) or not isinstance(bs, numbers.Integral) or bs < 1):
            raise ValueError(f"{who}: batch_size must be a positive integer or None (full batch), got {bs!r}")
        lr = self.lr
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, numbers.Real)
                               or not math.isfinite(lr) or lr <= 0):
            raise ValueError(f"{who}: lr must be a positive number or None (the optimizer's default), got {lr!r}")
        l2 = self.l2
        if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not math.isfinite(l2) or l2 < 0:
            raise ValueError(f"{who}: l2 must be a number >= 0, got {l2!r}")
        options = {}
        for name in ("optimizer_options", "loss_options", "schedule_options"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, dict):
                raise TypeError(f"{who}: {name} must be a dict of settings or None, got {value!r}")
            options[name] = dict(value or {})
        if l2 and "l2" in options["loss_options"]:
            raise ValueError(f"{who}: l2 is given twice, as l2={l2!r} and in loss_options; give it once")
        if l2:
            options["loss_options"]["l2"] = float(l2)
        vf = self.validation_fraction
        if vf is not None and (isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf < 1.0):
            raise ValueError(f"{who}: validation_fraction must be a number in (0, 1) or None, got {vf!r}")
        for name in ("loss", "optimizer", "layer"):
            if not isinstance(getattr(self, name), str):
                also = " or 'auto'" if name == "loss" else ""
                raise TypeError(f"{who}: {name} must be a registered name{also}, got {getattr(self, name)!r}")
        if self.schedule is not None and not isinstance(self.schedule, str):
            raise TypeError(f"{who}: schedule must be a registered name or None, got {self.schedule!r}")
        if isinstance(self.callbacks, (str, bytes)) or not isinstance(self.callbacks, (Sequence, type(None))):
            raise TypeError(f"{who}: callbacks must be a list of callback names or objects, got {self.callbacks!r}")
        if not isinstance(self.shuffle, (bool, np.bool_)):
            raise TypeError(f"{who}: shuffle must be True or False, got {self.shuffle!r}")
        return dict(hidden=[int(s) for s in sizes], lr=None if lr is None else float(lr), **options)

    def _seed(self) -> int:
        """An int seed from ``random_state`` (an int is used as is; None or a RandomState draws one)."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if rs < 0:
                raise ValueError(f"{type(self).__name__}: random_state must be >= 0, got {rs!r}")
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    # -- training ---------------------------------------------------------------------------

    def _train(self, p: dict, X: np.ndarray, y: np.ndarray, task: str, n_classes: Optional[int], loss: str,
               n_outputs: int) -> None:
        """Build the model, train it with a `Trainer` (``p``: the checked parameters), set the fitted attributes."""
        seed = self._seed()
        registry = get_registry()
        X_val = y_val = None
        if self.validation_fraction is not None:
            stratify = y if task != "regression" else None
            try:
                X, X_val, y, y_val = train_test_split(X, y, test_size=self.validation_fraction,
                                                      random_state=seed, stratify=stratify)
            except ValueError as exc:
                raise ValueError(f"{type(self).__name__}: cannot hold out validation_fraction="
                                 f"{self.validation_fraction!r} of {len(y)} examples: {exc}") from None
        cls = registry.get("layers", self.layer)
        recipe = {"layer": self.layer, "nin": int(X.shape[1]), "nouts": [*p["hidden"], n_outputs],
                  "activation": self.activation, "seed": seed}
        model = _build_model(cls, recipe)
        trainer = Trainer(model=model, loss=loss, optimizer=self.optimizer, lr=p["lr"], schedule=self.schedule,
                          dataset=_Data(X, y, X_val, y_val, task, n_classes), epochs=int(self.epochs),
                          batch_size=None if self.batch_size is None else int(self.batch_size), seed=seed,
                          callbacks=list(self.callbacks or ()), loss_options=p["loss_options"],
                          optimizer_options=p["optimizer_options"], schedule_options=p["schedule_options"],
                          shuffle=bool(self.shuffle))
        history = trainer.fit()
        self.model_ = model
        self._model_recipe = recipe
        self.loss_name_ = loss
        self.history_: History = history
        self.loss_curve_ = list(history.loss)
        self.loss_ = float(history.loss[-1])
        self.n_iter_ = len(history)

    def _outputs(self, X: Any) -> np.ndarray:
        """The model's raw outputs for ``X`` as an (n, k) float array."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        outputs = model_outputs(self.model_, np.asarray(X, dtype=np.float64))
        return np.column_stack([np.asarray(o.data, dtype=np.float64) for o in outputs])

    # -- pickling (joblib's process pool ships estimators this way) -------------------------

    def __getstate__(self) -> dict:
        """The estimator's state with the model as a recipe and a float array of weights.

        A model holds Values whose ops are functions, which do not pickle; the recipe
        (registered layer name, sizes, activation, seed) rebuilds it and the weights are
        put back with ``set_weights``.
        """
        state = dict(super().__getstate__())  # a copy: on Python 3.11+ object's is __dict__ itself
        model = state.pop("model_", None)
        if model is not None:
            get_weights = getattr(model, "get_weights", None)
            if not callable(get_weights):
                raise TypeError(f"{type(self).__name__} cannot be pickled: its model "
                                f"{type(model).__name__} has no get_weights()")
            state["_model_weights"] = np.asarray(get_weights(), dtype=np.float64)
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the model from its recipe and weights (see `__getstate__`)."""
        state = dict(state)
        weights = state.pop("_model_weights", None)
        super().__setstate__(state)
        if weights is not None:
            recipe = state["_model_recipe"]
            model = _build_model(get_registry().get("layers", recipe["layer"]), recipe)
            model.set_weights(weights)
            self.model_ = model


def _build_model(cls: Any, recipe: dict) -> Any:
    """``cls(nin, nouts, activation=..., seed=...)``, the constructor every registered MLP-like layer has."""
    return cls(recipe["nin"], list(recipe["nouts"]), activation=recipe["activation"], seed=recipe["seed"])


_DOC_PARAMS = """
    Args:
        hidden_layer_sizes: the sizes of the hidden layers, e.g. ``(16, 16)``; an int for one
            layer; ``()`` for none (a linear model).
        activation: the hidden layers' activation, any registered unary op (``"relu"``,
            ``"tanh"``, a plugin's ``"softplus"``), or None for linear units.
        loss: a registered loss name; {loss_doc}
        optimizer: a registered optimizer name (``"adam"``, ``"sgd"``, a plugin's ``"rmsprop"``).
        lr: the base learning rate; None uses the optimizer's default (Adam 0.01, SGD 0.05
            with momentum 0.9: `microgradx.train.DEFAULT_OPTIMIZER_SETTINGS`).
        schedule: a registered learning-rate schedule (``"cosine"``, ``"linear"``,
            ``"constant"``), or None for a constant rate.
        epochs: passes over the training data.
        batch_size: examples per optimizer step; None for full batch.
        l2: weight of the L2 penalty ``l2 * sum(w * w)`` added to the loss.
        optimizer_options, loss_options, schedule_options: further settings of the
            components, by name, e.g. ``optimizer_options={{"momentum": 0.8}}``.
        layer: the registered model to build (default ``"MLP"``), constructed as
            ``layer(n_features, [*hidden_layer_sizes, n_outputs], activation=..., seed=...)``.
        validation_fraction: hold out this fraction of the training data (stratified for a
            classifier) and report ``test_loss`` on it after each epoch (in ``history_``); what
            the ``early_stopping`` callback then monitors. None: train on everything.
        callbacks: training callbacks by registered name (``"progress"``, ``"early_stopping"``,
            ...) or as objects (e.g. ``EarlyStopping(patience=5)``, used as given).
        shuffle: reshuffle the training data every epoch.
        random_state: an int for reproducible results (it seeds the initialisation, the
            shuffling and the validation split), a ``RandomState``, or None.

    Bad settings are reported by ``fit``, not here (scikit-learn's convention): a
    ``ValueError``/``TypeError`` naming the setting, or an ``UnknownComponentError``
    listing what is registered.

    Fitted attributes:
        model_: the trained model (a microgradx ``MLP`` unless ``layer`` says otherwise).
        history_: the `microgradx.train.History` of the run (loss, lr, seconds per epoch, ...).
        loss_curve_: the mean training loss of each epoch; ``loss_``: the last one.
        n_iter_: the number of epochs run (fewer than ``epochs`` if a callback stopped early).
        loss_name_: the loss that was used.
        n_features_in_: the number of input features (and ``feature_names_in_`` for a
            DataFrame with string column names).
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """A multi-layer perceptron classifier trained with microgradx.

    Labels may be anything scikit-learn accepts (ints, strings, ...): they are encoded as
    0..k-1 for training and decoded in ``predict``. Two classes train one output with
    binary cross-entropy; more train one output per class with softmax cross-entropy.
    """ + _DOC_PARAMS.format(loss_doc=(
        '``"auto"`` picks ``"bce"`` for two classes and ``"softmax_ce"`` for more. A binary '
        'loss (``"bce"``, ``"hinge"``) needs two classes and trains one output whose sign is the '
        'class; a multiclass loss trains one output per class. ``predict_proba`` exists for '
        '``"auto"``, ``"bce"`` and ``"softmax_ce"``.')) + """        classes_: the class labels, sorted.
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features) and class labels ``y``; returns ``self``."""
        p = self._checked_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 classes to train, got 1 class: "
                             f"{self.classes_.tolist()[0]!r}")
        loss = self._loss_for(n_classes)
        binary = getattr(get_registry().get("losses", loss), "task", None) == "binary"
        task = "binary" if n_classes == 2 else "multiclass"
        self._train(p, X, encoded.astype(np.int64), task, n_classes, loss, 1 if binary else n_classes)
        return self

    def _loss_for(self, n_classes: int) -> str:
        """The loss name for ``n_classes`` classes (resolving ``"auto"``); an error if it cannot fit them."""
        if self.loss == "auto":
            return "bce" if n_classes == 2 else "softmax_ce"
        task = getattr(get_registry().get("losses", self.loss), "task", None)
        if task == "binary" and n_classes != 2:
            raise ValueError(f"Only binary classification is supported with loss={self.loss!r}: "
                             f"{type(self).__name__} got {n_classes} classes; use loss='softmax_ce' or 'auto'")
        if task not in ("binary", "multiclass"):
            raise ValueError(f"{type(self).__name__}: loss {self.loss!r} is not a classification loss "
                             f"(its task is {task!r}); use 'bce', 'hinge', 'softmax_ce' or 'auto'")
        return self.loss

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores: shape (n,) for two classes (> 0 means ``classes_[1]``), else (n, n_classes) logits."""
        z = self._outputs(X)
        if len(self.classes_) == 2:
            return z[:, 0] if z.shape[1] == 1 else z[:, 1] - z[:, 0]
        return z

    def predict(self, X: Any) -> np.ndarray:
        """The predicted class label of each row of ``X``."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(np.int64) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[index]

    def _has_proba(self) -> bool:
        return self.loss in PROBABILISTIC_LOSSES

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n, n_classes), columns in the order of ``classes_``.

        The sigmoid of the logit (bce) or the softmax of the logits (softmax_ce).
        """
        z = self._outputs(X)
        if z.shape[1] == 1:
            p = expit(z[:, 0])
            return np.column_stack([1.0 - p, p])
        return softmax(z, axis=1)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a classifier of dense numeric data; multiclass unless the loss is binary-only."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = self._loss_task() != "binary"
        return tags

    def _loss_task(self) -> Optional[str]:
        """The task of the loss parameter's registered loss (None for "auto" or an unknown name)."""
        if not isinstance(self.loss, str) or self.loss == "auto":
            return None
        try:
            return getattr(get_registry().get("losses", self.loss), "task", None)
        except LookupError:
            return None


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """A multi-layer perceptron regressor trained with microgradx.

    ``y`` of shape (n,) trains one output; ``y`` of shape (n, k) trains k outputs (multi-output
    regression), and ``predict`` returns the same shape. Targets are used as given: scale
    large ones (e.g. ``TransformedTargetRegressor(regressor=..., transformer=StandardScaler())``).
    """ + _DOC_PARAMS.format(loss_doc='``"auto"`` (or ``"mse"``) is mean squared error; any loss whose '
                             'task is "regression" works (e.g. a plugin\'s ``"huber_regression"``).') + """\
        n_outputs_: the number of outputs (columns of ``y``).

    ``score`` is the R^2 of the predictions (scikit-learn's ``RegressorMixin``).
    """

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on ``X`` (n_samples, n_features) and targets ``y`` ((n,) or (n, k)); returns ``self``."""
        p = self._checked_params()
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        loss = "mse" if self.loss == "auto" else self.loss
        task = getattr(get_registry().get("losses", loss), "task", None)
        if task != "regression":
            raise ValueError(f"{type(self).__name__}: loss {loss!r} is not a regression loss (its task is "
                             f"{task!r}); use 'mse' or 'auto'")
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self._train(p, X, y, "regression", None, loss, self.n_outputs_)
        self._y_ndim = y.ndim
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: shape (n,) if ``y`` was 1-D in ``fit``, else (n, n_outputs_)."""
        z = self._outputs(X)
        return z[:, 0] if self._y_ndim == 1 else z

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a regressor of dense numeric data, one or several outputs."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
