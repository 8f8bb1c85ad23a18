"""Unary ops: tanh, relu, exp, log, sigmoid, abs, and step and sign (relu's and abs's derivatives).

Derivatives are written in terms of the output where that is cheapest (tanh, exp,
sigmoid), as in micrograd, and with operators and the lanewise helpers, which take a
float, lanes or a Value: so each derivative is differentiable too (``backward(create_graph=
True)``). Large inputs never overflow: tanh and sigmoid saturate to their limits, exp gives
inf past float64's range.
"""

from __future__ import annotations

import math

import numpy as np

from microgradx import Op, hookimpl
from microgradx.engine.lanes import exp, first_offender, is_lanes, lanewise, log, tanh

_NUMBERS = (float, np.ndarray)  # plain data (a backward on Values takes the ops' way: create_graph=True)

tanh_op = Op(name="tanh", doc="hyperbolic tangent", elementwise=True,
             forward=tanh,
             backward=lambda g, out, x: (g * (1.0 - out * out),), formula="1 - out**2")


# `x <= 0.0` is False for NaN, so a NaN passes through, as np.maximum (and PyTorch) give
_relu = lanewise(lambda x: 0.0 if x <= 0.0 else x, lambda x: np.maximum(x, 0.0))

# 1 where x > 0, else 0 (NaN too): relu's derivative; its own derivative is 0 (no gradient)
_step = lanewise(lambda x: 1.0 if x > 0.0 else 0.0, lambda x: (x > 0.0).astype(np.float64), "step")

step = Op(name="step", doc="1 where x > 0, else 0: relu's derivative (its own is 0)", elementwise=True,
          forward=_step,
          backward=lambda g, out, x: (None,), formula="0")

# relu's kink: at exactly 0 the subgradient used is 0 (as PyTorch does); at NaN the gradient is 0 too.
relu = Op(name="relu", doc="max(x, 0); gradient 0 at x == 0", elementwise=True, symbol="ReLU",
          forward=_relu,
          backward=lambda g, out, x: (g * (x > 0.0) if x.__class__ in _NUMBERS else g * _step(x),),
          formula="1 if x > 0 else 0")

exp_op = Op(name="exp", doc="e ** x (inf past about 709.78)", elementwise=True,
            forward=exp,
            backward=lambda g, out, x: (g * out,), formula="out")


def _check_log(x):
    bad = x <= 0.0
    if (bad.any() if is_lanes(x) else bad):
        raise ValueError(f"op 'log': log of a non-positive number {first_offender(x, bad)}")


log_op = Op(name="log", doc="natural logarithm (x <= 0 raises ValueError)", elementwise=True,
            forward=log,
            backward=lambda g, out, x: (g / x,), formula="1/x",
            check=_check_log)


def _sigmoid_scalar(x: float) -> float:
    if x >= 0.0:  # exp of a non-positive number never overflows
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _sigmoid_array(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


#: sigmoid of a float, of lanes or (the op) of a Value
sigmoid_of = lanewise(_sigmoid_scalar, _sigmoid_array, "sigmoid")

sigmoid = Op(name="sigmoid", doc="1 / (1 + e ** -x), computed without overflow", elementwise=True,
             forward=sigmoid_of,
             backward=lambda g, out, x: (g * out * (1.0 - out),), formula="out*(1 - out)")


# d|x|/dx = sign(x), 0 at x == 0 (as PyTorch gives); sign's own derivative is 0 (no gradient)
_sign = lanewise(lambda x: 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0 * x), np.sign, "sign")

sign = Op(name="sign", doc="-1, 0 or 1 as x is negative, 0 or positive: abs's derivative (its own is 0)",
          elementwise=True, forward=_sign,
          backward=lambda g, out, x: (None,), formula="0")

abs_op = Op(name="abs", doc="|x|, the op behind abs(v); gradient 0 at x == 0", elementwise=True,
            forward=abs,
            backward=lambda g, out, x: (g * _sign(x),), formula="sign(x)")


@hookimpl
def microgradx_register_ops(register):
    """Register tanh, relu, exp, log, sigmoid, abs, step and sign."""
    for op in (tanh_op, relu, exp_op, log_op, sigmoid, abs_op, step, sign):
        register(op)
