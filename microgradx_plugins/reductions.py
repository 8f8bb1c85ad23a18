"""Lane reductions: turn a lane Value (one number per example) into one plain float.

A loss over a batch in lane mode ends in one of these, so that ``backward()`` starts
from a single number. On a plain float they are the identity.
"""

from __future__ import annotations

import numpy as np

from microgradx import Op, hookimpl
from microgradx.compiler.batching import lane_mean_rule, lane_sum_rule
from microgradx.engine.lanes import is_lanes

lane_sum = Op(name="lane_sum", doc="sum of the lanes, a float", reduces_lanes=True, batch=lane_sum_rule,
              forward=lambda x: float(x.sum()) if is_lanes(x) else x,
              backward=lambda g, out, x: (np.full_like(x, g) if is_lanes(x) else g,))

lane_mean = Op(name="lane_mean", doc="mean of the lanes, a float", reduces_lanes=True, batch=lane_mean_rule,
               forward=lambda x: float(x.mean()) if is_lanes(x) else x,
               backward=lambda g, out, x: (np.full_like(x, g / x.size) if is_lanes(x) else g,))


@hookimpl
def microgradx_register_ops(register):
    """Register lane_sum and lane_mean."""
    register(lane_sum)
    register(lane_mean)
