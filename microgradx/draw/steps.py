"""The engine's own backward pass, watched node by node: what the explorer page and the notebook show.

`watch` runs ``backward()`` (`microgradx.engine.autograd.backward`) with a visiting step, the
driver's hook for one call: for each op output it takes the node's gradients from the op once
(`local_gradients`), hands them to the engine's own step (anomaly mode's checking step while
that is on, else `visit_node`), and notes what arrived from above (*upstream*) and, per input,
what was added to its grad (*product* = upstream x local) and its grad before and after. No
gradient is computed on the side: they are the engine's, in the engine's order. `backward_steps`
watches a pass from zero grads and puts the graph's grads back afterwards.

    >>> from microgradx import Value
    >>> from microgradx.draw.steps import backward_steps
    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> step = backward_steps(a * b)[0]
    >>> [(t.input.label, t.local, t.product) for t in step.terms]   # d(ab)/da = b, d(ab)/db = a
    [('a', -3.0, -3.0), ('b', 2.0, 2.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np

from microgradx import Op, Value, topological_order, zero_grad
from microgradx.engine.autograd import backward, local_gradients, visit_node
from microgradx.engine.optable import OPS
from microgradx.engine.value import apply


class Term:
    """One input's share of a step: ``product`` (upstream x ``local``) was added to its grad, ``before`` ->
    ``after``. ``local`` is d out / d input, product / upstream (None where the upstream grad is 0)."""

    __slots__ = ("input", "position", "local", "product", "before", "after")

    def __init__(self, input: Value, position: int, local: Any, product: Any, before: Any, after: Any):
        self.input, self.position, self.local, self.product, self.before, self.after = (
            input, position, local, product, before, after)

    def __repr__(self) -> str:
        return f"Term({self.input.label or 'input'}, local={self.local!r}, product={self.product!r})"


class BackwardStep:
    """One visited op output: ``value``, its ``op``, the ``upstream`` grad it held, and one `Term` per input."""

    __slots__ = ("value", "op", "upstream", "terms")

    def __init__(self, value: Value, upstream: Any, terms: list[Term]):
        self.value, self.op, self.upstream, self.terms = value, value.op, upstream, terms

    def __repr__(self) -> str:
        return f"BackwardStep({self.op.name}, upstream={self.upstream!r}, {len(self.terms)} terms)"


def roots_of(value: Union[Value, Sequence[Value]], caller: str) -> list[Value]:
    """``value`` as a list of roots: a Value, or a non-empty list or tuple of them (a ``TypeError`` else)."""
    roots = [value] if isinstance(value, Value) else list(value) if isinstance(value, (list, tuple)) else None
    if not roots or not all(isinstance(v, Value) for v in roots):
        bad = next((v for v in roots or () if not isinstance(v, Value)), None)
        raise TypeError(f"{caller}() draws a Value or a non-empty list of Values, not {type(value).__name__}"
                        + (f" containing {type(bad).__name__}" if roots else ""))
    return roots


def local_derivative(product: Any, upstream: Any) -> Any:
    """d out / d input from what backward passed: product / upstream (None, or nan lanes, where upstream is 0)."""
    if isinstance(product, np.ndarray) or isinstance(upstream, np.ndarray):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.asarray(upstream) != 0, np.asarray(product) / np.asarray(upstream), np.nan)
    return product / upstream if upstream != 0 else None


# The roots of a pass from several roots: one node above them all, each seeded with 1 (its own, unnamed op).
_ROOTS = Op(name="roots", arity=None, forward=lambda *xs: sum(xs[1:], xs[0]),
            backward=lambda g, out, *xs: (g,) * len(xs), doc="the roots of a watched backward pass")


def watch(value: Union[Value, Sequence[Value]], each: Optional[Callable[[BackwardStep], Any]] = None,
          ) -> list[BackwardStep]:
    """Run ``backward()`` from ``value`` (several roots: one pass, each seeded with 1 per lane) and return its steps.

    ``each(step)`` is called after each node's step, while the graph holds the grads of that moment (a
    notebook redraws the graph there). Leaves accumulate, as ``backward()`` does.
    """
    roots = roots_of(value, "watch")
    top = roots[0] if len(roots) == 1 else apply(_ROOTS, *roots)
    steps: list[BackwardStep] = []

    def step(v: Value) -> None:
        grads = local_gradients(v)  # the op's backward, once: the engine's step adds them
        parents, before = v._parents, [p.grad for p in v._parents]
        (OPS.visit or visit_node)(v, grads)
        if v is top and len(roots) > 1:
            return
        last = {id(p): i for i, p in enumerate(parents)}
        now, terms = {}, []
        for i, (p, g) in enumerate(zip(parents, grads)):
            if g is None or p.grad is None:  # (grad None: a Value that takes no gradient, which backward skips)
                continue
            added = float(np.sum(g)) if isinstance(g, np.ndarray) and not isinstance(p.data, np.ndarray) else g
            start = now.get(id(p), before[i])
            now[id(p)] = p.grad if last[id(p)] == i else start + added  # (an input used twice: x * x)
            terms.append(Term(p, i, local_derivative(g, v.grad), added, start, now[id(p)]))
        steps.append(BackwardStep(v, v.grad, terms))
        if each is not None:
            each(steps[-1])

    backward(top, np.ones_like(top.data) if isinstance(top.data, np.ndarray) else 1.0, visit=step)
    return steps


def backward_steps(value: Union[Value, Sequence[Value]]) -> list[BackwardStep]:
    """The steps of one backward pass from ``value`` (or several roots, each seeded with 1), from zero grads.

    The engine's own pass (`watch`) runs on the graph's grads set to zero; afterwards every grad is put
    back as it was, so the graph looks untouched (an explorer page shows one pass whether or not
    ``backward()`` was called). A graph released by ``backward(retain_graph=False)`` raises the engine's
    `GraphReleasedError`.
    """
    roots = roots_of(value, "backward_steps")
    nodes = list({id(v): v for r in roots for v in topological_order(r)}.values())
    saved = [(v, v.grad) for v in nodes]
    try:
        zero_grad(v for v in nodes if v.grad is not None)
        return watch(roots)
    finally:
        for v, grad in saved:
            v.grad = grad


def final_grads(steps: Sequence[BackwardStep], roots: Sequence[Value]) -> dict[int, Any]:
    """``id(value) -> grad`` after ``steps``: each input's last ``after``, each root's seed."""
    grads: dict[int, Any] = {id(r): np.ones_like(r.data) if isinstance(r.data, np.ndarray) else 1.0 for r in roots}
    grads.update((id(t.input), t.after) for s in steps for t in s.terms)
    return grads
