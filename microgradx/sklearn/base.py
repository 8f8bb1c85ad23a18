"""What both estimators share: scikit-learn's stochastic training loop on a `Trainer`, the fitted
attributes scikit-learn's MLP has, sample and class weights, ``partial_fit``, ``warm_start``, pickling.

The loop is scikit-learn's ``_fit_stochastic``: per epoch one pass of `Trainer.train_epoch`
(batches of ``batch_size``, shuffled), the loss curve, then the no-improvement count on the
training loss (or, with ``early_stopping``, on the validation score) against ``tol``; more than
``n_iter_no_change`` epochs without improvement stops the run (or, with
``learning_rate="adaptive"``, divides the rate by 5). ``alpha`` adds ``alpha * w / n_batch`` to
each weight's gradient (biases excluded), as scikit-learn's L2 term does.
"""

from __future__ import annotations

import numbers
import time
import warnings
from typing import Any, Optional

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted

from microgradx.engine.parameter import StoreLookup
from microgradx.registry.core import get_registry
from microgradx.sklearn.params import batch_size_for, checked, optimizer_and_schedule
from microgradx.sklearn.resume import restore, resume_state
from microgradx.train import History, Trainer, component_name, parse_component
from microgradx.train.steps import compiled_forward


class _Data:
    """The training data in the shape `Trainer` takes as a dataset (no file, no scaling)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, task: str, n_classes: Optional[int]):
        self.name = "fit data"
        self.X_train, self.y_train, self.X_test, self.y_test = X, y, None, None
        self.task, self.n_classes = task, n_classes


class _Penalised:
    """An optimizer that first adds scikit-learn's L2 gradient ``alpha * w / batch_weight`` to each weight."""

    def __init__(self, inner: Any, weights: list, alpha: float):
        self.inner, self.weights, self.alpha, self.batch_weight = inner, weights, alpha, 1.0
        self._lookup = StoreLookup(weights)  # the weights' ParameterStore and indices, when they share one

    @property
    def lr(self) -> float:
        """The inner optimizer's learning rate."""
        return self.inner.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.inner.lr = value

    def zero_grad(self) -> None:
        """Zero every parameter's gradient."""
        self.inner.zero_grad()

    def step(self) -> None:
        """Add the L2 gradient to the weights' gradients, then step the inner optimizer."""
        if self.alpha:
            c = self.alpha / self.batch_weight
            where = self._lookup()
            if where is not None:
                store, index = where
                store.grad[index] += c * store.data[index]  # the optimizer's own arrays: two array operations
            else:
                for w in self.weights:
                    w.grad = w.grad + c * w.data
        self.inner.step()

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


class _EstimatorTrainer(Trainer):
    """A `Trainer` that tells the penalty each batch's weight (scikit-learn divides by the batch's weight sum)
    and, for ``learning_rate="invscaling"``, sets ``lr = learning_rate_init / (1 + t) ** power_t`` with ``t``
    the examples seen so far (weights counted, so a weight of 2 is a repeated row)."""

    power_t: Optional[float] = None
    examples_seen: float = 0.0

    def train_step(self, X: np.ndarray, y: np.ndarray, sample_weight: Optional[np.ndarray] = None,
                   targets: Optional[np.ndarray] = None) -> float:
        """One optimizer step on a batch (see `Trainer.train_step`)."""
        weight = float(len(y) if sample_weight is None else np.sum(sample_weight))
        self.optimizer.batch_weight = weight
        if self.power_t is not None:
            self.optimizer.lr = self.base_lr / (1.0 + self.examples_seen) ** self.power_t
        self.examples_seen += weight
        return super().train_step(X, y, sample_weight, targets=targets)


def _layers_of_neurons(model: Any) -> list:
    layers = getattr(model, "layers", None)
    if not layers or not all(hasattr(layer, "neurons") for layer in layers):
        raise AttributeError(f"coefs_ and intercepts_ need a model of layers of neurons (such as MLP), not "
                             f"{type(model).__name__}; use model_.get_weights()")
    return layers


def build_model(recipe: dict) -> Any:
    """``layer(nin, nouts, activation=..., seed=...)``, the constructor every registered MLP-like layer has."""
    cls = get_registry().get("layers", recipe["layer"])
    return cls(recipe["nin"], list(recipe["nouts"]), activation=recipe["activation"], seed=recipe["seed"])


class BaseMLP(BaseEstimator):
    """The shared part of `MLPClassifier` and `MLPRegressor` (not an estimator by itself)."""

    # -- fitted attributes scikit-learn's MLP has, read from the model --------------------------

    @property
    def coefs_(self) -> list:
        """The weight matrices, ``coefs_[i]`` of shape (units of layer i, units of layer i + 1)."""
        check_is_fitted(self, "model_")
        return [np.array([[w.data for w in n.w] for n in layer.neurons], dtype=np.float64).T
                for layer in _layers_of_neurons(self.model_)]

    @property
    def intercepts_(self) -> list:
        """The bias vectors, ``intercepts_[i]`` of shape (units of layer i + 1,)."""
        check_is_fitted(self, "model_")
        return [np.array([n.b.data for n in layer.neurons], dtype=np.float64)
                for layer in _layers_of_neurons(self.model_)]

    # -- fitting --------------------------------------------------------------------------------

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            if not 0 <= rs < 2**32:
                raise ValueError(f"{type(self).__name__}: random_state must be in [0, 2**32), got {rs!r}")
            return int(rs)
        return int(check_random_state(rs).randint(np.iinfo(np.int32).max))

    def _fit(self, X: Any, y: Any, sample_weight: Any = None, incremental: bool = False, classes: Any = None) -> Any:
        p = checked(self)
        if incremental and p["early_stopping"]:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "model_") or (not p["warm_start"] and not incremental)
        X, y = self._validate(X, y, reset=first_pass)
        y, task, n_classes = self._targets(y, first_pass, classes)
        weights = self._weights(sample_weight, X, y, incremental)
        loss = self._loss(n_classes)
        n_outputs = self._n_outputs(loss, y, n_classes)
        seed = self._seed()
        if first_pass:
            self._initialize(p, X.shape[1], n_outputs, seed, loss)
        elif list(self._model_recipe["nouts"]) != [*p["hidden"], n_outputs]:
            raise ValueError(f"{type(self).__name__}: the fitted model has layers {self._model_recipe['nouts']}, "
                             f"the parameters ask for {[*p['hidden'], n_outputs]}; fit with warm_start=False")
        split = self._split(p, X, y, weights, seed, task)
        trainer = getattr(self, "_trainer", None) if incremental else None
        if trainer is None:
            trainer = self._new_trainer(p, split[0], split[1], task, n_classes, loss, seed)
            resume = self.__dict__.pop("_resume", None)
            if incremental and resume is not None:
                restore(trainer, resume)  # unpickled mid-run: the optimizer and the shuffling go on as they were
        self.__dict__.pop("_resume", None)
        self._trainer = trainer
        self._epochs(p, trainer, *split, incremental=incremental)
        return self

    def _weights(self, sample_weight: Any, X: np.ndarray, y: np.ndarray, incremental: bool) -> Optional[np.ndarray]:
        """``sample_weight`` times the class weights (classifier), or None when every weight is 1."""
        w = None if sample_weight is None else _check_sample_weight(sample_weight, X, dtype=np.float64)
        class_w = self._class_weights(y, incremental)
        if class_w is not None:
            w = class_w if w is None else w * class_w
        if w is not None and not w.sum() > 0:
            raise ValueError(f"{type(self).__name__}: the sample weights sum to 0; give some example a positive weight")
        return w

    def _class_weights(self, y: np.ndarray, incremental: bool) -> Optional[np.ndarray]:
        return None

    def _initialize(self, p: dict, n_features: int, n_outputs: int, seed: int, loss: Any) -> None:
        recipe = {"layer": self.layer, "nin": int(n_features), "nouts": [*p["hidden"], n_outputs],
                  "activation": p["activation"], "seed": seed}
        self.model_ = build_model(recipe)
        self._model_recipe = recipe
        self._trainer = None
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(p["hidden"]) + 2
        self.out_activation_ = self._out_activation(loss, n_outputs)
        self.loss_name_ = component_name("losses", loss)
        self.loss_curve_: list = []
        self.history_ = History()
        self._no_improvement_count = 0
        if p["early_stopping"]:
            self.validation_scores_: Optional[list] = []
            self.best_validation_score_: Optional[float] = -np.inf
            self.best_loss_: Optional[float] = None
        else:
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None
        self._best_weights = None

    def _split(self, p: dict, X: np.ndarray, y: np.ndarray, w: Optional[np.ndarray], seed: int, task: str) -> tuple:
        """``(X_train, y_train, w_train, X_val, y_val, w_val)``: scikit-learn's early-stopping hold-out, if any."""
        if not p["early_stopping"]:
            return X, y, w, None, None, None
        stratify = y if task != "regression" else None
        arrays = (X, y) if w is None else (X, y, w)
        try:
            parts = train_test_split(*arrays, random_state=seed, test_size=p["validation_fraction"], stratify=stratify)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}: cannot hold out validation_fraction="
                             f"{p['validation_fraction']!r} of {len(y)} examples: {exc}") from None
        X_train, X_val, y_train, y_val = parts[:4]
        w_train, w_val = (parts[4], parts[5]) if w is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             "your dataset.")
        return X_train, y_train, w_train, X_val, y_val, w_val

    def _new_trainer(self, p: dict, X: np.ndarray, y: np.ndarray, task: str, n_classes: Optional[int], loss: Any,
                     seed: int) -> Trainer:
        bs = batch_size_for(p, len(y))
        params = list(self.model_.parameters())
        try:
            weights = [w for layer in _layers_of_neurons(self.model_) for n in layer.neurons for w in n.w]
        except AttributeError:  # another plugin's model: no way to tell weights from biases
            weights = params
        optimizer, schedule = optimizer_and_schedule(self, p, params)
        trainer = _EstimatorTrainer(model=self.model_, loss=loss, optimizer=_Penalised(optimizer, weights, p["alpha"]),
                                    schedule=schedule, dataset=_Data(X, y, task, n_classes), epochs=p["max_iter"],
                                    batch_size=bs, seed=seed, callbacks=list(self.callbacks or ()),
                                    shuffle=p["shuffle"])
        if p["learning_rate"] == "invscaling" and parse_component(p["solver"], "solver")[0] == "sgd":
            trainer.power_t = p["power_t"]
        return trainer

    def _epochs(self, p: dict, trainer: Trainer, X: np.ndarray, y: np.ndarray, w: Optional[np.ndarray],
                X_val: Optional[np.ndarray], y_val: Optional[np.ndarray], w_val: Optional[np.ndarray],
                incremental: bool) -> None:
        """scikit-learn's epoch loop (see the module docstring), firing the training events for callbacks."""
        n = len(y)
        total = n if w is None else float(np.sum(w))  # weights count as repeated rows
        weights = trainer.optimizer.weights
        self.n_iter_ = 0
        started = time.perf_counter()
        with trainer.session() as hook:
            hook.microgradx_train_start(trainer=trainer)
            try:
                for _ in range(p["max_iter"]):
                    t0 = time.perf_counter()
                    trainer.epoch = self.n_iter_
                    loss = trainer.train_epoch(X, y, w, hook=hook)
                    if p["alpha"]:  # reported as scikit-learn reports it: data loss plus the L2 term
                        squares = sum(v.data * v.data for v in weights)
                        loss += 0.5 * p["alpha"] * squares * trainer.steps_per_epoch / total
                    self.n_iter_ += 1
                    self.t_ += n
                    self.loss_ = float(loss)
                    self.loss_curve_.append(self.loss_)
                    if p["verbose"]:
                        print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")
                    metrics = {"loss": self.loss_, "lr": float(trainer.optimizer.lr)}
                    self._update_no_improvement_count(p, trainer, X_val, y_val, w_val, metrics)
                    metrics["seconds"] = time.perf_counter() - t0
                    self.history_.append(metrics)
                    self.history_.total_seconds = time.perf_counter() - started
                    hook.microgradx_epoch_end(trainer=trainer, epoch=self.n_iter_ - 1, metrics=metrics)
                    if self._no_improvement_count > p["n_iter_no_change"] and self._no_improvement(p, trainer):
                        break
                    if trainer.should_stop:
                        self.history_.stopped_early = True
                        break
                    if incremental:
                        break
                    if self.n_iter_ == p["max_iter"]:
                        warnings.warn(f"Stochastic Optimizer: Maximum iterations ({p['max_iter']}) reached and the "
                                      f"optimization hasn't converged yet.", ConvergenceWarning, stacklevel=4)
            except KeyboardInterrupt:
                warnings.warn("Training interrupted by user.", stacklevel=4)
            if p["early_stopping"] and self._best_weights is not None:
                self.model_.set_weights(self._best_weights)  # scikit-learn restores the best validation score's
            hook.microgradx_train_end(trainer=trainer, history=self.history_)

    def _update_no_improvement_count(self, p: dict, trainer: Trainer, X_val: Any, y_val: Any, w_val: Any,
                                     metrics: dict) -> None:
        if p["early_stopping"]:
            score = self._validation_score(trainer, X_val, y_val, w_val)
            self.validation_scores_.append(score)
            metrics["validation_score"] = score
            if trainer.callbacks:
                metrics["test_loss"] = trainer.evaluate(X_val, y_val)["loss"]
            if p["verbose"]:
                print(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + p["tol"]:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_weights = self.model_.get_weights()
            return
        if self.loss_curve_[-1] > self.best_loss_ - p["tol"]:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        self.best_loss_ = min(self.best_loss_, self.loss_curve_[-1])

    def _no_improvement(self, p: dict, trainer: Trainer) -> bool:
        """After ``n_iter_no_change`` epochs without improvement: True to stop, False after dividing the rate by 5."""
        what = "Validation score" if p["early_stopping"] else "Training loss"
        msg = f"{what} did not improve more than tol={p['tol']:f} for {p['n_iter_no_change']} consecutive epochs."
        adaptive = p["learning_rate"] == "adaptive" and parse_component(p["solver"], "solver")[0] == "sgd"
        if not adaptive or trainer.optimizer.lr <= 1e-6:
            if p["verbose"]:
                print(msg + (" Learning rate too small." if adaptive else "") + " Stopping.")
            return True
        trainer.optimizer.lr = trainer.optimizer.lr / 5.0
        if p["verbose"]:
            print(msg + f" Setting learning rate to {trainer.optimizer.lr:f}")
        self._no_improvement_count = 0
        return False

    def _outputs(self, X: Any) -> np.ndarray:
        """The model's raw outputs for ``X`` as an (n, k) float array."""
        from sklearn.utils.validation import validate_data

        check_is_fitted(self, "model_")
        X = np.asarray(validate_data(self, X, reset=False, dtype=np.float64), dtype=np.float64)
        trainer = getattr(self, "_trainer", None)
        if trainer is not None and trainer.model is self.model_:
            outputs = [o.data for o in trainer.outputs(X)]  # the trainer's compiled forward
        else:  # unpickled (no trainer yet): a compiled forward of its own, the same numbers
            forward = getattr(self, "_forward", None)
            if forward is None or forward[0] is not self.model_:
                forward = self._forward = (self.model_, compiled_forward(self.model_))
            outputs = forward[1].forward(X)
        return np.column_stack([np.atleast_1d(np.asarray(o, dtype=np.float64)) for o in outputs])

    # -- pickling (joblib's process pool ships estimators this way) -------------------------------

    def __getstate__(self) -> dict:
        """The estimator's state with the model as a recipe and a float array of weights.

        A model holds Values whose ops are functions, which do not pickle; the recipe
        (registered layer name, sizes, activation, seed) rebuilds it and the weights are put
        back with ``set_weights``. The trainer is left behind, but what the next ``partial_fit``
        depends on is kept (``_resume``: the optimizer's state and learning rate, the step count,
        the shuffling generator's state, the examples seen), so a ``partial_fit`` after
        unpickling, on this machine or another (dask-ml's ``Incremental``), gives the same
        weights as one without.
        """
        state = dict(super().__getstate__())  # a copy: on Python 3.11+ object's is __dict__ itself
        trainer = state.pop("_trainer", None)
        if trainer is not None:
            state["_resume"] = resume_state(trainer)
        state.pop("_forward", None)
        model = state.pop("model_", None)
        if model is not None:
            state["_model_weights"] = np.asarray(model.get_weights(), dtype=np.float64)
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild the model from its recipe and weights (see `__getstate__`)."""
        state = dict(state)
        weights = state.pop("_model_weights", None)
        super().__setstate__(state)
        if weights is not None:
            self.model_ = build_model(state["_model_recipe"])
            self.model_.set_weights(weights)
        self._trainer = None

