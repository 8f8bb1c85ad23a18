"""The Huber loss: squared error for small residuals, absolute error for large ones.

``huber`` is for binary classification (labels 0/1 are mapped to -1/+1 and the model's
single output is fitted to them, predicting the sign, as scikit-learn's
``SGDClassifier(loss="huber")`` does); ``huber_regression`` fits float targets directly.
Both follow microgradx's loss interface: ``loss(outputs, targets, params=None) -> Value``,
the mean over examples (and outputs) plus ``l2 * sum(p * p)`` when ``params`` are given;
a class attribute ``task``; and ``predict(outputs)`` for accuracy. They also have the
Trainer's fast path (`microgradx.types.CompiledLoss`: ``encode_targets``, ``build``,
``per_example``, ``penalised``), so the Trainer records each with the model in one compiled
step; `microgradx.testing.check_loss` checks that ``build`` computes what the call computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs
import numpy as np
from microgradx import Value, ops

from ._validators import number


@attrs.define(frozen=True)
class HuberRegression:
    """Huber loss on float targets: ``0.5 r**2`` for ``|r| <= delta``, else ``delta * (|r| - delta/2)``.

    Settings: ``delta`` (> 0, where the penalty turns from quadratic to linear) and ``l2``
    (>= 0, weight of the ``sum(p * p)`` penalty on the parameters passed to the call).
    Works in scalar mode (float outputs, one target) and lane mode (lane outputs, one
    target per lane); with k outputs, ``targets`` has shape (n, k).
    """

    name: ClassVar[str] = "huber_regression"
    task: ClassVar[str] = "regression"

    delta: float = attrs.field(default=1.0, validator=number(0.0, low_open=True))
    l2: float = attrs.field(default=0.0, validator=number(0.0))

    def fitted_targets(self, targets: np.ndarray) -> np.ndarray:
        """The values the outputs are fitted to: the targets themselves, for regression."""
        return targets

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """The targets checked and as the graph uses them: an (n, k) array, one column per output."""
        who = f"loss {self.name!r}"
        t = np.atleast_1d(np.asarray(targets, dtype=np.float64))
        if t.ndim == 1:
            t = t[:, None]
        if t.shape != (n, n_outputs):
            raise ValueError(f"{who}: {n_outputs} output(s) for {n} example(s) need targets of shape "
                             f"({n},) or ({n}, {n_outputs}), got shape {np.shape(targets)}")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"{who}: targets contain nan or inf")
        return self.fitted_targets(t)

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """Each example's Huber penalty, averaged over the outputs (a lane Value in lane mode)."""
        terms = [ops.huber(out - t, self.delta) for out, t in zip(outputs, targets, strict=True)]
        return terms[0] if len(terms) == 1 else ops.sum(*terms) * (1.0 / len(terms))

    def penalised(self, loss: Value, params: Sequence[Value] | None) -> Value:
        """``loss + l2 * sum(p * p)`` over ``params`` (``loss`` itself without params or l2)."""
        params = [] if params is None else list(params)
        return loss + self.l2 * ops.dot(*params, *params) if params and self.l2 > 0.0 else loss  # one dot node

    def build(self, outputs: list[Value], targets: list[Value], weights: Value | None = None,
              params: Sequence[Value] | None = None) -> Value:
        """The loss graph from the outputs and the encoded targets' columns as Values (microgradx's fast path:
        the Trainer records it once with the model and replays it on every batch)."""
        per = self.per_example(outputs, targets)
        if per.is_lanes or weights is not None:
            per = per.lane_mean() if weights is None else ops.lane_sum(weights * per) / ops.lane_sum(weights)
        return self.penalised(per, params)

    def __call__(self, outputs: Any, targets: Any, params: Sequence[Value] | None = None) -> Value:
        """Mean Huber penalty of ``outputs - targets``, plus ``l2 * sum(p * p)`` over ``params``."""
        outputs = [outputs] if isinstance(outputs, Value) else list(outputs)
        if not outputs or not all(isinstance(o, Value) for o in outputs):
            raise TypeError(f"loss {self.name!r}: outputs must be the list of Values a model returned, got "
                            f"{outputs!r:.80}")
        lanes = outputs[0].is_lanes
        encoded = self.encode_targets(targets, len(outputs), outputs[0].data.size if lanes else 1)
        columns = [Value(column if lanes else float(column[0])) for column in encoded.T]
        return self.build(outputs, columns, None, params)

    def predict(self, outputs: Sequence[Value]) -> np.ndarray:
        """The outputs' values: shape (n,) for one output, (n, k) for k outputs."""
        cols = [np.atleast_1d(np.asarray(o.data, dtype=np.float64)) for o in outputs]
        return cols[0] if len(cols) == 1 else np.column_stack(cols)


@attrs.define(frozen=True)
class Huber(HuberRegression):
    """Huber loss for binary classification: labels 0/1 become -1/+1; ``predict`` is the sign.

    Same settings as `HuberRegression` (``delta``, ``l2``); the model has one output.
    """

    name: ClassVar[str] = "huber"
    task: ClassVar[str] = "binary"

    def fitted_targets(self, targets: np.ndarray) -> np.ndarray:
        """Labels 0/1 as -1/+1 (anything else is an error naming the bad label)."""
        if targets.shape[1] != 1:
            raise ValueError(f"loss 'huber': binary classification takes one output, got {targets.shape[1]}")
        bad = (targets != 0.0) & (targets != 1.0)
        if bad.any():
            raise ValueError(f"loss 'huber': binary labels must be 0 or 1, got {float(targets[bad][0])!r}")
        return 2.0 * targets - 1.0

    def predict(self, outputs: Sequence[Value]) -> np.ndarray:
        """Class labels 0/1: 1 where the output is positive."""
        if len(outputs) != 1:
            raise ValueError(f"loss 'huber': binary classification takes one output, got {len(outputs)}")
        return (np.atleast_1d(np.asarray(outputs[0].data)) > 0.0).astype(np.int64)
