"""The plugin's ops: softplus, leaky_relu (slope fixed when registered) and huber.

Each op is a forward and its derivative side by side, written so that the same code
serves a plain float (scalar mode), a 1-D numpy array of lanes (a batch) and, for the
derivative, a Value (``backward(create_graph=True)``, so that it can be differentiated
again). `microgradx.engine.lanes.lanewise` picks ``math`` for a float, numpy for lanes and,
given the name of a registered op that computes the same function, that op for a Value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from microgradx import Op
from microgradx.engine.lanes import first_offender, is_lanes, lanewise

# -- softplus(x) = log(1 + e**x) -------------------------------------------------------------
# Written as max(x, 0) + log1p(e**-|x|): e**-|x| is at most 1, so nothing overflows for
# large |x| (softplus(1000) is 1000.0, softplus(-1000) is 0.0), and log1p keeps full
# precision where e**-|x| is tiny. Its derivative is sigmoid(x) = 1 - e**-softplus(x) =
# -expm1(-softplus(x)), accurate at both ends; on a Value it is the bundled op sigmoid.

_softplus = lanewise(lambda x: max(x, 0.0) + math.log1p(math.exp(-abs(x))),
                     lambda x: np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))
_sigmoid = lanewise(lambda x: -math.expm1(-_softplus(x)), lambda x: -np.expm1(-_softplus(x)), "sigmoid")
softplus = Op(
    name="softplus",
    doc="log(1 + e ** x), computed without overflow for large |x|",
    elementwise=True,  # forward and backward work element by element on arrays of any shape
    forward=_softplus,
    backward=lambda g, out, x: (g * _sigmoid(x),),  # on floats, lanes and Values: differentiable
    formula="sigmoid(x)",  # d/dx, written with backward's names (x, out): the explorer page shows it
)


# -- leaky_relu(x) = x if x > 0 else slope * x ------------------------------------------------


def make_leaky_relu(slope: float = 0.01, name: str = "leaky_relu") -> Op:
    """A leaky ReLU op with a fixed ``slope`` for negative inputs, registered as ``name``.

    The slope is chosen when the op is made (the plugin registers ``make_leaky_relu(0.01)``);
    register ``make_leaky_relu(0.2, name="leaky_relu_02")`` for another one. At exactly 0
    the gradient used is ``slope`` (the left derivative), as PyTorch does.
    """
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or not math.isfinite(slope):
        raise ValueError(f"make_leaky_relu: slope must be a finite number, got {slope!r}")
    slope = float(slope)
    return Op(
        name=name,
        doc=f"x if x > 0 else {slope:g} * x",
        forward=lanewise(lambda x: x if x > 0.0 else slope * x,
                         lambda x: np.where(x > 0.0, x, slope * x)),
        backward=lambda g, out, x: (g * _leaky_slope(x, slope),),
        formula=f"1 if x > 0 else {slope:g}",
    )


# 1 where x > 0, else 0, of a float, lanes or (the bundled op step, whose derivative is 0) a Value
_step = lanewise(lambda x: 1.0 if x > 0.0 else 0.0, lambda x: (x > 0.0).astype(np.float64), "step")


def _leaky_slope(x: Any, slope: float) -> Any:
    step = _step(x)
    return step + slope * (1.0 - step)  # 1 or slope, exactly


# -- huber(r, delta): 0.5 r**2 where |r| <= delta, else delta * (|r| - delta / 2) ------------
# The pointwise penalty of the Huber loss, as one op so that a batch costs one node.
# Both inputs are differentiable: d/dr = clip(r, -delta, delta), d/ddelta = max(|r| - delta, 0).


def _check_huber(r: Any, delta: Any) -> None:
    bad = np.asarray(delta) <= 0.0
    if bad.any():
        raise ValueError(f"op 'huber': delta must be positive, got {first_offender(delta, bad)}")


# max(x, 0) and the sign of x, of a float, lanes or (the bundled ops relu and sign) a Value
_relu = lanewise(lambda x: x if x > 0.0 else 0.0, lambda x: np.maximum(x, 0.0), "relu")
_sign = lanewise(lambda x: 1.0 if x > 0.0 else (-1.0 if x < 0.0 else 0.0 * x), np.sign, "sign")


def _huber_forward(r: Any, delta: Any) -> Any:
    if is_lanes(r) or is_lanes(delta):
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    a = abs(r)
    return 0.5 * r * r if a <= delta else delta * (a - 0.5 * delta)


def _huber_backward(g: Any, out: Any, r: Any, delta: Any) -> tuple:
    excess = _relu(abs(r) - delta)  # max(|r| - delta, 0); clip(r, -delta, delta) = r - sign(r) * excess
    return g * (r - _sign(r) * excess), g * excess


huber = Op(name="huber", arity=2, doc="Huber penalty of a residual r with threshold delta > 0", elementwise=True,
           forward=_huber_forward, backward=_huber_backward, check=_check_huber,
           formula=("clip(r, -delta, delta)", "max(|r| - delta, 0)"))  # one text per input: d/dr, d/ddelta
