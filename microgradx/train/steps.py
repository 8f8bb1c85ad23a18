"""What a training step computes: the loss and the parameters' gradients for a batch, and the outputs.

`make_steps` picks how: eagerly, node by node (``compiled=False``), or through a compiled
step that records the graph once per batch shape and replays it (`microgradx.compile`).
Both leave the same numbers in ``p.grad``.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import numpy as np

from microgradx.collector import gc_paused
from microgradx.compiler import compile
from microgradx.compiler.replay import backward_many
from microgradx.engine.parameter import ParameterStore
from microgradx.engine.value import Value
from microgradx.registry import ops
from microgradx.train.components import check_sample_weight
from microgradx.train.evaluation import model_outputs, penalty
from microgradx.types import CompiledLoss, FastPathWarning, missing


class EagerSteps:
    """Steps that build the graph of every batch anew and back-propagate through it.

    ``mode="lanes"``: one graph for the batch (each input a lane Value); ``mode="scalar"``:
    one graph per example, as micrograd does, each back-propagated as soon as it is built
    (seeded with the example's share of the batch mean), so only one graph is alive at a time.
    """

    def __init__(self, model: Any, loss: Any, params: list, mode: str) -> None:
        self.model, self.loss, self.params, self.mode = model, loss, params, mode

    def encode_targets(self, y: np.ndarray) -> None:
        """Eager steps check the targets in the loss itself: nothing to do ahead."""
        return None

    def release(self) -> None:
        """Eager steps keep the parameters as they are: nothing to release."""

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None,
                      targets: Optional[np.ndarray] = None) -> float:
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


class CompiledSteps:
    """Steps through compiled functions (`microgradx.compile`): one recording per batch shape, then replays.

    A bundled-style loss (with ``encode_targets`` and ``build``) is compiled with the model, so the
    targets (and the per-example weights) are inputs of the recording, like the examples; the loss's
    numbers are checked in numpy before each replay. Any other loss runs eagerly on the compiled
    model's outputs, and its gradients seed the compiled backward pass.
    ``mode="scalar"`` records per-example scalar graphs (``lanes=False``), as micrograd builds them.
    """

    def __init__(self, model: Any, loss: Any, params: list, mode: str) -> None:
        self.model, self.loss, self.params = model, loss, params
        self.n_outputs: Optional[int] = None  # the model's number of outputs, seen on the first batch
        self._store: Optional[ParameterStore] = None
        lanes = mode == "lanes"
        needs = ("encode_targets", "build") if lanes else ("encode_targets", "per_example", "penalised")
        lacking = [name for name in missing(loss, CompiledLoss) if name in needs]
        self.whole = not lacking
        if lacking:
            warnings.warn(f"loss {type(loss).__name__} lacks {', '.join(lacking)} (microgradx.types.CompiledLoss), "
                          f"so the Trainer runs it eagerly on the compiled model's outputs: the same numbers, more "
                          f"slowly; add them to train on one compiled step", FastPathWarning, stacklevel=4)
        self._step = compile(self._lane_graph if lanes else self._scalar_graph, lanes=lanes) if self.whole else None
        self._forward = compiled_forward(model)

    def _lane_graph(self, xs: list, ts: list, ws: Optional[Value] = None) -> Value:
        return self.loss.build(list(self.model(xs)), ts, ws, self.params)

    def _scalar_graph(self, rows: list, ts: list, ws: Optional[list] = None) -> Value:
        model, loss = self.model, self.loss
        per_example = [loss.per_example(list(model(row)), t) for row, t in zip(rows, ts)]
        if ws is None:
            total = ops.sum(*per_example) * (1.0 / len(per_example))
        else:
            total = ops.sum(*[w * lo for w, lo in zip(ws, per_example)]) / ops.sum(*ws)
        return loss.penalised(total, self.params)

    def encode_targets(self, y: np.ndarray) -> Optional[np.ndarray]:
        """``y`` as the loss encodes it for the graph (checked): the targets of whole epochs, sliced per batch."""
        if not self.whole or self.n_outputs is None:
            return None
        return self.loss.encode_targets(y, self.n_outputs, len(y))

    def bind(self) -> None:
        """Keep the parameters in one flat array (the optimizer's order) while training: see `ParameterStore`."""
        if self._store is None or not self._store.valid:
            self._store = ParameterStore.bind(self.params)

    def release(self) -> None:
        """Put the parameters' numbers back in them (plain Parameters again) after training."""
        if self._store is not None:
            self._store.release()
            self._store = None

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray, weights: Optional[np.ndarray] = None,
                      targets: Optional[np.ndarray] = None) -> float:
        """Add d(batch loss)/d(p) to every parameter's ``grad``; return the batch loss."""
        self.bind()
        if self.whole:
            if self.n_outputs is None:
                self.n_outputs = _output_count(self.model) or len(self._forward(X[:1]))
            if targets is None:
                targets = self.loss.encode_targets(y, self.n_outputs, len(y))
            out = self._step(X, targets) if weights is None else \
                self._step(X, targets, check_sample_weight(weights, len(y)))
            out.backward()
            return float(out.data)
        outs = self._forward(X)
        leaves = [Value(o.data) for o in outs]
        loss = self.loss(leaves, y, self.params) if weights is None else \
            self.loss(leaves, y, self.params, weights=weights)
        loss.backward()
        backward_many(outs, [leaf.grad for leaf in leaves])
        return float(loss.data)

    def outputs(self, X: np.ndarray) -> list:
        """The model's outputs for the examples ``X``: one lane Value per output unit (no graph kept).

        A compiled forward: one recording for any number of rows, replayed in bounded-memory chunks.
        """
        return [Value(np.atleast_1d(d)) for d in self._forward.forward(np.asarray(X, dtype=np.float64))]


def _output_count(model: Any) -> Optional[int]:
    """How many outputs a layer of the bundled kind says it has (``nouts[-1]``, ``nout``), else None."""
    nouts = getattr(model, "nouts", None)
    if isinstance(nouts, (list, tuple)) and nouts:
        return int(nouts[-1])
    nout = getattr(model, "nout", None)
    return int(nout) if isinstance(nout, int) else None


def compiled_forward(model: Any) -> Any:
    """``model``'s forward pass compiled (lane mode): ``.forward(X)`` gives its outputs' data for the rows ``X``."""

    def forward(xs: list) -> list:
        return list(model(xs))

    forward.__name__ = f"{type(model).__name__}.forward"
    return compile(forward)


def make_steps(model: Any, loss: Any, params: list, mode: str, compiled: bool = True) -> Any:
    """The step object the Trainer calls: ``loss_and_grad(X, y, weights)`` and ``outputs(X)``.

    ``compiled=True`` (the default of the Trainer, the CLI and the estimators): `CompiledSteps`;
    False: `EagerSteps`, every graph built and back-propagated node by node.
    """
    return CompiledSteps(model, loss, params, mode) if compiled else EagerSteps(model, loss, params, mode)
