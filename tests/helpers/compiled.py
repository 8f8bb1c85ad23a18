"""Running one function eagerly and compiled, the same way, and comparing every number they give.

`eager_inputs` makes the input Values `microgradx.compile` documents for each array argument
(lanes=True: a 1-D array is one lane Value, a 2-D array the list of its columns; lanes=False: a
1-D array is a list of float Values, a 2-D array a list of rows). `run_eager` and `run_compiled`
call the function on the same arguments and, for each output, back-propagate from it alone
(lane outputs with a fixed, uneven seed) and note the output's data, the gradient every Value in
``closed`` received and the gradient of every array argument. `assert_runs_match` compares two
such runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

from microgradx import Value

#: Tolerances where eager and compiled add the same numbers in the same order (rounding aside).
EXACT = {"rtol": 1e-12, "atol": 1e-14}
#: Where the compiled replay adds in another order: a fused ``b + w1*x1 + ...`` chain is one matrix
#: product (BLAS sums in blocks), a float leaf's lane gradients are summed per kernel rather than per
#: node, gradients of a value read by several nodes are added in kernel order. Rounding, not bugs.
REORDERED = {"rtol": 1e-10, "atol": 1e-12}


def eager_inputs(args: Sequence[Any], lanes: bool) -> list:
    """The arguments as ``fn`` sees them under `microgradx.compile` (array arguments as input Values)."""
    out: list = []
    for a in args:
        if not isinstance(a, np.ndarray):
            out.append(a)
        elif lanes:
            a = np.asarray(a, dtype=np.float64)
            out.append(Value(a) if a.ndim == 1 else [Value(np.ascontiguousarray(col)) for col in a.T])
        elif a.ndim == 1:
            out.append([Value(float(x)) for x in a.tolist()])
        else:
            out.append([[Value(float(x)) for x in row] for row in a.tolist()])
    return out


def _input_grads(values: list, lanes: bool) -> list:
    grads: list = []
    for vs in values:
        if isinstance(vs, Value):
            grads.append(np.array(vs.grad, dtype=np.float64))
        elif isinstance(vs, list) and vs and isinstance(vs[0], Value):
            grads.append(np.stack([np.asarray(v.grad, dtype=np.float64) for v in vs], axis=1) if lanes
                         else np.array([v.grad for v in vs], dtype=np.float64))
        elif isinstance(vs, list) and vs and isinstance(vs[0], list):
            grads.append(np.array([[v.grad for v in row] for row in vs], dtype=np.float64))
        else:
            grads.append(None)
    return grads


def _zero(values: Any) -> None:
    if isinstance(values, Value):
        values.grad = np.zeros_like(values.data) if isinstance(values.data, np.ndarray) else 0.0
    elif isinstance(values, list):
        for v in values:
            _zero(v)


def seed_for(data: Any) -> Optional[np.ndarray]:
    """The backward seed used for an output holding ``data``: None for a float, uneven weights for lanes."""
    if isinstance(data, np.ndarray):
        return np.linspace(0.5, 1.5, data.size)
    return None


def _as_tuple(result: Any) -> tuple:
    return tuple(result) if isinstance(result, (tuple, list)) else (result,)


def _grads_of(closed: Sequence[Value]) -> list:
    return [np.array(v.grad, dtype=np.float64) for v in closed]


def run_eager(fn: Callable[..., Any], args: Sequence[Any], lanes: bool, closed: Sequence[Value]) -> dict:
    """``fn`` on eager input Values: per output, its data, the ``closed`` Values' gradients and the inputs'."""
    values = eager_inputs(args, lanes)
    outputs = _as_tuple(fn(*values))
    run: dict = {"data": [], "grads": [], "input_grads": []}
    for out in outputs:
        _zero(list(closed))
        for v in values:
            _zero(v)
        out.backward(seed_for(out.data))
        run["data"].append(np.array(out.data, dtype=np.float64))
        run["grads"].append(_grads_of(closed))
        run["input_grads"].append(_input_grads(values, lanes))
    _zero(list(closed))
    return run


def run_compiled(compiled: Callable[..., Any], args: Sequence[Any], closed: Sequence[Value],
                 backward: bool = True) -> dict:
    """The compiled function on ``args``, noted as `run_eager` notes the eager one."""
    outputs = _as_tuple(compiled(*args))
    run: dict = {"data": [], "grads": [], "input_grads": []}
    for out in outputs:
        run["data"].append(np.array(out.data, dtype=np.float64))
        if not backward:
            continue
        _zero(list(closed))
        out.backward(seed_for(out.data), inputs=True)
        run["grads"].append(_grads_of(closed))
        run["input_grads"].append([None if g is None else np.asarray(g) for g in out.input_grads])
    _zero(list(closed))
    return run


def assert_runs_match(compiled: dict, eager: dict, rtol: float, atol: float, what: str = "") -> None:
    """Every output, every closed-over gradient and every input gradient of two runs agree."""
    assert len(compiled["data"]) == len(eager["data"]), f"{what}: number of outputs"
    for k, (c, e) in enumerate(zip(compiled["data"], eager["data"])):
        assert c.shape == e.shape, f"{what}: output {k} has shape {c.shape}, eagerly {e.shape}"
        np.testing.assert_allclose(c, e, rtol=rtol, atol=atol, err_msg=f"{what}: output {k}")
    for k, (cg, eg) in enumerate(zip(compiled["grads"], eager["grads"])):
        for i, (c, e) in enumerate(zip(cg, eg)):
            assert c.shape == e.shape, f"{what}: output {k}, closed Value {i}: shape {c.shape} vs {e.shape}"
            np.testing.assert_allclose(c, e, rtol=rtol, atol=atol, err_msg=f"{what}: d output {k} / closed Value {i}")
    for k, (cg, eg) in enumerate(zip(compiled["input_grads"], eager["input_grads"])):
        for i, (c, e) in enumerate(zip(cg, eg)):
            if e is None:
                assert c is None, f"{what}: argument {i} is no array, yet has an input gradient"
                continue
            assert c is not None and c.shape == e.shape, f"{what}: d output {k} / argument {i}: shape"
            np.testing.assert_allclose(c, e, rtol=rtol, atol=atol, err_msg=f"{what}: d output {k} / argument {i}")


def check_compiled(fn: Callable[..., Any], args: Sequence[Any], closed: Sequence[Value], lanes: bool = True,
                   compiled: Optional[Callable[..., Any]] = None, tol: Optional[dict] = None, what: str = "") -> Any:
    """Compile ``fn`` (or use ``compiled``), call it on ``args`` and assert it matches the eager run; return it."""
    import microgradx

    compiled = compiled if compiled is not None else microgradx.compile(fn, lanes=lanes)
    got = run_compiled(compiled, args, closed)
    want = run_eager(fn, args, lanes, closed)
    assert_runs_match(got, want, what=what, **(tol or REORDERED))
    return compiled
