"""`gradcheck`: an op's or a function's gradients against float64 central finite differences;
`gradgradcheck`: its second derivatives, from ``backward(create_graph=True)``, the same way.

`microgradx.testing.check_op` and `check_loss` build on them; the pytest plugin offers them as the
``gradcheck`` and ``gradgradcheck`` fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.engine.value import Value
from microgradx.functional import gradients
from microgradx.testing.errors import GradcheckError

__all__ = ["GradcheckResult", "Mismatch", "gradcheck", "gradgradcheck"]


@attrs.frozen
class Mismatch:
    """One input (and lane) whose analytic and numeric gradients disagree.

    ``of`` is None for a first derivative; for a second derivative (`gradgradcheck`) it is the
    input ``i`` of the first derivative d/dx_i that was differentiated again with respect to ``input``.
    """

    input: int
    lane: Optional[int]
    analytic: float
    numeric: float
    of: Optional[int] = None

    @property
    def error(self) -> float:
        """``|analytic - numeric|``."""
        return abs(self.analytic - self.numeric)

    def __str__(self) -> str:
        lane = "" if self.lane is None else f" lane {self.lane}"
        if self.of is None:
            where = f"input {self.input}{lane}"
        else:
            where = (f"d2/dx{self.of}dx{self.input}{lane} "
                     f"(input {self.of}'s gradient, differentiated in input {self.input})")
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


def _total(out: Value) -> Value:
    return out.lane_sum() if out.is_lanes else out


def gradgradcheck(fn: Callable[..., Value], inputs: Sequence[Any], *, eps: float | Sequence[float] = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-4, raise_on_failure: bool = True) -> GradcheckResult:
    """Compare ``fn``'s second derivatives from ``backward(create_graph=True)`` with central differences.

    For each input ``i``, the gradient of ``fn``'s output (its lanes added up) with respect to
    ``x_i`` is taken with ``create_graph=True``, as a Value whose graph is then back-propagated
    (its lanes added up too): that gives d2/dx_i dx_j for every input ``j`` (for a lane of
    ``x_j``: the derivative of the gradient's lanes, which for lanes that are independent
    examples is that lane's own), and `gradcheck` compares it with central differences of the
    gradient. PyTorch's ``gradgradcheck``, with `gradcheck`'s arguments.

    The first derivatives on Values must equal those of a plain ``backward()`` (a backward with a
    separate path for Values must agree with itself): else `GradcheckError`, always. A backward
    that cannot run on Values raises the engine's error, which names the op. When second
    derivatives disagree, raises `GradcheckError` naming each pair of inputs (and lane), unless
    ``raise_on_failure=False``, in which case the result says so.
    """
    __tracebackhide__ = True
    base = [_as_array(x) for x in inputs]

    def leaves() -> list[Value]:
        return [Value(b.copy() if b.ndim else float(b)) for b in base]

    plain = leaves()
    _total(fn(*plain)).backward()
    vs = leaves()
    graph = gradients(_total(fn(*vs)), vs, create_graph=True)
    for i, (b, v, g) in enumerate(zip(base, plain, graph)):
        want = np.broadcast_to(np.asarray(v.grad, dtype=np.float64), b.shape)
        got = np.broadcast_to(np.asarray(g.data if isinstance(g, Value) else g, dtype=np.float64), b.shape)
        if not np.allclose(got, want, rtol=1e-10, atol=1e-12, equal_nan=True):
            raise GradcheckError(f"gradgradcheck: with create_graph=True the gradient of input {i} is "
                                 f"{np.array2string(got, precision=10)}, without it "
                                 f"{np.array2string(want, precision=10)}: its backward on Values computes "
                                 f"another derivative than on numbers")
    mismatches, worst = [], 0.0
    for i, b in enumerate(base):
        def first(*values: Value, i: int = i, b: np.ndarray = b) -> Value:
            g = gradients(_total(fn(*values)), values, create_graph=True)[i]
            return g if isinstance(g, Value) else Value(np.zeros_like(b) if b.ndim else 0.0)  # a constant: 0

        result = gradcheck(first, base, eps=eps, atol=atol, rtol=rtol, raise_on_failure=False)
        worst = max(worst, result.max_error)
        mismatches += [attrs.evolve(m, of=i) for m in result.mismatches]
    result = GradcheckResult(ok=not mismatches, max_error=worst, mismatches=tuple(mismatches))
    if mismatches and raise_on_failure:
        raise GradcheckError("gradgradcheck failed:\n  " + "\n  ".join(str(m) for m in mismatches))
    return result
