"""`gradcheck`: an op's or a function's gradients against float64 central finite differences.

`microgradx.testing.check_op` and `check_loss` build on it; the pytest plugin offers it as the
``gradcheck`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.engine.value import Value
from microgradx.testing.errors import GradcheckError

__all__ = ["GradcheckResult", "Mismatch", "gradcheck"]


@attrs.frozen
class Mismatch:
    """One input (and lane) whose analytic and numeric gradients disagree."""

    input: int
    lane: Optional[int]
    analytic: float
    numeric: float

    @property
    def error(self) -> float:
        """``|analytic - numeric|``."""
        return abs(self.analytic - self.numeric)

    def __str__(self) -> str:
        where = f"input {self.input}" + ("" if self.lane is None else f" lane {self.lane}")
        return f"{where}: analytic {self.analytic:.10g}, numeric {self.numeric:.10g}, off by {self.error:.3g}"


@attrs.frozen
class GradcheckResult:
    """What `gradcheck` found: ``ok``, the largest error, and every mismatch."""

    ok: bool
    max_error: float
    mismatches: tuple = ()

    def __bool__(self) -> bool:
        return self.ok


def _as_array(x: Any) -> np.ndarray:
    return np.array(x.data if isinstance(x, Value) else x, dtype=np.float64)


def gradcheck(fn: Callable[..., Value], inputs: Sequence[Any], *, eps: float | Sequence[float] = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-4, raise_on_failure: bool = True) -> GradcheckResult:
    """Compare ``fn``'s gradients from ``backward()`` with float64 central differences.

    ``fn(*values) -> Value`` is called with fresh leaf Values made from ``inputs``
    (numbers, or 1-D arrays of lanes). A lane output is summed over its lanes. ``eps`` is
    the finite-difference step, or one step per input. Each gradient element must satisfy
    ``|analytic - numeric| <= atol + rtol * |numeric|``. On failure raises `GradcheckError`
    naming each input (and lane) and the error, unless ``raise_on_failure=False``, in which
    case the result says so.
    """
    __tracebackhide__ = True
    base = [_as_array(x) for x in inputs]
    steps = [float(eps)] * len(base) if isinstance(eps, (int, float)) else [float(e) for e in eps]
    if len(steps) != len(base):
        raise ValueError(f"gradcheck: {len(steps)} steps in eps for {len(base)} inputs")
    is_lane = [b.ndim == 1 for b in base]

    def leaves(arrays: Sequence[np.ndarray]) -> list[Value]:
        return [Value(a.copy() if lane else float(a)) for a, lane in zip(arrays, is_lane)]

    def total(out: Any) -> float:
        __tracebackhide__ = True
        if not isinstance(out, Value):
            raise GradcheckError(f"gradcheck: fn must return a Value, got {type(out).__name__}")
        return float(np.sum(out.data))

    values = leaves(base)
    out = fn(*values)
    total(out)
    out.backward(np.ones_like(out.data) if out.is_lanes else None)  # a lane output: the sum of its lanes
    mismatches, worst = [], 0.0
    for i, (b, v) in enumerate(zip(base, values)):
        analytic = np.broadcast_to(np.asarray(v.grad, dtype=np.float64), b.shape)
        for lane in (range(b.size) if b.ndim else [None]):
            def shifted(delta: float, i: int = i, lane: Optional[int] = lane) -> float:
                arrays = [a.copy() for a in base]
                if lane is None:
                    arrays[i] = arrays[i] + delta
                else:
                    arrays[i][lane] += delta
                return total(fn(*leaves(arrays)))

            h = steps[i]
            numeric = (shifted(h) - shifted(-h)) / (2 * h)
            a = float(analytic if lane is None else analytic[lane])
            err = abs(a - numeric)
            worst = max(worst, err) if np.isfinite(err) else np.inf
            if not err <= atol + rtol * abs(numeric):
                mismatches.append(Mismatch(i, lane, a, numeric))
    result = GradcheckResult(ok=not mismatches, max_error=worst, mismatches=tuple(mismatches))
    if mismatches and raise_on_failure:
        raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(str(m) for m in mismatches))
    return result
