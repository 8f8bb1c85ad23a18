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


def _targets(targets: Any, n: int, who: str) -> np.ndarray:
    """``targets`` as a finite float array with ``n`` rows (a number is one example)."""
    values = isinstance(targets, (list, tuple)) and any(isinstance(x, Value) for x in targets)
    if isinstance(targets, Value) or values:
        raise TypeError(f"{who}: targets must be numbers (a 1-D numpy array), not a Value (for a graph on "
                        f"target Values use loss.build with loss.encode_targets)")
    try:
        t = np.asarray(targets, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: targets must be numbers (a 1-D numpy array), got {targets!r:.80}") from None
    if t.ndim == 0:
        t = t.reshape(1)
    if t.shape[0] != n:
        raise ValueError(f"{who}: {t.shape[0]} target(s) for {n} example(s)")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{who}: targets contain nan or inf")
    return t


def _weights(weights: Any, n: int, who: str) -> Optional[np.ndarray]:
    """Per-example weights as a float array of ``n`` non-negative numbers (None: every weight 1)."""
    if weights is None:
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 0:
        w = w.reshape(1)
    if w.shape != (n,):
        raise ValueError(f"{who}: {w.shape[0] if w.ndim else 1} weight(s) for {n} example(s)")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError(f"{who}: weights must be finite and >= 0")
    if w.sum() <= 0:
        raise ValueError(f"{who}: the weights sum to 0; give at least one example a positive weight")
    return w


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


def _constant(column: np.ndarray, lanes: Optional[int]) -> Value:
    """One column of encoded targets (or weights) as a Value that takes no gradient: a float or lanes."""
    v = Value(float(column[0]) if lanes is None else column)
    if lanes is not None:
        v.grad = None  # data: backward passes it by (a float's gradient is one cheap addition anyway)
    return v


@attrs.define
class _Loss:
    """What the bundled losses share: encoding targets, the weighted mean over examples, the L2 penalty.

    A loss is two steps, so that a compiled training step can feed new targets every batch:
    `encode_targets` checks the targets (numpy, before any graph) and turns them into the
    numbers the graph uses, one column per target Value (0/1 labels, -1/+1, one-hot rows ...);
    `build` makes the graph from the outputs and those target Values. Calling the loss does both.
    """

    l2: float = attrs.field(default=0.0, validator=_check_l2)

    name: ClassVar[str] = ""
    task: ClassVar[str] = ""

    def __call__(self, outputs: Any, targets: Any, params: Optional[Sequence[Value]] = None,
                 weights: Any = None) -> Value:
        """The (weighted) mean loss over the examples, plus ``l2 * sum(p * p)`` over ``params``.

        ``weights``: one number >= 0 per example, or None for all 1: the loss is then
        ``sum(w_i * loss_i) / sum(w_i)``, so a weight of 0 drops an example and a weight of 2
        counts it twice.
        """
        who = f"loss {self.name!r}"
        outs = _outputs(outputs, who)
        try:
            lanes = _lanes(outs)
        except ValueError as exc:
            raise ValueError(f"{who}: {exc}") from None
        n = 1 if lanes is None else lanes
        encoded = self.encode_targets(targets, len(outs), n)
        w = _weights(weights, n, who)
        target_values = [_constant(encoded[:, j], lanes) for j in range(encoded.shape[1])]
        return self.build(outs, target_values, None if w is None else _constant(w, lanes), params)

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """Check ``targets`` (one per example, ``n`` examples) and encode them as an (n, m) float array."""
        raise NotImplementedError  # pragma: no cover

    def build(self, outputs: list[Value], targets: list[Value], weights: Optional[Value] = None,
              params: Optional[Sequence[Value]] = None) -> Value:
        """The loss graph from the outputs and the encoded targets (Values, one per column of `encode_targets`).

        ``weights`` is a Value of per-example weights (or None); every number comes from a
        Value, so the same graph serves new targets when replayed.
        """
        per_example = self.per_example(outputs, targets)
        if per_example.is_lanes or weights is not None:
            if weights is None:
                loss = ops.lane_mean(per_example)
            else:
                loss = ops.lane_sum(weights * per_example) / ops.lane_sum(weights)
        else:
            loss = per_example
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

    def penalty(self, params: Sequence[Value]) -> Optional[Value]:
        """The L2 penalty alone, ``l2 * sum(p * p)`` (None when l2 is 0)."""
        params = list(params)
        return self.l2 * ops.dot(*params, *params) if self.l2 and params else None

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:  # pragma: no cover
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

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """The targets as an (n, k) array, one column per output."""
        k = n_outputs
        if n == 1 and k > 1 and np.shape(targets) == (k,):  # one example's k targets
            targets = np.reshape(targets, (1, k))
        t = _targets(targets, n, f"loss {self.name!r}")
        if t.ndim == 1 and k == 1:
            t = t[:, None]
        if t.ndim != 2 or t.shape[1] != k:
            raise ValueError(f"loss 'mse': {k} outputs need targets of shape (n, {k}), got shape {t.shape}")
        return t

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """The squared error averaged over the outputs, per example."""
        squares = []
        for o, t in zip(outputs, targets):
            d = o - t
            squares.append(d * d)
        return squares[0] if len(squares) == 1 else ops.sum(*squares) * (1.0 / len(squares))

    def predict(self, outputs: Any) -> np.ndarray:
        """The outputs themselves: shape (n,) for one output, (n, k) for several."""
        y = _stack(_outputs(outputs, "loss 'mse'"))
        return y[:, 0] if y.shape[1] == 1 else y


@attrs.define
class _OneOutputBinary(_Loss):
    """Shared by the binary losses on one output (a score): the label checks and ``predict``."""

    task: ClassVar[str] = "binary"
    output: ClassVar[str] = "score"  # what the one output is called in messages

    def _labels(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """The 0/1 labels as a float array, after checking there is exactly one output."""
        who = f"loss {self.name!r}"
        if n_outputs != 1:
            raise ValueError(f"{who} takes one output (a {self.output}), got {n_outputs}")
        return _binary_labels(_targets(targets, n, who), who)

    def predict(self, outputs: Any) -> np.ndarray:
        """Label 1 where the output is > 0, else 0."""
        return (_stack(_outputs(outputs, f"loss {self.name!r}"))[:, 0] > 0.0).astype(np.int64)


@attrs.define
class Hinge(_OneOutputBinary):
    """Max-margin loss ``relu(1 - y * score)`` with ``y = 2 * label - 1`` (labels 0/1 -> -1/+1).

    micrograd's demo loss; one output (the score), predicted label ``score > 0``.
    """

    name: ClassVar[str] = "hinge"

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """Labels 0/1 as one column of -1/+1."""
        return (2.0 * self._labels(targets, n_outputs, n) - 1.0)[:, None]

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """``relu(1 - y * score)`` per example."""
        return (1.0 - targets[0] * outputs[0]).relu()


@attrs.define
class BCE(_OneOutputBinary):
    """Binary cross-entropy on a logit z: ``log(1 + e**z) - t * z`` (``-log sigmoid`` of the right sign).

    Computed by the op ``bce_logit`` as ``max(z, 0) + log(1 + e**-|z|) - t * z``, so it stays
    finite (and its gradient ``sigmoid(z) - t`` exact) for logits of any size. One output; predicted label ``z > 0``
    (probability > 1/2).
    """

    name: ClassVar[str] = "bce"
    output: ClassVar[str] = "logit"

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """Labels 0/1 as one column."""
        return self._labels(targets, n_outputs, n)[:, None]

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """``log(1 + e**z) - t * z`` per example: one ``bce_logit`` node."""
        return ops.bce_logit(outputs[0], targets[0])


@attrs.define
class SoftmaxCE(_Loss):
    """Softmax cross-entropy over k logits: ``logsumexp(z_1..z_k) - z_label``.

    Targets are class indices 0..k-1, encoded as one-hot rows. The picked logit ``z_label``
    is one ``dot`` node of the logits with the one-hot columns, so the graph is two nodes per
    example batch whatever k is. Predicted class: the largest logit.
    """

    name: ClassVar[str] = "softmax_ce"
    task: ClassVar[str] = "multiclass"

    def encode_targets(self, targets: Any, n_outputs: int, n: int) -> np.ndarray:
        """Class indices as one-hot rows, an (n, k) array."""
        k = n_outputs
        who = "loss 'softmax_ce'"
        if k < 2:
            raise ValueError(f"{who} needs at least 2 outputs (one logit per class), got {k}")
        t = _targets(targets, n, who)
        if t.ndim != 1:
            raise ValueError(f"{who}: takes one class index per example (a 1-D array), got shape {t.shape}")
        bad = (t != np.floor(t)) | (t < 0) | (t >= k)
        if bad.any():
            raise ValueError(f"{who}: labels must be class indices 0..{k - 1}, got {float(t[np.argmax(bad)])!r}")
        return (t[:, None] == np.arange(k)).astype(np.float64)

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """``logsumexp(z) - z_label`` per example."""
        return ops.logsumexp(*outputs) - ops.dot(*targets, *outputs)

    def predict(self, outputs: Any) -> np.ndarray:
        """The index of the largest logit, per example."""
        return np.argmax(_stack(_outputs(outputs, "loss 'softmax_ce'")), axis=1).astype(np.int64)


@attrs.define
class SquaredError(MSE):
    """scikit-learn's ``squared_error``: half the mean squared error, so its gradient is ``output - target``.

    What `microgradx.sklearn.MLPRegressor` trains with by default, as scikit-learn's MLP does.
    """

    name: ClassVar[str] = "squared_error"

    def per_example(self, outputs: list[Value], targets: list[Value]) -> Value:
        """Half of `MSE.per_example`."""
        return super().per_example(outputs, targets) * 0.5


LOSSES = (MSE, Hinge, BCE, SoftmaxCE, SquaredError)


@hookimpl
def microgradx_register_losses(register):
    """Register mse, hinge, bce, softmax_ce and squared_error."""
    for cls in LOSSES:
        register(cls, name=cls.name)
