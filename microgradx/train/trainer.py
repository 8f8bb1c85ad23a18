"""The `Trainer`: a model, a loss, an optimizer, a schedule and a dataset, by name or as objects.

    >>> from microgradx.train import Trainer
    >>> history = Trainer(dataset="breast_cancer", loss="bce", optimizer="adam", lr=0.01,
    ...                   epochs=30, batch_size=64, seed=0).fit()            # doctest: +SKIP
    >>> history.test_accuracy[-1]                                            # doctest: +SKIP
    0.98...

Every component is looked up in the registry, so a third-party loss or optimizer is
used exactly like a bundled one. Training events (start, each optimizer step, each
epoch, end) are hooks called through the registry's plugin manager: the run's
callbacks (progress, log, early_stopping, checkpoint, or any object with hook
implementations) are registered as plugins for the run and unregistered after it,
also when it fails; plugins installed for good receive the events too.

Two modes build the same mathematics:

* ``mode="lanes"`` (default): one graph per batch, each input a lane Value holding that
  feature for every example of the batch (see DESIGN.md, "Lanes").
* ``mode="scalar"``: one graph per example, as in micrograd; the gradient of the batch
  mean is accumulated example by example. Slower; the teaching mode.

With the same seed (model initialisation, data split and shuffling) two runs give the
same numbers. Each step's graph building and backward pass run with Python's cyclic
garbage collector paused (`microgradx.gc_paused`).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, Optional

import numpy as np

from microgradx.engine import anomaly
from microgradx.modelfile import Schema
from microgradx.registry.components import build_component, component_name, named_with_options
from microgradx.registry.core import get_registry
from microgradx.registry.discovery import PluginInfo, add_plugin
from microgradx.train.components import (
    DEFAULT_LOSS,
    DEFAULT_OPTIMIZER_SETTINGS,
    check_int,
    check_positive_int,
    check_sample_weight,
    outputs_for,
)
from microgradx.train.evaluation import evaluate, predictions
from microgradx.train.history import History
from microgradx.train.meta import run_meta
from microgradx.train.steps import make_steps

MODES = ("lanes", "scalar")

#: The training accuracy of each epoch is measured on at most this many examples (a seeded sample).
TRAIN_SAMPLE = 10_000

#: An epoch whose mean loss is this many times the run's best so far (or its first step's) warns.
DIVERGENCE_FACTOR = 1000.0


class DivergenceWarning(UserWarning):
    """The training loss grew by orders of magnitude: the learning rate is most likely too large.

    ``lr`` is the base learning rate of the run, ``loss`` the epoch's mean loss and
    ``reference`` the smaller of the first step's loss and the best epoch's.
    """

    def __init__(self, message: str, lr: float = math.nan, loss: float = math.nan, reference: float = math.nan):
        super().__init__(message)
        self.lr, self.loss, self.reference = lr, loss, reference

class Trainer:
    """Train a model on a dataset: forward, backward and update, with training-event hooks.

    Every component may be a registered name, a class (constructed with its ``*_options``),
    or a ready object; a name may carry settings, ``"NAME:KEY=VALUE:KEY=VALUE"``
    (``optimizer="adam:beta1=0.8"``, ``callbacks=["early_stopping:patience=3"]``,
    ``dataset="csv:path=bc.csv"``), the same form as on the command line:

    Args:
        model: a model object (callable, with ``parameters()``), or a registered layer name
            (default ``"MLP"``), built as ``MLP(n_features, [*hidden, n_outputs],
            activation=activation, seed=seed)``.
        loss: a loss name (``"bce"``, ``"hinge"``, ``"softmax_ce"``, ``"mse"``, ...) or object;
            ``None`` picks one from the dataset's task (`DEFAULT_LOSS`).
        optimizer: ``"sgd"``, ``"adam"``, ... or an optimizer object (already holding the
            model's parameters). By name, ``sgd`` and ``adam`` start from
            `DEFAULT_OPTIMIZER_SETTINGS` (SGD: lr 0.05, momentum 0.9; Adam: lr 0.01).
        lr: the base learning rate (``None``: the default above, else the optimizer's own).
        schedule: a schedule name (``"constant"``, ``"linear"``, ``"cosine"``), object, or None.
        dataset: a dataset name (``"iris"``, ``"csv:path=bc.csv"`` for a file), or a
            `microgradx.datasets.Dataset`.
        epochs: passes over the training split (>= 1).
        batch_size: examples per optimizer step; ``None`` for full batch.
        seed: seeds the model's initialisation, the data split and the shuffling.
        mode: ``"lanes"`` (one graph per batch) or ``"scalar"`` (one graph per example).
        callbacks: names, classes or objects implementing training-event hooks.
        hidden, activation: the hidden layer sizes and activation op of a model built by name.
        loss_options, optimizer_options, schedule_options, dataset_options, model_options:
            extra settings for components built from a name or class (e.g.
            ``loss_options={"l2": 1e-4}``, ``optimizer_options={"momentum": 0.9}``,
            ``dataset_options={"test_size": 0.2}``).
        shuffle: reshuffle the training split every epoch (minibatch only).
        detect_anomaly: run `fit` inside `microgradx.detect_anomaly`: the first op that produces
            NaN or inf, in forward or backward, raises `FloatingPointError` naming it and where its
            node was made (slower; for debugging a loss that becomes NaN).
        sample_weight: one number >= 0 per training example (``dataset.y_train``): each example's
            loss counts that many times (0 drops it). None: every example counts once.
        compile: record each step's graph once and replay it at array speed
            (`microgradx.compile`); False runs every step eagerly, node by node.
        train_sample: the training accuracy of each epoch is measured on a seeded sample of at
            most this many training examples (`TRAIN_SAMPLE` by default; the same sample every
            epoch), never on all of a large table; 0 measures none, None all of them.

    Bad settings raise ``ValueError``/``TypeError`` (or ``UnknownComponentError`` listing
    what is registered) here, at construction, not halfway through training.
    """

    def __init__(self, model: Any = "MLP", loss: Any = None, optimizer: Any = "sgd", lr: Optional[float] = None,
                 schedule: Any = "cosine", dataset: Any = "breast_cancer", epochs: int = 40,
                 batch_size: Optional[int] = 32, seed: int = 0, mode: str = "lanes", callbacks: Sequence = (),
                 *, hidden: Sequence[int] = (16, 16), activation: str = "relu",
                 loss_options: Optional[dict] = None, optimizer_options: Optional[dict] = None,
                 schedule_options: Optional[dict] = None, dataset_options: Optional[dict] = None,
                 model_options: Optional[dict] = None, shuffle: bool = True, detect_anomaly: bool = False,
                 sample_weight: Any = None, compile: bool = True, train_sample: Optional[int] = TRAIN_SAMPLE):
        self.epochs = check_positive_int("epochs", epochs)
        self.batch_size = None if batch_size is None else check_positive_int("batch_size", batch_size)
        self.seed = check_int("seed", seed)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        self.mode = mode
        self.shuffle = bool(shuffle)
        if train_sample is not None and check_int("train_sample", train_sample) < 0:
            raise ValueError(f"train_sample must be >= 0 (0: none) or None (all examples), got {train_sample!r}")
        self.train_sample = train_sample
        self.detect_anomaly = bool(detect_anomaly)
        if lr is not None:
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
                raise ValueError(f"lr (learning rate) must be a positive number, got {lr!r}")
            lr = float(lr)
        registry = get_registry()

        self.dataset_options = {"seed": self.seed, **(dataset_options or {})}
        self.dataset = self._resolve_dataset(registry, dataset, dict(self.dataset_options))
        ds = self.dataset
        self.loss = build_component(registry, "losses", loss if loss is not None else DEFAULT_LOSS.get(ds.task, "mse"),
                           loss_options)
        self.n_outputs = outputs_for(self.loss, self.dataset)
        if isinstance(model, str) or isinstance(model, type):
            if isinstance(model, str):
                model, model_options = named_with_options(registry, "layers", model, model_options)
            cls = registry.get("layers", model) if isinstance(model, str) else model
            options = {"activation": activation, "seed": self.seed, **(model_options or {})}
            sizes = [check_positive_int("hidden layer size", h) for h in hidden]
            self.model = cls(ds.X_train.shape[1], [*sizes, self.n_outputs], **options)
        else:
            if model_options:
                raise ValueError("model_options only apply to a model built from a name or class")
            self.model = model
        if not callable(self.model) or not callable(getattr(self.model, "parameters", None)):
            raise TypeError(f"model must be callable and have parameters(), got {type(self.model).__name__}")
        self.params = list(self.model.parameters())
        if not self.params:
            raise ValueError("the model has no parameters to train")

        if isinstance(optimizer, str) or isinstance(optimizer, type):
            if isinstance(optimizer, str):
                optimizer, optimizer_options = named_with_options(registry, "optimizers", optimizer, optimizer_options)
            cls = registry.get("optimizers", optimizer) if isinstance(optimizer, str) else optimizer
            defaults = DEFAULT_OPTIMIZER_SETTINGS.get(component_name("optimizers", cls), {})
            kwargs = {**defaults, **(optimizer_options or {})}
            if lr is not None:
                kwargs["lr"] = lr
            self.optimizer = cls(self.params, **kwargs)
        else:
            if optimizer_options:
                raise ValueError("optimizer_options only apply to an optimizer built from a name or class")
            self.optimizer = optimizer
            if lr is not None:
                self.optimizer.lr = lr
        for method in ("step", "zero_grad"):
            if not callable(getattr(self.optimizer, method, None)):
                raise TypeError(f"optimizer must have {method}(), got {type(self.optimizer).__name__}")
        self.base_lr = float(self.optimizer.lr)

        self.schedule = None if schedule is None else build_component(registry, "schedules", schedule, schedule_options)
        if self.schedule is not None and not callable(self.schedule):
            raise TypeError(f"schedule must be callable as schedule(base_lr, step, total_steps), "
                            f"got {type(self.schedule).__name__}")
        self.callbacks = [build_component(registry, "callbacks", cb, None) for cb in callbacks]

        n = len(ds.y_train)
        bs = n if self.batch_size is None else min(self.batch_size, n)
        self.steps_per_epoch = -(-n // bs)
        self.total_steps = self.epochs * self.steps_per_epoch
        self.sample_weight = None if sample_weight is None else check_sample_weight(sample_weight, n)
        self.compile = bool(compile)
        self._steps = make_steps(self.model, self.loss, self.params, self.mode,
                                 compiled=self.compile and not self.detect_anomaly)
        self.history = History()
        self.epoch = 0
        self.step = 0
        self.should_stop = False
        self._reference_loss = math.inf  # for the divergence warning: min(first step's loss, best epoch's)
        self._warned_divergence = False
        #: The `DivergenceWarning` this run issued, or None (for callers that show it elsewhere: the playground)
        self.divergence: Optional[DivergenceWarning] = None

    # -- construction helpers -------------------------------------------------------------

    @staticmethod
    def _resolve_dataset(registry: Any, dataset: Any, options: dict) -> Any:
        if isinstance(dataset, str):
            seed = options.pop("seed")
            name, options = named_with_options(registry, "datasets", dataset, options)
            return registry.get("datasets", name)(**{"seed": seed, **options})
        if set(options) - {"seed"}:
            raise ValueError("dataset_options only apply to a dataset given by name")
        for attr in ("X_train", "y_train", "X_test", "y_test", "task"):
            if not hasattr(dataset, attr):
                raise TypeError(f"dataset must be a registered name or a Dataset, got {type(dataset).__name__} "
                                f"(it has no {attr})")
        return dataset

    # -- running --------------------------------------------------------------------------

    def fit(self) -> History:
        """Train for ``epochs`` epochs (or until a callback sets ``should_stop``); return the history."""
        with self.session() as hook:
            return self._fit(hook)

    @contextmanager
    def session(self) -> Iterator[Any]:
        """Register the run's callbacks as plugins (and anomaly mode if asked) for a ``with`` block.

        Yields the hook caller that fires the training events. `fit` runs inside one; a loop of
        its own (the scikit-learn estimators' ``max_iter`` and ``partial_fit``) calls `train_epoch`
        inside one and fires the start, epoch and end events itself. The callbacks are
        unregistered afterwards, also when training fails.
        """
        pm = get_registry().pm
        registered = []
        try:
            for cb in self.callbacks:
                info = PluginInfo(name=f"callback-{type(cb).__name__}-{id(cb):x}", obj=cb)
                if not add_plugin(pm, info):
                    raise TypeError(f"callback {type(cb).__name__} cannot be used: {info.error}")
                registered.append(cb)
                if info.unmarked:  # hook methods without @hookimpl would never be called: say so
                    warnings.warn(f"callback {type(cb).__name__}: {', '.join(info.unmarked)} lack @hookimpl, so they "
                                  f"are never called; mark them with @microgradx.hookimpl or subclass "
                                  f"microgradx.train.Callback", UserWarning, stacklevel=3)
            with anomaly.detect_anomaly() if self.detect_anomaly else nullcontext():
                yield pm.hook
        finally:
            for cb in registered:
                pm.unregister(plugin=cb)
            self._steps.release()  # compiled steps kept the parameters in one array: plain Parameters again

    def _fit(self, hook: Any) -> History:
        ds = self.dataset
        self.history = history = History()
        self.should_stop = False
        self.step = 0
        self._reference_loss = math.inf
        self._warned_divergence = False
        self.divergence = None
        self._rng = np.random.default_rng(self.seed)
        X, y = ds.X_train, ds.y_train
        X_eval, y_eval = self.train_rows()
        started = time.perf_counter()
        hook.microgradx_train_start(trainer=self)
        for epoch in range(self.epochs):
            self.epoch = epoch
            t0 = time.perf_counter()
            metrics = {"loss": self.train_epoch(X, y, self.sample_weight, hook=hook), "lr": float(self.optimizer.lr)}
            if len(y_eval):
                metrics["train_accuracy"] = self.evaluate(X_eval, y_eval, with_loss=False).get("accuracy")
            if ds.X_test is not None and len(ds.X_test):
                test = self.evaluate(ds.X_test, ds.y_test)
                metrics["test_loss"] = test["loss"]
                metrics["test_accuracy"] = test.get("accuracy")
            metrics = {k: v for k, v in metrics.items() if v is not None}
            metrics["seconds"] = time.perf_counter() - t0
            history.append(metrics)
            history.total_seconds = time.perf_counter() - started
            hook.microgradx_epoch_end(trainer=self, epoch=epoch, metrics=metrics)
            if self.should_stop:
                history.stopped_early = epoch + 1 < self.epochs
                break
        history.total_seconds = time.perf_counter() - started
        hook.microgradx_train_end(trainer=self, history=history)
        return history

    def train_epoch(self, X: np.ndarray, y: np.ndarray, sample_weight: Optional[np.ndarray] = None,
                    hook: Any = None) -> float:
        """One pass over the examples ``X``, ``y`` in batches of ``batch_size``; returns the mean loss.

        The examples are shuffled (with the trainer's seeded generator) when ``shuffle`` is on
        and there is more than one batch. ``sample_weight`` (one number >= 0 per example)
        weights each example's loss; the mean returned is weighted the same way. Fires the
        ``microgradx_batch_end`` hook after every step (through ``hook``, or the registry's).
        Warns `DivergenceWarning` (once per run) when the mean loss reaches `DIVERGENCE_FACTOR`
        times the run's best (or its first step's), naming the learning rate.
        """
        if hook is None:
            hook = get_registry().pm.hook
        n = len(y)
        bs = n if self.batch_size is None else min(self.batch_size, n)
        rng = getattr(self, "_rng", None)
        if rng is None:
            rng = self._rng = np.random.default_rng(self.seed)
        order = rng.permutation(n) if self.shuffle and bs < n else None
        encoded = self._steps.encode_targets(y)  # checked once per epoch, not per batch (None: eager steps)
        total = weight = 0.0
        for b in range(-(-n // bs)):
            idx = slice(b * bs, (b + 1) * bs) if order is None else order[b * bs:(b + 1) * bs]
            wb = None if sample_weight is None else sample_weight[idx]
            size = len(y[idx]) if wb is None else float(np.sum(wb))
            if size == 0.0:  # every example of this batch has weight 0: nothing to learn from
                continue
            loss = self.train_step(X[idx], y[idx], wb, targets=None if encoded is None else encoded[idx])
            total += loss * size
            weight += size
            hook.microgradx_batch_end(trainer=self, epoch=self.epoch, batch=b, loss=loss)
        mean = total / weight if weight else math.nan
        self._watch_divergence(mean)
        return mean

    def train_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The examples each epoch's training accuracy is measured on: all, a seeded sample (the same each call)."""
        X, y, k = self.dataset.X_train, self.dataset.y_train, self.train_sample
        if k is None or len(y) <= k:
            return X, y
        rows = np.sort(np.random.default_rng([self.seed, 1]).choice(len(y), size=k, replace=False))
        return X[rows], y[rows]

    def _watch_divergence(self, loss: float) -> None:
        """Warn (`DivergenceWarning`, once per run) when an epoch's loss is orders of magnitude above the best."""
        reference = self._reference_loss
        if not self._warned_divergence and loss > DIVERGENCE_FACTOR * max(reference, 1e-3):
            self._warned_divergence = True
            lr = self.base_lr
            self.divergence = DivergenceWarning(
                f"the training loss grew from {reference:.3g} to {loss:.3g} by epoch {self.epoch + 1}: the learning "
                f"rate lr={lr:g} is most likely too large; try a smaller one, such as {lr / 10:g}",
                lr=lr, loss=loss, reference=reference)
            warnings.warn(self.divergence, stacklevel=3)
        if math.isfinite(loss):
            self._reference_loss = min(reference, loss)

    def train_step(self, X: np.ndarray, y: np.ndarray, sample_weight: Optional[np.ndarray] = None,
                   targets: Optional[np.ndarray] = None) -> float:
        """One optimizer step on a batch; returns the batch's loss (before the update).

        ``targets``: ``y`` already encoded by the loss (`train_epoch` encodes a whole epoch's at once).
        """
        if self.schedule is not None:
            self.optimizer.lr = float(self.schedule(self.base_lr, self.step, self.total_steps))
        self.optimizer.zero_grad()
        value = self._steps.loss_and_grad(X, y, sample_weight, targets=targets)
        self.optimizer.step()
        if self.step == 0 and math.isfinite(value):
            self._reference_loss = min(self._reference_loss, value)  # the untrained model's loss
        self.step += 1
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss became {value} at epoch {self.epoch + 1}, step {self.step}; "
                                     f"try a smaller learning rate (lr is {self.optimizer.lr:g})")
        return value

    def outputs(self, X: np.ndarray) -> list:
        """The model's outputs for the examples ``X`` as lane Values, one per output unit (no graph)."""
        return self._steps.outputs(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted labels (classification) or values (regression) for the examples ``X``."""
        return predictions(self.loss, self.outputs(X), self.dataset.task)

    def evaluate(self, X: np.ndarray, y: np.ndarray, with_loss: bool = True) -> dict:
        """``{"loss": ..., "accuracy": ...}`` on the examples ``X``, ``y`` (see `evaluate`)."""
        return evaluate(self.model, self.loss, X, y, self.dataset.task, self.mode,
                        params=self.params, with_loss=with_loss, outputs=self.outputs(X))

    def model_meta(self, path: Any = None) -> dict:
        """What a model file should remember about this run (its ``meta``): `microgradx.train.meta.run_meta`."""
        return run_meta(self, path)

    def model_schema(self) -> Any:
        """What a model file needs to predict from raw data (`microgradx.modelfile.Schema`)."""

        return Schema.from_dataset(self.dataset, loss=component_name("losses", self.loss))

    def __repr__(self) -> str:
        name = getattr(self.dataset, "name", "?")
        return (f"Trainer(dataset={name!r}, model={self.model!r}, loss={self.loss!r}, optimizer={self.optimizer!r}, "
                f"epochs={self.epochs}, batch_size={self.batch_size}, mode={self.mode!r}, seed={self.seed})")
