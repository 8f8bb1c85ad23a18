"""A typed plugin written against microgradx's public API: mypy --strict must find no error here.

tests/test_typing.py type-checks this file against a real (non-editable) install of
microgradx, so it also proves that the distribution ships ``py.typed``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Optional

import numpy as np

import microgradx
from microgradx import PLUGIN_API_VERSION, Op, Value, get_registry, hookimpl, ops
from microgradx.datasets import Dataset
from microgradx.testing import GradcheckResult, check_loss, check_op, check_optimizer, gradcheck
from microgradx.train import Callback
from microgradx.types import DatasetLoader, Layer, Loss, Optimizer, Register, Schedule

assert PLUGIN_API_VERSION >= 1


def _forward(x: Any) -> Any:
    return x / (1.0 + abs(x))


def _backward(g: Any, out: Any, x: Any) -> tuple[Any]:
    d = 1.0 + abs(x)
    return (g / (d * d),)


softsign = Op(name="softsign_typed", arity=1, forward=_forward, backward=_backward, doc="x / (1 + |x|)")


class MeanSquares:
    """A loss matching the Loss protocol."""

    task: ClassVar[str] = "regression"

    def __init__(self, l2: float = 0.0) -> None:
        self.l2 = l2

    def __call__(self, outputs: Sequence[Value], targets: np.ndarray,
                 params: Optional[Sequence[Value]] = None) -> Value:
        d = outputs[0] - targets
        return ops.lane_mean(d * d)

    def predict(self, outputs: Sequence[Value]) -> np.ndarray:
        return np.asarray(outputs[0].data)


class PlainSGD:
    """An optimizer matching the Optimizer protocol."""

    def __init__(self, params: Sequence[Value], lr: float = 0.1) -> None:
        self.params, self.lr = list(params), lr

    def step(self) -> None:
        for p in self.params:
            p.data -= self.lr * p.grad

    def zero_grad(self) -> None:
        microgradx.zero_grad(self.params)


class Affine:
    """A layer matching the Layer protocol."""

    def __init__(self) -> None:
        self.w, self.b = Value(0.5), Value(0.0)

    def __call__(self, x: Any) -> list[Value]:
        return [self.w * x[0] + self.b]

    def parameters(self) -> list[Value]:
        return [self.w, self.b]

    def zero_grad(self) -> None:
        microgradx.zero_grad(self.parameters())


class Halving:
    """A schedule."""

    def __call__(self, base_lr: float, step: int, total_steps: int) -> float:
        return base_lr / (1.0 + step / max(total_steps, 1))


def load_line(seed: int = 0, test_size: float = 0.25) -> Dataset:
    """A dataset loader."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(8, 1))
    y = (X[:, 0] > 0).astype(np.int64)
    return Dataset(name="line", X_train=X[:6], y_train=y[:6], X_test=X[6:], y_test=y[6:], task="binary", n_classes=2)


class PrintLoss(Callback):
    """A callback: hooks as plain methods."""

    def microgradx_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        print(epoch, metrics["loss"])


@hookimpl
def microgradx_register_ops(register: Register) -> None:
    register(softsign)


@hookimpl
def microgradx_register_losses(register: Register) -> None:
    register(MeanSquares, name="mean_squares")


loss: Loss = MeanSquares()
optimizer: Optimizer = PlainSGD([Value(1.0)])
layer: Layer = Affine()
schedule: Schedule = Halving()
loader: DatasetLoader = load_line
register_ops = microgradx_register_ops

with microgradx.plugin_registered(__import__(__name__), name="typed-usage"):
    result: GradcheckResult = check_op("softsign_typed")
    ok: bool = result.ok and gradcheck(lambda v: v * 2.0, [0.5]).ok
    ok = ok and check_loss(MeanSquares).ok and check_optimizer(PlainSGD).ok
    names: list[str] = get_registry().names("ops")
