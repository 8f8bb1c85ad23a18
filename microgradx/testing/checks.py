"""Checks for op authors: finite-difference gradients (`gradcheck`, `gradgradcheck`) and the op contract (`check_op`).

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

import numpy as np

from microgradx.engine.op import Op
from microgradx.engine.value import Value, apply
from microgradx.registry.core import get_registry
from microgradx.testing.differences import GradcheckResult, Mismatch, gradcheck, gradgradcheck
from microgradx.testing.edges import check_edges
from microgradx.testing.errors import GradcheckError
from microgradx.testing.points import sample_points

__all__ = ["GradcheckError", "GradcheckResult", "Mismatch", "check_op", "gradcheck", "gradgradcheck", "sample_points"]


def _resolve(op: Any) -> Op:
    if isinstance(op, Op):
        return op
    return get_registry().get("ops", op)


def check_op(op: Any, points: Optional[Sequence[Sequence[Any]]] = None, *, seed: int = 0, eps: float = 1e-6,
             atol: float = 1e-5, rtol: float = 1e-4, edge_cases: Optional[bool] = None,
             order: int = 1) -> GradcheckResult:
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

    ``order=2`` also checks the second derivatives at the same points, in both modes
    (`gradgradcheck`): the backward runs on Values (``backward(create_graph=True)``), its
    gradients must equal those on numbers, and their own gradients (d2/dx_i dx_j, mixed
    partials included) must match central differences of the first derivative. A backward
    that cannot run on Values (numpy or ``math`` on its inputs) fails with the engine's message,
    which says how to make it differentiable. The edge cases stay first-order.
    """
    __tracebackhide__ = True
    if isinstance(order, bool) or not isinstance(order, int) or order not in (1, 2):
        raise ValueError(f"check_op: order must be 1 (gradients) or 2 (second derivatives too), got {order!r}")
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
                if order == 2:
                    worst = max(worst, _check_second(fn, inputs, "lane" if inputs is lanes else "scalar", fail,
                                                     eps=eps, atol=atol, rtol=rtol))
    if edge_cases:
        for arity in arities:  # errors at large magnitudes are large in absolute terms: not in max_error
            check_edges(op, arity, fail, atol, rtol)
    return GradcheckResult(ok=True, max_error=worst)


def _check_second(fn: Callable[..., Value], inputs: list, mode: str, fail: Callable[[str], GradcheckError],
                  **tolerances: float) -> float:
    """`gradgradcheck` of ``fn`` at ``inputs``, its failures as the op's; the largest error."""
    __tracebackhide__ = True
    try:
        result = gradgradcheck(fn, inputs, raise_on_failure=False, **tolerances)
    except GradcheckError as exc:
        raise fail(f"{mode}-mode at {_fmt(inputs)}: {exc.args[0].removeprefix('gradgradcheck: ')}") from None
    except Exception as exc:  # the backward on Values failed: the engine's message names the op and the fix
        raise fail(f"{mode}-mode second derivatives at {_fmt(inputs)}: backward(create_graph=True) raised "
                   f"{type(exc).__name__}: {exc}") from exc
    if not result.ok:
        raise fail(f"{mode}-mode second derivatives (backward(create_graph=True)) differ from central differences "
                   f"of the first derivative at {_fmt(inputs)}:\n  " + "\n  ".join(map(str, result.mismatches)))
    return result.max_error


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
