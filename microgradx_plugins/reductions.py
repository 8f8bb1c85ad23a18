"""Lane reductions: turn a lane Value (one number per example) into one plain float.

A loss over a batch in lane mode ends in one of these, so that ``backward()`` starts
from a single number. On a plain float they are the identity.

Their derivatives spread one number over the lanes: ``lane_fill(g, x)``, ``g`` in every lane of
``x`` (divided by the number of lanes for ``lane_mean``). It is an op too, so that under
``backward(create_graph=True)`` a reduction's derivative is a node that can be differentiated
again; its own derivative is the lanes' total, which the engine takes for a float input.
"""

from __future__ import annotations

import numpy as np

from microgradx import Op, hookimpl
from microgradx.compiler.batching import lane_dot_rule, lane_mean_rule, lane_sum_rule
from microgradx.engine.errors import lane_count
from microgradx.engine.lanes import is_lanes, is_value
from microgradx.engine.value import apply


def _fill(g, x):
    """``g`` in every lane of ``x``: ``g`` broadcast to the lanes of ``x`` (a new array; numbers stay numbers)."""
    if x.__class__ is np.ndarray:
        return np.broadcast_to(g, np.broadcast_shapes(np.shape(g), x.shape)) + 0.0
    return g + 0.0


lane_fill = Op(name="lane_fill", arity=2, elementwise=True,
               doc="g in every lane of x (x gives only the lanes): lane_sum's derivative",
               forward=_fill,
               backward=lambda gg, out, g, x: (gg, None),  # (for a float g the engine sums the lanes)
               formula=("1 (each lane)", "0"))

lane_sum = Op(name="lane_sum", doc="sum of the lanes, a float", reduces_lanes=True, sums_lanes=True,
              batch=lane_sum_rule,
              forward=lambda x: float(x.sum()) if is_lanes(x) else x,
              backward=lambda g, out, x: (lane_fill_of(g, x),), formula="1 (each lane)")

lane_mean = Op(name="lane_mean", doc="mean of the lanes, a float", reduces_lanes=True, batch=lane_mean_rule,
               forward=lambda x: float(x.mean()) if is_lanes(x) else x,
               backward=lambda g, out, x: (lane_fill_of(g, x, mean=True),), formula="1/n (each of the n lanes)")


def _lane_dot(a, b):
    if a.__class__ is np.ndarray or b.__class__ is np.ndarray:
        return float((a * b).sum())  # (lane_sum(a * b)'s numbers exactly: the same products, the same pairwise sum)
    return a * b


def _lanes_like(grad, x):
    """``grad`` for the input ``x``: one number spread over the lanes of a lane ``x`` (a float input's lane
    gradient is left to the engine, which sums it)."""
    if is_value(grad):
        return apply(lane_fill, grad, x) if not grad.is_lanes and is_value(x) and x.is_lanes else grad
    return np.full_like(x, grad) if x.__class__ is np.ndarray and grad.__class__ is not np.ndarray else grad


lane_dot = Op(name="lane_dot", arity=2, reduces_lanes=True, batch=lane_dot_rule,
              doc="sum of the lanes of a * b, a float: the inner product of two lane Values (lane_sum(a * b) in one)",
              check=lambda a, b: lane_count(lane_dot, (a, b)) and None,  # lanes of different lengths: say so
              forward=_lane_dot,
              backward=lambda g, out, a, b: (_lanes_like(g * b, a), _lanes_like(g * a, b)),
              formula=("b (each lane)", "a (each lane)"))


def lane_fill_of(g, x, mean=False):
    """``g`` in every lane of ``x`` (``g / n`` with ``mean``): numbers for numbers, the op ``lane_fill`` for Values.

    On Values (a backward with ``create_graph=True``) it is a node, so it can be differentiated
    again; a mean reads the number of lanes (a compiled function doing this is recorded per
    row count).
    """
    if is_value(x):
        if not x.is_lanes:
            return g
        filled = apply(lane_fill, g, x)
        return filled * (1.0 / x.data.size) if mean else filled
    if is_lanes(x):
        return np.full_like(x, g / x.size if mean else g)
    return g


@hookimpl
def microgradx_register_ops(register):
    """Register lane_sum, lane_mean, their derivative lane_fill, and lane_dot."""
    for op in (lane_sum, lane_mean, lane_fill, lane_dot):
        register(op)
