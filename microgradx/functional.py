"""Derivatives as functions, as HIPS autograd and JAX give them: `grad`, `hessian`, `hvp`, and `gradients`.

    >>> from microgradx import grad
    >>> f = lambda x: x ** 3
    >>> grad(f)(2.0), grad(grad(f))(2.0), grad(grad(grad(f)))(2.0)   # 3x**2, 6x, 6
    (12.0, 12.0, 6.0)

They run the engine's own backward pass with ``create_graph=True`` where a derivative has to
be differentiated again (`microgradx.engine.autograd.backward`): every op's derivative is
written with ops, so a gradient is a graph of Values. None of them changes any ``.grad``:
they put back what they found, as ``torch.autograd.grad`` does.

Arguments are numbers (one float Value each), 1-D numpy arrays (a lane Value: one example
per lane, so the gradient is one number per lane), lists or tuples of numbers (one Value
each: a function of several scalar inputs), or Values themselves, which an outer `grad`
passes in: then the results are Values too, so ``grad(grad(f))`` works. Inside a compiled
function (`microgradx.compile`) the derivatives are recorded with the rest and replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np

from microgradx.engine.autograd import topological_order
from microgradx.engine.value import Value

__all__ = ["gradients", "grad", "hessian", "hvp"]

Argnums = Union[int, Sequence[int]]


def gradients(output: Value, inputs: Sequence[Value], create_graph: bool = False) -> list:
    """d(output)/d(v) for each Value ``v`` of ``inputs``, leaving every ``.grad`` as it was.

    ``output`` holds one number (a float Value). With ``create_graph=True`` each gradient is a
    Value whose graph can be differentiated again; otherwise a float or a lane array. An
    input that ``output`` does not depend on gets 0.0. ``torch.autograd.grad``'s semantics.
    """
    if not isinstance(output, Value):
        raise TypeError(f"gradients: output must be a Value, got {type(output).__name__}")
    inputs = list(inputs)
    if not all(isinstance(v, Value) for v in inputs):
        raise TypeError("gradients: inputs must be Values (the ones output was computed from)")
    if isinstance(output.data, np.ndarray):
        raise ValueError(f"gradients: output holds {output.data.size} lanes, not one number; reduce it first "
                         f"(output.lane_sum() gives each lane's own derivative, as the lanes are independent)")
    nodes = list(dict.fromkeys([*topological_order(output), *inputs]))
    kept = [v.grad for v in nodes]
    try:
        for v in nodes:
            v.grad = 0.0  # (a lane Value's 0.0 takes its lanes' gradient: the engine adds lanes to it)
        output.backward(create_graph=create_graph)
        return [v.grad for v in inputs]
    finally:
        for v, g in zip(nodes, kept):
            v.grad = g


def _as_values(x: Any) -> tuple[Any, bool]:
    """(``x`` as the function sees it, whether it was given as Values already)."""
    if isinstance(x, Value):
        return x, True
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, Value) for v in x):
        return list(x), True
    if isinstance(x, (list, tuple)):
        return [Value(v) for v in x], False
    return Value(x), False


def _flat(x: Any) -> list:
    return list(x) if isinstance(x, list) else [x]


def _plain(g: Any) -> Any:
    """A gradient as numbers: a float or a lane array (a Value's data)."""
    g = g.data if isinstance(g, Value) else g
    return np.array(g, dtype=np.float64) if isinstance(g, np.ndarray) else float(g)


def grad(f: Callable[..., Value], argnums: Argnums = 0) -> Callable[..., Any]:
    """The function giving the derivative of ``f`` (which returns one number) with respect to argument ``argnums``.

    ``argnums`` may be a tuple: then the function gives a tuple of gradients. Each gradient has
    its argument's shape: a float for a number, an array for a lane array, a list for a list.
    Called with Values (as an outer `grad` calls it), it gives Values, so derivatives compose:
    ``grad(grad(f))`` is the second derivative. HIPS autograd's and JAX's ``grad``.
    """
    if not callable(f):
        raise TypeError(f"grad takes a function, got {type(f).__name__}")
    single = isinstance(argnums, int)
    positions = (argnums,) if single else tuple(argnums)

    def gradient(*args: Any) -> Any:
        if any(not isinstance(i, int) or not -len(args) <= i < len(args) for i in positions):
            raise ValueError(f"grad: argnums {argnums!r} does not fit the {len(args)} argument(s) given")
        args = list(args)
        nested = False
        for i in positions:
            args[i], given = _as_values(args[i])
            nested = nested or given
        out = f(*args)
        if not isinstance(out, Value):
            raise TypeError(f"grad: the function must return a Value, got {type(out).__name__}")
        wrt = [v for i in positions for v in _flat(args[i])]
        found = iter(gradients(out, wrt, create_graph=nested))
        results = []
        for i in positions:
            gs = [next(found) for _ in _flat(args[i])]
            gs = gs if nested else [_plain(g) for g in gs]
            results.append(gs if isinstance(args[i], list) else gs[0])
        return results[0] if single else tuple(results)

    gradient.__name__ = f"grad({getattr(f, '__name__', 'f')})"
    gradient.__doc__ = f"The derivative of {getattr(f, '__name__', 'f')} with respect to argument(s) {argnums!r}."
    return gradient


def _scalars(x: Any, who: str) -> list:
    values = list(np.atleast_1d(np.asarray(x, dtype=np.float64)))
    if np.ndim(x) > 1:
        raise ValueError(f"{who}: x must be a number or a 1-D list of numbers, got shape {np.shape(x)}")
    return [Value(float(v)) for v in values]


def hessian(f: Callable[[list], Value], x: Any) -> np.ndarray:
    """The matrix of second derivatives of ``f`` at ``x``, for a function of a few scalar inputs.

    ``f`` takes a list of n float Values (``x`` given as n numbers) and returns one number;
    the result is an (n, n) array: one backward pass for the gradient (with its graph), then
    one per row. JAX's ``hessian``.
    """
    xs = _scalars(x, "hessian")
    out = f(xs)
    first = gradients(out, xs, create_graph=True)
    rows = []
    for g in first:
        rows.append([0.0] * len(xs) if not isinstance(g, Value) else [_plain(h) for h in gradients(g, xs)])
    return np.array(rows, dtype=np.float64)


def hvp(f: Callable[[list], Value], x: Any, v: Any) -> np.ndarray:
    """The Hessian of ``f`` at ``x`` times the vector ``v``, without forming the Hessian: two backward passes.

    ``f`` takes a list of n float Values and returns one number; ``x`` and ``v`` are n numbers.
    (HIPS autograd's ``hessian_vector_product``; PyTorch's double backward.)
    """
    xs = _scalars(x, "hvp")
    v = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if v.shape != (len(xs),):
        raise ValueError(f"hvp: v must hold {len(xs)} numbers, like x, got shape {v.shape}")
    first = gradients(f(xs), xs, create_graph=True)
    if not any(isinstance(g, Value) for g in first):
        return np.zeros(len(xs))
    directional = sum([g * float(vi) for g, vi in zip(first, v) if isinstance(g, Value)][1:],
                      next(g * float(vi) for g, vi in zip(first, v) if isinstance(g, Value)))  # sum of v_i df/dx_i
    return np.array([_plain(h) for h in gradients(directional, xs)], dtype=np.float64)
