"""The backward driver: topological order, then each op's backward once per node.

Iterative (no recursion), so a chain of a million nodes needs no recursion limit.
Gradients *accumulate*: each call adds to ``.grad`` (as in PyTorch), so that a node
used twice, or a loss summed over several backward calls, gets the total. Reset with
`zero_grad` between optimizer steps.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_ndarray = np.ndarray
_EXIT = object()  # stack marker: "all parents of the node below me are done"


def topological_order(root: Any) -> list:
    """Every Value ``root`` depends on, each after all of its parents (``root`` last)."""
    order = []
    seen = set()
    stack = [root]
    push, pop, emit, mark = stack.append, stack.pop, order.append, seen.add
    while stack:
        v = pop()
        if v is _EXIT:
            emit(pop())
            continue
        if v in seen:
            continue
        mark(v)
        push(v)
        push(_EXIT)
        for p in v._parents:
            if p not in seen:
                push(p)
    return order


def backward(root: Any, grad: Any = None) -> None:
    """Add d(root)/d(v) to ``v.grad`` for every Value ``v`` that ``root`` depends on.

    ``grad`` seeds d(root)/d(root): 1.0 by default (ones for a lane root). A gradient
    that reaches a Value whose data is a plain float from lanes (a parameter used by
    every example of a batch) is summed over the lanes.
    """
    if grad is None:
        grad = np.ones_like(root.data) if root.data.__class__ is _ndarray else 1.0
    with gc_paused():  # the order list holds every node: don't let the collector rescan them
        order = topological_order(root)
        root.grad = root.grad + grad
        for v in reversed(order):
            op = v._op
            if op is None:
                continue
            parents = v._parents
            try:
                grads = op.backward(v.grad, v.data, *[p.data for p in parents])
                if len(grads) != len(parents):
                    raise ValueError(f"backward returned {len(grads)} gradients for {len(parents)} inputs")
            except Exception as exc:
                raise _backward_error(op, exc) from exc
            for p, g in zip(parents, grads):
                if g is None:
                    continue
                if g.__class__ is _ndarray and p.data.__class__ is not _ndarray:
                    g = float(g.sum())  # lanes -> a parameter shared by all of them
                p.grad = p.grad + g


def _backward_error(op: Any, exc: Exception) -> Exception:
    from .registry import get_registry

    try:
        where = get_registry().component("ops", op.name).plugin.where
    except Exception:
        where = "an unregistered op"
    return type(exc)(f"in backward of op {op.name!r} from {where}: {exc}") if isinstance(
        exc, (ValueError, TypeError, ArithmeticError)) else RuntimeError(
        f"in backward of op {op.name!r} from {where}: {type(exc).__name__}: {exc}")


def zero_grad(values: Iterable[Any]) -> None:
    """Set ``grad`` of each Value to zero (0.0, or zeros for a lane Value)."""
    for v in values:
        v.grad = np.zeros_like(v.data) if v.data.__class__ is _ndarray else 0.0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector inside the block, then restore its state.

    A Value graph has no reference cycles (parents never point back to children), so
    reference counting frees it; yet building one allocates many container objects
    and keeps triggering collections that rescan every live node. Wrapping graph
    building and backward in this block removes that cost. Nested use is fine.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
