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

from microgradx.engine.autograd import backward, graph_step, local_gradients, topological_order, visit_node
from microgradx.engine.optable import OPS
from microgradx.engine.value import Value

__all__ = ["gradients", "grad", "hessian", "hvp"]

Argnums = Union[int, Sequence[int]]


def gradients(output: Value, inputs: Sequence[Value], create_graph: bool = False, grad_output: Any = None) -> list:
    """d(output)/d(v) for each Value ``v`` of ``inputs``, leaving every ``.grad`` as it was.

    ``output`` holds one number, or lanes with ``grad_output`` (as ``backward(grad=...)``
    takes it: one number per lane, or one number for every lane; ``1.0`` gives each lane's
    own derivative when the lanes do not mix, and works inside a compiled function). With
    ``create_graph=True`` each gradient is a Value whose graph can be differentiated again;
    otherwise a float or a lane array. An input that ``output`` does not depend on gets 0.0.
    ``torch.autograd.grad``'s semantics: the engine's backward pass visits only the nodes that
    lead to an input and writes no other leaf's ``.grad`` (so parameters a `ParameterStore`
    holds may be in the graph, when they are not among ``inputs``).

        >>> x = Value(3.0)
        >>> y = x * x * x
        >>> dy, = gradients(y, [x], create_graph=True)
        >>> dy.data, gradients(dy, [x]), x.grad      # 3x**2, 6x, and x.grad untouched
        (27.0, [18.0], 0.0)
    """
    if not isinstance(output, Value):
        raise TypeError(f"gradients: output must be a Value, got {type(output).__name__}")
    inputs = list(inputs)
    if not all(isinstance(v, Value) for v in inputs):
        raise TypeError("gradients: inputs must be Values (the ones output was computed from)")
    if isinstance(output.data, np.ndarray) and grad_output is None:
        raise ValueError(f"gradients: output holds {output.data.size} lanes, not one number; give grad_output= "
                         f"(1.0 gives each lane's own derivative) or reduce it first")
    order = topological_order(output)
    leads = {id(v) for v in inputs}  # the nodes a path to an input leaves from: only they take a gradient
    for v in order:  # (inputs before the nodes made from them)
        if any(id(p) in leads for p in v._parents):
            leads.add(id(v))
    touched = list(dict.fromkeys([*(v for v in order if v.op is not None), *inputs]))  # (other leaves: untouched)
    kept = [v.grad for v in touched]
    step = graph_step if create_graph else (OPS.visit or visit_node)

    def visit(v: Value) -> None:  # the engine's own step, given only the gradients that lead to an input
        if id(v) in leads and not (create_graph and v.grad.__class__ is float):
            grads = local_gradients(v, graph=create_graph)
            step(v, tuple(g if id(p) in leads else None for p, g in zip(v._parents, grads)))

    try:
        for v in inputs:
            v.grad = 0.0  # (a lane Value's 0.0 takes its lanes' gradient: the engine adds lanes to it)
        backward(output, grad_output, create_graph=create_graph, visit=visit)
        return [v.grad for v in inputs]
    finally:
        for v, g in zip(touched, kept):
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
    """The function giving the derivative of ``f`` with respect to argument ``argnums``.

    ``f`` returns a Value: one number, or one per lane when it is given lane arrays (one
    example per lane: each lane's own derivative, as ``jax.vmap(jax.grad(f))`` gives it, when
    ``f`` does not mix its lanes). ``argnums`` may be a tuple: then the function gives a tuple
    of gradients. Each gradient has its argument's shape: a float for a number, an array for a
    lane array, a list for a list. Called with Values (as an outer `grad` calls it), it gives
    Values, so derivatives compose: ``grad(grad(f))`` is the second derivative. HIPS autograd's
    and JAX's ``grad``.

        >>> import numpy as np
        >>> grad(lambda x, y: x * x * y, argnums=(0, 1))(3.0, 2.0)    # (2xy, x**2)
        (12.0, 9.0)
        >>> grad(grad(lambda x: x.tanh()))(np.array([0.0, 1.0])).round(4)   # -2 tanh(x) (1 - tanh(x)**2)
        array([ 0.    , -0.6397])
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
        lanes = 1.0 if isinstance(out.data, np.ndarray) else None  # 1 in every lane: each lane's own derivative
        found = iter(gradients(out, wrt, create_graph=nested, grad_output=lanes))
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
    if np.ndim(x) > 1:
        raise ValueError(f"{who}: x must be a number or a 1-D list of numbers, got shape {np.shape(x)}")
    return [Value(float(v)) for v in np.atleast_1d(np.asarray(x, dtype=np.float64))]


def _first_derivatives(f: Callable[[list], Value], xs: list, who: str) -> list:
    """f's gradient at ``xs`` as Values (0.0 where f does not depend on an input), its graph kept."""
    out = f(xs)
    if not isinstance(out, Value) or isinstance(out.data, np.ndarray):
        raise TypeError(f"{who}: f must return one number (a float Value), got {out!r}")
    return gradients(out, xs, create_graph=True)


def hessian(f: Callable[[list], Value], x: Any) -> np.ndarray:
    """The matrix of second derivatives of ``f`` at ``x``, for a function of a few scalar inputs.

    ``f`` takes a list of n float Values (``x`` given as n numbers) and returns one number;
    the result is an (n, n) array: one backward pass for the gradient (with its graph), then
    one per row. JAX's ``hessian``.

        >>> rosenbrock = lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2
        >>> hessian(rosenbrock, [1.0, 1.0])
        array([[ 802., -400.],
               [-400.,  200.]])
    """
    xs = _scalars(x, "hessian")
    rows = [[_plain(h) for h in gradients(g, xs)] if isinstance(g, Value) else [0.0] * len(xs)
            for g in _first_derivatives(f, xs, "hessian")]
    return np.array(rows, dtype=np.float64)


def hvp(f: Callable[[list], Value], x: Any, v: Any) -> np.ndarray:
    """The Hessian of ``f`` at ``x`` times the vector ``v``, without forming the Hessian: two backward passes.

    ``f`` takes a list of n float Values and returns one number; ``x`` and ``v`` are n numbers.
    (HIPS autograd's ``hessian_vector_product``; PyTorch's double backward.)

        >>> rosenbrock = lambda v: (1 - v[0]) ** 2 + 100 * (v[1] - v[0] ** 2) ** 2
        >>> hvp(rosenbrock, [1.0, 1.0], [1.0, 0.0])    # the Hessian's first column
        array([ 802., -400.])
    """
    xs = _scalars(x, "hvp")
    v = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if v.shape != (len(xs),):
        raise ValueError(f"hvp: v must hold {len(xs)} numbers, like x, got shape {v.shape}")
    terms = [g * float(vi) for g, vi in zip(_first_derivatives(f, xs, "hvp"), v) if isinstance(g, Value)]
    if not terms:  # f's gradient does not depend on x: its Hessian is 0
        return np.zeros(len(xs))
    directional = terms[0]  # sum of v_i df/dx_i, whose gradient is H v
    for term in terms[1:]:
        directional = directional + term
    return np.array([_plain(h) for h in gradients(directional, xs)], dtype=np.float64)
