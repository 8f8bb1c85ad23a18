"""Checks for op and loss authors: finite-difference gradients and op conformance.

Use them as functions, or through the pytest plugin that microgradx installs (its
fixtures ``gradcheck`` and ``check_op`` are available in any test suite)::

    def test_my_op(check_op):
        check_op("softplus")          # by registered name, or pass the Op itself
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.engine.op import Op
from microgradx.engine.value import Value, apply


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with central finite differences (or an op misbehaves)."""


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


def gradcheck(fn: Callable[..., Value], inputs: Sequence[Any], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-4, raise_on_failure: bool = True) -> GradcheckResult:
    """Compare ``fn``'s gradients from ``backward()`` with float64 central differences.

    ``fn(*values) -> Value`` is called with fresh leaf Values made from ``inputs``
    (numbers, or 1-D arrays of lanes). A lane output is summed over its lanes. Each
    gradient element must satisfy ``|analytic - numeric| <= atol + rtol * |numeric|``.
    On failure raises `GradcheckError` naming each input (and lane) and the error, unless
    ``raise_on_failure=False``, in which case the result says so.
    """
    base = [_as_array(x) for x in inputs]
    is_lane = [b.ndim == 1 for b in base]

    def leaves(arrays):
        return [Value(a.copy() if lane else float(a)) for a, lane in zip(arrays, is_lane)]

    def total(out: Any) -> float:
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
            def shifted(delta: float, i=i, lane=lane) -> float:
                arrays = [a.copy() for a in base]
                if lane is None:
                    arrays[i] = arrays[i] + delta
                else:
                    arrays[i][lane] += delta
                return total(fn(*leaves(arrays)))

            numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
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


def sample_points(op: Op, n: int = 5, lanes: int = 4, seed: int = 0, low: float = 0.25,
                  high: float = 2.0) -> list[list[np.ndarray]]:
    """Random valid inputs for ``op``: each a list (one per input) of ``lanes`` numbers.

    Numbers are drawn from ``[-high, -low] U [low, high]`` (away from the kinks and poles
    at 0 that most ops have), and kept only when ``op.check`` accepts them and the
    output is finite.
    """
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


def check_op(op: Any, points: Optional[Sequence[Sequence[Any]]] = None, *, seed: int = 0, eps: float = 1e-6,
             atol: float = 1e-5, rtol: float = 1e-4) -> GradcheckResult:
    """Check that an op (an `Op` or a registered name) keeps the op contract.

    * arity: forward takes ``op.arity`` inputs (1, 2 and 3 for a variadic op);
    * shape: a float in gives a float out, lanes in give same-shape lanes out; backward
      returns a tuple with one gradient (or None) per input, each a float or lanes;
    * no mutation: forward and backward leave their input arrays unchanged;
    * lane/scalar agreement: each lane of the lane result equals the scalar result;
    * gradients: `gradcheck` in scalar mode and in lane mode at several points.

    ``points`` is a list of input lists (numbers or lane arrays); by default random
    points from `sample_points`. Raises `GradcheckError` naming the op and the problem.
    """
    op = _resolve(op)
    if points is None:
        points = sample_points(op, seed=seed)
    arities = [op.arity] if op.arity is not None else [1, 2, 3]
    worst = 0.0

    def fail(msg: str) -> GradcheckError:
        return GradcheckError(f"op {op.name!r}: {msg}")

    for point in points:
        for arity in arities:
            lanes = [np.atleast_1d(np.array(p, dtype=np.float64)) for p in point]
            lanes = (lanes * arity)[:arity]  # repeat the point's inputs to fill a longer (variadic) arity
            n = lanes[0].size
            kept = copy.deepcopy(lanes)
            # forward: lanes and scalars
            y = op.forward(*lanes)
            _unchanged(kept, lanes, "forward", fail)
            if op.reduces_lanes:
                if not isinstance(y, float):
                    raise fail(f"a lane reduction must return a float, got {_kind(y)}")
            elif not (isinstance(y, np.ndarray) and y.shape == (n,)):
                raise fail(f"forward of {n} lanes must return an array of shape ({n},), got {_kind(y)}")
            for lane in range(0 if op.reduces_lanes else n):
                ys = op.forward(*[float(x[lane]) for x in lanes])
                if not isinstance(ys, float):
                    raise fail(f"forward of floats must return a float, got {_kind(ys)}")
                if not np.isclose(ys, y[lane], rtol=1e-12, atol=1e-12, equal_nan=True):
                    raise fail(f"lane {lane}: lane-mode forward {float(y[lane])!r} differs from scalar-mode {ys!r}")
            # backward: arity and shapes
            g = 1.0 if op.reduces_lanes else np.ones(n)
            grads = op.backward(g, y, *lanes)
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
                    if gl is None:
                        continue
                    gl_lane = float(np.broadcast_to(gl, (n,))[lane])
                    if not np.isclose(gl_lane, gs, rtol=1e-12, atol=1e-12, equal_nan=True):
                        raise fail(f"input {i} lane {lane}: lane-mode gradient {gl_lane!r} "
                                   f"differs from scalar-mode {gs!r}")
            # gradients against finite differences, scalar mode (lane 0) and lane mode
            def fn(*vs):
                return apply(op, *vs)

            for inputs in ([float(x[0]) for x in lanes], lanes):
                try:
                    result = gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
                except GradcheckError as exc:
                    mode = "lane" if inputs is lanes else "scalar"
                    raise fail(f"{mode}-mode {exc} at {_fmt(inputs)}") from None
                worst = max(worst, result.max_error)
    return GradcheckResult(ok=True, max_error=worst)


def _unchanged(kept: list, lanes: list, step: str, fail: Callable[[str], GradcheckError]) -> None:
    """Raise if ``step`` (forward or backward) changed an input array: compare ``lanes`` with copies ``kept``."""
    for i, (before, after) in enumerate(zip(kept, lanes)):
        if not np.array_equal(before, after, equal_nan=True):
            raise fail(f"{step} modified its input array {i} in place (was {_fmt([before])}, now {_fmt([after])})")


def _kind(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"an array of shape {x.shape}"
    return type(x).__name__


def _fmt(inputs: Sequence[Any]) -> str:
    return "(" + ", ".join(np.array2string(np.asarray(x), precision=4) for x in inputs) + ")"
