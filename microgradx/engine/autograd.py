"""The backward driver: topological order, then each op's backward once per node.

Iterative (no recursion), so a chain of a million nodes needs no recursion limit.
Gradients of leaves (parameters, inputs) *accumulate*: each call adds to ``.grad`` (as
in PyTorch), so that a loss summed over several backward calls gets the total. An op
output's ``.grad`` holds d(root)/d(v) of the latest call through it. Reset leaves with
`zero_grad` between optimizer steps.

``backward(retain_graph=False)`` releases the graph it consumed: each op output drops its
parents and its op (replaced by the `RELEASED` marker) as soon as its gradient has been
passed on, so the graph's memory is freed during the backward pass instead of when the
last reference to the root goes. Back-propagating through a released node again raises
`GraphReleasedError`. The default keeps the graph, so it can be inspected (and drawn)
after ``backward()``.

The per-node loop is `_propagate`, a module global that `microgradx.engine.anomaly` replaces
with a checking version while ``detect_anomaly()`` is on: the plain loop has no checks.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

_ndarray = np.ndarray
_EXIT = object()  # stack marker: "all parents of the node below me are done"


class GraphReleasedError(RuntimeError):
    """Back-propagation reached a node whose graph ``backward(retain_graph=False)`` released."""


class _Released:
    """The op of a Value whose graph was released: it has no parents and cannot be differentiated."""

    name = "released"
    arity = None
    check = None
    reduces_lanes = False
    doc = "an op output whose graph backward(retain_graph=False) released"

    def forward(self, *xs: Any) -> Any:
        raise GraphReleasedError("the released marker is not an op that can be applied")

    def backward(self, grad: Any, out: Any, *xs: Any) -> tuple:
        raise GraphReleasedError(released_message(out))

    def __repr__(self) -> str:
        return "<released graph>"


#: ``Value._op`` of an op output after ``backward(retain_graph=False)`` consumed its graph.
RELEASED = _Released()


def released_message(data: Any) -> str:
    """The error message for back-propagating through a released node holding ``data``."""
    what = f"a Value of {data.size} lanes" if data.__class__ is _ndarray else f"Value(data={data!r})"
    return (f"backward() reached {what} whose graph an earlier backward(retain_graph=False) released (its "
            f"inputs and op are gone); pass retain_graph=True (the default) to the first backward() to "
            f"back-propagate through a graph again, or rebuild the graph")


def topological_order(root: Any) -> list:
    """Every Value ``root`` depends on, each after all of its parents (``root`` last).

    An iterative depth-first search: a node is emitted when the marker pushed above its
    parents' subtrees comes back to the top of the stack, i.e. once all its parents are.
    """
    order = []
    seen = set()
    stack = [root]
    push, pop, extend, emit, mark = stack.append, stack.pop, stack.extend, order.append, seen.add
    exit_marker = _EXIT  # a local: read once per node
    while stack:
        v = pop()
        if v is exit_marker:
            emit(pop())
        elif v not in seen:
            mark(v)
            parents = v._parents
            if parents:
                push(v)
                push(exit_marker)
                extend(parents)  # those already seen are skipped when popped
            else:
                emit(v)
    return order


def _op_order(root: Any) -> list:
    """The op outputs ``root`` depends on (``root`` included), each after the op outputs among its inputs.

    What `backward` visits, and it sets ``grad = 0.0`` on each (see `backward`). Leaves are never
    pushed: a backward pass needs no step for a leaf (nothing to call, nothing to order), and a
    model's graph is mostly leaves (the breast-cancer MLP: 817 of 886 nodes, 785 of them its
    parameters), so this visits a twelfth of the nodes `topological_order` does.
    """
    order = []
    if root._op is None:
        return order
    seen = set()
    stack = [root]
    push, pop, emit, mark = stack.append, stack.pop, order.append, seen.add
    exit_marker = _EXIT  # a local: read once per node
    while stack:
        v = pop()
        if v is exit_marker:
            emit(pop())
        elif v not in seen:
            mark(v)
            parents = v._parents
            if parents:
                v.grad = 0.0
            else:  # an op output without inputs is a released node: stop before any gradient moves
                raise GraphReleasedError(released_message(v.data))
            waiting = False  # True once v waits on the stack below its op inputs not seen yet (seen = emitted)
            for p in parents:
                if p._op is not None and p not in seen:
                    if not waiting:
                        push(v)
                        push(exit_marker)
                        waiting = True
                    push(p)
            if not waiting:  # emitted at once, not after a marker's round trip through the stack
                emit(v)
    return order


def backward(root: Any, grad: Any = None, retain_graph: bool = True) -> None:
    """Add d(root)/d(v) to ``v.grad`` for every leaf ``v`` that ``root`` depends on.

    ``grad`` seeds d(root)/d(root): 1.0 by default (ones for a lane root). A gradient
    that reaches a Value whose data is a plain float from lanes (a parameter used by
    every example of a batch) is summed over the lanes.

    Leaves (Values no op made: parameters, inputs) accumulate across calls, as in
    PyTorch. An op output's ``grad`` is set afresh by each call to d(root)/d(v) of that
    call, so calling ``backward()`` twice, or on two losses sharing a subgraph, adds
    each call's contribution to the leaves exactly once.

    ``retain_graph=False`` releases the graph as it goes (see the module docstring): op
    outputs keep their ``data`` and ``grad`` but forget their inputs, so memory is freed
    early; a later backward through any of them raises `GraphReleasedError`.
    """
    if root._op is RELEASED:
        raise GraphReleasedError(released_message(root.data))
    if grad is None:
        grad = np.ones_like(root.data) if root.data.__class__ is _ndarray else 1.0
    with gc_paused():  # the order list holds every node: don't let the collector rescan them
        order = _op_order(root)
        root.grad = root.grad + grad
        _propagate(reversed(order) if retain_graph else _releasing(order))


def _releasing(order: list) -> Iterator[Any]:
    """The nodes of ``order``, last first; each op output is released once the driver is done with it.

    Popping from ``order`` drops the list's reference, so a released node nothing else
    refers to is freed at once, with its data and gradient arrays.
    """
    pop, released = order.pop, RELEASED
    while order:
        v = pop()
        yield v
        v._parents = ()
        v._op = released


def _plain_propagate(nodes: Iterable[Any]) -> None:
    """Call each op output's backward once, in ``nodes`` order (children before parents), and accumulate.

    ``nodes`` holds op outputs only (see `_op_order`): a leaf needs no step of its own.
    """
    for v in nodes:
        op = v._op
        parents = v._parents
        grads = None
        try:  # one and two inputs (almost every node) are spelled out: no list or zip per node
            if len(parents) == 2:
                a, b = parents
                grads = op.backward(v.grad, v.data, a.data, b.data)
                ga, gb = grads
                if ga is not None:
                    a.grad = a.grad + (ga if ga.__class__ is not _ndarray else _lanes_to(a, ga))
                if gb is not None:
                    b.grad = b.grad + (gb if gb.__class__ is not _ndarray else _lanes_to(b, gb))
            elif len(parents) == 1:
                a = parents[0]
                grads = op.backward(v.grad, v.data, a.data)
                (ga,) = grads
                if ga is not None:
                    a.grad = a.grad + (ga if ga.__class__ is not _ndarray else _lanes_to(a, ga))
            else:
                grads = op.backward(v.grad, v.data, *[p.data for p in parents])
                if len(grads) != len(parents):
                    raise ValueError("wrong number of gradients")  # reworded by _backward_error
                for p, g in zip(parents, grads):
                    if g is not None:
                        if g.__class__ is _ndarray and p.data.__class__ is not _ndarray:
                            g = float(g.sum())  # `_lanes_to`, written out: a fused op has many inputs
                        p.grad = p.grad + g
        except GraphReleasedError:
            raise
        except Exception as exc:
            raise _backward_error(op, exc, grads, len(parents)) from exc


#: The per-node loop `backward` runs; `microgradx.engine.anomaly` swaps in a checking one.
_propagate = _plain_propagate


def _lanes_to(p: Any, g: np.ndarray) -> Any:
    """The lane gradient ``g`` as ``p`` takes it: summed over the lanes if ``p.data`` is a plain float."""
    return g if p.data.__class__ is _ndarray else float(g.sum())


def _backward_error(op: Any, exc: Exception, grads: Any, n: int) -> Exception:
    """The error for a failed backward: names the op and its plugin; explains a wrong gradient count."""
    from microgradx.engine.op import OPS

    where = OPS.origin(op).removeprefix("from ")
    if grads is not None:
        try:
            got = len(grads)
        except TypeError:
            exc = TypeError(f"backward returned {type(grads).__name__}, not a tuple of {n} gradient(s)")
        else:
            if got != n:
                exc = ValueError(f"backward returned {got} gradients for {n} inputs")
    if isinstance(exc, (ValueError, TypeError, ArithmeticError)):
        try:
            return type(exc)(f"in backward of op {op.name!r} from {where}: {exc}")
        except Exception:  # an exception class whose constructor wants other arguments
            pass
    return RuntimeError(f"in backward of op {op.name!r} from {where}: {type(exc).__name__}: {exc}")


def zero_grad(values: Iterable[Any]) -> None:
    """Set ``grad`` of each Value to zero (0.0, or zeros for a lane Value)."""
    for v in values:
        v.grad = np.zeros_like(v.data) if v.data.__class__ is _ndarray else 0.0


_GC_LOCK = threading.Lock()
_gc_pauses = 0  # gc_paused() blocks active, in all threads
_gc_was_enabled = False  # the collector's state when the first of them started


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector inside the block, then restore its state.

    A Value graph has no reference cycles (parents never point back to children), so
    reference counting frees it; yet building one allocates two tracked objects per
    node (the Value and its parent tuple), which keeps triggering collections that
    rescan the live graph: about a tenth of a build + backward round in
    ``benchmarks/bench_nodes.py``. Wrap a whole step in this block, building the graph,
    ``backward()`` and dropping the graph: pausing only while building merely defers
    the work, as the first allocation after the block then collects the young graph.
    ``backward`` pauses the collector itself. Nested use is fine.

    The collector is process-wide, so the pauses of all threads are counted together:
    it is paused when the first block starts and restored by the last one to end
    (checking ``gc.isenabled()`` and pausing in each thread separately could leave it
    off for good when two threads interleave).
    """
    global _gc_pauses, _gc_was_enabled
    with _GC_LOCK:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()

