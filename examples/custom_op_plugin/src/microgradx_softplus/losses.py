"""The Huber loss: squared error for small residuals, absolute error for large ones.

``huber`` is for binary classification (labels 0/1 are mapped to -1/+1 and the model's
single output is fitted to them, predicting the sign, as scikit-learn's
``SGDClassifier(loss="huber")`` does); ``huber_regression`` fits float targets directly.
Both follow microgradx's loss interface: ``loss(outputs, targets, params=None) -> Value``,
the mean over examples (and outputs) plus ``l2 * sum(p * p)`` when ``params`` are given;
a class attribute ``task``; and ``predict(outputs)`` for accuracy.
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

    def __call__(self, outputs: Any, targets: Any, params: Sequence[Value] | None = None) -> Value:
        """Mean Huber penalty of ``outputs - targets``, plus ``l2 * sum(p * p)`` over ``params``."""
        who = f"loss {self.name!r}"
        outputs = [outputs] if isinstance(outputs, Value) else list(outputs)
        if not outputs or not all(isinstance(o, Value) for o in outputs):
            raise TypeError(f"{who}: outputs must be the list of Values a model returned, got {outputs!r:.80}")
        t = np.atleast_1d(np.asarray(targets, dtype=np.float64))
        n = outputs[0].data.size if outputs[0].is_lanes else 1
        if t.ndim == 1:
            t = t[:, None]
        if t.shape != (n, len(outputs)):
            raise ValueError(f"{who}: {len(outputs)} output(s) for {n} example(s) need targets of shape "
                             f"({n},) or ({n}, {len(outputs)}), got shape {np.shape(targets)}")
        if not np.all(np.isfinite(t)):
            raise ValueError(f"{who}: targets contain nan or inf")
        t = self.fitted_targets(t)
        terms = [ops.huber(out - (t[:, j] if out.is_lanes else float(t[0, j])), self.delta).lane_mean()
                 for j, out in enumerate(outputs)]
        loss = terms[0] if len(terms) == 1 else ops.sum(*terms) * (1.0 / len(terms))
        params = [] if params is None else list(params)
        if params and self.l2 > 0.0:
            loss = loss + self.l2 * ops.dot(*params, *params)  # sum(p * p) as one node
        return loss

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
