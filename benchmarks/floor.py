"""Floors: what bounds the eager targets, measured next to them (not ways to run microgradx).

``Value`` (and `apply`, `topological_order`): microgradx's ops, driven by an engine with every
check taken out. ``bench_nodes.py`` times it next to micrograd and microgradx to show what bounds
the eager node-time target. It keeps exactly what issue 12 asks the core to keep and nothing else:

* the op table: ``a + b`` looks up the registered ``add`` (so no op is special-cased);
* the op protocol the compiler batches over: ``forward(*xs)`` and ``backward(grad, out, *xs)``
  returning one gradient per input;
* an iterative topological order (a recursive one cannot take a 1,000,000-node chain), and
  the same five ``__slots__`` per node.

It drops everything else: no domain checks, no error wrapping or messages, no checks of an
op's outputs or gradients, no lanes, no ``grad=None`` inputs, no ``retain_graph``, no
released-graph checks and no anomaly hook.

``visit_without_checks``: microgradx's backward step with no checks (``bench_epoch.py`` runs
the eager lane epoch with it, to show that the checks are not what bounds that target), and
``PerNeuronNumpy``: the numpy calls of the eager lane graph with no graph around them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from peers import NumpyImpl, Problem

from microgradx.engine.optable import OPS


class Value:
    """A node: data, grad, inputs and op (the slots of ``microgradx.Value``)."""

    __slots__ = ("data", "grad", "_parents", "op", "label")

    def __init__(self, data: float, _parents: tuple = (), op: Any = None, label: Any = None) -> None:
        self.data = data
        self.grad = 0.0
        self._parents = _parents
        self.op = op
        self.label = label

    __add__ = lambda self, other: apply("add", self, other)
    __mul__ = lambda self, other: apply("mul", self, other)
    __pow__ = lambda self, other: apply("pow", self, other)
    relu = lambda self: apply("relu", self)

    def backward(self) -> None:
        """Every op output, last made first: its op's gradients added to its inputs' grads."""
        nodes = topological_order(self)
        for v in nodes:
            v.grad = 0.0
        self.grad = 1.0
        while nodes:
            v = nodes.pop()
            for p, g in zip(v._parents, v.op.backward(v.grad, v.data, *[p.data for p in v._parents])):
                p.grad = p.grad + g


def apply(name: str, *inputs: Any) -> Value:
    """The registered op ``name`` on ``inputs`` (numbers become leaves): one new node."""
    op = OPS[name]
    inputs = tuple([x if isinstance(x, Value) else Value(x) for x in inputs])
    return Value(op.forward(*[v.data for v in inputs]), inputs, op)


def topological_order(root: Value) -> list:
    """The op outputs ``root`` depends on, each after its inputs: an explicit stack, no recursion."""
    order, seen, stack = [], {root}, [(root, iter(root._parents))]
    while stack:
        v, inputs = stack[-1]
        for p in inputs:
            if p not in seen and p.op is not None:
                seen.add(p)
                stack.append((p, iter(p._parents)))
                break
        else:
            stack.pop()
            order.append(v)
    return order


def visit_without_checks(v: Any) -> None:
    """One node's backward step with no checks: a lane gradient reaching a float input is summed, nothing else."""
    for p, g in zip(v._parents, v.op.backward(v.grad, v.data, *[p.data for p in v._parents])):
        if g is not None and p.grad is not None:
            p.grad = p.grad + (g.sum() if g.__class__ is np.ndarray and p.data.__class__ is float else g)


class PerNeuronNumpy(NumpyImpl):
    """The numpy work of the eager lane graph, neuron by neuron, and no Python graph around it.

    The floor of the eager fused lane epoch: per ``dot`` node, the inputs stacked into a matrix
    forward and again backward, one matrix-vector product each way, the outer product for the
    inputs' gradients (not for the model's input columns, which take none: more than the eager
    graph saves) and one addition per (input, neuron); per ReLU node its forward and its mask.
    """

    name, note = "numpy per neuron (floor of eager lanes)", "the eager graph's numpy calls only"

    def __init__(self, prob: Problem) -> None:
        super().__init__(prob)
        self.columns = list(prob.X.T.copy())

    def gradients(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """`NumpyImpl.gradients`, neuron by neuron as the eager lane graph computes them (the step is NumpyImpl's)."""
        layers, last = self.layers, len(self.layers) - 1
        inputs, outputs, h = [], [], self.columns
        for i, (W, b) in enumerate(layers):  # forward: one dot (and one ReLU) per neuron
            zs = [W[j] @ np.array(h) + b[j] for j in range(len(b))]
            inputs.append(h)
            outputs.append(zs)
            h = [np.maximum(z, 0.0) for z in zs] if i < last else zs
        margin = 1.0 - self.s * h[0]
        self.loss = float(np.maximum(margin, 0.0).mean())
        dh = [-(self.s * (margin > 0.0)) / len(self.s)]
        grads: list = []
        for i in range(last, -1, -1):  # backward, neuron by neuron
            W = layers[i][0]
            gW, gb, dx = np.empty_like(W), np.empty(len(W)), [None] * W.shape[1]
            for j, (z, g) in enumerate(zip(outputs[i], dh)):
                g = g * (z > 0.0) if i < last else g
                gW[j], gb[j] = np.array(inputs[i]) @ g, g.sum()
                if i:
                    rows = np.outer(W[j], g)
                    dx = [row if d is None else d + row for d, row in zip(dx, rows)]
            grads.append((gW, gb))
            dh = dx
        return grads[::-1]
