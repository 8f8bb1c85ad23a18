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
from microgradx.compiler.batching import lane_mean_rule, lane_sum_rule
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

lane_sum = Op(name="lane_sum", doc="sum of the lanes, a float", reduces_lanes=True, batch=lane_sum_rule,
              forward=lambda x: float(x.sum()) if is_lanes(x) else x,
              backward=lambda g, out, x: (lane_fill_of(g, x),), formula="1 (each lane)")

lane_mean = Op(name="lane_mean", doc="mean of the lanes, a float", reduces_lanes=True, batch=lane_mean_rule,
               forward=lambda x: float(x.mean()) if is_lanes(x) else x,
               backward=lambda g, out, x: (lane_fill_of(g, x, mean=True),), formula="1/n (each of the n lanes)")


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
    """Register lane_sum, lane_mean and their derivative lane_fill."""
    for op in (lane_sum, lane_mean, lane_fill):
        register(op)
