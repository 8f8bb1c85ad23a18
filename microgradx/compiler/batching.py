"""Batching rules: how many nodes of one op become one call, forward and backward.

An op's ``batch`` field is a rule ``rule(batch) -> kernel or None``. It gets a `Batch`: k
nodes of the op that do not depend on each other, each with ``arity`` inputs, and the means
to read their inputs as arrays (`Batch.block`, `Batch.gather`). It returns a kernel (an
object with ``forward(env)`` and ``backward(env, variant)``) or None to let the compiler
run the nodes elementwise or one by one. The bundled ``dot`` and ``sum`` carry the rules
below; a third-party op may carry its own. A kernel may also offer ``bind(env) ->
microgradx.compiler.rows.Bound`` (the bundled ones do): its work on one call's arrays with
every view made once, and the gradient rows its backward reads and writes, for the calls of a
training loop, which reuse their arrays; without it those calls run its two methods.

``dot``: k neurons that share their inputs are one matrix product ``W @ X + b`` (the
layer of a lane-mode MLP); k neurons of per-example scalar graphs, which share weights by
neuron and inputs by example, are one product ``W @ X.T`` of the distinct weight rows and
the distinct input rows (DyNet's autobatching, with the sharing found from the graph).
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx.compiler.products import AffineDot, GenericDot, LaneProducts, SharedDot
from microgradx.compiler.reductions import BlockLogSumExp, BlockSum, LaneReduction
from microgradx.compiler.rows import Batch

__all__ = ["Batch", "dot_rule", "lane_dot_rule", "lane_mean_rule", "lane_sum_rule", "logsumexp_rule", "sum_rule"]


def dot_rule(batch: Batch) -> Optional[Any]:
    """``dot`` nodes as matrix products: `SharedDot` when the weights are floats, else `GenericDot`."""
    arity = batch.slots.shape[1]
    nb, m = arity & 1, arity >> 1
    if m == 0:
        return None
    ws, xs = range(nb, nb + m), range(nb + m, arity)
    w_space, x_space = batch.uniform(ws), batch.uniform(xs)
    if w_space is None or x_space is None:
        return None
    bias = batch.gather(0) if nb else None
    W, X = batch.slots[:, nb:nb + m], batch.slots[:, nb + m:]
    if w_space == 0:
        Wu, iw = _distinct_rows(W)
        Xu, ix = _distinct_rows(X)
        if x_space and len(Xu) == 1 and nb and len(Wu) == batch.k and (iw.ravel() == np.arange(batch.k)).all():
            affine = AffineDot.of(batch, Wu, Xu[0], x_space)
            if affine is not None:
                return affine
        if (x_space == 0 and len(Wu) * len(Xu) <= 4 * batch.k) or (x_space and len(Xu) == 1):
            return SharedDot(batch, bias, Wu, iw.ravel(), Xu, ix.ravel(), x_space)
    return GenericDot(batch, bias, W, X, w_space, x_space)


def _distinct_rows(A: np.ndarray, weights: Optional[np.ndarray] = None) -> tuple:
    """``(U, inverse)``: the distinct rows of the int array ``A`` in order of first appearance, ``A == U[inverse]``.

    (What ``np.unique(A, axis=0)`` gives, in another order, without sorting rows: each row is hashed
    to one integer, the hashes are made unique, and the rows are checked against their group's.)
    """
    if A.shape[0] < 2:
        return A, np.zeros(A.shape[0], dtype=np.intp)
    if weights is None:
        weights = np.random.default_rng(0).integers(1, 2**62, size=A.shape[1], dtype=np.uint64) | np.uint64(1)
    keys = A.astype(np.uint64) @ weights  # (wraps around: a hash)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    U, inverse = A[first[order]], rank[inverse.ravel()]
    if not np.array_equal(U[inverse], A):  # two rows with one hash: sort the rows instead
        U, inverse = np.unique(A, axis=0, return_inverse=True)
    return U, inverse.ravel()


def sum_rule(batch: Batch) -> Optional[Any]:
    """``sum`` nodes whose inputs all live in the outputs' space: one gathered block summed along its rows."""
    arity = batch.slots.shape[1]
    if batch.uniform(range(arity)) != batch.out_space:
        return None  # floats added to lanes: the elementwise kernel broadcasts them
    return BlockSum(batch)


def logsumexp_rule(batch: Batch) -> Optional[Any]:
    """``logsumexp`` nodes whose inputs all live in the outputs' space: one block, reduced along its columns."""
    if batch.uniform(range(batch.slots.shape[1])) != batch.out_space:
        return None
    return BlockLogSumExp(batch)


def lane_sum_rule(batch: Batch) -> Optional[Any]:
    """Lane-sum nodes of lane inputs: one row-wise sum of their rows (see `LaneReduction`)."""
    return _lane_reduction(batch, mean=False)


def lane_mean_rule(batch: Batch) -> Optional[Any]:
    """Lane-mean nodes of lane inputs: one row-wise mean of their rows (see `LaneReduction`)."""
    return _lane_reduction(batch, mean=True)


def lane_dot_rule(batch: Batch) -> Optional[Any]:
    """Inner products of two lane values of one space (floats out): one product of the distinct rows
    (see `LaneProducts`)."""
    spaces = batch.spaces
    if batch.slots.shape[1] != 2 or batch.out_space or not spaces[0] or spaces[0] != spaces[1]:
        return None
    return LaneProducts(batch)


def _lane_reduction(batch: Batch, mean: bool) -> Optional[Any]:
    if batch.slots.shape[1] != 1 or not batch.spaces[0] or batch.out_space:
        return None
    return LaneReduction(batch, mean=mean)
