"""Losses: "mse", "hinge", "bce" (binary cross-entropy on logits) and "softmax_ce".

A loss is called as ``loss(outputs, targets, params=None)``:

* ``outputs``: the list of Values a model returned (one per output unit), each a float
  (one example, scalar mode) or a lane Value (a batch, lane mode);
* ``targets``: a 1-D numpy array with one target per example (a number is taken as one
  example): 0/1 labels for "bce" and "hinge", class indices for "softmax_ce", numbers for
  "mse" (or an ``(n, k)`` array for k outputs);
* ``params``: the model's parameters, for the L2 penalty ``l2 * sum(p * p)``.

It returns a Value whose data is a float: the mean loss over the examples, plus the
penalty. Every loss is an attrs class with its settings validated at construction, a
``task`` ("binary", "multiclass" or "regression") and ``predict(outputs)``, the labels or
values the outputs stand for (used for accuracy).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, Optional

import attrs
import numpy as np

from microgradx import Value, hookimpl, ops

_ndarray = np.ndarray


def _check_l2(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{type(instance).__name__}: l2 must be a finite number >= 0 (the weight of the "
                         f"L2 penalty), got {value!r}")


def _outputs(outputs: Any, who: str) -> list[Value]:
    if isinstance(outputs, Value):
        return [outputs]
    if not isinstance(outputs, Sequence) or not outputs or not all(isinstance(o, Value) for o in outputs):
        raise TypeError(f"{who}: outputs must be the list of Values a model returned, got {outputs!r:.80}")
    return list(outputs)


def _lanes(outputs: list[Value]) -> Optional[int]:
    """The number of lanes of the outputs (None for floats); all outputs must agree."""
    n = None
    for o in outputs:
        d = o.data
        m = d.size if d.__class__ is _ndarray else None
        if o is outputs[0]:
            n = m
        elif m != n:
            raise ValueError(f"outputs mix {_kind(n)} and {_kind(m)}; all must be floats or all the same lanes")
    return n


def _kind(lanes: Optional[int]) -> str:
    return "floats (one example)" if lanes is None else f"{lanes} lanes"


def _targets(targets: Any, lanes: Optional[int], who: str, k: Optional[int] = None) -> np.ndarray:
    """``targets`` as a float array of shape (n,) (or (n, k)), n matching the outputs' lanes."""
    if isinstance(targets, Value):
        raise TypeError(f"{who}: targets must be numbers (a 1-D numpy array), not a Value")
    try:
        t = np.asarray(targets, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: targets must be numbers (a 1-D numpy array), got {targets!r:.80}") from None
    if t.ndim == 0:
        t = t.reshape(1)
    n = 1 if lanes is None else lanes
    if t.shape[0] != n:
        raise ValueError(f"{who}: {t.shape[0]} target(s) for {n} example(s) "
                         f"({'lanes' if lanes is not None else 'one example, scalar mode'})")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{who}: targets contain nan or inf")
    if k is not None and t.ndim == 2 and t.shape[1] != k:
        raise ValueError(f"{who}: targets of shape {t.shape} for {k} outputs")
    return t


def _column(t: np.ndarray, lanes: Optional[int]) -> Any:
    """A 1-D target column as the right kind of constant: a float (scalar mode) or lanes."""
    return float(t[0]) if lanes is None else t


def _binary_labels(t: np.ndarray, who: str) -> np.ndarray:
    if t.ndim != 1:
        raise ValueError(f"{who}: takes one label per example (a 1-D array), got shape {t.shape}")
    bad = (t != 0.0) & (t != 1.0)
    if bad.any():
        raise ValueError(f"{who}: labels must be 0 or 1, got {float(t[np.argmax(bad)])!r}")
    return t


def _stack(outputs: list[Value]) -> np.ndarray:
    """The outputs' data as an (n, k) array (n = 1 in scalar mode)."""
    return np.stack([np.atleast_1d(np.asarray(o.data, dtype=np.float64)) for o in outputs], axis=1)


@attrs.define
class _Loss:
    """Shared behaviour: the L2 penalty and the mean over lanes."""

    l2: float = attrs.field(default=0.0, validator=_check_l2)

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""

    def __call__(self, outputs: Any, targets: Any, params: Optional[Sequence[Value]] = None) -> Value:
        """The mean loss over the examples, plus ``l2 * sum(p * p)`` over ``params``."""
        who = f"loss {self.name!r}"
        outs = _outputs(outputs, who)
        try:
            lanes = _lanes(outs)
        except ValueError as exc:
            raise ValueError(f"{who}: {exc}") from None
        per_example = self.per_example(outs, targets, lanes)
        loss = ops.lane_mean(per_example) if lanes is not None else per_example
        return self.penalised(loss, params)

    def penalised(self, loss: Value, params: Optional[Sequence[Value]]) -> Value:
        """``loss + l2 * sum(p * p for p in params)`` (just ``loss`` when l2 is 0 or no params).

        The sum of squares is one ``dot`` node: ``dot(p1..pn, p1..pn)``.
        """
        if params is None or self.l2 == 0.0:
            return loss
        params = list(params)
        if not params:
            return loss
        return loss + self.l2 * ops.dot(*params, *params)

    def per_example(self, outputs: list[Value], targets: Any, lanes: Optional[int]) -> Value:  # pragma: no cover
        """The loss of each example: a lane Value (lane mode) or a float Value (scalar mode)."""
        raise NotImplementedError

    def predict(self, outputs: Any) -> np.ndarray:  # pragma: no cover
        """What the outputs predict, one entry per example."""
        raise NotImplementedError


@attrs.define
class MSE(_Loss):
    """Mean squared error: the mean over examples and outputs of ``(output - target) ** 2``.

    Targets: shape (n,) for one output, (n, k) for k outputs.
    """

    name: ClassVar[str] = "mse"
    task: ClassVar[str] = "regression"

    def per_example(self, outputs: list[Value], targets: Any, lanes: Optional[int]) -> Value:
        """The squared error averaged over the outputs, per example."""
        k = len(outputs)
        if lanes is None and k > 1 and np.shape(targets) == (k,):  # one example's k targets
            targets = np.reshape(targets, (1, k))
        t = _targets(targets, lanes, f"loss {self.name!r}", k)
        if t.ndim == 1:
            if k != 1:
                raise ValueError(f"loss 'mse': {k} outputs need targets of shape (n, {k}), got shape {t.shape}")
            t = t[:, None]
        squares = []
        for j, o in enumerate(outputs):
            d = o - _column(t[:, j], lanes)
            squares.append(d * d)
        return squares[0] if k == 1 else ops.sum(*squares) * (1.0 / k)

    def predict(self, outputs: Any) -> np.ndarray:
        """The outputs themselves: shape (n,) for one output, (n, k) for several."""
        y = _stack(_outputs(outputs, "loss 'mse'"))
        return y[:, 0] if y.shape[1] == 1 else y


@attrs.define
class _OneOutputBinary(_Loss):
    """Shared by the binary losses on one output (a score): the label checks and ``predict``."""

    task: ClassVar[str] = "binary"
    output: ClassVar[str] = "score"  # what the one output is called in messages

    def _labels(self, outputs: list[Value], targets: Any, lanes: Optional[int]) -> np.ndarray:
        """The 0/1 labels as a float array, after checking there is exactly one output."""
        who = f"loss {self.name!r}"
        if len(outputs) != 1:
            raise ValueError(f"{who} takes one output (a {self.output}), got {len(outputs)}")
        return _binary_labels(_targets(targets, lanes, who), who)

    def predict(self, outputs: Any) -> np.ndarray:
        """Label 1 where the output is > 0, else 0."""
        return (_stack(_outputs(outputs, f"loss {self.name!r}"))[:, 0] > 0.0).astype(np.int64)


@attrs.define
class Hinge(_OneOutputBinary):
    """Max-margin loss ``relu(1 - y * score)`` with ``y = 2 * label - 1`` (labels 0/1 -> -1/+1).

    micrograd's demo loss; one output (the score), predicted label ``score > 0``.
    """

    name: ClassVar[str] = "hinge"

    def per_example(self, outputs: list[Value], targets: Any, lanes: Optional[int]) -> Value:
        """``relu(1 - y * score)`` per example."""
        y = _column(2.0 * self._labels(outputs, targets, lanes) - 1.0, lanes)
        return (1.0 - y * outputs[0]).relu()


@attrs.define
class BCE(_OneOutputBinary):
    """Binary cross-entropy on a logit z: ``log(1 + e**z) - t * z`` (``-log sigmoid`` of the right sign).

    Computed as ``logsumexp(0, z) - t * z``, so it stays finite (and its gradient
    ``sigmoid(z) - t`` exact) for logits of any size. One output; predicted label ``z > 0``
    (probability > 1/2).
    """

    name: ClassVar[str] = "bce"
    output: ClassVar[str] = "logit"

    def per_example(self, outputs: list[Value], targets: Any, lanes: Optional[int]) -> Value:
        """``logsumexp(0, z) - t * z`` per example."""
        t = self._labels(outputs, targets, lanes)
        z = outputs[0]
        return ops.logsumexp(0.0, z) - _column(t, lanes) * z


@attrs.define
class SoftmaxCE(_Loss):
    """Softmax cross-entropy over k logits: ``logsumexp(z_1..z_k) - z_label``.

    Targets are class indices 0..k-1. The picked logit ``z_label`` is one ``dot`` node of the
    logits with the one-hot encoding of the labels, so the graph is two nodes per example
    batch whatever k is. Predicted class: the largest logit.
    """

    name: ClassVar[str] = "softmax_ce"
    task: ClassVar[str] = "multiclass"

    def per_example(self, outputs: list[Value], targets: Any, lanes: Optional[int]) -> Value:
        """``logsumexp(z) - z_label`` per example."""
        k = len(outputs)
        who = "loss 'softmax_ce'"
        if k < 2:
            raise ValueError(f"{who} needs at least 2 outputs (one logit per class), got {k}")
        t = _targets(targets, lanes, who)
        if t.ndim != 1:
            raise ValueError(f"{who}: takes one class index per example (a 1-D array), got shape {t.shape}")
        bad = (t != np.floor(t)) | (t < 0) | (t >= k)
        if bad.any():
            raise ValueError(f"{who}: labels must be class indices 0..{k - 1}, got {float(t[np.argmax(bad)])!r}")
        onehot = [_column((t == c).astype(np.float64), lanes) for c in range(k)]
        return ops.logsumexp(*outputs) - ops.dot(*onehot, *outputs)

    def predict(self, outputs: Any) -> np.ndarray:
        """The index of the largest logit, per example."""
        return np.argmax(_stack(_outputs(outputs, "loss 'softmax_ce'")), axis=1).astype(np.int64)


LOSSES = (MSE, Hinge, BCE, SoftmaxCE)


@hookimpl
def microgradx_register_losses(register):
    """Register mse, hinge, bce and softmax_ce."""
    for cls in LOSSES:
        register(cls, name=cls.name)
