"""The arithmetic ops behind Python's operators: add, sub, neg, mul, div, pow (and `pow_constant`).

Each op is its forward and its derivative side by side, written with operators so the
same lines serve a float and an array of lanes (and arrays of any shape: every op here is
``elementwise``, so the compiler runs many nodes of one as one numpy call). The forwards of
the simplest ops are the `operator` module's functions (``operator.add(x, y)`` is
``x + y``): the same arithmetic without a Python-level call. A number exponent is part of
its op, as in micrograd: ``x ** 2`` applies ``pow_constant(2)``, one node with one input.
"""

from __future__ import annotations

import math
import numbers
import operator
import threading
import weakref

import attrs
import numpy as np

from microgradx import Op, hookimpl
from microgradx.engine.lanes import first_offender, is_lanes, is_value
from microgradx.engine.value import apply
from microgradx_plugins.fused import dot, sum_op

_ndarray = np.ndarray

# -- add, sub, neg, mul: d(x+y) = dx + dy; d(x*y) = y dx + x dy -------------------------------


def _fuse_adds(v, uses):
    """The compiler's rewrite of a chain of adds (``Op.fuse``): micrograd's ``b + w1*x1 + ...`` as one ``dot``.

    The chain's terms are the inputs of the adds below ``v`` that only the chain uses (an inner
    add used elsewhere too is a term). Two or more products and at most one other term: one
    ``dot(b, w1.., x1..)``; three or more terms otherwise: one n-ary ``sum``; else nothing.
    A product that something else uses too is read again by the dot (computing it twice changes
    no gradient).
    """
    add, t, ws, xs, others = v.op, v, [], [], []
    while True:  # down the chain's left spine (``((b + p1) + p2) + ...``: how sum() and micrograd build it)
        a, b = t._parents  # b: the terms right to left
        op = b.op
        if op is mul and uses(b):  # a product (uses 0: made before the call, read as it is)
            w, x = b._parents
            ws.append(w)
            xs.append(x)
        elif op is add and uses(b) == 1:  # an inner add on the right too: a tree of adds, walked in full
            return _fuse_tree(v, uses)
        else:
            others.append(b)
        if a.op is add and uses(a) == 1:  # an inner add that only this chain uses: its inputs are terms
            t = a
        else:
            break
    if a.op is mul and uses(a):  # the chain's first term
        w, x = a._parents
        ws.append(w)
        xs.append(x)
    else:
        others.append(a)
    if len(ws) + len(others) < 3:
        return None
    if len(ws) >= 2 and len(others) <= 1:
        ws.reverse()  # left to right
        xs.reverse()
        return dot, (*others, *ws, *xs)
    return _fuse_tree(v, uses)  # an n-ary sum: its terms in order


def _fuse_tree(v, uses):
    """`_fuse_adds` for any tree of adds (not only a chain down its left side)."""
    terms, todo, add = [], [v._parents[1], v._parents[0]], v.op
    while todo:  # the terms left to right
        t = todo.pop()
        if t.op is add and uses(t) == 1:  # an inner add that only this chain uses: its inputs are terms
            todo += (t._parents[1], t._parents[0])
        else:
            terms.append(t)
    if len(terms) < 3:
        return None
    products = [t for t in terms if t.op is mul and uses(t)]  # (uses 0: made before the call, read as it is)
    if len(products) >= 2 and len(terms) - len(products) <= 1:
        bias = [t for t in terms if not (t.op is mul and uses(t))]
        return dot, (*bias, *[p._parents[0] for p in products], *[p._parents[1] for p in products])
    return sum_op, tuple(terms)


add = Op(name="add", elementwise=True, arity=2, symbol="+", doc="x + y",
         forward=operator.add,  # x + y
         backward=lambda g, out, x, y: (g, g), formula="1",
         fuse=_fuse_adds)

sub = Op(name="sub", elementwise=True, arity=2, symbol="-", doc="x - y",
         forward=operator.sub,  # x - y
         backward=lambda g, out, x, y: (g, -g), formula=("1", "-1"))

neg = Op(name="neg", elementwise=True, arity=1, symbol="-", doc="-x",
         forward=operator.neg,  # -x
         backward=lambda g, out, x: (-g,), formula="-1")

mul = Op(name="mul", elementwise=True, arity=2, symbol="*", doc="x * y",
         forward=operator.mul,  # x * y
         backward=lambda g, out, x, y: (g * y, g * x), formula=("y", "x"))


# -- div: d(x/y) = dx/y - x/y^2 dy ---------------------------------------------------------------

def _check_div(x, y):
    if is_lanes(y):
        zero = y == 0.0
        if zero.any():
            raise ZeroDivisionError(f"op 'div': division by zero, divisor {first_offender(y, zero)}")
    elif y == 0.0:
        raise ZeroDivisionError(f"op 'div': division by zero ({x!r} / {y!r})")


div = Op(name="div", arity=2, elementwise=True, symbol="/", doc="x / y (y == 0 raises ZeroDivisionError)",
         forward=operator.truediv,  # x / y
         backward=lambda g, out, x, y: (g / y, -g * out / y), formula=("1/y", "-x/y**2"),
         check=_check_div)


# -- pow: d(x**y) = y x**(y-1) dx + x**y log(x) dy -----------------------------------------------

def _check_pow(x, y):
    if x.__class__ is _ndarray or y.__class__ is _ndarray:
        xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        bad = (xa < 0) & (ya != np.floor(ya)) & np.isfinite(ya)  # (-2) ** inf and (-2) ** nan are IEEE's
        if bad.any():
            lane = int(np.argmax(bad))
            base = float(np.broadcast_to(xa, bad.shape).flat[lane])
            exponent = float(np.broadcast_to(ya, bad.shape).flat[lane])
            raise ValueError(f"op 'pow': negative base {base!r} to the non-integer exponent {exponent!r} (lane {lane})")
        zero = (xa == 0) & (ya < 0)
        if zero.any():
            exponent = first_offender(np.broadcast_to(ya, zero.shape), zero)
            raise ZeroDivisionError(f"op 'pow': 0.0 to the negative exponent {exponent}")
    elif x <= 0:  # one comparison for the common positive base
        if x < 0 and not float(y).is_integer() and math.isfinite(y):
            raise ValueError(f"op 'pow': negative base {x!r} to the non-integer exponent {y!r}")
        if x == 0 and y < 0:
            raise ZeroDivisionError(f"op 'pow': 0.0 to the negative exponent {y!r}")


def _pow(x, y):
    if x.__class__ is _ndarray or y.__class__ is _ndarray:
        with np.errstate(over="ignore", divide="ignore"):
            return np.power(x, y)
    try:
        return x ** y
    except (OverflowError, ZeroDivisionError):  # IEEE: overflow is +-inf, 0 ** -y is inf
        with np.errstate(over="ignore", divide="ignore"):
            return float(np.power(np.float64(x), y))


def _dx(g, x, y):
    # d/dx = y x**(y-1), taken as 0 where y == 0 (x**0 is constant; the formula gives 0 * inf at x == 0)
    if is_value(x) or is_value(y):  # a backward on Values (create_graph=True): pow again, differentiable
        return _dx_on_values(g, x, y)
    if x.__class__ is _ndarray or y.__class__ is _ndarray:
        with np.errstate(invalid="ignore"):  # 0 * inf is nan, silently, as on the float path
            dx = g * y * _pow(x, y - 1)
        if y.__class__ is _ndarray:
            return np.where(y == 0.0, 0.0, dx)
        return np.zeros_like(dx) if y == 0.0 else dx
    if y == 0.0:
        return 0.0
    try:
        return g * y * x ** (y - 1)
    except (OverflowError, ZeroDivisionError):
        return g * y * _pow(x, y - 1)


def _pow_backward(g, out, x, y):
    # d/dy = x**y log(x), taken as 0 where x <= 0 as PyTorch does (log(x) is undefined there; x**y
    # was then 0, 1/0 or an integer power)
    if is_value(x):  # a backward on Values (create_graph=True): the same numbers, as ops
        return _dx_on_values(g, x, y), _dy_on_values(g, x, y)
    if x.__class__ is _ndarray or y.__class__ is _ndarray:
        return _dx(g, x, y), np.where(x > 0.0, g * out * np.log(np.where(x > 0.0, x, 1.0)), 0.0)
    return _dx(g, x, y), (g * out * math.log(x) if x > 0.0 else 0.0)


# pow's derivative on Values (create_graph=True): the float path's numbers at every point, made of
# ops so it can be differentiated again. Its powers are taken without pow's domain check: 0 to a
# negative power is inf there, as the float path gives (sqrt's slope at 0), not an error.

def _dx_on_values(g, x, y):
    if y.__class__ is float:  # a constant exponent (x ** 2): x ** (y - 1), another constant power
        return g * 0.0 if y == 0.0 else g * y * apply(_unchecked_power(y - 1.0), x)
    # where x == y == 0 the base is taken as 1, so that y * x**(y-1) is 0 (the float path's), not 0 * inf
    both_zero = 1.0 - (abs(x) + abs(y)).sign()
    return g * y * apply(_unchecked_pow, x + both_zero, y - 1.0)


def _dy_on_values(g, x, y):
    # x**y log(x) where x > 0, else 0: of x where x > 0 and of 1 elsewhere (1**y log(1) is 0, even where
    # x**y overflowed), so that its derivative in x is 0 there too (the op step has no derivative)
    positive = x.step()
    base = x * positive + (1.0 - positive)
    return g * apply(_unchecked_pow, base, y) * base.log()


# -- x ** c for a number c: micrograd's '**2', one node whose exponent is a constant -----------------

_pow_constants: weakref.WeakValueDictionary = weakref.WeakValueDictionary()  # symbol -> op, while in use
_pow_constants_lock = threading.Lock()


def _power_formula(c: float) -> str:
    """d(x**c)/dx as text: ``2*x`` for micrograd's ``x ** 2``, ``0.5*x**-0.5``, ``-1*x**-2``."""
    if c in (0, 1):
        return str(c)
    return f"{c}*x" if c == 2 else f"{c}*x**{c - 1:g}"


def pow_constant(c: float) -> Op:
    """``x ** c`` for the number ``c``, as an op of one input: ``pow``'s `Op.with_constant`.

    micrograd's ``x ** 2``: one node, shown ``'**2'``, whose exponent is part of the op, so no
    gradient is computed for it. The same ``c`` gives the same op while any node or recording
    uses it (the compiler batches nodes by op), so ``x ** 2`` and ``y ** 2`` share one.
    """
    c = int(c) if isinstance(c, numbers.Integral) else float(c)  # shown as micrograd shows it: **2, **0.5
    symbol = f"**{c}"
    return _pow_constants.get(symbol) or _new_power(c, symbol, symbol, checked=True)


def _unchecked_power(c: float) -> Op:
    """`pow_constant` without the domain check: the powers inside pow's derivative on Values."""
    symbol = f"**{c}"
    key = f"{symbol} unchecked"
    return _pow_constants.get(key) or _new_power(c, symbol, key, checked=False)


def _new_power(c: float, symbol: str, key: str, checked: bool) -> Op:
    with _pow_constants_lock:  # one op per exponent, even when two threads ask at once
        op = _pow_constants.get(key)
        if op is None:
            e = float(c)
            op = _pow_constants[key] = Op(
                name="pow", symbol=symbol, elementwise=True, doc=f"x {symbol} (a constant exponent)",
                forward=lambda x: _pow(x, e),
                backward=lambda g, out, x: (_dx(g, x, e),), formula=_power_formula(c),
                check=(lambda x: _check_pow(x, e)) if checked else None)
    return op


pow = Op(name="pow", arity=2, elementwise=True, symbol="**", doc="x ** y (x ** 2, a number exponent: one node, **2)",
         forward=_pow, backward=_pow_backward, check=_check_pow, with_constant=pow_constant,
         formula=("y*x**(y - 1)", "out*log(x)"))

#: pow without its domain check: the powers inside pow's derivative on Values (see `_dx_on_values`)
_unchecked_pow = attrs.evolve(pow, check=None, with_constant=None)


@hookimpl
def microgradx_register_ops(register):
    """Register the operator ops: add, sub, neg, mul, div, pow."""
    for op in (add, sub, neg, mul, div, pow):
        register(op)
