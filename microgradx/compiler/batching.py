"""Batching rules: how many nodes of one op become one call, forward and backward.

An op's ``batch`` field is a rule ``rule(batch) -> kernel or None``. It gets a `Batch`: k
nodes of the op that do not depend on each other, each with ``arity`` inputs, and the means
to read their inputs as arrays (`Batch.block`, `Batch.gather`). It returns a kernel (an
object with ``forward(env)`` and ``backward(env, variant)``) or None to let the compiler
run the nodes elementwise or one by one. The bundled ``dot`` and ``sum`` carry the rules
below; a third-party op may carry its own.

``dot``: k neurons that share their inputs are one matrix product ``W @ X + b`` (the
layer of a lane-mode MLP); k neurons of per-example scalar graphs, which share weights by
neuron and inputs by example, are one product ``W @ X.T`` of the distinct weight rows and
the distinct input rows (DyNet's autobatching, with the sharing found from the graph).
"""

from __future__ import annotations

from typing import Any, Optional

import attrs
import numpy as np

from microgradx.compiler.kernels import Block, Bound, Env, Gather, out_rows


@attrs.define(eq=False)
class Batch:
    """k nodes of one op with ``arity`` inputs each, as a batching rule sees them."""

    op: Any
    slots: np.ndarray  # (k, arity) value ids of each node's inputs
    spaces: list  # the space (lanes, 0 for floats) of each input position
    out_space: int  # the outputs' space
    rows: slice  # the outputs' rows in it
    row_of: np.ndarray  # value id -> row in its space
    needs: tuple  # per variant: a bool array, value id -> does it need a gradient
    ones: frozenset = frozenset()  # (space, row) of rows that hold 1.0 at every call (after blocks read whole)

    @property
    def k(self) -> int:
        """The number of nodes."""
        return self.slots.shape[0]

    def gather(self, position: int) -> Gather:
        """The inputs at ``position`` of every node (floats shaped to broadcast against lane outputs)."""
        return Gather(self.spaces[position], self.row_of[self.slots[:, position]],
                      column=self.out_space > 0 and self.spaces[position] == 0)

    def block(self, slots: np.ndarray, space: int) -> Block:
        """A block of value ids (all in ``space``) read as one array."""
        return Block(space, self.row_of[slots])

    def wants(self, slots: np.ndarray) -> tuple:
        """Per variant: does any of these values need a gradient."""
        return tuple(bool(need[slots].any()) for need in self.needs)

    def uniform(self, positions: range) -> Optional[int]:
        """The one space of the inputs at ``positions``, or None if they differ."""
        spaces = {self.spaces[p] for p in positions}
        return spaces.pop() if len(spaces) == 1 else None


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


class AffineDot:
    """k dot nodes ``b_i + W_i . X`` of a layer laid out for one matrix product with the bias in it.

    When each node's float bias follows its weights (a `ParameterStore` holds a neuron's
    weights, then its bias) and the shared lane inputs X are followed by a row of ones (the plan
    puts one after a block of values read whole: `Batch.ones`), the outputs are ``[W | b] @ [X;
    1]``: the bias costs nothing forward, and backward ``G @ [X; 1].T`` gives the weights' and
    the biases' gradients in one product. The same numbers as ``W @ X + b`` to rounding (BLAS
    adds the bias among the products).
    """

    def __init__(self, batch: Batch, WA: Block, XA: Block, m: int, wants_wa: tuple, wants_x: tuple) -> None:
        self.out_space, self.rows, self.m = batch.out_space, batch.rows, m
        self.WA, self.XA = WA, XA  # (k, m + 1) weights and bias; (1, m + 1) the inputs' rows and the ones row
        self.X = Block(XA.space, XA.rows[:, :m])  # the inputs' rows alone: where their gradients go
        self.wants_wa, self.wants_x = wants_wa, wants_x

    @classmethod
    def of(cls, batch: Batch, Wu: np.ndarray, xs: np.ndarray, x_space: int) -> Optional[AffineDot]:
        """The kernel, when the layout allows it (see the class docstring), else None."""
        if batch.spaces[0] != 0:  # lane biases
            return None
        m = len(xs)
        x_rows = batch.row_of[xs]
        if (x_rows != x_rows[0] + np.arange(m)).any() or (x_space, int(x_rows[-1]) + 1) not in batch.ones:
            return None
        WA = Block(0, np.concatenate([batch.row_of[Wu], batch.row_of[batch.slots[:, :1]]], axis=1))
        if not (WA.is_view() and WA.unique):
            return None
        XA = Block(x_space, (x_rows[0] + np.arange(m + 1))[None])
        return cls(batch, WA, XA, m, batch.wants(np.concatenate([Wu, batch.slots[:, :1]], axis=1)), batch.wants(xs))

    def forward(self, env: Env) -> None:
        """Z = [W | b] @ [X; 1]."""
        np.matmul(self.WA.take(env), self.XA.take(env)[0], out=env.data[self.out_space][self.rows])

    def backward(self, env: Env, variant: int) -> None:
        """d[W | b] = G @ [X; 1].T, dX = W.T @ G."""
        g = env.grad[self.out_space][self.rows]
        WA = self.WA.take(env)
        if self.wants_wa[variant]:
            self.WA.add(env, g @ self.XA.take(env)[0].T)
        if self.wants_x[variant]:
            self.X.add(env, (WA[:, :self.m].T @ g)[None])

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays; in a pass where nothing reached the gradients' rows before, the products
        written there."""
        m, WA, XA = self.m, self.WA.take(env), self.XA.take(env)[0]  # (views: is_view() held when made)
        W, XA_T = WA[:, :m], XA.T
        Z, g = env.data[self.out_space][self.rows], env.grad[self.out_space][self.rows]
        twa, tx = self.WA.target(env.grad[0]), self.X.target(env.grad[self.X.space])
        add_wa, add_x = self.WA.adder(twa), self.X.adder(tx)
        x_view = tx.view[0] if tx.view is not None else None
        wants_wa, wants_x = self.wants_wa, self.wants_x

        def forward() -> None:
            np.matmul(WA, XA, out=Z)

        def backward(variant: int) -> None:
            if wants_wa[variant]:
                if twa.assigning:
                    np.matmul(g, XA_T, out=twa.view)
                else:
                    add_wa(g @ XA_T)
            if wants_x[variant]:
                if tx.assigning and x_view is not None:
                    np.matmul(W.T, g, out=x_view)
                else:
                    add_x((W.T @ g)[None])

        def writes(variant: int) -> list:
            return [t for t, want in ((twa, wants_wa), (tx, wants_x)) if want[variant]]

        return Bound(forward, backward, out_rows(self.out_space, self.rows), writes)


def _dot_upstream(kernel: Any, env: Env, variant: int) -> np.ndarray:
    """A dot kernel's output gradients, after adding them to the biases: d/db = g."""
    g = env.grad[kernel.out_space][kernel.rows]
    if kernel.bias is not None and kernel.wants_b[variant]:
        kernel.bias.add(env, g)
    return g


class SharedDot:
    """k dot nodes computed from the distinct weight rows Wu and the distinct input rows Xu.

    Node i is ``Wu[iw[i]] . Xu[ix[i]] (+ b_i)``: floats, ``R = Wu @ Xu.T`` picked at
    (iw, ix) (a column against lane biases, whose outputs are lanes); lanes (one input row
    shared by all), ``R = Wu @ X`` picked at iw.
    """

    def __init__(self, batch: Batch, bias: Optional[Gather], Wu: np.ndarray, iw: np.ndarray, Xu: np.ndarray,
                 ix: np.ndarray, x_space: int) -> None:
        self.out_space, self.rows, self.bias, self.x_space = batch.out_space, batch.rows, bias, x_space
        self.W = batch.block(Wu, 0)
        self.X = batch.block(Xu, x_space)
        self.iw, self.ix = iw, ix
        self.identity = len(Wu) == batch.k and bool((iw == np.arange(batch.k)).all())  # R needs no picking
        self.unique_pairs = len(np.unique(iw * len(Xu) + ix)) == batch.k
        self.wants_w, self.wants_x = batch.wants(Wu), batch.wants(Xu)
        self.wants_b = batch.wants(batch.slots[:, :1]) if bias is not None else None

    def forward(self, env: Env) -> None:
        """Z = picked(Wu @ X) + b."""
        W, X = self.W.take(env), self.X.take(env)
        if self.x_space:
            R = W @ X[0]  # (u_w, n)
            Z = R if self.identity else R[self.iw]
        else:
            Z = (W @ X.T)[self.iw, self.ix]
            if self.out_space:  # float products, lane biases: each node's product is added to its own row
                Z = Z[:, None]
        if self.bias is not None:
            Z = Z + self.bias.take(env)
        env.data[self.out_space][self.rows] = Z

    def backward(self, env: Env, variant: int) -> None:
        """d/dW = G @ X, d/dX = G.T @ W, d/db = g, with G the output gradients put back in R's shape."""
        g = _dot_upstream(self, env, variant)
        W, X = self.W.take(env), self.X.take(env)
        if self.x_space:
            if self.wants_w[variant]:
                self.W.add(env, self._node_products(g, X[0]))
            if self.wants_x[variant]:
                self.X.add(env, ((W if self.identity else W[self.iw]).T @ g)[None])
            return
        if self.out_space:  # lane biases made the outputs lanes; the float products take the lanes' total
            g = g.sum(axis=1)
        if not (np.isfinite(W).all() and np.isfinite(X).all()):  # G's zeros for the pairs no node multiplies
            self._pairs_backward(env, variant, W, X, g)          # would meet an inf there: 0 * inf is nan
            return
        G = np.zeros((W.shape[0], X.shape[0]))
        if self.unique_pairs:
            G[self.iw, self.ix] = g
        else:
            np.add.at(G, (self.iw, self.ix), g)
        if self.wants_w[variant]:
            self.W.add(env, G @ X)
        if self.wants_x[variant]:
            self.X.add(env, G.T @ W)


    def _pairs_backward(self, env: Env, variant: int, W: np.ndarray, X: np.ndarray, g: np.ndarray) -> None:
        """The float products' gradients pair by pair, as each node's own backward gives them."""
        if self.wants_w[variant]:
            dW = np.zeros_like(W)
            np.add.at(dW, self.iw, g[:, None] * X[self.ix])
            self.W.add(env, dW)
        if self.wants_x[variant]:
            dX = np.zeros_like(X)
            np.add.at(dX, self.ix, g[:, None] * W[self.iw])
            self.X.add(env, dX)

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays: the product written into the outputs' rows, the bias added there; in a
        pass where nothing added to the weights' or inputs' gradients before, their products written there."""
        kernel, x_space, identity, iw = self, self.x_space, self.identity, self.iw
        take_w, take_x = self.W.taker(env), self.X.taker(env)
        tw, tx = self.W.target(env.grad[0]), self.X.target(env.grad[x_space])
        add_w, add_x = self.W.adder(tw), self.X.adder(tx)
        wants_w, wants_x, wants_b = self.wants_w, self.wants_x, self.wants_b
        take_b = self.bias.taker(env) if self.bias is not None else None
        tb = self.bias.target(env.grad[self.bias.space]) if self.bias is not None else None
        add_b = self.bias.adder(tb) if tb is not None else None
        Z, g_out = env.data[self.out_space][self.rows], env.grad[self.out_space][self.rows]
        column = not x_space and self.out_space  # float products, lane biases
        pick = None if x_space else self.iw * self.X.rows.shape[0] + self.ix  # (iw, ix) in R, flattened
        x_view = tx.view[0] if x_space and tx.view is not None else None  # the inputs' gradient rows, (m, n)

        def forward() -> None:
            W, X = take_w(), take_x()
            if x_space and identity:
                np.matmul(W, X[0], out=Z)
            elif x_space:
                Z[...] = (W @ X[0])[iw]
            elif column:
                Z[...] = (W @ X.T).take(pick)[:, None]
            else:
                Z[...] = (W @ X.T).take(pick)
            if take_b is not None:
                np.add(Z, take_b(), out=Z)

        def backward(variant: int) -> None:
            g = g_out
            if add_b is not None and wants_b[variant]:
                add_b(g)
            if not x_space:
                kernel._floats_backward(variant, take_w(), take_x(), g.sum(axis=1) if column else g, add_w, add_x)
                return
            W, X = take_w(), take_x()
            if wants_w[variant]:
                if identity and tw.assigning and tw.view is not None:
                    np.matmul(g, X[0].T, out=tw.view)
                else:
                    add_w(kernel._node_products(g, X[0]))
            if wants_x[variant]:
                Wn = W if identity else W[iw]
                if tx.assigning and x_view is not None:
                    np.matmul(Wn.T, g, out=x_view)
                else:
                    add_x((Wn.T @ g)[None])

        def writes(variant: int) -> list:
            return [t for t, want in ((tb, wants_b), (tw, wants_w), (tx, wants_x)) if t is not None and want[variant]]

        return Bound(forward, backward, out_rows(self.out_space, self.rows), writes)

    def _node_products(self, g: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The weight rows' gradients ``g_i @ X.T``, each node's own, added up per weight row as eager adds them.

        (Adding the nodes' gradients first, ``(g_a + g_b) @ X.T``, would give inf where eager gives
        ``0 * inf + inf``, NaN.)
        """
        if self.identity:
            return g @ X.T
        dW = np.zeros((self.W.rows.shape[0], X.shape[0]))
        np.add.at(dW, self.iw, g @ X.T)
        return dW

    def _floats_backward(self, variant: int, W: np.ndarray, X: np.ndarray, g: np.ndarray, add_w: Any,
                         add_x: Any) -> None:
        """`backward` of float products, with the gradients' adders bound (see `bind`)."""
        if not (np.isfinite(W).all() and np.isfinite(X).all()):  # see backward: 0 * inf
            if self.wants_w[variant]:
                dW = np.zeros_like(W)
                np.add.at(dW, self.iw, g[:, None] * X[self.ix])
                add_w(dW)
            if self.wants_x[variant]:
                dX = np.zeros_like(X)
                np.add.at(dX, self.ix, g[:, None] * W[self.iw])
                add_x(dX)
            return
        G = np.zeros((W.shape[0], X.shape[0]))
        if self.unique_pairs:
            G[self.iw, self.ix] = g
        else:
            np.add.at(G, (self.iw, self.ix), g)
        if self.wants_w[variant]:
            add_w(G @ X)
        if self.wants_x[variant]:
            add_x(G.T @ W)


class GenericDot:
    """k dot nodes with any mix of float and lane weights and inputs: ``sum over j of W[:, j] * X[:, j]``."""

    def __init__(self, batch: Batch, bias: Optional[Gather], W: np.ndarray, X: np.ndarray, w_space: int,
                 x_space: int) -> None:
        self.out_space, self.rows, self.bias = batch.out_space, batch.rows, bias
        self.W, self.X = batch.block(W, w_space), batch.block(X, x_space)
        self.lanes = batch.out_space
        self.wants_w, self.wants_x = batch.wants(W), batch.wants(X)
        self.wants_b = batch.wants(batch.slots[:, :1]) if bias is not None else None

    def _blocks(self, env: Env) -> tuple:
        W, X = self.W.take(env), self.X.take(env)
        if self.lanes:  # a float block broadcasts against the lanes
            W = W if W.ndim == 3 else W[:, :, None]
            X = X if X.ndim == 3 else X[:, :, None]
        return W, X

    def forward(self, env: Env) -> None:
        """Z = sum_j W_j * X_j (+ b)."""
        W, X = self._blocks(env)
        Z = (W * X).sum(axis=1)
        if self.bias is not None:
            Z = Z + self.bias.take(env)
        env.data[self.out_space][self.rows] = Z

    def backward(self, env: Env, variant: int) -> None:
        """d/dW_j = g * X_j and d/dX_j = g * W_j (summed over the lanes for a float), d/db = g."""
        g = _dot_upstream(self, env, variant)
        W, X = self._blocks(env)
        g = g[:, None]
        if self.wants_w[variant]:
            self.W.add(env, g * X)
        if self.wants_x[variant]:
            self.X.add(env, g * W)

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays."""
        take_w, take_x = self.W.taker(env), self.X.taker(env)
        tw, tx = self.W.target(env.grad[self.W.space]), self.X.target(env.grad[self.X.space])
        add_w, add_x = self.W.adder(tw), self.X.adder(tx)
        wants_w, wants_x, wants_b, lanes = self.wants_w, self.wants_x, self.wants_b, self.lanes
        take_b = self.bias.taker(env) if self.bias is not None else None
        tb = self.bias.target(env.grad[self.bias.space]) if self.bias is not None else None
        add_b = self.bias.adder(tb) if tb is not None else None
        Z, g_out = env.data[self.out_space][self.rows], env.grad[self.out_space][self.rows]

        def blocks() -> tuple:
            W, X = take_w(), take_x()
            if lanes:  # a float block broadcasts against the lanes
                W = W if W.ndim == 3 else W[:, :, None]
                X = X if X.ndim == 3 else X[:, :, None]
            return W, X

        def forward() -> None:
            W, X = blocks()
            if take_b is None:
                Z[...] = (W * X).sum(axis=1)
            else:
                Z[...] = (W * X).sum(axis=1) + take_b()

        def backward(variant: int) -> None:
            if add_b is not None and wants_b[variant]:
                add_b(g_out)
            W, X = blocks()
            g = g_out[:, None]
            if wants_w[variant]:
                add_w(g * X)
            if wants_x[variant]:
                add_x(g * W)

        def writes(variant: int) -> list:
            return [t for t, want in ((tb, wants_b), (tw, wants_w), (tx, wants_x)) if t is not None and want[variant]]

        return Bound(forward, backward, out_rows(self.out_space, self.rows), writes)


def sum_rule(batch: Batch) -> Optional[Any]:
    """``sum`` nodes whose inputs all live in the outputs' space: one gathered block summed along its rows."""
    arity = batch.slots.shape[1]
    if batch.uniform(range(arity)) != batch.out_space:
        return None  # floats added to lanes: the elementwise kernel broadcasts them
    return BlockSum(batch)


class BlockSum:
    """k sum nodes of m inputs each: one (k, m[, n]) block summed along its m columns."""

    def __init__(self, batch: Batch) -> None:
        self.out_space, self.rows = batch.out_space, batch.rows
        self.block = batch.block(batch.slots, batch.out_space)
        self.wants = batch.wants(batch.slots)

    def forward(self, env: Env) -> None:
        """Each node's inputs added up."""
        env.data[self.out_space][self.rows] = self.block.take(env).sum(axis=1)

    def backward(self, env: Env, variant: int) -> None:
        """Every input of a node gets the node's gradient."""
        if self.wants[variant]:
            g = env.grad[self.out_space][self.rows]
            self.block.add(env, np.broadcast_to(g[:, None], self.block.shape(env.grad[self.out_space])))

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays."""
        target = self.block.target(env.grad[self.out_space])
        take, add, wants = self.block.taker(env), self.block.adder(target), self.wants
        Z, g_out = env.data[self.out_space][self.rows], env.grad[self.out_space][self.rows]
        spread = np.broadcast_to(g_out[:, None], target.shape)  # a view: reads g_out when used

        def forward() -> None:
            Z[...] = take().sum(axis=1)

        def backward(variant: int) -> None:
            if wants[variant]:
                add(spread)

        return Bound(forward, backward, out_rows(self.out_space, self.rows),
                     lambda variant: [target] if wants[variant] else [])


def logsumexp_rule(batch: Batch) -> Optional[Any]:
    """``logsumexp`` nodes whose inputs all live in the outputs' space: one block, reduced along its columns."""
    if batch.uniform(range(batch.slots.shape[1])) != batch.out_space:
        return None
    return BlockLogSumExp(batch)


class BlockLogSumExp:
    """k logsumexp nodes of m inputs: ``m + log(sum(exp(x - m)))`` along the m columns of one block.

    Where an input is not finite the op's own forward and backward run instead (they define
    the limits: an infinite input decides the result, NaN gives NaN).
    """

    def __init__(self, batch: Batch) -> None:
        self.op, self.out_space, self.rows = batch.op, batch.out_space, batch.rows
        self.block = batch.block(batch.slots, batch.out_space)
        self.wants = batch.wants(batch.slots)

    def forward(self, env: Env) -> None:
        """The k outputs, from the stable form (the largest input subtracted first)."""
        M = self.block.take(env)
        top = M.max(axis=1, keepdims=True)
        if np.isfinite(top).all():
            out = top[:, 0] + np.log(np.exp(M - top).sum(axis=1))
        else:
            out = self.op.forward(*np.moveaxis(M, 1, 0))
        env.data[self.out_space][self.rows] = out

    def backward(self, env: Env, variant: int) -> None:
        """Each input's gradient: the output's gradient times its softmax weight."""
        if not self.wants[variant]:
            return
        g = env.grad[self.out_space][self.rows]
        M = self.block.take(env)
        top = M.max(axis=1, keepdims=True)
        if np.isfinite(top).all():
            e = np.exp(M - top)
            self.block.add(env, e * (g / e.sum(axis=1))[:, None])
        else:
            grads = self.op.backward(g, env.data[self.out_space][self.rows], *np.moveaxis(M, 1, 0))
            self.block.add(env, np.stack(np.broadcast_arrays(*grads), axis=1))


def lane_sum_rule(batch: Batch) -> Optional[Any]:
    """Lane-sum nodes of lane inputs: one row-wise sum of their rows (see `LaneReduction`)."""
    return _lane_reduction(batch, mean=False)


def lane_mean_rule(batch: Batch) -> Optional[Any]:
    """Lane-mean nodes of lane inputs: one row-wise mean of their rows (see `LaneReduction`)."""
    return _lane_reduction(batch, mean=True)


def _lane_reduction(batch: Batch, mean: bool) -> Optional[Any]:
    if batch.slots.shape[1] != 1 or not batch.spaces[0] or batch.out_space:
        return None
    return LaneReduction(batch, mean=mean)


class LaneReduction:
    """k lane reductions: the k input rows summed (or averaged) along the lanes into k floats."""

    def __init__(self, batch: Batch, mean: bool) -> None:
        self.rows, self.mean = batch.rows, mean
        self.gather = batch.gather(0)
        self.wants = batch.wants(batch.slots)

    def forward(self, env: Env) -> None:
        """Each input's lanes added up (or averaged)."""
        x = self.gather.take(env)
        env.data[0][self.rows] = x.mean(axis=1) if self.mean else x.sum(axis=1)

    def backward(self, env: Env, variant: int) -> None:
        """Every lane of an input gets the output's gradient (divided by the lanes for a mean)."""
        if self.wants[variant]:
            g = env.grad[0][self.rows]
            lanes = env.lanes(self.gather.space)  # the lanes of this call, whatever the recording had
            full = np.empty((len(g), lanes))
            full[...] = (g / lanes if self.mean else g)[:, None]
            self.gather.add(env, full)

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays."""
        target = self.gather.target(env.grad[self.gather.space])
        take, add, wants, mean = self.gather.taker(env), self.gather.adder(target), self.wants, self.mean
        Z, g_out = env.data[0][self.rows], env.grad[0][self.rows]
        lanes = env.lanes(self.gather.space)
        full = np.empty((len(g_out), lanes))

        one_row = len(self.gather.rows) != len(g_out)  # every node reduces the same value

        def forward() -> None:
            if one_row:
                x = take()
                Z[...] = x.mean(axis=1) if mean else x.sum(axis=1)
                return
            np.add.reduce(take(), axis=1, out=Z)
            if mean:  # (what x.mean(axis=1) does: the sum, then one division)
                np.true_divide(Z, lanes, out=Z)

        def backward(variant: int) -> None:
            if wants[variant]:
                full[...] = (g_out / lanes if mean else g_out)[:, None]
                add(full)

        return Bound(forward, backward, out_rows(0, self.rows), lambda variant: [target] if wants[variant] else [])
