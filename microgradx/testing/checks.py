"""Checks for op authors: finite-difference gradients (`gradcheck`) and the op contract (`check_op`).

Use them as functions, or through the pytest plugin that microgradx installs (its
fixtures ``gradcheck`` and ``check_op`` are available in any test suite)::

    def test_my_op(check_op):
        check_op("softplus")          # by registered name, or pass the Op itself

Their own frames are hidden from pytest's tracebacks (``__tracebackhide__``), so a failure
shows the test's line and the op's code, not the checker's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.engine.op import Op
from microgradx.engine.value import Value, apply
from microgradx.testing.errors import GradcheckError
from microgradx.testing.points import sample_points

__all__ = ["GradcheckError", "GradcheckResult", "Mismatch", "check_op", "gradcheck", "sample_points"]


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


def _resolve(op: Any) -> Op:
    if isinstance(op, Op):
        return op
    from microgradx.registry.core import get_registry

    return get_registry().get("ops", op)


def check_op(op: Any, points: Optional[Sequence[Sequence[Any]]] = None, *, seed: int = 0, eps: float = 1e-6,
             atol: float = 1e-5, rtol: float = 1e-4, edge_cases: Optional[bool] = None) -> GradcheckResult:
    """Check that an op (an `Op` or a registered name) keeps the op contract.

    * arity: forward takes ``op.arity`` inputs (1, 2 and 3 for a variadic op);
    * shape: a float in gives a float out, lanes in give same-shape lanes out; backward
      returns a tuple with one gradient (or None) per input, each a float or lanes;
    * no mutation: forward and backward leave their input arrays unchanged;
    * lane/scalar agreement: each lane of the lane result equals the scalar result;
    * gradients: `gradcheck` in scalar mode and in lane mode at several points;
    * edge cases (`microgradx.testing.edges`): near zero (``+-1e-3``) and at large
      magnitudes (``+-30``, ``+-1000``), forward and backward raise no ``OverflowError``
      and give no NaN, lanes agree with floats, and the gradients match finite differences.

    ``points`` is a list of input lists (numbers or lane arrays); by default random
    points from `sample_points`. ``edge_cases`` defaults to True without ``points`` and to
    False with them. Raises `GradcheckError` naming the op and the problem.
    """
    __tracebackhide__ = True
    op = _resolve(op)
    if edge_cases is None:
        edge_cases = points is None
    if points is None:
        points = sample_points(op, seed=seed)
    arities = [op.arity] if op.arity is not None else [1, 2, 3]
    worst = 0.0

    def fail(msg: str) -> GradcheckError:
        return GradcheckError(f"op {op.name!r}: {msg}")

    def fn(*vs: Any) -> Value:
        return apply(op, *vs)

    for point in points:
        for arity in arities:
            lanes = [np.atleast_1d(np.array(p, dtype=np.float64)) for p in point]
            lanes = (lanes * arity)[:arity]  # repeat the point's inputs to fill a longer (variadic) arity
            _check_shapes(op, lanes, fail)
            # gradients against finite differences, scalar mode (lane 0) and lane mode
            for inputs in ([float(x[0]) for x in lanes], lanes):
                try:
                    result = gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
                except GradcheckError as exc:
                    mode = "lane" if inputs is lanes else "scalar"
                    raise fail(f"{mode}-mode {exc} at {_fmt(inputs)}") from None
                worst = max(worst, result.max_error)
    if edge_cases:
        from microgradx.testing.edges import check_edges

        for arity in arities:  # errors at large magnitudes are large in absolute terms: not in max_error
            check_edges(op, arity, fail, atol, rtol)
    return GradcheckResult(ok=True, max_error=worst)


def _check_shapes(op: Op, lanes: list[np.ndarray], fail: Callable[[str], GradcheckError]) -> None:
    """The shape part of the op contract at one point: `_check_forward`, then `_check_backward`."""
    __tracebackhide__ = True
    kept = copy.deepcopy(lanes)
    y = _check_forward(op, lanes, kept, fail)
    _check_backward(op, lanes, y, kept, fail)


def _check_forward(op: Op, lanes: list[np.ndarray], kept: list[np.ndarray],
                   fail: Callable[[str], GradcheckError]) -> Any:
    """Forward of ``lanes`` leaves them as ``kept``, has the right kind and shape, and each lane
    equals forward of its floats."""
    __tracebackhide__ = True
    n = lanes[0].size
    y = op.forward(*lanes)
    _unchanged(kept, lanes, "forward", fail)
    if op.reduces_lanes:
        if not isinstance(y, float):
            raise fail(f"a lane reduction must return a float, got {_kind(y)}")
        return y
    if not (isinstance(y, np.ndarray) and y.shape == (n,)):
        raise fail(f"forward of {n} lanes must return an array of shape ({n},), got {_kind(y)}")
    for lane in range(n):
        ys = op.forward(*[float(x[lane]) for x in lanes])
        if not isinstance(ys, float):
            raise fail(f"forward of floats must return a float, got {_kind(ys)}")
        if not np.isclose(ys, y[lane], rtol=1e-12, atol=1e-12, equal_nan=True):
            raise fail(f"lane {lane}: lane-mode forward {float(y[lane])!r} differs from scalar-mode {ys!r}")
    return y


def _check_backward(op: Op, lanes: list[np.ndarray], y: Any, kept: list[np.ndarray],
                    fail: Callable[[str], GradcheckError]) -> None:
    """Backward of ``lanes`` returns one float or lane gradient per input, leaves the inputs as ``kept``,
    and each lane equals backward of its floats."""
    __tracebackhide__ = True
    arity, n = len(lanes), lanes[0].size
    grads = op.backward(1.0 if op.reduces_lanes else np.ones(n), y, *lanes)
    _unchanged(kept, lanes, "backward", fail)
    if not isinstance(grads, tuple) or len(grads) != arity:
        got = f"{len(grads)} values" if isinstance(grads, (tuple, list)) else _kind(grads)
        raise fail(f"backward must return a tuple of {arity} gradient(s) (one per input), got {got}")
    for i, gl in enumerate(grads):
        if isinstance(gl, np.ndarray) and gl.shape not in ((n,), ()):
            raise fail(f"input {i}: the lane-mode gradient must be a float or shape ({n},), got {_kind(gl)}")
    for lane in range(0 if op.reduces_lanes else n):
        xs = [float(x[lane]) for x in lanes]
        sgrads = op.backward(1.0, op.forward(*xs), *xs)
        if not isinstance(sgrads, tuple) or len(sgrads) != arity:
            raise fail(f"backward of floats must return a tuple of {arity} gradient(s)")
        for i, (gl, gs) in enumerate(zip(grads, sgrads)):
            if (gl is None) != (gs is None):
                raise fail(f"input {i}: backward gives None in one mode and a gradient in the other")
            gl_lane = None if gl is None else float(np.broadcast_to(gl, (n,))[lane])
            if gl_lane is not None and not np.isclose(gl_lane, gs, rtol=1e-12, atol=1e-12, equal_nan=True):
                raise fail(f"input {i} lane {lane}: lane-mode gradient {gl_lane!r} "
                           f"differs from scalar-mode {gs!r}")


def _unchanged(kept: list, lanes: list, step: str, fail: Callable[[str], GradcheckError]) -> None:
    """Raise if ``step`` (forward or backward) changed an input array: compare ``lanes`` with copies ``kept``."""
    __tracebackhide__ = True
    for i, (before, after) in enumerate(zip(kept, lanes)):
        if not np.array_equal(before, after, equal_nan=True):
            raise fail(f"{step} modified its input array {i} in place (was {_fmt([before])}, now {_fmt([after])})")


def _kind(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    return type(x).__name__


def _fmt(inputs: Sequence[Any]) -> str:
    return "(" + ", ".join(np.array2string(np.asarray(x), precision=4) for x in inputs) + ")"
