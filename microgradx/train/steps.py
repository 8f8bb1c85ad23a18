"""What a training step computes: the loss and the parameters' gradients for a batch, and the outputs.

`make_steps` picks how: eagerly, node by node (``compiled=False``), or through a compiled
step that records the graph once per batch shape and replays it (`microgradx.compile`).
Both leave the same numbers in ``p.grad``.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx.collector import gc_paused
from microgradx.train.evaluation import model_outputs, penalty


class EagerSteps:
    """Steps that build the graph of every batch anew and back-propagate through it.

    ``mode="lanes"``: one graph for the batch (each input a lane Value); ``mode="scalar"``:
    one graph per example, as micrograd does, each back-propagated as soon as it is built
    (seeded with the example's share of the batch mean), so only one graph is alive at a time.
    """

    def __init__(self, model: Any, loss: Any, params: list, mode: str) -> None:
        self.model, self.loss, self.params, self.mode = model, loss, params, mode

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None) -> float:
        """Add d(batch loss)/d(p) to every parameter's ``grad``; return the batch loss."""
        with gc_paused():
            if self.mode == "lanes":
                loss = self.loss(self.model(X), y, self.params) if weights is None else \
                    self.loss(self.model(X), y, self.params, weights=weights)
                loss.backward(retain_graph=False)  # frees each node's lane arrays as soon as it is done
                return float(loss.data)
            return self._per_example(X, y, weights)

    def _per_example(self, X: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray]) -> float:
        n = len(y)
        shares = np.full(n, 1.0 / n) if weights is None else weights / weights.sum()
        total = 0.0
        loss_fn, model = self.loss, self.model
        for i in range(n):  # row by row: X.tolist() would hold the batch as floats, 5x one graph's memory
            if shares[i] == 0.0:
                continue
            loss = loss_fn(model(X[i].tolist()), y[i:i + 1])
            loss.backward(float(shares[i]), retain_graph=False)  # freed during backward: less peak memory
            total += float(shares[i]) * float(loss.data)
        extra = penalty(loss_fn, self.params)
        if extra is not None:
            extra.backward()
            total += float(extra.data)
        return total

    def outputs(self, X: np.ndarray) -> list:
        """The model's outputs for the examples ``X``: one lane Value per output unit (no backward)."""
        return model_outputs(self.model, X, self.mode)


def make_steps(model: Any, loss: Any, params: list, mode: str, compiled: bool = True) -> Any:
    """The step object the Trainer calls: ``loss_and_grad(X, y, weights)`` and ``outputs(X)``."""
    return EagerSteps(model, loss, params, mode)
