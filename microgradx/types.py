"""The contracts of every kind of component, in one module: what the Trainer and the compiler rely on.

Each contract is a `typing.Protocol`, documented where it is declared (as pytest's
``hookspec.py`` documents its hooks): a component does not inherit from it, it only has to
match, and a type checker checks it (microgradx ships ``py.typed``). The registration hooks
(`microgradx.registry.hookspecs`) take components of these kinds; `microgradx.testing`'s
``check_loss`` and ``check_optimizer`` check them at run time. Nothing here runs: the
training-event `Callback` base class is `microgradx.train.Callback`.

    from microgradx import hookimpl
    from microgradx.types import Register

    @hookimpl
    def microgradx_register_losses(register: Register) -> None:
        register(MyLoss, name="my_loss")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Optional, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from microgradx.engine.value import Value

__all__ = ["CompiledLoss", "DatasetLoader", "FastPathWarning", "Layer", "Loss", "Model", "Optimizer", "Register",
           "Schedule", "SplitData", "missing"]


class FastPathWarning(UserWarning):
    """A component lacks what the Trainer's compiled fast path needs (`CompiledLoss`): it works, more slowly.

    The message names what it lacks. The Trainer warns when it is given such a loss;
    `microgradx.testing.check_loss` warns too.
    """


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
class CompiledLoss(Loss, Protocol):
    """A `Loss` with the fast path: the Trainer records it with the model in one compiled step.

    A loss is then two steps, so that one recording serves every batch: `encode_targets`
    checks the targets in numpy, before any graph, and encodes them as the numbers the graph
    uses; `build` makes the graph from the outputs and those numbers as input Values. The
    Trainer's lane-mode step is ``loss.build(model(xs), targets, weights, params)`` compiled;
    its per-example step (``mode="scalar"``) sums ``per_example`` over the examples and adds
    ``penalised``'s penalty once. The bundled losses have all four. A loss without them
    still trains (the Trainer runs it eagerly on the compiled model's outputs and seeds one
    compiled backward), a little slower, and the Trainer warns, naming what it lacks.
    """

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """Check ``targets`` (``n`` examples, for ``n_outputs`` outputs) and encode them as an (n, m) float array."""

    def build(self, outputs: list[Value], targets: list[Value], weights: Optional[Value] = None,
              params: Optional[Sequence[Value]] = None) -> Value:
        """The loss graph from the outputs, the encoded targets' columns and the per-example weights, as Values.

        Every number must come from these Values (or from numbers in the code): the graph is
        recorded once and replayed on new targets.
        """

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """Each example's loss (lane mode: a lane Value; one example: a float Value), before the mean."""

    def penalised(self, loss: Value, params: Optional[Sequence[Value]]) -> Value:
        """``loss`` plus the penalty over ``params`` (``loss`` itself when there is none)."""


@runtime_checkable
class Optimizer(Protocol):
    """An optimizer instance, built as ``cls(params, lr=..., **settings)`` (bad settings raise there).

    ``step()`` updates every parameter from its ``grad``; ``zero_grad()`` resets the grads;
    ``lr`` is a plain attribute that learning-rate schedules set before each step. Check one
    with `microgradx.testing.check_optimizer`.

    The fast path (optional, the bundled SGD and Adam take it): while a training loop keeps
    the parameters in one `microgradx.ParameterStore` (the Trainer does, for its session),
    ``ParameterStore.locate(params)`` gives ``(store, index)``, and the optimizer updates
    ``store.data[index]`` from ``store.grad[index]`` with numpy instead of one parameter at a
    time (`microgradx.engine.parameter.StoreLookup` looks it up again only when bindings
    change). Without it the optimizer reads and writes ``p.data`` and ``p.grad``, which are
    right either way. ``state_dict()``/``load_state_dict(state)`` (optional) let an estimator
    pickled between ``partial_fit`` calls carry the optimizer's state.
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


class SplitData(Protocol):
    """What a dataset loader returns, as the Trainer reads it (`microgradx.datasets.Dataset` is one).

    A seeded train/test split: float64 feature arrays of shape (n, n_features), targets of one
    entry per row (class labels 0..n_classes-1, or floats for regression) and the task.
    """

    @property
    def name(self) -> str:
        """The dataset's name."""

    @property
    def X_train(self) -> np.ndarray:
        """The training rows' features, float64, shape (n, n_features)."""

    @property
    def y_train(self) -> np.ndarray:
        """The training rows' targets."""

    @property
    def X_test(self) -> np.ndarray:
        """The test rows' features."""

    @property
    def y_test(self) -> np.ndarray:
        """The test rows' targets."""

    @property
    def task(self) -> str:
        """``"binary"``, ``"multiclass"`` or ``"regression"``."""

    @property
    def n_classes(self) -> Optional[int]:
        """The number of classes (None for regression)."""


class DatasetLoader(Protocol):
    """A registered dataset: ``loader(seed=..., test_size=...) -> SplitData`` (a `microgradx.datasets.Dataset`)."""

    def __call__(self, seed: int = ..., test_size: float = ...) -> SplitData:
        """The seeded train/test split."""


class Schedule(Protocol):
    """A learning-rate schedule instance: ``schedule(base_lr, step, total_steps) -> lr``."""

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        """The learning rate for ``step`` (counting from 0) of ``total_steps``."""


def missing(obj: Any, protocol: type) -> list[str]:
    """The members of ``protocol`` that ``obj`` lacks (callable where the protocol has a method), in order.

    ``missing(loss, CompiledLoss)`` names what a loss needs for the Trainer's fast path.
    """
    lacking: list[str] = []
    for klass in reversed(protocol.__mro__):
        if klass in (object, Protocol, Generic) or not getattr(klass, "_is_protocol", False):
            continue
        members = list(vars(klass).get("__annotations__", {})) + [
            n for n, m in list(vars(klass).items()) if callable(m) and (not n.startswith("_") or n == "__call__")]
        for name in members:
            wants_call = callable(vars(klass).get(name))
            ok = callable(getattr(obj, name, None)) if wants_call else hasattr(obj, name)
            if not ok and name not in lacking:
                lacking.append(name)
    return lacking
