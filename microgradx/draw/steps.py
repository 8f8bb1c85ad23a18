"""The backward pass one node at a time: the chain rule replayed for the explorer page and the notebook.

`backward_steps` walks the graph as ``backward()`` does (children before parents, each op
output once) and records, for each op output it visits, the gradient that arrived from
above (*upstream*), and for each of its inputs the *local* derivative d out / d input, their
product (what is added to the input's grad; a lane gradient reaching a float input is
summed over the lanes) and that input's grad before and after. It computes everything on
the side, from zero gradients, with each op's own ``backward``: the graph's ``.grad``
attributes are never touched, and the replay's final grads equal what one ``backward()``
from zero leaves (a test checks that).

    >>> from microgradx import Value
    >>> from microgradx.draw.steps import backward_steps
    >>> a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    >>> step = backward_steps(a * b)[0]
    >>> [(t.input.label, t.local, t.product) for t in step.terms]   # d(ab)/da = b, d(ab)/db = a
    [('a', -3.0, -3.0), ('b', 2.0, 2.0)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Optional, Union

import numpy as np

from microgradx import Value, topological_order


class Term:
    """One input's share of a backward step: ``product = upstream x local`` is added to its grad."""

    __slots__ = ("input", "position", "local", "product", "before", "after")

    def __init__(self, input: Value, position: int, local: Any, product: Any, before: Any, after: Any):
        self.input = input  # the input Value (a parent of the visited node)
        self.position = position  # its place among the op's inputs, from 0
        self.local = local  # d out / d input at this point (lanes for a lane op)
        self.product = product  # what backward adds to input.grad (summed over lanes for a float input)
        self.before = before  # input's grad before this step
        self.after = after  # ... and after it

    def __repr__(self) -> str:
        return f"Term({self.input.label or 'input'}, local={self.local!r}, product={self.product!r})"


class BackwardStep:
    """One visited op output: ``value``, its ``op``, the ``upstream`` grad it holds, and one `Term` per input."""

    __slots__ = ("value", "op", "upstream", "terms")

    def __init__(self, value: Value, upstream: Any, terms: list[Term]):
        self.value = value
        self.op = value.op
        self.upstream = upstream
        self.terms = terms

    def __repr__(self) -> str:
        return f"BackwardStep({self.op.name}, upstream={self.upstream!r}, {len(self.terms)} terms)"


def _roots(value: Union[Value, Sequence[Value]], caller: str) -> list[Value]:
    roots = [value] if isinstance(value, Value) else list(value) if isinstance(value, (list, tuple)) else []
    if not roots or not all(isinstance(v, Value) for v in roots):
        raise TypeError(f"{caller}() takes a Value or a non-empty list of Values, not {type(value).__name__}")
    return roots


def ones_like(data: Any) -> Any:
    """1.0, or ones shaped like a lane array: the seed of a backward pass."""
    return np.ones_like(data) if isinstance(data, np.ndarray) else 1.0


def zero_like(data: Any) -> Any:
    """0.0, or zeros shaped like a lane array: a grad before anything arrives."""
    return np.zeros_like(data) if isinstance(data, np.ndarray) else 0.0


def _as_input_takes(parent: Value, g: Any) -> Any:
    """A gradient for ``parent`` as the driver adds it: summed over the lanes for a float parent."""
    if isinstance(g, np.ndarray) and not isinstance(parent.data, np.ndarray):
        return float(g.sum())
    return g


def op_outputs_in_order(roots: Sequence[Value]) -> list[Value]:
    """Every op output the roots depend on, parents before children (leaves left out).

    Raises ``ValueError`` when the graph was released by ``backward(retain_graph=False)``
    (an op output without inputs), which leaves nothing to replay.
    """
    seen: set[int] = set()
    order = []
    for root in roots:
        for v in topological_order(root):
            if v.op is None or id(v) in seen:
                continue
            if not v.parents:
                raise ValueError(
                    f"the graph behind this Value was released by backward(retain_graph=False) (an op output, "
                    f"{getattr(v.op, 'name', v.op)!r}, has no inputs left); rebuild it, or keep it with "
                    f"backward(retain_graph=True), the default")
            seen.add(id(v))
            order.append(v)
    return order


def replay(visit: Iterable[Value], seeds: dict[int, Any]) -> tuple[list[BackwardStep], dict[int, Any]]:
    """Run the chain rule over the op outputs ``visit`` (children first), starting from ``seeds``.

    ``seeds`` maps ``id(value)`` to its starting gradient (the root's 1); every other grad
    starts at zero. Returns the steps and the final gradients by ``id``. Each op's backward
    is called twice per node: with the upstream gradient (the product backward adds) and
    with ones (the local derivative alone); the two agree because a backward is linear in
    its gradient.
    """
    grads: dict[int, Any] = dict(seeds)
    steps = []
    for v in visit:
        upstream = grads.get(id(v), zero_like(v.data))
        xs = [p.data for p in v.parents]
        products = v.op.backward(upstream, v.data, *xs)
        locals_ = v.op.backward(ones_like(v.data), v.data, *xs)
        if not isinstance(products, tuple) or len(products) != len(xs):
            raise ValueError(f"op {v.op.name!r}: backward returned {type(products).__name__} of "
                             f"{len(products) if isinstance(products, tuple) else '?'} gradients for {len(xs)} inputs")
        terms = []
        for i, (p, g, local) in enumerate(zip(v.parents, products, locals_)):
            if g is None or p.grad is None:  # (grad None: data that takes no gradient, as backward() skips it)
                continue
            before = grads.get(id(p), zero_like(p.data))
            g = _as_input_takes(p, g)
            after = before + g
            grads[id(p)] = after
            terms.append(Term(p, i, local, g, before, after))
        steps.append(BackwardStep(v, upstream, terms))
    return steps, grads


def backward_steps(
    value: Union[Value, Sequence[Value]], order: Optional[Sequence[Value]] = None
) -> list[BackwardStep]:
    """The steps of one backward pass from ``value`` (or several roots, each seeded with 1).

    ``order`` is the op outputs to visit, children before parents (by default the reverse of
    `op_outputs_in_order`, as ``backward()`` visits them); it must contain each op output once
    and visit each after every op output that uses it, else ``ValueError``.
    """
    roots = _roots(value, "backward_steps")
    forward = op_outputs_in_order(roots)
    if order is None:
        visit = forward[::-1]
    else:
        visit = list(order)
        check_order(visit, forward)
    seeds = {id(r): ones_like(r.data) for r in roots if r.op is not None}
    return replay(visit, seeds)[0]


def check_order(visit: list[Value], forward: list[Value]) -> None:
    """Raise ``ValueError`` unless ``visit`` lists the op outputs of ``forward`` once each, users first."""
    if sorted(map(id, visit)) != sorted(map(id, forward)):
        raise ValueError("order= must list every op output of the graph exactly once")
    done: set[int] = set()
    users: dict[int, list[int]] = {}
    for v in forward:
        for p in v.parents:
            users.setdefault(id(p), []).append(id(v))
    for v in visit:
        if any(u not in done for u in users.get(id(v), ())):
            raise ValueError(f"order= visits an op output ({v.op.name}) before an op output that uses it")
        done.add(id(v))


def final_grads(steps: Iterable[BackwardStep], roots: Sequence[Value]) -> dict[int, Any]:
    """``id(value) -> grad`` after ``steps``: each input's last ``after``, each root's seed."""
    grads: dict[int, Any] = {id(r): ones_like(r.data) for r in roots}
    for step in steps:
        for t in step.terms:
            grads[id(t.input)] = t.after
    return grads
