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
import weakref
from collections.abc import Sequence
from operator import is_, mul
from typing import Any, Optional

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
#
# Constant inputs. A model called on a 2-D batch makes one lane Value per input feature
# (`constant_rows`): their data are the rows of one read-only (features, examples) matrix,
# registered here as constant. Nothing outside the model holds those Values, so nobody can
# want their gradients: ``dot`` computes with that matrix as it is (no stacking) and gives
# its rows no gradient (``None``), as PyTorch gives none to an input without requires_grad.
# In the breast-cancer MLP that is 480 of the 750 lane gradients of a backward pass.

_STACKS: dict = {}  # id(first array) -> (the arrays, their matrix, which rows are constants)
_STACKS_MAX = 8
_CONSTANTS = weakref.WeakValueDictionary()  # id(matrix) -> matrix, for the constant input matrices
_NONES: dict = {}  # k -> (None,) * k


def _remember(xs: tuple, matrix: np.ndarray, constants: Any) -> None:
    try:
        while len(_STACKS) >= _STACKS_MAX:
            _STACKS.pop(next(iter(_STACKS)), None)
    except (RuntimeError, StopIteration):  # another thread changed the cache meanwhile
        pass
    _STACKS[id(xs[0])] = (xs, matrix, constants)


def _constants_among(xs: tuple) -> Any:
    """Which of the lane arrays ``xs`` are constant rows: None (none), True (all), or one bool each."""
    if all([x.base is None for x in xs]):  # arrays an op made own their memory: the common case
        return None
    mask = tuple([is_constant(x) for x in xs])
    if not any(mask):
        return None
    return True if all(mask) else mask


def _stacked(xs: tuple) -> tuple:
    """``(np.stack(xs), constants)``, reusing the matrix when the very same arrays were stacked recently.

    ``constants`` says which arrays are constant rows (see `_constants_among`).
    """
    hit = _STACKS.get(id(xs[0]))
    if hit is not None:
        key, matrix, constants = hit
        if len(key) == len(xs) and all(map(is_, key, xs)):
            return matrix, constants
    matrix = np.stack(xs)  # ValueError when shapes differ: the caller falls back
    for x in xs:
        x.flags.writeable = False
    constants = _constants_among(xs)
    _remember(tuple(xs), matrix, constants)
    return matrix, constants


def lane_matrix(xs: Sequence) -> Optional[np.ndarray]:
    """The (len(xs), lanes) matrix of the lane arrays ``xs`` as ``dot`` uses it, or None if they don't stack.

    The same matrix ``dot`` computes with (and keeps for its backward): the rows of a matrix
    registered with `constant_rows` or `matrix_rows` give that matrix itself, other arrays are
    stacked once and remembered. For a layer that computes all its ``dot`` nodes at once.
    """
    try:
        matrix, _ = _stacked(xs if xs.__class__ is tuple else tuple(xs))
    except (ValueError, TypeError, AttributeError):
        return None
    return matrix if matrix.ndim == 2 else None


def matrix_rows(matrix: np.ndarray) -> tuple:
    """The rows of the 2-D ``matrix`` as lane arrays, remembered so that ``dot`` of them uses ``matrix`` itself.

    For a layer that computes its outputs as one matrix: the next layer's ``dot`` nodes then
    need no stacking. The matrix is made read-only (lane data is never modified in place).
    """
    matrix.flags.writeable = False
    rows = tuple(matrix)
    _remember(rows, matrix, None)
    return rows


def constant_rows(X: np.ndarray) -> tuple:
    """The columns of the 2-D batch ``X`` (examples x features) as lane arrays that take no gradient.

    Returns the rows of a read-only copy of ``X.T``: lane data for a model's input Values.
    ``dot`` uses that matrix directly and gives its rows no gradient (they are constants).
    """
    matrix = np.array(X.T, dtype=np.float64, order="C")  # a copy: later edits to X don't reach the graph
    matrix.flags.writeable = False
    _CONSTANTS[id(matrix)] = matrix
    rows = tuple(matrix)
    _remember(rows, matrix, True)
    return rows


def is_constant(x: Any) -> bool:
    """True for the data of a model input made by `constant_rows` (a row of a constant matrix)."""
    if x.__class__ is not _ndarray:
        return False
    base = x.base
    return base is not None and _CONSTANTS.get(id(base)) is base


def clear_cache() -> None:
    """Forget the stacked input matrices that ``dot`` keeps (frees their memory)."""
    _STACKS.clear()


def _lane_layout(xs: tuple):
    """``(X, constants)`` for the fast lane path (same-shape lane inputs), else None; see `_stacked`."""
    try:
        matrix, constants = _stacked(xs)
    except (ValueError, TypeError, AttributeError):  # mixed floats and lanes, or lanes of different lengths
        return None
    if matrix.ndim != 2:
        return None
    return matrix, constants


def _weights(ws: tuple) -> Optional[np.ndarray]:
    """The weights as a 1-D float array, or None if any of them holds lanes."""
    try:
        return np.fromiter(ws, np.float64, len(ws))  # ValueError for a lane weight
    except (ValueError, TypeError):
        return None


_sum = np.add.reduce


def _dot_forward(*args):
    n = len(args)
    nb, k = n & 1, n >> 1
    b = args[0] if nb else 0.0
    ws, xs = args[nb:nb + k], args[nb + k:]
    if k and xs[0].__class__ is _ndarray:
        layout = _lane_layout(xs)
        w = _weights(ws) if layout is not None else None
        if w is not None:
            return w @ layout[0] + b
    # scalar mode, and the general case of mixed floats and lanes: b + w1*x1 + w2*x2 + ...
    # (the same order of additions as the fine-grained graph, so scalar results are identical)
    return sum(map(mul, ws, xs), b)


def _dot_backward(g, out, *args):
    n = len(args)
    nb, k = n & 1, n >> 1
    ws, xs = args[nb:nb + k], args[nb + k:]
    if k and xs[0].__class__ is _ndarray:
        layout = _lane_layout(xs)
        if layout is not None:
            matrix, constants = layout
            # d/dx_i = g * w_i (lanes): the rows of one outer product, None for a constant input
            if constants is True:  # the model's inputs: no gradient, so the weight values are not needed
                xgrads = _NONES.get(k) or _NONES.setdefault(k, (None,) * k)
                w = None if _ndarray in set(map(type, ws)) else True  # (but a lane weight takes the general path)
            else:
                w = _weights(ws)
                if w is not None:
                    if g.__class__ is not _ndarray:
                        g = np.full(matrix.shape[1], g)
                    xgrads = tuple(w[:, None] * g)
                    if constants is not None:
                        xgrads = tuple([None if c else gx for c, gx in zip(constants, xgrads)])
            if w is not None:
                if g.__class__ is not _ndarray:
                    g = np.full(matrix.shape[1], g)
                # d/db = g, summed over the lanes when b is a float (a parameter);
                # d/dw_i = sum over lanes of g * x_i (a float, as each w_i is a float)
                if nb:
                    return ((float(_sum(g)) if args[0].__class__ is not _ndarray else g),
                            *(matrix @ g).tolist(), *xgrads)
                return (*(matrix @ g).tolist(), *xgrads)
    head = (g,) if nb else ()
    if out.__class__ is _ndarray:  # lanes somewhere: a constant input takes no gradient
        return (*head, *[g * x for x in xs], *[None if is_constant(x) else g * w for x, w in zip(xs, ws)])
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


logsumexp = Op(name="logsumexp", arity=None,
               doc="log(e**x1 + ... + e**xn), computed without overflow (max subtracted first)",
               forward=_lse_forward, backward=_lse_backward)


@hookimpl
def microgradx_register_ops(register):
    """Register dot, sum and logsumexp."""
    for op in (dot, sum_op, logsumexp):
        register(op)
