"""The breast-cancer problem, and the peers every benchmark compares with: numpy by hand, PyTorch, micrograd.

One definition of each, so every script times exactly the same peer code: ``MLP(30, [16, 16,
1])`` on the bundled breast_cancer split, mean hinge loss, plain SGD (lr 0.05) on the whole
batch. ``check_same_step`` checks implementations against each other before anything is timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import common  # noqa: F401  (first: it pins BLAS to one thread before numpy is imported)
import numpy as np

SIZES = [16, 16, 1]  # MLP(30, [16, 16, 1])
LR = 0.05
SEED = 0
REL_TOL = 1e-9


@dataclass
class Problem:
    """The training split, its labels (0/1) and the starting weights in microgradx's (and micrograd's) order."""

    X: np.ndarray
    y: np.ndarray
    weights: list  # flat: layer by layer, neuron by neuron, weights then bias

    @property
    def signs(self) -> np.ndarray:
        """The labels as -1/+1 (the hinge loss's y)."""
        return 2.0 * self.y - 1.0

    def layer_arrays(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The weights as [(W of shape (nout, nin), b of shape (nout,)), ...] per layer."""
        flat = np.asarray(self.weights, dtype=np.float64)
        out, k, nin = [], 0, self.X.shape[1]
        for nout in SIZES:
            block = flat[k:k + nout * (nin + 1)].reshape(nout, nin + 1)
            out.append((block[:, :nin].copy(), block[:, nin].copy()))
            k, nin = k + nout * (nin + 1), nout
        return out

    def subset(self, n: Optional[int]) -> Problem:
        """The first ``n`` examples (all for None), the same weights."""
        return self if n is None or n >= len(self.y) else Problem(self.X[:n], self.y[:n], self.weights)


def load_problem() -> Problem:
    """The bundled breast_cancer split (seed 0: 455 training examples x 30 features) and MLP's seeded weights."""
    from microgradx import get_registry
    from microgradx.nn import DenseMLP

    ds = get_registry().get("datasets", "breast_cancer")(seed=SEED)
    model = DenseMLP(ds.X_train.shape[1], SIZES, seed=SEED)
    return Problem(np.asarray(ds.X_train, dtype=np.float64), np.asarray(ds.y_train, dtype=np.float64),
                   model.get_weights())


def flatten(layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """[(W, b), ...] per layer back to the flat order."""
    return np.concatenate([np.concatenate([W, b[:, None]], axis=1).ravel() for W, b in layers])


class Impl:
    """One implementation: ``epoch()`` is one full-batch SGD epoch; ``state()`` is (loss, grads, weights) after it."""

    name = ""
    note = ""

    def epoch(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:  # pragma: no cover - overridden
        raise NotImplementedError


class NumpyImpl(Impl):
    """Forward and backward written by hand with numpy."""

    name, note = "numpy (by hand)", "matrix products"

    def __init__(self, prob: Problem) -> None:
        self.X, self.s, self.layers = prob.X, prob.signs, prob.layer_arrays()
        self.loss, self.grads = 0.0, []

    def epoch(self) -> None:
        self.grads = self.gradients()
        for (W, b), (gW, gb) in zip(self.layers, self.grads):
            W -= LR * gW
            b -= LR * gb

    def gradients(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The loss (kept in ``self.loss``) and its gradients, [(dW, db), ...] per layer."""
        X, s, layers = self.X, self.s, self.layers
        acts, pre, h = [X], [], X
        for i, (W, b) in enumerate(layers):
            z = h @ W.T + b
            pre.append(z)
            h = np.maximum(z, 0.0) if i < len(layers) - 1 else z
            acts.append(h)
        margin = 1.0 - s * h[:, 0]
        self.loss = float(np.maximum(margin, 0.0).mean())
        dz = (-(s * (margin > 0.0)) / len(s))[:, None]
        grads = []
        for i in range(len(layers) - 1, -1, -1):
            grads.append((dz.T @ acts[i], dz.sum(axis=0)))
            if i:
                dz = (dz @ layers[i][0]) * (pre[i - 1] > 0.0)
        return grads[::-1]

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        return self.loss, flatten(self.grads), flatten(self.layers)


class TorchImpl(Impl):
    """PyTorch float64 on one thread: nn.Linear and nn.ReLU, torch.optim.SGD."""

    name, note = "PyTorch float64, 1 thread", "nn.Linear, optim.SGD"

    def __init__(self, prob: Problem) -> None:
        import torch

        torch.set_num_threads(1)
        self.torch, layers, nin = torch, [], prob.X.shape[1]
        for i, (W, b) in enumerate(prob.layer_arrays()):
            lin = torch.nn.Linear(nin, W.shape[0]).double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin, torch.nn.ReLU()] if i < len(SIZES) - 1 else [lin]
            nin = W.shape[0]
        self.model = torch.nn.Sequential(*layers)
        self.linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.X, self.s = torch.from_numpy(np.array(prob.X)), torch.from_numpy(prob.signs)
        self.loss = 0.0

    def epoch(self) -> None:
        self.opt.zero_grad()
        loss = self.torch.relu(1.0 - self.s * self.model(self.X)[:, 0]).mean()
        loss.backward()
        self.opt.step()
        self.loss = loss.item()

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        grads = [(m.weight.grad.numpy(), m.bias.grad.numpy()) for m in self.linears]
        weights = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in self.linears]
        return self.loss, flatten(grads), flatten(weights)


class MicrogradImpl(Impl):
    """micrograd 0.1.0: one graph over the batch (``sum(losses) * (1/n)``, as its demo), or one graph per example."""

    def __init__(self, prob: Problem, per_example: bool = False) -> None:
        from micrograd.nn import MLP

        self.model = MLP(prob.X.shape[1], list(SIZES))
        params = self.model.parameters()
        assert len(params) == len(prob.weights)  # the same order as microgradx's: per neuron, weights then bias
        for p, w in zip(params, prob.weights):
            p.data = w
        self.X, self.s, self.per_example = prob.X.tolist(), prob.signs.tolist(), per_example
        self.name = "micrograd 0.1.0, " + ("one graph per example" if per_example else "one graph per batch")
        self.note = "backward per example" if per_example else "its demo's loop"
        self.loss = 0.0

    def epoch(self) -> None:
        model, n = self.model, len(self.s)
        model.zero_grad()
        if self.per_example:
            total = 0.0
            for x, si in zip(self.X, self.s):
                loss = (1 + -si * model(x)).relu() * (1.0 / n)
                loss.backward()
                total += loss.data
            self.loss = total
        else:
            losses = [(1 + -si * model(x)).relu() for x, si in zip(self.X, self.s)]
            loss = sum(losses) * (1.0 / n)
            loss.backward()
            self.loss = loss.data
        for p in model.parameters():
            p.data -= LR * p.grad

    def state(self) -> tuple[float, np.ndarray, np.ndarray]:
        params = self.model.parameters()
        return float(self.loss), np.array([float(p.grad) for p in params]), np.array([p.data for p in params])


def rel_diff(a: Any, ref: Any) -> float:
    """The worst elementwise relative difference of ``a`` from ``ref`` (at least 1e-12 of ref's largest)."""
    a, ref = np.asarray(a, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if a.shape != ref.shape:
        raise AssertionError(f"shape {a.shape} != reference shape {ref.shape}")
    scale = np.maximum(np.abs(ref), 1e-12 * max(float(np.abs(ref).max()), 1e-300))
    return float((np.abs(a - ref) / scale).max())


def check_same_step(impls: Sequence[Impl], reference: Impl, label: str = "") -> list[str]:
    """One epoch in each from the same weights: loss, gradients and new weights must equal the reference's.

    Raises AssertionError naming the implementation and what differs; returns one line per row.
    """
    reference.epoch()
    ref = reference.state()
    if not np.abs(ref[1]).max() > 0:
        raise AssertionError("the reference gradient is zero: the check would compare nothing")
    lines = []
    for impl in impls:
        if impl is reference:
            continue
        impl.epoch()
        got, worst = impl.state(), []
        for what, a, r in (("loss", [got[0]], [ref[0]]), ("grads", got[1], ref[1]), ("weights", got[2], ref[2])):
            d = rel_diff(a, r)
            if not d <= REL_TOL:
                raise AssertionError(f"{impl.name}: {what} differ from {reference.name} by {d:.2e} (relative; "
                                     f"tolerance {REL_TOL:g})")
            worst.append(f"{what} {d:.0e}")
        lines.append(f"  {impl.name:<44} == {reference.name}: {', '.join(worst)}{label}")
    return lines
