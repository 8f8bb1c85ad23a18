"""Recording: run ``fn`` once on input Values, then read its graph into a flat program.

The program (`Program`) lists the graph's values in topological order: the leaves, sorted
into *inputs* (made here from the array arguments), *closed-over* leaves (Values that
something outside the graph holds: a model's parameters, read again at every replay) and
*constants* (leaves only the graph holds, such as the 1.0 of ``1.0 - x``: their numbers
are baked in, as jax.jit does with numbers computed outside its traced values), then one
entry per op node: its op and the value ids of its inputs.

While reading, chains of the bundled ``add`` become one n-ary ``sum`` node, and a chain
that adds up products of the bundled ``mul`` becomes one ``dot`` node (``b + w1*x1 + ...``,
micrograd's neuron): the same numbers (to rounding) and the same gradients, in one node the
batcher can turn into a matrix product. A chain's inner products that something else also
uses stay nodes of their own as well (computing them twice changes no gradient); an inner
add that something else also uses or holds ends the chain there (it is one of its terms), so
the program is never bigger than the graph.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.engine.autograd import RELEASED
from microgradx.engine.errors import released
from microgradx.engine.value import Value


@attrs.define(eq=False)
class Program:
    """A recorded graph as data: no Value object per node.

    Value ids count leaves first (``leaves``), then op nodes (``ops[i]`` applied to the value
    ids ``inputs[i]`` makes value ``len(leaves) + i``). ``lanes[v]`` is the number of lanes of
    value ``v``, 0 for a float.
    """

    leaves: list  # per leaf: ("input", arg, position) | ("closed", Value) | ("const", data)
    ops: list  # per node: the Op
    inputs: list  # per node: tuple of value ids
    lanes: list  # per value: lanes (0 = float)
    data: list  # per node: its value when read (check=True compares a fresh reading's; a recording drops it)
    outputs: tuple  # value ids of fn's outputs
    single: bool  # fn returned one Value (not a tuple or list)

    @property
    def n_leaves(self) -> int:
        """How many leaves the program has (their value ids come first)."""
        return len(self.leaves)


def _bundled() -> tuple:
    """The bundled add, mul, sum and dot ops: the only ones the reading rewrites (a replaced op is left alone)."""
    from microgradx_plugins.arithmetic import add, mul
    from microgradx_plugins.fused import dot, sum_op

    return add, mul, sum_op, dot


def read_graph(outputs: list, single: bool) -> Program:
    """The `Program` of the graph below ``outputs``, its leaves still Values (see `classify_leaves`)."""
    add, mul, sum_op, dot = _bundled()
    alone = _refs_at([object()], 0)  # what _refs_at counts for an item nothing else refers to
    ids: dict = {}  # id(Value) -> -(leaf index + 1) for a leaf, node index for an op node
    leaf_values: list = []
    node_ops: list = []
    node_inputs: list = []
    node_data: list = []

    def fused(v: Any) -> tuple:
        """(op, input Values) of the program node standing for ``v``."""
        op = _plain(v.op)
        if op is not add:
            return op, v._parents
        terms, todo = [], [(v._parents, 0)]
        while todo:  # the addends of the chain of adds below v, left to right: (an add's inputs, the next one)
            inputs, k = todo.pop()
            if k < len(inputs):
                todo.append((inputs, k + 1))
                if _plain(inputs[k].op) is add and _refs_at(inputs, k) <= alone:  # an add only the one above reads
                    todo.append((inputs[k]._parents, 0))
                else:
                    terms.append(inputs[k])
        if len(terms) < 3:
            return op, v._parents
        products = [t for t in terms if _plain(t.op) is mul]
        if len(products) >= 2 and len(terms) - len(products) <= 1:
            bias = [t for t in terms if _plain(t.op) is not mul]
            return dot, (*bias, *[p._parents[0] for p in products], *[p._parents[1] for p in products])
        return sum_op, tuple(terms)

    stack: list = [(v, None) for v in reversed(outputs)]
    while stack:
        v, node = stack.pop()
        if node is not None:  # second visit: every input has an id
            ids[id(v)] = len(node_ops)
            node_ops.append(node[0])
            node_inputs.append([ids[id(p)] for p in node[1]])
            node_data.append(v.data)
        elif id(v) not in ids:
            if v.op is None:
                leaf_values.append(v)
                ids[id(v)] = -len(leaf_values)
            elif v.op is RELEASED:  # its inputs are gone: no replay can recompute it (eager backward says so too)
                raise released(v.data)
            else:
                node = fused(v)
                stack.append((v, node))
                stack.extend([(p, None) for p in reversed(node[1]) if id(p) not in ids])
    n = len(leaf_values)
    renumber = lambda i: i + n if i >= 0 else -i - 1
    return Program(leaves=leaf_values, ops=node_ops,
                   inputs=[tuple([renumber(i) for i in ins]) for ins in node_inputs],
                   lanes=[_lanes(v.data) for v in leaf_values] + [_lanes(d) for d in node_data],
                   data=node_data, outputs=tuple(renumber(ids[id(v)]) for v in outputs), single=single)


def _plain(op: Any) -> Any:
    """The plain op behind anomaly mode's checked copy (``op`` itself when it is plain).

    A recording made inside ``detect_anomaly()`` outlives the block: its replays must not run
    the checked forwards, which note every output they make for anomaly mode's messages.
    """
    return op if op is None else getattr(op.forward, "plain_op", op)


def _lanes(data: Any) -> int:
    return data.size if isinstance(data, np.ndarray) else 0


def _refs_at(items: Any, k: int) -> int:
    """``sys.getrefcount`` of ``items[k]``, held by nothing of the caller's but ``items``.

    Compared only with the count for an item that nothing else refers to, made the same way:
    how many references the call itself adds differs between interpreters (CPython 3.14 lends
    a local's reference to a call instead of adding one).
    """
    return sys.getrefcount(items[k])


def classify_leaves(program: Program, inputs: dict) -> None:
    """Sort ``program``'s leaves (Values) into ("input", arg, position), ("closed", Value), ("const", data).

    A leaf that nothing outside the graph refers to can never change and nobody can read its
    gradient: it is a constant. Call this once the eager graph is gone (nothing else holds its
    nodes), so that only this program holds such a leaf.
    """
    leaves, alone = program.leaves, _refs_at([object()], 0)
    for i in range(len(leaves)):  # (no enumerate, no local holding the leaf: each would be a reference)
        where = inputs.get(id(leaves[i]))
        if where is not None:
            leaves[i] = ("input", *where)
        else:  # held by this list alone, or also by someone else: a model, a closure
            leaves[i] = ("closed", leaves[i]) if _refs_at(leaves, i) > alone else ("const", leaves[i].data)


def input_values(arrays: list, lanes: bool) -> list:
    """The Values ``fn`` sees for each array argument (a list per argument; see `microgradx.compile`)."""
    values: list = []
    for a in arrays:
        if a is None:
            values.append(None)
        elif lanes:
            values.append(Value(a) if a.ndim == 1 else [Value(col) for col in a.T])
        elif a.ndim == 1:
            values.append([Value(x) for x in a.tolist()])
        else:
            values.append([[Value(x) for x in row] for row in a.tolist()])
    return values


def input_positions(values: list) -> dict:
    """id(input Value) -> (argument index, position in the argument's flat order)."""
    where: dict = {}
    for arg, vs in enumerate(values):
        if vs is None:
            continue
        flat = [vs] if isinstance(vs, Value) else [x for row in vs for x in (row if isinstance(row, list) else [row])]
        for k, v in enumerate(flat):
            where[id(v)] = (arg, k)
    return where


def outputs_of(result: Any) -> Optional[tuple]:
    """fn's result as (list of Values, single), or None when it is not a Value, tuple or list of Values."""
    if isinstance(result, Value):
        return [result], True
    if isinstance(result, (tuple, list)) and result and all(isinstance(r, Value) for r in result):
        return list(result), False
    return None
