"""Kernels of ops declared ``elementwise``, and of ops that declare no batching: nodes run together or one by one.

`ElementwiseKernel` runs k nodes of an op declared ``elementwise`` on the stacked inputs in
one call; `NodeKernel` runs any other op node by node, as the eager engine would (and the
nodes of a batch that a backward pass reaches only in part). How they read values and add
gradients: `microgradx.compiler.rows`; the kernels of ops with a batching rule (a matrix
product for ``dot``, reductions): `microgradx.compiler.products`, `microgradx.compiler.reductions`.
"""

from __future__ import annotations

from functools import partial
from itertools import repeat
from typing import Any, Optional

import numpy as np

from microgradx.compiler.rows import Block, Bound, Env, out_rows, reduce_to
from microgradx.engine.errors import backward_error, check_gradient, check_output, forward_error, wrong_gradients


class ElementwiseKernel:
    """k nodes of an ``elementwise`` op as one call on stacked inputs, forward and backward.

    The inputs are read position by position (`Gather`), or, for an op of many inputs that all
    live in one space, as one `Block` split into per-position views (one gather instead of m).
    """

    def __init__(self, op: Any, gathers: list, out_space: int, rows: slice, wants: list,
                 block: Optional[Block] = None) -> None:
        self.op, self.gathers, self.out_space, self.rows, self.block = op, gathers, out_space, rows, block
        self.wants = wants  # per input position: does any of its values need a gradient (per variant)

    def _inputs(self, env: Env) -> list:
        if self.block is None:
            return [g.take(env) for g in self.gathers]
        return list(np.moveaxis(self.block.take(env), 1, 0))  # (k, m[, n]) -> m views of (k[, n])

    def forward(self, env: Env) -> None:
        """Compute the k outputs into their rows."""
        xs = self._inputs(env)
        op = self.op
        try:
            if op.check is not None:
                op.check(*xs)
            out = op.forward(*xs)
        except Exception as exc:
            self._fail(xs, exc)
        env.data[self.out_space][self.rows] = out

    def _fail(self, xs: list, exc: Exception) -> None:
        """Raise the error of a failed stacked forward as the eager node would, its lane counted in its own lanes."""
        self._node_error(xs)
        error = forward_error(self.op, xs, exc)
        raise error from (None if error is exc else exc)

    def _node_error(self, xs: list) -> None:
        """After the stacked call failed: run the nodes one by one and raise the first one's error, as eager does."""
        op, k = self.op, self.rows.stop - self.rows.start
        spaces = [g.space for g in self.gathers] if self.block is None else [self.block.space] * len(xs)
        for i in range(k):
            node = []
            for space, x in zip(spaces, xs):
                row = x[min(i, len(x) - 1)]  # one row (every node reads the same value) or each node's own
                node.append(row if space else float(np.reshape(row, -1)[0]))
            try:
                if op.check is not None:
                    op.check(*node)
                op.forward(*node)
            except Exception as exc:
                error = forward_error(op, node, exc)
                raise error from (None if error is exc else exc)

    def backward(self, env: Env, variant: int) -> None:
        """Add the k nodes' input gradients where the inputs came from."""
        g = env.grad[self.out_space][self.rows]
        xs = self._inputs(env)
        try:
            grads = self.op.backward(g, env.data[self.out_space][self.rows], *xs)
        except Exception as exc:
            raise backward_error(self.op, exc) from exc
        if grads.__class__ is not tuple or len(grads) != len(xs):
            raise wrong_gradients(self.op, grads, len(xs))
        if self.block is not None:
            shape = xs[0].shape
            self.block.add(env, np.stack([reduce_to(0.0 if gi is None else gi, shape) for gi in grads], axis=1))
            return
        for gather, gi, want in zip(self.gathers, grads, self.wants):
            if gi is not None and want[variant]:
                gather.add(env, gi)

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays (see `Bound`)."""
        op, kernel, block = self.op, self, self.block
        op_forward, op_backward, check = op.forward, op.backward, op.check
        out, g_out = env.data[self.out_space][self.rows], env.grad[self.out_space][self.rows]
        if block is None:
            if all(g.is_view() for g in self.gathers):
                inputs = repeat([g.take(env) for g in self.gathers]).__next__
            else:
                takers = [g.taker(env) for g in self.gathers]
                inputs = lambda: [take() for take in takers]
            targets = [g.target(env.grad[g.space]) for g in self.gathers]
            steps = [(g.adder(t), t, want) for g, t, want in zip(self.gathers, targets, self.wants)]
            arity = len(self.gathers)
            writes = lambda variant: [t for t, want in zip(targets, self.wants) if want[variant]]
        else:
            if block.is_view():
                inputs = repeat(list(np.moveaxis(block.take(env), 1, 0))).__next__
            else:
                inputs = partial(self._inputs, env)
            target = block.target(env.grad[block.space])
            add_block, arity = block.adder(target), block.rows.shape[1]
            writes = lambda variant: [target]

        def forward() -> None:
            xs = inputs()
            try:
                if check is not None:
                    check(*xs)
                y = op_forward(*xs)
            except Exception as exc:
                kernel._fail(xs, exc)
            out[...] = y

        def backward(variant: int) -> None:
            xs = inputs()
            try:
                grads = op_backward(g_out, out, *xs)
            except Exception as exc:
                raise backward_error(op, exc) from exc
            if grads.__class__ is not tuple or len(grads) != arity:
                raise wrong_gradients(op, grads, arity)
            if block is not None:
                shape = xs[0].shape
                add_block(np.stack([reduce_to(0.0 if gi is None else gi, shape) for gi in grads], axis=1))
                return
            for (add, target, want), gi in zip(steps, grads):
                if want[variant]:
                    if gi is not None:
                        add(gi)
                    elif target.assigning:  # (the pass counted on this write: nothing added here before)
                        target.put(0.0)

        return Bound(forward, backward, out_rows(self.out_space, self.rows), writes)


class NodeKernel:
    """Nodes run one at a time exactly as the eager engine runs them: an op that declares no batching,
    and the nodes of a batch that a backward pass reaches only in part (see `microgradx.compiler.plan`)."""

    def __init__(self, op: Any, nodes: list, out_space: int, out_rows: list, wants: list) -> None:
        self.op, self.nodes, self.out_space, self.out_rows = op, nodes, out_space, out_rows
        self.wants = wants  # per node: per input position, per variant

    def _inputs(self, env: Env, node: list) -> list:
        return [env.data[s][r] if s else float(env.data[0][r]) for s, r in node]

    def forward(self, env: Env) -> None:
        """Each node's output, from its own inputs."""
        op, out = self.op, env.data[self.out_space]
        for row, node in zip(self.out_rows, self.nodes):
            xs = self._inputs(env, node)
            try:
                if op.check is not None:
                    op.check(*xs)
                y = op.forward(*xs)
            except Exception as exc:
                error = forward_error(op, xs, exc)
                raise error from (None if error is exc else exc)
            out[row] = y if y.__class__ is float else check_output(op, y, xs)

    def bind(self, env: Env) -> Bound:
        """This kernel on ``env``'s arrays: its methods, and the rows its backward reads and adds to."""
        def writes(variant: int) -> list:
            return [(s, np.array([r])) for node, wants in zip(self.nodes, self.wants)
                    for (s, r), want in zip(node, wants) if want[variant]]

        return Bound(partial(self.forward, env), partial(self.backward, env),
                     [(self.out_space, np.array(self.out_rows))], writes)

    def backward(self, env: Env, variant: int) -> None:
        """Each node's op backward, its gradients added to its inputs' rows."""
        op, data, g_out = self.op, env.data[self.out_space], env.grad[self.out_space]
        for row, node, wants in zip(self.out_rows, self.nodes, self.wants):
            g = g_out[row] if self.out_space else float(g_out[row])
            xs = self._inputs(env, node)
            out = data[row] if self.out_space else float(data[row])
            try:
                grads = op.backward(g, out, *xs)
            except Exception as exc:
                raise backward_error(op, exc) from exc
            if grads.__class__ is not tuple or len(grads) != len(xs):
                raise wrong_gradients(op, grads, len(xs))
            for (s, r), x, gi, want in zip(node, xs, grads, wants):
                if gi is not None and want[variant]:
                    env.grad[s][r] += gi if gi.__class__ is float else check_gradient(op, x, gi)
