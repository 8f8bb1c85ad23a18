"""The kernels of reduction batches: k n-ary sums, logsumexps or lane reductions as one reduction of a block.

`microgradx.compiler.batching` has the rules (``sum_rule``, ``logsumexp_rule``, the lane
reductions') that pick them.
"""

from __future__ import annotations

import numpy as np

from microgradx.compiler.rows import Batch, Bound, Env, out_rows


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
