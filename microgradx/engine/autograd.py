"""The backward driver: put the graph in topological order, then run each op's backward once.

For every op output ``v``, last made first, the chain rule: ``v``'s op gives the local
gradient contribution for each input (``grad * d v / d input``), and each is added to
that input's ``grad``. By the time a node is visited, every node that uses it has been,
so its ``grad`` is complete.

Iterative, with no recursion, so a chain of a million nodes needs no recursion limit.
Leaves (parameters, inputs) accumulate across calls, as in PyTorch; an op output's ``grad``
is set afresh by each call, so two calls through one graph add each call's share once.
``backward(retain_graph=False)`` frees the graph as it goes: each op output forgets its
inputs once its gradient has been passed on; back-propagating through it again raises
`GraphReleasedError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from microgradx.engine.errors import (
    GraphReleasedError,
    backward_error,
    backward_on_values,
    check_gradient,
    check_seed,
    graph_gradient,
    released,
    wrong_gradients,
)
from microgradx.engine.op import Op
from microgradx.engine.optable import OPS


def _refuse(*args: Any) -> Any:
    raise GraphReleasedError("this node's graph was released by backward(retain_graph=False)")


#: ``Value.op`` of an op output after ``backward(retain_graph=False)`` consumed its graph.
RELEASED = Op(name="released", arity=None, forward=_refuse, backward=_refuse,
              doc="an op output whose graph backward(retain_graph=False) released")


def topological_order(root: Any, leaves: bool = True) -> list:
    """Every Value ``root`` depends on, each after all of its inputs (``root`` last).

    A depth-first search with an explicit stack of (node, its inputs still to look at): a
    node joins the order once all its inputs have. With ``leaves=False`` only op outputs
    are listed (a backward pass needs no step for a leaf).
    """
    order: list = []
    seen = {root}
    stack = [(root, reversed(root._parents))]
    while stack:
        v, inputs = stack[-1]
        for p in inputs:
            if p not in seen and (leaves or p.op is not None):
                seen.add(p)
                stack.append((p, reversed(p._parents)))  # p's inputs first (the last first), then back to v
                break
        else:  # every input of v is in the order
            stack.pop()
            order.append(v)
    return order


def backward(root: Any, grad: Any = None, retain_graph: bool = True, create_graph: bool = False,
             visit: Any = None) -> None:
    """Add d(root)/d(v) to ``v.grad`` for every Value ``v`` that ``root`` depends on.

    ``grad`` seeds d(root)/d(root): 1.0 by default for a float root; a root of several lanes
    needs ``grad`` (one number per lane) or a reduction first (``lane_mean()``), as PyTorch
    asks for a non-scalar output. A lane gradient reaching a float Value (a parameter every
    lane shares) is summed over the lanes. With ``create_graph=True`` each op's backward runs
    on Values, so every gradient is a Value whose graph can be back-propagated through again
    (``x.grad.backward()``: the second derivative); a number ``grad`` for a root of lanes is
    then a float Value, which the ops broadcast to every lane (so a compiled function can seed
    lanes it cannot count while it records).

    ``visit`` is this call's visiting hook: the step run for each op output, last made first.
    By default it is ``OPS.visit`` (anomaly mode's checking step while that is on) or
    `visit_node`. Whoever watches a backward pass passes a step that calls that default,
    ``(OPS.visit or visit_node)(v, grads)``, and looks on before and after: the explorer's
    recorder (`microgradx.draw.steps`) does, so it and anomaly mode can both be on, and a pass
    in another thread is not watched.
    """
    if root.op is RELEASED:
        raise released(root.data)
    seed = check_seed(root.data, grad, create_graph)
    nodes = [v for v in topological_order(root, leaves=False) if v.op is not None]  # (a leaf root has none)
    for v in nodes:
        if v.op is RELEASED:  # stop before any gradient moves
            raise released(v.data)
        v.grad = 0.0  # this call's d(root)/d(v) is gathered afresh
    seed = type(root)(seed) if create_graph else seed  # (create_graph: a Value, a constant of the new graph)
    root.grad = seed if create_graph and is_zero(root.grad) else root.grad + seed  # (no node 0 + seed)
    visit = visit or (graph_step if create_graph else OPS.visit or visit_node)  # (anomaly mode's: while on)
    while nodes:
        v = nodes.pop()  # the last made first; popping lets a released node be freed at once
        visit(v)
        if not retain_graph:
            v._parents, v.op = (), RELEASED


def visit_node(v: Any, grads: Any = None) -> None:
    """One node's backward step: its op's local gradients, added to its inputs' grads.

    ``grads`` are those gradients when a watching step already has them from `local_gradients`
    (so the op's backward runs once per node); by default they are computed here.
    """
    for p, g in zip(v._parents, grads or local_gradients(v)):
        if g is not None and p.grad is not None:  # grad None: a Value that takes no gradient (a model's data)
            p.grad = p.grad + (g if g.__class__ is float else check_gradient(v.op, p.data, g))  # a new sum, not +=


def graph_step(v: Any, grads: Any = None) -> None:
    """`visit_node` on Values (``create_graph=True``): each local gradient is a Value, a node of the graph.

    A node no gradient reached (its grad still the number 0.0: only an input without a gradient,
    such as the lanes ``lane_fill`` copies, led to it) passes nothing on, as PyTorch's graph does.
    ``grads``: as `visit_node` takes them.
    """
    if v.grad.__class__ is float:
        return
    for p, g in zip(v._parents, grads or local_gradients(v, graph=True)):
        if g is not None and p.grad is not None:
            g = graph_gradient(v.op, p, g)
            p.grad = g if is_zero(p.grad) else p.grad + g  # (0.0 + g would be a node of the graph)


def local_gradients(v: Any, graph: bool = False) -> tuple:
    """``v.op.backward(...)`` for the node ``v``: one gradient (or None) per input; errors name the op.

    With ``graph`` the backward gets the Values themselves (the output, its inputs) and gives Values.
    """
    op, parents = v.op, v._parents
    try:
        grads = backward_on_values(op, v, parents) if graph else op.backward(v.grad, v.data, *[p.data for p in parents])
    except Exception as exc:
        raise backward_error(op, exc) from exc
    if grads.__class__ is not tuple or len(grads) != len(parents):
        raise wrong_gradients(op, grads, len(parents))
    return grads


def is_zero(grad: Any) -> bool:
    """Whether ``grad`` is the number 0 (with ``create_graph``, a gradient arriving there is taken as it is)."""
    return grad.__class__ is float and not grad


def zero_grad(values: Iterable[Any]) -> None:
    """Set ``grad`` of each Value to zero (0.0, or zeros for a lane Value)."""
    for v in values:
        v.grad = np.zeros_like(v.data) if isinstance(v.data, np.ndarray) else 0.0
