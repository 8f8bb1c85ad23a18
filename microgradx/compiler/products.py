"""The kernels of ``dot`` batches: k neurons as matrix products, forward and backward.

`AffineDot`: a layer whose biases follow its weights and whose shared inputs are followed by
a row of ones, as one ``[W | b] @ [X; 1]``. `SharedDot`: neurons that share their inputs
(``W @ X + b``), or per-example scalar graphs that share weights by neuron and inputs by
example (``Wu @ Xu.T`` picked). `GenericDot`: any mix of float and lane weights and inputs.
`microgradx.compiler.batching.dot_rule` picks one.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx.compiler.rows import Batch, Block, Bound, Env, Gather, out_rows


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


class LaneProducts:
    """k inner products of lane values ``sum over lanes of a_i * b_i`` (floats out): one ``A @ B.T``, picked.

    A and B are the distinct rows read at each position (node i reads ``A[ia[i]]`` and
    ``B[ib[i]]``), so a layer's weight gradients in a differentiated graph, ``sum(g_j * x_i)``
    for every neuron j and input i, are one (neurons x inputs) product forward, and backward
    ``dA = M @ B``, ``dB = M.T @ A`` with M the output gradients put back in R's shape.
    """

    def __init__(self, batch: Batch) -> None:
        self.rows, self.space = batch.rows, batch.spaces[0]
        au, ia = np.unique(batch.slots[:, 0], return_inverse=True)
        bu, ib = np.unique(batch.slots[:, 1], return_inverse=True)
        self.A, self.B = Gather(self.space, batch.row_of[au]), Gather(self.space, batch.row_of[bu])
        self.shape = (len(au), len(bu))
        self.pick = ia.ravel() * len(bu) + ib.ravel()  # node i's place in R, flattened
        self.unique_pairs = len(np.unique(self.pick)) == batch.k
        self.full = self.unique_pairs and batch.k == len(au) * len(bu)  # every pair is a node: M has no zeros
        self.identity = self.full and bool((self.pick == np.arange(batch.k)).all())  # R is the outputs' rows
        self.ia, self.ib = ia.ravel(), ib.ravel()
        self.wants_a, self.wants_b = batch.wants(au), batch.wants(bu)

    def _M(self, g: np.ndarray) -> np.ndarray:
        """The output gradients in R's shape (zeros where no node multiplies the pair)."""
        if self.identity:
            return g.reshape(self.shape)
        M = np.zeros(self.shape)
        if self.unique_pairs:
            M.flat[self.pick] = g
        else:
            np.add.at(M.reshape(-1), self.pick, g)
        return M

    def forward(self, env: Env) -> None:
        """Z = (A @ B.T) at each node's pair."""
        R = self.A.take(env) @ self.B.take(env).T
        env.data[0][self.rows] = R.reshape(-1) if self.identity else R.reshape(-1)[self.pick]

    def _grads(self, variant: int, A: np.ndarray, B: np.ndarray, g: np.ndarray, add_a: Any, add_b: Any) -> None:
        if not self.full and not (np.isfinite(A).all() and np.isfinite(B).all()):  # M's zeros meet an inf: NaN
            if self.wants_a[variant]:  # where eager gives only each node's own products: pair by pair
                dA = np.zeros_like(A)
                np.add.at(dA, self.ia, g[:, None] * B[self.ib])
                add_a(dA)
            if self.wants_b[variant]:
                dB = np.zeros_like(B)
                np.add.at(dB, self.ib, g[:, None] * A[self.ia])
                add_b(dB)
            return
        M = self._M(g)
        if self.wants_a[variant]:
            add_a(M @ B)
        if self.wants_b[variant]:
            add_b(M.T @ A)

    def backward(self, env: Env, variant: int) -> None:
        """dA = M @ B, dB = M.T @ A."""
        self._grads(variant, self.A.take(env), self.B.take(env), env.grad[0][self.rows],
                    lambda d: self.A.add(env, d), lambda d: self.B.add(env, d))

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays; products written straight into gradient rows nothing reached before."""
        take_a, take_b = self.A.taker(env), self.B.taker(env)
        ta, tb = self.A.target(env.grad[self.space]), self.B.target(env.grad[self.space])
        add_a, add_b = self.A.adder(ta), self.B.adder(tb)
        Z, g_out = env.data[0][self.rows], env.grad[0][self.rows]
        identity, pick, kernel, wants_a, wants_b = self.identity, self.pick, self, self.wants_a, self.wants_b
        R_out = Z.reshape(self.shape) if identity else None
        fast = self.full  # (no inf check needed: see _grads)

        def forward() -> None:
            if identity:
                np.matmul(take_a(), take_b().T, out=R_out)
            else:
                Z[...] = (take_a() @ take_b().T).reshape(-1).take(pick)

        def backward(variant: int) -> None:
            A, B = take_a(), take_b()
            if not fast:
                kernel._grads(variant, A, B, g_out, add_a, add_b)
                return
            M = kernel._M(g_out)
            if wants_a[variant]:
                if ta.assigning and ta.view is not None:
                    np.matmul(M, B, out=ta.view)
                else:
                    add_a(M @ B)
            if wants_b[variant]:
                if tb.assigning and tb.view is not None:
                    np.matmul(M.T, A, out=tb.view)
                else:
                    add_b(M.T @ A)

        def writes(variant: int) -> list:
            return [t for t, want in ((ta, wants_a), (tb, wants_b)) if want[variant]]

        return Bound(forward, backward, out_rows(0, self.rows), writes)
