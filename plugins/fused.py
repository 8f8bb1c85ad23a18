"""Fused n-ary ops: ``dot``, ``sum`` and ``logsumexp``.

A neuron's pre-activation ``b + w1*x1 + ... + wn*xn`` is 2n nodes when built from single
``mul`` and ``add`` ops; ``dot`` computes it as one node with the same value and the same
gradients. In lane mode (weights are floats, inputs are arrays of lanes) ``dot`` stacks
its lane inputs into one matrix and does a single matrix-vector product forward and
backward, so a neuron costs a few numpy calls whatever its width.

``logsumexp`` is the stable ``log(sum(exp(x_i)))`` that softmax cross-entropy and
binary cross-entropy on logits are built from; ``sum`` is the n-ary elementwise sum.
"""

from __future__ import annotations

import math
from operator import is_, mul

import numpy as np

from microgradx import Op, hookimpl

_ndarray = np.ndarray

# -- dot ------------------------------------------------------------------------------------
#
# Inputs: ``[b,] w1..wn, x1..xn``. With an odd number of inputs the first one is a bias
# added to the sum; with an even number there is no bias. So dot(b, w, x) = b + w*x,
# dot(w, x) = w*x, and dot(b) = b.
#
# Stacking the n lane inputs into an (n, lanes) matrix is the main cost of the lane path;
# every neuron of a layer receives the same inputs, and backward needs the matrix again, so
# the last few stacked matrices are kept, keyed by the identity of the input arrays. That is
# sound because lane data in a graph is never modified in place (ops make new arrays); to
# make an accidental in-place edit fail loudly instead of reading a stale matrix, the input
# arrays of a cached matrix are marked read-only.

_STACKS: dict = {}
_STACKS_MAX = 8


def _stacked(xs: tuple) -> np.ndarray:
    """``np.stack(xs)``, reusing the matrix when the very same arrays were stacked recently."""
    hit = _STACKS.get(id(xs[0]))
    if hit is not None:
        key, matrix = hit
        if len(key) == len(xs) and all(map(is_, key, xs)):
            return matrix
    matrix = np.stack(xs)  # ValueError when shapes differ: the caller falls back
    for x in xs:
        x.flags.writeable = False
    try:
        while len(_STACKS) >= _STACKS_MAX:
            _STACKS.pop(next(iter(_STACKS)), None)
    except (RuntimeError, StopIteration):  # another thread changed the cache meanwhile
        pass
    _STACKS[id(xs[0])] = (xs, matrix)
    return matrix


def clear_cache() -> None:
    """Forget the stacked input matrices that ``dot`` keeps (frees their memory)."""
    _STACKS.clear()


def _lane_layout(ws: tuple, xs: tuple):
    """``(w, X)`` for the fast lane path (float weights, same-shape lane inputs), else None."""
    if not xs or xs[0].__class__ is not _ndarray:
        return None
    try:
        w = np.array(ws, dtype=np.float64)
        if w.ndim != 1:
            return None
        matrix = _stacked(xs)
    except (ValueError, TypeError):  # mixed floats and lanes, or lanes of different lengths
        return None
    if matrix.ndim != 2:
        return None
    return w, matrix


def _dot_forward(*args):
    n = len(args)
    nb, k = n & 1, n >> 1
    b = args[0] if nb else 0.0
    ws, xs = args[nb:nb + k], args[nb + k:]
    if k and xs[0].__class__ is _ndarray:
        layout = _lane_layout(ws, xs)
        if layout is not None:
            w, matrix = layout
            return w @ matrix + b
    # scalar mode, and the general case of mixed floats and lanes: b + w1*x1 + w2*x2 + ...
    # (the same order of additions as the fine-grained graph, so scalar results are identical)
    return sum(map(mul, ws, xs), b)


def _dot_backward(g, out, *args):
    n = len(args)
    nb, k = n & 1, n >> 1
    ws, xs = args[nb:nb + k], args[nb + k:]
    head = (g,) if nb else ()
    if k and xs[0].__class__ is _ndarray:
        layout = _lane_layout(ws, xs)
        if layout is not None:
            w, matrix = layout
            if g.__class__ is not _ndarray:
                g = np.full(matrix.shape[1], g)
            # d/dw_i = sum over lanes of g * x_i (a float, as each w_i is a float);
            # d/dx_i = g * w_i (lanes): the rows of one outer product.
            return (*head, *(matrix @ g).tolist(), *np.multiply.outer(w, g))
    return (*head, *[g * x for x in xs], *[g * w for w in ws])


dot = Op(name="dot", arity=None,
         doc="[b +] w1*x1 + ... + wn*xn of inputs ([b,] w1..wn, x1..xn): bias iff the count is odd",
         forward=_dot_forward, backward=_dot_backward)


# -- sum --------------------------------------------------------------------------------------

def _sum_forward(*xs):
    if len(xs) == 1:
        x = xs[0]
        return x.copy() if x.__class__ is _ndarray else x
    return sum(xs[1:], xs[0])  # xs[0] + xs[1] makes a new array: inputs are never modified


sum_op = Op(name="sum", arity=None, doc="x1 + x2 + ... + xn (elementwise over lanes)",
            forward=_sum_forward,
            backward=lambda g, out, *xs: (g,) * len(xs))


# -- logsumexp --------------------------------------------------------------------------------
#
# log(e^x1 + ... + e^xn) = m + log(e^(x1-m) + ... + e^(xn-m)) with m = max x_i: no exp ever
# overflows, and d/dx_i = e^(x_i - out) = softmax_i is at most 1.

def _lse_scalar(xs: tuple) -> float:
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
    matrix = _lanes_matrix(xs)
    m = matrix.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", over="ignore"):
        return m + np.log(np.exp(matrix - m).sum(axis=0))


def _lse_backward(g, out, *xs):
    # softmax_i = e^(x_i - m) / sum_j e^(x_j - m), not e^(x_i - out): when out is huge (1e300),
    # out - x_i loses the small difference that the softmax needs.
    if out.__class__ is not _ndarray:
        m = max(xs)
        if m == math.inf or m == -math.inf:
            m = 0.0
        e = [math.exp(x - m) if x != -math.inf else 0.0 for x in xs]
        total = sum(e)
        scale = g / total if total else math.nan  # all inputs -inf: undefined, as in PyTorch
        return tuple([scale * ei for ei in e])
    matrix = _lanes_matrix(xs)
    m = matrix.max(axis=0)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        e = np.exp(matrix - m)
        soft = e * (g / e.sum(axis=0))
    return tuple(soft)


logsumexp = Op(name="logsumexp", arity=None,
               doc="log(e**x1 + ... + e**xn), computed without overflow (max subtracted first)",
               forward=_lse_forward, backward=_lse_backward)


@hookimpl
def microgradx_register_ops(register):
    """Register dot, sum and logsumexp."""
    for op in (dot, sum_op, logsumexp):
        register(op)
