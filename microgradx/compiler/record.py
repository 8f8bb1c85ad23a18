"""Reading a recorded graph into a flat program: one entry per op node, no Value per node.

The program (`Program`) lists the graph's values in topological order: the leaves, sorted
into *inputs* (made from the array arguments), *closed-over* Values (read afresh at every
call: parameters, every leaf Value ``fn`` used, and any Value made before the call, whose
data is read as it stands) and *constants* (the numbers in ``fn``, which `apply` made leaves
of: their values are baked in, as jax.jit bakes numbers in), then one entry per op node made
while ``fn`` ran: its op and the value ids of its inputs. Which is which comes from the
`microgradx.compiler.trace.Recording`, never from who else holds a Value.

An op may declare a rewrite (``Op.fuse``): the bundled ``add`` reads micrograd's chains
``b + w1*x1 + ...`` as one ``dot`` node (and longer chains of adds as one ``sum``), absorbing
the inner adds that only the chain uses (use counts inside the graph). The same numbers (to
rounding), the same gradients, in one node the batcher can turn into a matrix product.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import chain, filterfalse, repeat
from operator import attrgetter
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.compiler.trace import Recording, _item
from microgradx.engine.value import Value

_parents = attrgetter("_parents")


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
    made_with: list  # the ops the recorded nodes were made with (before any rewrite), each once

    @property
    def n_leaves(self) -> int:
        """How many leaves the program has (their value ids come first)."""
        return len(self.leaves)


def count_uses(outputs: list, rec: Recording) -> Callable[[Any], int]:
    """``uses(v)``: how many times the graph below ``outputs`` uses the op node ``v`` of the recording (outputs
    count too); 0 for any other Value (a leaf, a node made before the call).

    Counting the inputs of every node made while ``fn`` ran gives the graph's counts unless some of
    them are not in the graph (computed and dropped): then count again, over the graph only, so
    that dropped work changes nothing.
    """
    made, ends = rec.made, set(outputs)
    counts = Counter(chain.from_iterable(map(_parents, made)))  # (C loops: a recording has many nodes)
    unused = len(made) - sum(map(counts.__contains__, made))  # made nodes nothing made uses
    if unused > sum(1 for o in ends if o not in counts and o.op is not None and rec.owns(o)):  # dropped work
        counts, stack = Counter(), [o for o in ends if o.op is not None and rec.owns(o)]
        seen = set(stack)
        while stack:
            for p in stack.pop()._parents:
                counts[p] += 1
                if p not in seen and p.op is not None and rec.owns(p):
                    seen.add(p)
                    stack.append(p)
    counts.update(outputs)
    for v in set(counts).difference(made):  # the leaves and the nodes made before the call: 0
        counts[v] = 0
    return counts.__getitem__  # (a Counter gives 0 for a Value it does not hold)


def read_graph(outputs: list, single: bool, rec: Recording, positions: dict) -> Program:
    """The `Program` of the graph below ``outputs``, recorded by ``rec``.

    ``positions`` maps id(input Value) to (argument index, position in the argument).
    """
    uses = count_uses(outputs, rec)
    ids: dict = {}  # Value -> -(leaf index + 1) for a leaf, node index for an op node (a Value hashes by identity)
    leaves: list = []
    leaf_lanes: list = []
    node_ops: list = []
    node_inputs: list = []
    node_data: list = []
    made_with: dict = {}
    seen = ids.__contains__

    def leaf(v: Any) -> tuple:
        where = positions.get(id(v))
        if where is not None:
            return ("input", *where)
        if id(v) in rec.constants:
            return ("const", v.data)
        return ("closed", v)

    def lanes(v: Any) -> int:
        data = v.data
        return _lanes(_item(data, 0) if rec.owns(v) else data)  # (not the traced .size: that marks a row count read)

    stack: list = [(v, None) for v in reversed(outputs)]
    while stack:
        v, node = stack.pop()
        if node is not None:  # second visit: every input has an id
            ids[v] = len(node_ops)
            node_ops.append(node[0])
            node_inputs.append(list(map(ids.__getitem__, node[1])))  # (C loops: a dot has many inputs)
            node_data.append(_item(v.data, 0))
        elif v not in ids:
            op = v.op
            if op is None or not rec.owns(v):  # a leaf, or a node made before the call: read as it stands
                leaves.append(leaf(v))
                leaf_lanes.append(lanes(v))
                ids[v] = -len(leaves)
                continue
            op = _plain(op)
            made_with[id(op)] = op
            node = op.fuse(v, uses) if op.fuse is not None else None
            node = (op, v._parents) if node is None else node
            stack.append((v, node))
            stack.extend(zip(filterfalse(seen, reversed(node[1])), repeat(None)))
    n = len(leaves)
    renumber = list(range(n, n + len(node_ops))) + list(range(n - 1, -1, -1))  # leaves first: renumber[i], i < 0 too
    at = renumber.__getitem__
    return Program(leaves=leaves, ops=node_ops, inputs=[tuple(map(at, ins)) for ins in node_inputs],
                   lanes=leaf_lanes + [_lanes(d) for d in node_data],
                   data=node_data, outputs=tuple(at(ids[v]) for v in outputs), single=single,
                   made_with=list(made_with.values()))


def _plain(op: Any) -> Any:
    """The plain op behind anomaly mode's checked copy (``op`` itself when it is plain).

    Anomaly mode may be switched on by another thread while this one records: its replays must
    not run the checked forwards, which note every output they make for anomaly mode's messages.
    """
    return getattr(op.forward, "plain_op", op)


def _lanes(data: Any) -> int:
    return data.size if isinstance(data, np.ndarray) else 0


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
