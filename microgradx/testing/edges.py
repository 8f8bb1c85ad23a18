"""`check_op`'s edge cases: an op near zero and at large magnitudes (see `microgradx.testing.points`).

At every combination of `edge_grid` values that the op's ``check`` accepts (and, without a
check, where ``forward`` raises no domain error), following docs/edge_cases.md:

* forward and backward raise nothing: overflow gives ``inf``, never ``OverflowError``
  (``x / (1 + math.exp(-x))`` fails at ``x = -1000``);
* finite inputs give no NaN (a NaN means an intermediate overflowed, ``inf / inf``), in the
  output or, where the output is finite, in a gradient;
* lane mode agrees with scalar mode, lane by lane, in value and gradients;
* where the output and gradients are finite, the gradients match central finite
  differences, input by input, with a step of ``1e-6 * |x|`` or ``1e-6``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from microgradx.engine.value import apply
from microgradx.testing.differences import gradcheck
from microgradx.testing.errors import GradcheckError
from microgradx.testing.points import DOMAIN_ERRORS, edge_grid

Fail = Callable[[str], GradcheckError]


def _at(xs: Sequence[float]) -> str:
    return "(" + ", ".join(repr(float(x)) for x in xs) + ")"


def _call(what: str, fn: Callable[[], Any], xs: Sequence[float], fail: Fail, domain_ok: bool) -> Any:
    """``fn()``; a domain error returns ``DOMAIN_ERRORS`` when ``domain_ok``, anything else fails the check."""
    __tracebackhide__ = True
    try:
        with np.errstate(all="ignore"):
            return fn()
    except DOMAIN_ERRORS as exc:
        if domain_ok:
            return DOMAIN_ERRORS
        raise fail(f"{what} raised {type(exc).__name__}: {exc} at {_at(xs)}, which its check accepts") from exc
    except Exception as exc:
        hint = (": overflow must give inf, not an error (docs/edge_cases.md); math.exp overflows past 709.78 "
                "(use microgradx.engine.lanes.exp, or rewrite for large |x|)") if isinstance(exc, ArithmeticError) \
            else ""
        raise fail(f"{what} raised {type(exc).__name__}: {exc} at {_at(xs)}{hint}") from exc


def check_edges(op: Any, arity: int, fail: Fail, atol: float, rtol: float) -> float:
    """Run the edge-case checks of ``op`` with ``arity`` inputs; return the largest gradient error."""
    __tracebackhide__ = True
    accepted, finite = [], []
    for xs in edge_grid(arity):
        if op.check is not None:
            try:
                op.check(*xs)
            except (ValueError, ArithmeticError):
                continue
        y = _call("forward", partial(op.forward, *xs), xs, fail, domain_ok=op.check is None)
        if y is DOMAIN_ERRORS:
            continue
        if np.isnan(y):
            raise fail(f"forward gives nan at {_at(xs)}: an intermediate result overflowed (inf / inf or "
                       f"0 * inf); compute it another way for large |x|, or reject the input in check")
        accepted.append(xs)
        if not np.isfinite(y):
            continue
        grads = _call("backward", partial(op.backward, 1.0, y, *xs), xs, fail, domain_ok=False)
        if not isinstance(grads, tuple) or len(grads) != arity:
            raise fail(f"backward must return a tuple of {arity} gradient(s) (one per input) at {_at(xs)}")
        for i, g in enumerate(grads):
            if g is not None and np.isnan(g):
                raise fail(f"backward gives a nan gradient for input {i} at {_at(xs)}, where the output is "
                           f"{y!r}; compute it another way for large |x|")
        if all(g is None or np.isfinite(g) for g in grads):
            finite.append(xs)
    if not accepted:
        return 0.0
    if not op.reduces_lanes:
        _agree(op, accepted, finite, fail)
    worst = 0.0
    for xs in finite:
        for i in range(arity):
            worst = max(worst, _gradient(op, xs, i, fail, atol, rtol))
    return worst


def _gradient(op: Any, xs: Sequence[float], i: int, fail: Fail, atol: float, rtol: float) -> float:
    """Finite differences for input ``i`` at ``xs`` (the others held fixed); the error, or fail.

    Two steps are tried, ``1e-6 * |x|`` (for a pole near zero) and ``1e-6`` (for an output
    dominated by another, larger input); a right gradient agrees at one of them. An input whose
    shifted value leaves the domain (a negative base whose exponent becomes non-integer) is skipped.
    """
    __tracebackhide__ = True
    def fn(v: Any) -> Any:
        return apply(op, *xs[:i], v, *xs[i + 1:])

    results = []
    for step in (1e-6 * abs(xs[i]), 1e-6):
        try:
            with np.errstate(all="ignore"):
                result = gradcheck(fn, [xs[i]], eps=step, atol=atol, rtol=rtol, raise_on_failure=False)
        except DOMAIN_ERRORS:
            return 0.0
        if result.ok:
            return result.max_error
        results.append(result)
    (m, *_) = results[0].mismatches
    raise fail(f"scalar-mode gradcheck failed: input {i}: analytic {m.analytic:.10g}, numeric {m.numeric:.10g}, "
               f"off by {m.error:.3g} at {_at(xs)} (an edge case: near zero or a large magnitude)")


def _agree(op: Any, accepted: list, finite: list, fail: Fail) -> None:
    """Lane mode over every accepted point at once must agree with scalar mode, lane by lane."""
    __tracebackhide__ = True
    lanes = [np.array(col, dtype=np.float64) for col in zip(*accepted)]
    y = _call("lane-mode forward", lambda: op.forward(*lanes), accepted[0], fail, domain_ok=False)
    for k, xs in enumerate(accepted):
        with np.errstate(all="ignore"):
            ys = op.forward(*xs)
        if not np.isclose(y[k], ys, rtol=1e-12, atol=1e-300, equal_nan=True):
            raise fail(f"lane-mode forward {float(y[k])!r} differs from scalar-mode {ys!r} at {_at(xs)}")
    if not finite:
        return
    lanes = [np.array(col, dtype=np.float64) for col in zip(*finite)]
    n = len(finite)
    with np.errstate(all="ignore"):
        out = op.forward(*lanes)
    grads = _call("lane-mode backward", lambda: op.backward(np.ones(n), out, *lanes), finite[0], fail,
                  domain_ok=False)
    for k, xs in enumerate(finite):
        with np.errstate(all="ignore"):
            scalar = op.backward(1.0, op.forward(*xs), *xs)
        for i, (gl, gs) in enumerate(zip(grads, scalar)):
            if gl is None or gs is None:
                continue
            value = float(np.broadcast_to(gl, (n,))[k])
            if not np.isclose(value, gs, rtol=1e-12, atol=1e-300, equal_nan=True):
                raise fail(f"input {i}: lane-mode gradient {value!r} differs from scalar-mode {gs!r} at {_at(xs)}")
