"""`Value`: one number (or one array of lanes) in a computation graph, and how it was made.

A Value remembers the op that made it and the Values it was made from. Python's
operators map to op *names* (``+`` is ``add``, ``*`` is ``mul``), looked up in the op
table that plugins fill, so nothing here knows what ``add`` computes: that lives next to
its derivative in the plugin that registered it. Every node is made by `apply`.

    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = a * b + 1.0          # mul, then add: two nodes
    >>> c.data, c.op.name, [p.data for p in c.parents]
    (-5.0, 'add', [-6.0, 1.0])
"""

from __future__ import annotations

from functools import partial
from typing import Any, Optional, Union

import numpy as np

from microgradx.engine import autograd
from microgradx.engine.errors import as_data, check_output, forward_error, is_number, lanes, one_number
from microgradx.engine.op import Op
from microgradx.engine.optable import OPS


class Value:
    """A node of the graph: its data, its gradient, and how it was made.

    ``data`` is a float, or a 1-D float64 numpy array whose elements ("lanes") are
    independent examples computed by the same graph. ``grad`` has the same kind: after
    ``backward()`` it holds d(root)/d(self), summed over the lanes for a Value whose data
    is a float (a parameter shared by every lane).

    Gradients of leaves accumulate: every ``backward()`` adds to ``grad``, as in PyTorch.
    Reset them with ``microgradx.zero_grad(params)`` (or ``v.grad = 0.0``) between steps.
    """

    __slots__ = ("data", "grad", "_parents", "op", "label")
    __array_ufunc__ = None  # numpy hands `array + value` to Value.__radd__ instead of looping

    def __init__(self, data: Any, _parents: tuple = (), op: Optional[Op] = None, label: str = ""):
        if op is None:  # a leaf made by a user: check what it holds (`apply` checked an op's output)
            data = as_data(data)
        self.data = data
        self.grad = 0.0 if op is not None or not isinstance(data, np.ndarray) else np.zeros_like(data)
        self._parents = _parents  # the inputs of the op that made this Value (empty for a leaf)
        self.op = op  # that op (None for a leaf)
        self.label = label

    parents = property(lambda self: self._parents, doc="The Values this one was computed from (empty for a leaf).")
    is_lanes = property(lambda self: isinstance(self.data, np.ndarray), doc="True when ``data`` is an array of lanes.")

    # -- micrograd's names, so the lecture's code runs: _prev, _op, _backward() ------------------

    _prev = property(lambda self: set(self._parents), doc="micrograd's name for the inputs: a set of `parents`.")
    _op = property(lambda self: self.op.symbol if self.op else "", doc="micrograd's op string: `Op.symbol`; leaf: ''.")

    def _backward(self) -> None:
        """micrograd's ``_backward()``: this node's step of the backward pass, as ``backward()`` takes it.

        Adds ``grad x d self / d input`` to each input's ``grad`` (the driver's own step,
        `autograd.visit_node`, or anomaly mode's checking one); does nothing for a leaf.
        """
        if self.op is not None:
            (OPS.visit or autograd.visit_node)(self)

    def backward(self, grad: Any = None, retain_graph: bool = True, create_graph: bool = False) -> None:
        """Add d(self)/d(v) to ``v.grad`` for every Value ``v`` below this one (see `autograd.backward`).

        ``create_graph=True``: every gradient is a Value, whose own ``backward()`` differentiates again.
        """
        autograd.backward(self, grad, retain_graph, create_graph)

    def item(self) -> float:
        """The data as a float (a lane Value must have exactly one lane)."""
        return one_number(self)

    __float__ = item

    # -- operators map to op names --------------------------------------------------------

    __add__ = lambda self, other: apply("add", self, other)
    __radd__ = lambda self, other: apply("add", other, self)
    __sub__ = lambda self, other: apply("sub", self, other)
    __rsub__ = lambda self, other: apply("sub", other, self)
    __mul__ = lambda self, other: apply("mul", self, other)
    __rmul__ = lambda self, other: apply("mul", other, self)
    __truediv__ = lambda self, other: apply("div", self, other)
    __rtruediv__ = lambda self, other: apply("div", other, self)

    def __pow__(self, other: Any) -> Value:
        """``self ** other``: a number exponent is a constant of the node (micrograd's ``'**2'``), if the
        registered ``pow`` offers that (`Op.with_constant`); a Value exponent is an input with a gradient."""
        constant = OPS["pow"].with_constant if is_number(other) else None
        return apply("pow", self, other) if constant is None else apply(constant(other), self)

    __rpow__ = lambda self, other: apply("pow", other, self)
    __neg__ = lambda self: apply("neg", self)
    __abs__ = lambda self: apply("abs", self)

    # -- micrograd's methods, by op name; any other registered op is v.NAME() (below) --------

    relu = lambda self: apply("relu", self)
    tanh = lambda self: apply("tanh", self)
    exp = lambda self: apply("exp", self)

    def sum(self, *others: Any) -> Value:
        """``self + others[0] + ...`` lane by lane (the op ``sum``); ``lane_sum`` adds up one Value's lanes."""
        if not others and isinstance(self.data, np.ndarray):  # numpy's x.sum() would mean the lanes' total
            raise TypeError("v.sum() adds Values lane by lane, so with no others it would be v itself; "
                            "to add up the lanes of v use v.lane_sum() (or v.lane_mean())")
        return apply("sum", self, *others)

    def __getattr__(self, name: str) -> Any:
        # Reached only when normal lookup fails: v.softsign(*others) for any registered op.
        try:
            if not name.startswith("_"):
                return partial(apply, OPS[name], self)
        except KeyError:
            pass
        raise AttributeError(f"'Value' object has no attribute or registered op {name!r}")

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        if isinstance(self.data, np.ndarray):
            return f"Value(lanes={self.data.size}, data={lanes(self.data)}, grad={lanes(self.grad, self.data)}{label})"
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"


def apply(op: Union[Op, str], *args: Any) -> Value:
    """Apply ``op`` (an `Op` or a registered op's name) to ``args``: the one way a node is made.

    Numbers among the inputs become leaf Values. The op's domain check runs first; an error in
    its forward is raised again (the same type) naming the op, its plugin and the inputs' kind.
    """
    op = OPS[op] if isinstance(op, str) else op
    if (op.arity is not None and len(args) != op.arity) or not args:
        raise TypeError(f"op {op.name!r} takes {op.arity or 'one or more'} input(s), got {len(args)}")
    inputs = tuple([x if isinstance(x, Value) else Value(x) for x in args])  # numbers become leaves
    xs = [v.data for v in inputs] if OPS.tracer is None else OPS.tracer.enter(args, inputs)  # (compile: traced)
    if op.check is not None:
        op.check(*xs)  # a domain check raises its own error, naming the op and the value
    try:
        out = op.forward(*xs)
    except Exception as exc:
        error = forward_error(op, xs, exc)
        raise error from (None if error is exc else exc)
    out = Value(out if out.__class__ is float else check_output(op, out, xs), inputs, op)
    return out if OPS.tracer is None else OPS.tracer.leave(out)
