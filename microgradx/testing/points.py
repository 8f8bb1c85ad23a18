"""Where the checks evaluate an op: random ordinary points, and a grid of edge cases.

`sample_points` draws ordinary inputs in ``+-[0.25, 2]``. `edge_grid` adds what ordinary
points miss: numbers near zero (``1e-3``) and large magnitudes (``30``, and ``1000``, past
``math.exp``'s overflow at about 709.78), of both signs, in every combination over the inputs.
Each input scales the grid by its own factor, so no combination puts two inputs at the same
magnitude (where ops like a maximum have a kink).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from microgradx.testing.errors import GradcheckError

#: Magnitudes of the edge grid: near zero, large, and past the overflow of ``math.exp``.
EDGE_MAGNITUDES = (1e-3, 30.0, 1000.0)
#: Input ``i`` uses the magnitudes times ``EDGE_SCALES[i % 3]``.
EDGE_SCALES = (1.0, 1.3, 1.7)

#: What a domain check raises: the input is outside the op's domain (not a bug).
DOMAIN_ERRORS = (ValueError, ZeroDivisionError)


def sample_points(op: Any, n: int = 5, lanes: int = 4, seed: int = 0, low: float = 0.25,
                  high: float = 2.0) -> list[list[np.ndarray]]:
    """Random valid inputs for ``op``: each a list (one per input) of ``lanes`` numbers.

    Numbers are drawn from ``[-high, -low] U [low, high]`` (away from the kinks and poles
    at 0 that most ops have), and kept only when ``op.check`` accepts them and the
    output is finite. A variadic op gets two inputs.
    """
    __tracebackhide__ = True
    rng = np.random.default_rng(seed)
    arity = op.arity or 2
    points = []
    for _ in range(200 * n):
        xs = [rng.uniform(low, high, lanes) * rng.choice([-1.0, 1.0], lanes) for _ in range(arity)]
        try:
            if op.check is not None:
                op.check(*xs)
            with np.errstate(all="ignore"):
                y = op.forward(*xs)
        except (ValueError, ArithmeticError):
            continue
        if np.all(np.isfinite(y)):
            points.append(xs)
            if len(points) == n:
                break
    if not points:
        raise GradcheckError(f"op {op.name!r}: found no inputs in +-[{low}, {high}] that its check accepts")
    return points


def edge_grid(arity: int) -> list[tuple[float, ...]]:
    """Every combination of edge values for ``arity`` inputs: ``(2 * 3) ** arity`` tuples of floats."""
    per_input = [[sign * m * EDGE_SCALES[i % len(EDGE_SCALES)] for m in EDGE_MAGNITUDES for sign in (1.0, -1.0)]
                 for i in range(arity)]
    return [tuple(c) for c in itertools.product(*per_input)]
