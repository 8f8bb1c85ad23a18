"""Fused n-ary ops: ``dot``, ``sum`` and ``logsumexp``.

A neuron's pre-activation ``b + w1*x1 + ... + wn*xn`` is 2n nodes when built from single
``mul`` and ``add`` ops; ``dot`` computes it as one node with the same value and the same
gradients. In lane mode (weights are floats, inputs are arrays of lanes) ``dot`` stacks its
lane inputs into one matrix and does one matrix-vector product forward and backward.

``logsumexp`` is the stable ``log(sum(exp(x_i)))`` that softmax cross-entropy and binary
cross-entropy on logits are built from; ``sum`` is the n-ary elementwise sum.
"""

from __future__ import annotations

import math
from operator import mul
from typing import Optional

import numpy as np

from microgradx import Op, hookimpl
from microgradx.compiler.batching import dot_rule, logsumexp_rule, sum_rule
from microgradx.engine.lanes import is_value
from microgradx.engine.value import apply
from microgradx_plugins.activations import sigmoid_of
from microgradx_plugins.reductions import lane_dot

_ndarray = np.ndarray

# -- dot ------------------------------------------------------------------------------------
#
# Inputs: ``[b,] w1..wn, x1..xn``. With an odd number of inputs the first one is a bias
# added to the sum; with an even number there is no bias. So dot(b, w, x) = b + w*x,
# dot(w, x) = w*x, and dot(b) = b.


def _split(args: tuple) -> tuple:
    """``(bias or None, weights, inputs)`` of dot's arguments."""
    nb, k = len(args) & 1, len(args) >> 1
    return (args[0] if nb else None), args[nb:nb + k], args[nb + k:]


def _lane_matrix(ws: tuple, xs: tuple) -> Optional[tuple]:
    """``(w, X)``: the float weights as a vector and the lane inputs as an (n, lanes) matrix, if they are that."""
    if not xs or xs[0].__class__ is not _ndarray:  # scalar mode
        return None
    try:  # (np.array: a third of np.stack's cost; it also tells the cases apart, faster than a loop over the inputs)
        w, X = np.array(ws, dtype=np.float64), np.array(xs, dtype=np.float64)
    except ValueError:  # floats mixed with lanes, or lanes of different lengths: the general path
        return None
    return (w, X) if w.ndim == 1 and X.ndim == 2 else None  # (lane weights: the general path)


def _dot_forward(*args):
    b, ws, xs = _split(args)
    b = 0.0 if b is None else b
    lanes = _lane_matrix(ws, xs)
    if lanes is not None:
        w, X = lanes
        return w @ X + b
    # scalar mode, and mixed floats and lanes: b + w1*x1 + w2*x2 + ..., the fine-grained graph's order
    return sum(map(mul, ws, xs), b)


def _dot_backward(g, out, *args):
    b, ws, xs = _split(args)
    head = () if b is None else (g,)  # d/db = g (summed over the lanes by the driver for a float b)
    lanes = _lane_matrix(ws, xs)
    if lanes is not None:
        w, X = lanes
        if g.__class__ is not _ndarray or g.shape != X.shape[1:]:
            g = np.broadcast_to(g, X.shape[1:])
        return (*head, *(X @ g).tolist(), *np.outer(w, g))  # d/dw_i = sum of g * x_i; d/dx_i = g * w_i
    if g.__class__ is not float and is_value(g) and g.is_lanes:  # create_graph=True on lanes: see _graph_weights
        return (*head, *_graph_weights(g, ws, xs), *[w * g for w in ws])
    return (*head, *[g * x for x in xs], *[g * w for w in ws])


def _graph_weights(g, ws, xs):
    """The weights' gradients as Values when ``g`` is lanes: ``lane_dot(g, x_i)`` for a float weight.

    It is the lanes' total of ``g * x_i``, which the engine would take for a float weight
    anyway, in one node instead of two; the compiler runs a layer's worth of them as one
    matrix product (`lane_dot`'s batching rule), and the inputs' gradients, written ``w_i * g``
    (weights first), add up across a layer's neurons into a ``dot`` it runs as one too.
    """
    return [g * x if w.is_lanes else apply(lane_dot, g, x) for w, x in zip(ws, xs)]


dot = Op(name="dot", arity=None, batch=dot_rule,
         doc="[b +] w1*x1 + ... + wn*xn of inputs ([b,] w1..wn, x1..xn): bias iff the count is odd",
         forward=_dot_forward, backward=_dot_backward, formula="x_i for w_i, w_i for x_i, 1 for b")


# -- sum --------------------------------------------------------------------------------------

def _sum_forward(*xs):
    if len(xs) == 1:
        x = xs[0]
        return x.copy() if x.__class__ is _ndarray else x
    return sum(xs[1:], xs[0])  # xs[0] + xs[1] makes a new array: inputs are never modified


sum_op = Op(name="sum", arity=None, elementwise=True, batch=sum_rule,
            doc="x1 + x2 + ... + xn (lane by lane; see lane_sum to add up the lanes of one Value)",
            forward=_sum_forward,
            backward=lambda g, out, *xs: (g,) * len(xs), formula="1")


# -- logsumexp --------------------------------------------------------------------------------
#
# log(e^x1 + ... + e^xn) = m + log(e^(x1-m) + ... + e^(xn-m)) with m = max x_i: no exp ever
# overflows, and d/dx_i = e^(x_i - out) = softmax_i is at most 1.

def _lse_scalar(xs: tuple) -> float:
    if any([x != x for x in xs]):  # a NaN input gives NaN (max() would depend on the order)
        return math.nan
    m = max(xs)
    if m == math.inf or m == -math.inf:  # an infinite input decides the result
        return m
    return m + math.log(sum([math.exp(x - m) for x in xs]))


def _lanes_matrix(xs: tuple) -> np.ndarray:
    try:
        return np.stack(xs)
    except ValueError:  # floats mixed with lanes: broadcast the floats
        return np.stack(np.broadcast_arrays(*xs))


def _lse_forward(*xs):
    if not any(x.__class__ is _ndarray for x in xs):
        return _lse_scalar(xs)
    if len(xs) == 2:  # bce's logsumexp(0, z): numpy's own stable log(e**a + e**b), one call
        return np.logaddexp(xs[0], xs[1])
    matrix = _lanes_matrix(xs)
    m = matrix.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", over="ignore"):
        return m + np.log(np.exp(matrix - m).sum(axis=0))


def _lse_backward(g, out, *xs):
    # softmax_i = e^(x_i - m) / sum_j e^(x_j - m), not e^(x_i - out): when out is huge (1e300),
    # out - x_i loses the small difference that the softmax needs.
    if is_value(out):  # a backward on Values (create_graph=True): softmax_i = e^(x_i - out), as ops
        return tuple([g * (x - out).exp() for x in xs])
    if out.__class__ is not _ndarray:
        if out != out:  # a NaN input: NaN gradients
            return (math.nan,) * len(xs)
        m = max(xs)
        if m == math.inf:  # the softmax's limit: shared by the +inf inputs, 0 for the others
            k = xs.count(math.inf)
            return tuple([g / k if x == math.inf else 0.0 * g for x in xs])
        if m == -math.inf:
            m = 0.0
        e = [math.exp(x - m) if x != -math.inf else 0.0 for x in xs]
        total = sum(e)
        scale = g / total if total else math.nan  # all inputs -inf: undefined, as in PyTorch
        return tuple([scale * ei for ei in e])
    if len(xs) == 2:  # d/da = sigmoid(a - b), d/db = sigmoid(b - a), from one exp of -|a - b|
        d = xs[0] - xs[1]
        if np.isfinite(d).all():  # (an infinite input takes the general path below)
            e = np.exp(-np.abs(d))
            r = 1.0 / (1.0 + e)
            q = e * r
            up = d >= 0.0
            return g * np.where(up, r, q), g * np.where(up, q, r)
    matrix = _lanes_matrix(xs)
    top = matrix.max(axis=0)
    m = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = np.exp(matrix - m)
        soft = e * (g / e.sum(axis=0))
        if (top == np.inf).any():  # as in scalar mode: the +inf inputs share the gradient
            hot = matrix == np.inf
            soft = np.where(top == np.inf, hot * (g / np.maximum(hot.sum(axis=0), 1)), soft)
    return tuple(soft)


logsumexp = Op(name="logsumexp", arity=None, elementwise=True, batch=logsumexp_rule,
               doc="log(e**x1 + ... + e**xn), computed without overflow (max subtracted first)",
               forward=_lse_forward, backward=_lse_backward, formula="e**(x_i - out), the softmax of x_i")


# -- bce_logit ---------------------------------------------------------------------------------
#
# Binary cross-entropy of a logit z against a 0/1 target t: log(1 + e^z) - t*z, the loss "bce"
# computes per example, as one node instead of three (logsumexp(0, z), t * z, their difference).
# log(1 + e^z) = max(z, 0) + log(1 + e^-|z|) never overflows; d/dz = sigmoid(z) - t, d/dt = -z.

def _softplus_scalar(z: float) -> float:
    return (z if z > 0.0 else 0.0) + math.log1p(math.exp(-abs(z))) if z == z else z


def _bce_forward(z, t):
    if z.__class__ is _ndarray or t.__class__ is _ndarray:
        return np.logaddexp(0.0, z) - t * z
    return _softplus_scalar(z) - t * z


def _bce_backward(g, out, z, t):
    return g * (sigmoid_of(z) - t), -g * z


bce_logit = Op(name="bce_logit", arity=2, elementwise=True,
               doc="binary cross-entropy of a logit z and a 0/1 target t: log(1 + e**z) - t*z, without overflow",
               forward=_bce_forward, backward=_bce_backward, formula=("sigmoid(z) - t", "-z"))


@hookimpl
def microgradx_register_ops(register):
    """Register dot, sum, logsumexp and bce_logit."""
    for op in (dot, sum_op, logsumexp, bce_logit):
        register(op)
