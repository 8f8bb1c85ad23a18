"""Kernels: how one batch of nodes runs, forward and backward, on the replay's arrays.

A replay keeps every value of the program in a few arrays, one per *space*: space 0 is
a 1-D array of all the floats, space n a 2-D array whose rows are the lane values of n
lanes. A batch of k nodes writes its k outputs to k consecutive rows of its space; its
inputs are read with a `Gather` per input position (a slice when the rows are consecutive,
one row broadcast when every node reads the same value, else an index array), and its
gradients go back through the same `Gather`, added where they came from.

`ElementwiseKernel` runs an op declared ``elementwise`` on the stacked inputs in one call;
`NodeKernel` runs any other op node by node, as the eager engine would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microgradx.engine.errors import backward_error, check_gradient, check_output, forward_error, wrong_gradients


class Env:
    """One replay's arrays: ``data[space]`` (every value) and, in backward, ``grad[space]``."""

    __slots__ = ("data", "grad")

    def __init__(self, data: dict) -> None:
        self.data = data
        self.grad: dict = {}


class Gather:
    """Rows ``rows`` of one space, read as one array and written back (added) as one array.

    ``take`` gives shape (k,) for floats or (k, n) for lanes (one row, (1,) or (1, n), when
    every node reads the same value); with ``column`` a float gather is shaped (k, 1) so
    that it broadcasts against lanes.
    """

    __slots__ = ("space", "rows", "index", "kind", "column", "shape")

    def __init__(self, space: int, rows: Any, column: bool = False) -> None:
        self.space, self.rows, self.column = space, np.asarray(rows, dtype=np.intp), column
        k, first = len(self.rows), int(self.rows[0])
        if k > 1 and (self.rows == first).all():
            self.kind, self.index = "one", slice(first, first + 1)  # every node reads the same value
        elif (self.rows == np.arange(first, first + k)).all():
            self.kind, self.index = "slice", slice(first, first + k)
        else:
            self.kind = "fancy" if len(np.unique(self.rows)) == k else "repeated"
            self.index = self.rows
        r = 1 if self.kind == "one" else k
        self.shape = (r, space) if space else ((r, 1) if column else (r,))

    def take(self, env: Env) -> np.ndarray:
        """The gathered values (a view for a slice)."""
        x = env.data[self.space][self.index]
        return x.reshape(self.shape) if self.column else x

    def add(self, env: Env, g: Any) -> None:
        """Add the gradient ``g`` (any shape that broadcasts to, or reduces to, what `take` gave)."""
        grad = env.grad.get(self.space)
        if grad is None:
            grad = env.grad[self.space] = np.zeros_like(env.data[self.space])
        g = reduce_to(g, self.shape)
        if self.column:
            g = g.reshape(self.shape[0])
        if self.kind == "repeated":
            np.add.at(grad, self.rows, g)  # a row read by several nodes gets the sum of their gradients
        else:
            grad[self.index] += g


class Block:
    """A (k, c) matrix of rows of one space (a row per node, a column per input position).

    ``take`` gives (k, c) for floats or (k, c, n) for lanes, a view when the rows are
    consecutive in row-major order; ``add`` adds a gradient of that shape back, summing
    where one row appears several times.
    """

    __slots__ = ("space", "rows", "index", "shape", "repeated")

    def __init__(self, space: int, rows: Any) -> None:
        self.space, self.rows = space, np.asarray(rows, dtype=np.intp)
        flat = self.rows.ravel()
        first = int(flat[0])
        self.index = slice(first, first + flat.size) if (flat == np.arange(first, first + flat.size)).all() else flat
        self.repeated = len(np.unique(flat)) != flat.size
        self.shape = (*self.rows.shape, space) if space else self.rows.shape

    def take(self, env: Env) -> np.ndarray:
        """The block's values, shaped (k, c) or (k, c, n)."""
        return env.data[self.space][self.index].reshape(self.shape)

    def add(self, env: Env, g: np.ndarray) -> None:
        """Add the gradient ``g`` (the shape of `take`, or one that reduces to it)."""
        grad = env.grad.get(self.space)
        if grad is None:
            grad = env.grad[self.space] = np.zeros_like(env.data[self.space])
        g = reduce_to(g, self.shape).reshape((-1, *self.shape[2:]))
        if self.repeated:
            np.add.at(grad, self.rows.ravel(), g)
        else:
            grad[self.index] += g


def reduce_to(g: Any, shape: tuple) -> np.ndarray:
    """``g`` summed over the axes it was broadcast along, to ``shape`` (lane gradients of a float summed)."""
    g = np.asarray(g, dtype=np.float64)
    if g.shape == shape:
        return g
    if g.ndim < len(shape):
        g = np.broadcast_to(g, np.broadcast_shapes(g.shape, shape))
    while g.ndim > len(shape):
        g = g.sum(axis=-1)
    axes = tuple(i for i, (have, want) in enumerate(zip(g.shape, shape)) if want == 1 and have != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return np.broadcast_to(g, shape)


class ElementwiseKernel:
    """k nodes of an ``elementwise`` op as one call on stacked inputs, forward and backward."""

    def __init__(self, op: Any, gathers: list, out_space: int, rows: slice, wants: list) -> None:
        self.op, self.gathers, self.out_space, self.rows = op, gathers, out_space, rows
        self.wants = wants  # per input position: does any of its values need a gradient (per variant)

    def forward(self, env: Env) -> None:
        """Compute the k outputs into their rows."""
        xs = [g.take(env) for g in self.gathers]
        op = self.op
        try:
            if op.check is not None:
                op.check(*xs)
            out = op.forward(*xs)
        except Exception as exc:
            self._node_error(xs)  # the error the eager node would raise, its lane counted in its own lanes
            error = forward_error(op, xs, exc)
            raise error from (None if error is exc else exc)
        env.data[self.out_space][self.rows] = out

    def _node_error(self, xs: list) -> None:
        """After the stacked call failed: run the nodes one by one and raise the first one's error, as eager does."""
        op, k = self.op, self.rows.stop - self.rows.start
        for i in range(k):
            node = []
            for gather, x in zip(self.gathers, xs):
                row = x[0 if gather.kind == "one" else i]
                node.append(row if gather.space else float(np.reshape(row, -1)[0]))
            try:
                if op.check is not None:
                    op.check(*node)
                op.forward(*node)
            except Exception as exc:
                error = forward_error(op, node, exc)
                raise error from (None if error is exc else exc)

    def backward(self, env: Env, variant: int) -> None:
        """Add the k nodes' input gradients where the inputs came from."""
        g = env.grad.get(self.out_space)
        if g is None:
            return  # nothing reached these nodes
        g = g[self.rows]
        xs = [gather.take(env) for gather in self.gathers]
        try:
            grads = self.op.backward(g, env.data[self.out_space][self.rows], *xs)
        except Exception as exc:
            raise backward_error(self.op, exc) from exc
        if grads.__class__ is not tuple or len(grads) != len(xs):
            raise wrong_gradients(self.op, grads, len(xs))
        for gather, gi, want in zip(self.gathers, grads, self.wants):
            if gi is not None and want[variant]:
                gather.add(env, gi)


class NodeKernel:
    """Nodes of an op that declares no batching, run one at a time exactly as the eager engine does."""

    def __init__(self, op: Any, nodes: list, out_space: int, first_row: int, wants: list) -> None:
        self.op, self.nodes, self.out_space, self.first_row = op, nodes, out_space, first_row
        self.wants = wants  # per node: per input position, per variant

    def _inputs(self, env: Env, node: list) -> list:
        return [env.data[s][r] if s else float(env.data[0][r]) for s, r in node]

    def forward(self, env: Env) -> None:
        """Each node's output, from its own inputs."""
        op, out = self.op, env.data[self.out_space]
        for i, node in enumerate(self.nodes):
            xs = self._inputs(env, node)
            try:
                if op.check is not None:
                    op.check(*xs)
                y = op.forward(*xs)
            except Exception as exc:
                error = forward_error(op, xs, exc)
                raise error from (None if error is exc else exc)
            out[self.first_row + i] = y if y.__class__ is float else check_output(op, y, xs)

    def backward(self, env: Env, variant: int) -> None:
        """Each node's op backward, its gradients added to its inputs' rows."""
        g_out = env.grad.get(self.out_space)
        if g_out is None:
            return
        op, data = self.op, env.data[self.out_space]
        for i, node in enumerate(self.nodes):
            row = self.first_row + i
            g = g_out[row] if self.out_space else float(g_out[row])
            xs = self._inputs(env, node)
            out = data[row] if self.out_space else float(data[row])
            try:
                grads = op.backward(g, out, *xs)
            except Exception as exc:
                raise backward_error(op, exc) from exc
            if grads.__class__ is not tuple or len(grads) != len(xs):
                raise wrong_gradients(op, grads, len(xs))
            for (s, r), x, gi, want in zip(node, xs, grads, self.wants[i]):
                if gi is None or not want[variant]:
                    continue
                grad = env.grad.get(s)
                if grad is None:
                    grad = env.grad[s] = np.zeros_like(env.data[s])
                grad[r] += gi if gi.__class__ is float else check_gradient(op, x, gi)
