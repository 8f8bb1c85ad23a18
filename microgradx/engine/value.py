"""`Value`: one scalar (or one lane array of scalars) in a computation graph.

A Value remembers the op that made it and the Values it was made from. Python's
operators map to op *names* (``+`` is ``add``, ``*`` is ``mul`` ...); the op itself
is looked up in the op table that plugins fill, on every use. Nothing here knows what
``add`` computes: that lives in the plugin that registered it.

This is the per-node hot path, so it avoids what costs per node: op outputs are made
by `_node` (no argument parsing or validation), the operators go straight to the op
table, and ``v.tanh()`` becomes a plain method after its first use (see `_op_method`).

Every op output is made by `_node`, by ``Value(data, parents, op)``, or inline (`_node`
written out) by the operator methods and `_op_method`'s methods. ``detect_anomaly()``
replaces all of those (`microgradx.engine.anomaly`) with versions that check and record each
node, so that outside it they carry no check at all. Code elsewhere must therefore read
``microgradx.engine.value._node`` through the module at each call, never
``from microgradx.engine.value import _node``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

import numpy as np

from microgradx.engine.op import OPS

_ndarray = np.ndarray

Number = Union[int, float, np.integer, np.floating]
Data = Union[float, np.ndarray]


def as_data(x: Any) -> Data:
    """Convert a user-supplied number or 1-D array of lanes to ``Value.data``.

    Raises ``TypeError`` naming the type for anything else (strings, None,
    complex numbers, lists, 2-D arrays, bools).
    """
    cls = x.__class__
    if cls is float:
        return x
    if cls is int:
        return float(x)
    if isinstance(x, _ndarray):
        if x.ndim != 1:
            raise TypeError(
                f"Value() takes a 1-D array of lanes, not a {x.ndim}-D array of shape {x.shape}"
            )
        if x.dtype.kind not in "fiu":
            raise TypeError(f"Value() takes a real-number array of lanes, not dtype {x.dtype}")
        if x.size == 0:
            raise TypeError("Value() takes a lane array with at least one lane, not an empty array")
        return np.array(x, dtype=np.float64)  # a copy: later edits to x must not change the graph
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"Value() takes a number, not {type(x).__name__} (use 1.0/0.0 if you mean it)")
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    raise TypeError(
        f"Value() takes an int, float, numpy scalar or 1-D numpy array of lanes, "
        f"not {type(x).__name__}"
    )


_new = object.__new__


def _node(data: Data, parents: tuple, op: Any) -> Value:
    """A new Value without `Value.__init__`'s validation: an op's output, or a float leaf.

    The hot path: every op output is made here, without the argument handling and the
    checks of ``Value(...)``.
    """
    v = _new(Value)
    v.data = data
    v.grad = 0.0
    v._parents = parents
    v._op = op
    v.label = None
    return v


def _operator(name: str) -> Callable[[Value, Any], Value]:
    """The method behind a binary operator: ``self <op> other`` applies the op registered as ``name``."""

    def operator(self: Value, other: Any) -> Value:
        op = OPS[name]
        if other.__class__ is not Value:
            other = wrap(other)
        x = self.data
        y = other.data
        if op.check is not None:
            op.check(x, y)
        v = _new(Value)  # `_node`, written out: a call less per node
        v.data = op.forward(x, y)
        v.grad = 0.0
        v._parents = (self, other)
        v._op = op
        v.label = None
        return v

    operator.__doc__ = f"Apply the registered op {name!r} to (self, other)."
    return operator


def _reflected(name: str) -> Callable[[Value, Any], Value]:
    """The method behind a reflected operator: ``other <op> self`` where ``other`` is a number."""

    def operator(self: Value, other: Any) -> Value:
        op = OPS[name]
        other = wrap(other)
        x = other.data
        y = self.data
        if op.check is not None:
            op.check(x, y)
        v = _new(Value)  # `_node`, written out
        v.data = op.forward(x, y)
        v.grad = 0.0
        v._parents = (other, self)
        v._op = op
        v.label = None
        return v

    operator.__doc__ = f"Apply the registered op {name!r} to (other, self)."
    return operator


class Value:
    """A node of the graph: its data, its gradient, and how it was made.

    ``data`` is a float, or a 1-D float64 numpy array whose elements ("lanes") are
    independent examples computed by the same graph. ``grad`` has the same kind:
    after ``backward()`` it holds d(root)/d(self), summed over lanes for a Value
    whose data is a plain float (a parameter shared by all lanes).

    Gradients accumulate: every ``backward()`` adds to ``grad``, as in PyTorch.
    Reset them with ``zero_grad`` (or ``v.grad = 0.0``) between steps.
    """

    __slots__ = ("data", "grad", "_parents", "_op", "label")
    __array_ufunc__ = None  # make numpy hand `array + value` to Value.__radd__

    def __init__(self, data: Any, _parents: tuple = (), _op: Any = None, label: Optional[str] = None):
        if _op is None:  # a leaf made by a user: validate; op outputs are trusted
            data = as_data(data)
            self.grad = np.zeros_like(data) if data.__class__ is _ndarray else 0.0
        else:
            self.grad = 0.0
        self.data = data
        self._parents = _parents
        self._op = _op
        self.label = label

    # -- the graph ------------------------------------------------------------------

    @property
    def op(self):
        """The `Op` that made this Value, or None for a leaf (`microgradx.engine.autograd.RELEASED` once released)."""
        return self._op

    @property
    def parents(self) -> tuple:
        """The Values this one was computed from (empty for a leaf)."""
        return self._parents

    @property
    def is_lanes(self) -> bool:
        """True when ``data`` is an array of lanes rather than one float."""
        return self.data.__class__ is _ndarray

    def backward(self, grad: Any = None, retain_graph: bool = True) -> None:
        """Back-propagate from this Value: add d(self)/d(v) to ``v.grad`` for every v below.

        ``grad`` seeds the output gradient (default 1.0, or ones for a lane Value).
        Gradients accumulate across calls; see `microgradx.engine.autograd.backward`.
        ``retain_graph=False`` frees the graph as it goes: the op outputs below forget
        their inputs, and back-propagating through them again raises `GraphReleasedError`.
        """
        from microgradx.engine.autograd import backward

        backward(self, grad, retain_graph)

    def item(self) -> float:
        """The data as a float (a lane Value must have exactly one lane)."""
        if self.data.__class__ is _ndarray:
            if self.data.size != 1:
                raise ValueError(f"item() needs a single value, this Value has {self.data.size} lanes")
            return float(self.data[0])
        return float(self.data)

    # -- operators map to op names ------------------------------------------------------

    __add__, __radd__ = _operator("add"), _reflected("add")
    __sub__, __rsub__ = _operator("sub"), _reflected("sub")
    __mul__, __rmul__ = _operator("mul"), _reflected("mul")
    __truediv__, __rtruediv__ = _operator("div"), _reflected("div")
    __pow__, __rpow__ = _operator("pow"), _reflected("pow")

    def __neg__(self) -> Value:
        op = OPS["neg"]
        x = self.data
        if op.check is not None:
            op.check(x)
        v = _new(Value)  # `_node`, written out
        v.data = op.forward(x)
        v.grad = 0.0
        v._parents = (self,)
        v._op = op
        v.label = None
        return v

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: v.tanh(), v.softsign(), ... resolve
        # through the op table, so a plugin's op is a method without touching this class.
        # The first use of a name installs `_op_method(name)` on the class, so later
        # uses are a plain method call (a failed lookup costs a few hundred ns).
        if name.startswith("_"):
            raise AttributeError(f"'Value' object has no attribute {name!r}")
        try:
            OPS[name]
        except KeyError:
            raise AttributeError(f"'Value' object has no attribute or registered op {name!r}") from None
        method = _op_method(name)  # a module global: anomaly mode swaps it
        setattr(Value, name, method)
        return method.__get__(self)

    def __dir__(self) -> list:
        return sorted((set(super().__dir__()) - _OP_METHODS) | set(OPS))

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label else ""
        if self.data.__class__ is _ndarray:
            return f"Value(lanes={self.data.size}, data={_short(self.data)}, grad={_short(self.grad)}{label})"
        return f"Value(data={self.data!r}, grad={self.grad!r}{label})"


#: Names of the op methods `Value.__getattr__` installed on the class (``tanh``, ``relu``, ...).
_OP_METHODS: set = set()


def _op_method(name: str) -> Callable[..., Value]:
    """The method ``v.NAME(*others)``: apply the op registered as ``name`` to ``(v, *others)``.

    It reads the op table on every call, so a replaced op takes effect at once; if the
    op is gone (its plugin unregistered) the method removes itself and raises AttributeError.
    """

    def method(self: Value, *others: Any) -> Value:
        try:
            op = OPS[name]
        except KeyError:
            forget_op_methods([name])
            raise AttributeError(f"'Value' object has no attribute or registered op {name!r}") from None
        if others or op.arity != 1:
            return apply(op, self, *others)
        x = self.data
        if op.check is not None:
            op.check(x)
        v = _new(Value)  # `_node`, written out
        v.data = op.forward(x)
        v.grad = 0.0
        v._parents = (self,)
        v._op = op
        v.label = None
        return v

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Apply the registered op {name!r} to this Value (and any further inputs)."
    _OP_METHODS.add(name)
    return method


def forget_op_methods(names: Optional[Any] = None) -> None:
    """Remove installed op methods (all, or ``names``) from `Value`; the next use reinstalls them.

    For the registry to call when ops are unregistered, so ``hasattr(v, "gone_op")`` is False again.
    """
    for name in list(_OP_METHODS if names is None else names):
        if name in _OP_METHODS:
            _OP_METHODS.discard(name)
            try:
                delattr(Value, name)
            except AttributeError:  # not installed, or another thread removed it first
                pass


def _short(x: Any) -> str:
    if x.__class__ is _ndarray:
        return np.array2string(x, precision=4, threshold=6, edgeitems=2)
    return repr(x)


def wrap(x: Any) -> Value:
    """Return ``x`` if it is a Value, else a new leaf Value holding it (TypeError if impossible)."""
    cls = x.__class__
    if cls is Value:
        return x
    if cls is float:  # the common cases (a constant in an expression): nothing to validate
        return _node(x, (), None)
    if cls is int:
        return _node(float(x), (), None)
    if isinstance(x, Value):
        return x
    try:
        return Value(x)
    except TypeError:
        raise TypeError(
            f"cannot use {type(x).__name__} in a Value expression: expected a Value, an int, "
            f"a float, a numpy scalar or a 1-D numpy array of lanes"
        ) from None


def apply(op: Any, *args: Any) -> Value:
    """Apply ``op`` to ``args`` (Values or numbers), checking the arity: the general path."""
    n = len(args)
    arity = op.arity
    if n == 0 or (arity is not None and n != arity):
        want = "one or more" if arity is None else str(arity)
        raise TypeError(f"op {op.name!r} takes {want} input(s), got {n}")
    if n == 1:
        a = args[0]
        if a.__class__ is not Value:
            a = wrap(a)
        x = a.data
        if op.check is not None:
            op.check(x)
        return _node(op.forward(x), (a,), op)
    values = tuple([a if a.__class__ is Value else wrap(a) for a in args])
    xs = [v.data for v in values]
    if op.check is not None:
        op.check(*xs)
    return _node(op.forward(*xs), values, op)
