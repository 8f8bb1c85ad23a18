"""Types for plugin authors: what each kind of component must look like, and the ``register`` callback.

The Protocols describe the contracts of `microgradx.registry.hookspecs` for a type checker
(microgradx ships ``py.typed``); a component does not inherit from them, it only has to
match. `Callback` is a small base class instead: its subclasses write training-event
hooks as plain methods.

    from microgradx import hookimpl
    from microgradx.types import Register

    @hookimpl
    def microgradx_register_losses(register: Register) -> None:
        register(MyLoss, name="my_loss")
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Protocol, runtime_checkable

from microgradx.registry.discovery import hookimpl

if TYPE_CHECKING:
    import numpy as np

    from microgradx.datasets import Dataset
    from microgradx.engine.value import Value

__all__ = ["Callback", "DatasetLoader", "Layer", "Loss", "Model", "Optimizer", "Register", "Schedule"]


class Register(Protocol):
    """The ``register`` callback that every registration hook receives.

    ``register(component, name=None, replace=False)``: ``name`` defaults to the component's
    ``name`` (an op's own name, or a class's ``name`` attribute or ``__name__``);
    ``replace=True`` replaces another plugin's component of that name on purpose.
    """

    def __call__(self, component: Any, name: Optional[str] = None, replace: bool = False) -> None:
        """Register ``component`` as ``name`` for the plugin whose hook is running."""


@runtime_checkable
class Loss(Protocol):
    """A loss instance: ``loss(outputs, targets, params=None) -> Value``, a ``task`` and ``predict``.

    ``outputs`` is the list of Values a model returned (floats in scalar mode, lanes in lane
    mode), ``targets`` a numpy array of one target per example; the result holds a float,
    the mean over examples, plus ``l2 * sum(p * p)`` over ``params``. The class takes its
    settings as keyword arguments. Check one with `microgradx.testing.check_loss`.
    """

    task: ClassVar[str]  # "binary", "multiclass" or "regression"

    def __call__(self, outputs: Sequence[Value], targets: np.ndarray,
                 params: Optional[Sequence[Value]] = None) -> Value:
        """The mean loss over the examples (plus the L2 penalty over ``params``)."""

    def predict(self, outputs: Sequence[Value]) -> np.ndarray:
        """What the outputs predict, one entry per example (labels or values)."""


@runtime_checkable
class Optimizer(Protocol):
    """An optimizer instance, built as ``cls(params, lr=..., **settings)`` (bad settings raise there).

    ``step()`` updates every parameter from its ``grad``; ``zero_grad()`` resets the grads;
    ``lr`` is a plain attribute that learning-rate schedules set before each step. Check one
    with `microgradx.testing.check_optimizer`.
    """

    lr: float

    def step(self) -> None:
        """Update every parameter's data from its grad."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""


@runtime_checkable
class Layer(Protocol):
    """A layer or model: called on one example (a list) or a 2-D batch (lanes), returns the output Values."""

    def __call__(self, x: Any) -> Sequence[Value]:
        """One output Value per unit."""

    def parameters(self) -> Sequence[Value]:
        """The parameters, in a fixed order."""

    def zero_grad(self) -> None:
        """Set every parameter's grad to 0."""


@runtime_checkable
class Model(Layer, Protocol):
    """A `Layer` that model files can save and load (`microgradx.modelfile`)."""

    def spec(self) -> dict[str, Any]:
        """The architecture, JSON-able: ``from_spec(spec())`` builds the same model."""

    def get_weights(self) -> list[float]:
        """Every parameter's data, in the order of ``parameters()``."""

    def set_weights(self, weights: Sequence[float]) -> None:
        """Set every parameter's data (the inverse of ``get_weights``)."""


class DatasetLoader(Protocol):
    """A registered dataset: ``loader(seed=..., test_size=...) -> microgradx.datasets.Dataset``."""

    def __call__(self, seed: int = ..., test_size: float = ...) -> Dataset:
        """The seeded train/test split."""


class Schedule(Protocol):
    """A learning-rate schedule instance: ``schedule(base_lr, step, total_steps) -> lr``."""

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        """The learning rate for ``step`` (counting from 0) of ``total_steps``."""


def _event_hooks() -> list[str]:
    from microgradx.registry import hookspecs

    return sorted(n for n, f in vars(hookspecs).items()
                  if n.startswith("microgradx_") and not n.startswith("microgradx_register_")
                  and hasattr(f, "microgradx_spec"))


class Callback:
    """Base class for training callbacks: training-event hooks as plain methods, no ``@hookimpl`` needed.

        class PrintLoss(Callback):
            def microgradx_epoch_end(self, trainer, epoch, metrics):
                print(epoch, metrics["loss"])

    Methods named like a training-event hook (``microgradx_train_start``,
    ``microgradx_batch_end``, ``microgradx_epoch_end``, ``microgradx_train_end``) are marked as
    hook implementations when the class is defined (``@hookimpl(tryfirst=True)`` still works
    for options); any other ``microgradx_*`` method name raises `TypeError` there, naming the
    closest hook, so a misspelling cannot go unnoticed.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hooks = _event_hooks()
        for name, attr in list(vars(cls).items()):
            if not name.startswith("microgradx_") or not callable(attr):
                continue
            if name not in hooks:
                close = difflib.get_close_matches(name, hooks, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise TypeError(f"{cls.__name__}.{name} is not a training-event hook{hint}; "
                                f"training-event hooks: {', '.join(hooks)}")
            if not hasattr(attr, "microgradx_impl"):
                hookimpl(attr)
