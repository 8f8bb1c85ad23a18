"""Planning: where every value of a `Program` lives in the replay's arrays, and which nodes run together.

Nodes are grouped by depth (the longest path from a leaf: nodes of one depth never depend
on each other), op, number of inputs and the kinds of their inputs (DyNet's depth-based
autobatching). Each group becomes one kernel: the op's batching rule if it has one, one
elementwise call if the op is ``elementwise``, else the nodes one by one. Leaves come first
in each space: the inputs (argument by argument), the closed-over Values, the constants.

A space is named by the number of lanes its values had when recorded (0: the floats). The
space of the array arguments' rows holds, at each call, that call's number of rows: a
recording serves any batch size (`microgradx.compiler.function` records again for each row
count only when the function depends on it).

Gradients are computed only where they can reach a closed-over Value (variant 0), or a
closed-over Value or an input (variant 1, when input gradients are asked for), and only for
the nodes the seeded outputs reach (`Plan.backward_kernels`): a node that feeds only an
unseeded output is never back-propagated through, as eager backward never visits it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Optional

import attrs
import numpy as np

from microgradx.compiler.kernels import ElementwiseKernel, NodeKernel
from microgradx.compiler.record import Program
from microgradx.compiler.rows import Batch, Block, Gather
from microgradx.engine.parameter import ParameterStore

#: Gradient variants: 0 for the closed-over Values only, 1 for those and the inputs.
PARAMS, INPUTS = 0, 1


@attrs.define(eq=False)
class Plan:
    """The layout and the kernels of one recording."""

    program: Program
    sizes: dict  # space -> number of rows
    rows_space: Optional[int]  # the space of the array arguments' rows (None: no lane arguments)
    row_of: np.ndarray  # value id -> row in its space
    space_of: np.ndarray  # value id -> space
    input_rows: list  # per argument: None or (space, first row, number of rows)
    closed_float: list  # the float closed-over Values, in their rows' order
    closed_float_first: int  # the first of their rows in space 0
    closed_lanes: list  # (space, row, Value) for closed-over lane Values
    closed_nodes: list  # (space, row, Value) for closed-over Values made by an op before the call
    constants: dict  # space -> (first row, the constants' data as one array)
    ones: list  # (space, row) of the rows of ones after blocks of values read whole (see _shared_blocks)
    kernels: list  # in order: each group after the groups it depends on
    wanted: list  # per kernel: per variant, does it need a backward at all
    members: list  # per kernel: the value ids of its nodes
    reach: list  # per value: bit k set when output k depends on it
    needs: list  # per variant: a bool array, value id -> does it need a gradient
    _partial: dict = attrs.field(factory=dict)  # seeded outputs (bits) -> kernels for a backward from them
    output_at: list = attrs.field(init=False)  # per output: (space, row), as ints
    closed_read: list = attrs.field(init=False)  # closed_lanes, then closed_nodes

    def __attrs_post_init__(self) -> None:
        self.output_at = [(int(self.space_of[v]), int(self.row_of[v])) for v in self.program.outputs]
        self.closed_read = self.closed_lanes + self.closed_nodes

    @property
    def all_outputs(self) -> int:
        """The bits of every output."""
        return (1 << len(self.program.outputs)) - 1

    def backward_kernels(self, seeded: int) -> list:
        """``(kernel, wanted)`` for a backward pass from the outputs whose bits are ``seeded``, in backward order.

        A kernel whose nodes the seeds reach in full runs as it is; one they do not reach is left
        out; one they reach in part runs only the nodes they reach, one by one (a batch's other
        rows would back-propagate through values eager never visits: 0 * inf is NaN).
        """
        found = self._partial.get(seeded)
        if found is not None:
            return found
        found = []
        for kernel, wanted, members in zip(self.kernels, self.wanted, self.members):
            hit = [bool(self.reach[v] & seeded) for v in members]
            if all(hit):
                found.append((kernel, wanted))
            elif any(hit):
                reached = [v for v, h in zip(members, hit) if h]
                found.append((self._node_kernel(reached), wanted))
        found.reverse()
        if len(self._partial) < 16:
            self._partial[seeded] = found
        return found

    def _node_kernel(self, members: list) -> NodeKernel:
        program, n = self.program, self.program.n_leaves
        op = program.ops[members[0] - n]
        nodes = [[(int(self.space_of[j]), int(self.row_of[j])) for j in program.inputs[v - n]] for v in members]
        wants = [[tuple(bool(need[j]) for need in self.needs) for j in program.inputs[v - n]] for v in members]
        return NodeKernel(op, nodes, int(self.space_of[members[0]]), [int(self.row_of[v]) for v in members], wants)


def make_plan(program: Program, args: list, lanes_mode: bool) -> Plan:
    """Lay ``program`` out and batch its nodes; ``args`` holds each argument's array shape or None."""
    n_leaves = program.n_leaves
    lanes = np.asarray(program.lanes, dtype=np.intp)
    n_values = len(lanes)
    sizes: dict = defaultdict(int)
    row_of = np.full(n_values, -1, dtype=np.intp)
    space_of = lanes.copy()

    def take_rows(space: int, count: int) -> int:
        first = sizes[space]
        sizes[space] += count
        return first

    # depth, and which values need a gradient (per variant); Python lists: this loop visits every node
    depth = [0] * n_values
    need_params = [leaf[0] == "closed" for leaf in program.leaves] + [False] * len(program.ops)
    need_inputs = [leaf[0] != "const" for leaf in program.leaves] + [False] * len(program.ops)
    lane_list = program.lanes
    groups: dict = defaultdict(list)
    for i, (op, ins) in enumerate(zip(program.ops, program.inputs)):  # (C loops over the inputs: a dot has many)
        v = n_leaves + i
        depth[v] = d = 1 + max(map(depth.__getitem__, ins))
        need_params[v] = any(map(need_params.__getitem__, ins))
        need_inputs[v] = any(map(need_inputs.__getitem__, ins))
        groups[(d, id(op), len(ins), lane_list[v], tuple(map(lane_list.__getitem__, ins)))].append(v)
    needs = [np.array(need_params, dtype=bool), np.array(need_inputs, dtype=bool)]
    reach = [0] * n_values  # which outputs each value feeds: a backward pass visits only what its seeds reach
    for k, o in enumerate(program.outputs):
        reach[o] |= 1 << k
    if len(set(program.outputs)) == 1:  # the program is the graph below its outputs: one output reaches every value
        reach = [reach[program.outputs[0]]] * n_values
    else:
        for i in range(len(program.ops) - 1, -1, -1):
            bits = reach[n_leaves + i]
            if bits:
                for j in program.inputs[i]:
                    reach[j] |= bits
    ones_after = _shared_blocks(program, groups, args, lanes_mode)
    ones: list = []  # (space, row) of the rows of ones that follow those blocks

    input_rows: list = []
    rows_space = None
    for arg, shape in enumerate(args):  # each argument's values in consecutive rows, in the order fn saw them
        if shape is None:
            input_rows.append(None)
            continue
        if lanes_mode:
            space, count = shape[0], (1 if len(shape) == 1 else shape[1])
            rows_space = space
        else:
            space, count = 0, int(np.prod(shape))
        input_rows.append((space, take_rows(space, count), count))
        if ("argument", arg) in ones_after:
            ones.append((space, take_rows(space, 1)))
    closed_float, closed_lanes, closed_nodes, consts = [], [], [], defaultdict(list)
    for v, leaf in enumerate(program.leaves):
        if leaf[0] == "input":
            _, arg, position = leaf
            row_of[v] = input_rows[arg][1] + position
        elif leaf[0] == "closed" and lanes[v] == 0 and leaf[1].op is None:
            closed_float.append((v, leaf[1]))
    located = ParameterStore.locate([value for _, value in closed_float]) if closed_float else None
    if located is not None:  # the optimizer's order: its array is then read and updated as one slice
        closed_float.sort(key=lambda item: item[1]._index)
    closed_first = take_rows(0, len(closed_float))
    for k, (v, _) in enumerate(closed_float):
        row_of[v] = closed_first + k
    for v, leaf in enumerate(program.leaves):
        if leaf[0] == "closed" and (lanes[v] or leaf[1].op is not None):
            row_of[v] = take_rows(int(lanes[v]), 1)
            (closed_nodes if leaf[1].op is not None else closed_lanes).append((int(lanes[v]), int(row_of[v]), leaf[1]))
        elif leaf[0] == "const":
            consts[int(lanes[v])].append((v, leaf[1]))
    constants = {}
    for space, items in consts.items():
        first = take_rows(space, len(items))
        for k, (v, _) in enumerate(items):
            row_of[v] = first + k
        constants[space] = (first, np.array([data for _, data in items], dtype=np.float64))

    kernels, wanted, members_of = [], [], []
    for key in sorted(groups, key=lambda k: k[0]):
        members = groups[key]
        op = program.ops[members[0] - n_leaves]
        space = key[3]
        first = take_rows(space, len(members))
        ids = np.array(members, dtype=np.intp)
        row_of[ids] = np.arange(first, first + len(members))
        if ("group", key) in ones_after:
            ones.append((space, take_rows(space, 1)))
        kernels.append(_kernel(program, op, ids, space, first, row_of, lanes, needs, frozenset(ones)))
        wanted.append(tuple(bool(need[ids].any()) for need in needs))
        members_of.append(members)
    return Plan(program=program, sizes=dict(sizes), rows_space=rows_space, row_of=row_of, space_of=space_of,
                input_rows=input_rows, closed_float=[value for _, value in closed_float],
                closed_float_first=closed_first, closed_lanes=closed_lanes, closed_nodes=closed_nodes,
                constants=constants, ones=ones, kernels=kernels, wanted=wanted, members=members_of, reach=reach,
                needs=needs)


def _shared_blocks(program: Program, groups: dict, args: list, lanes_mode: bool) -> set:
    """The blocks of lane values that a later group reads whole, in order, at its last input positions, in
    every node (a layer's inputs, which all its neurons read): ``("group", key)`` for a group's outputs,
    ``("argument", index)`` for an array argument's columns. Each gets a row of ones after it, so that a
    kernel may fold a constant term per node into its matrix product (`Batch.ones`: a layer's biases).
    """
    if not lanes_mode:
        return set()
    n_leaves, lane_list = program.n_leaves, program.lanes
    blocks = {tuple(members): ("group", key) for key, members in groups.items() if key[3] and len(members) > 1}
    columns: dict = defaultdict(dict)
    for v, leaf in enumerate(program.leaves):
        if leaf[0] == "input" and args[leaf[1]] is not None and len(args[leaf[1]]) == 2:
            columns[leaf[1]][leaf[2]] = v
    for arg, cols in columns.items():
        if len(cols) == args[arg][1] > 1:
            blocks[tuple(cols[k] for k in range(len(cols)))] = ("argument", arg)
    found = set()
    for key, members in groups.items():
        space, arity = key[3], key[2]
        if not space or arity < 2:
            continue
        first = program.inputs[members[0] - n_leaves]
        others = [program.inputs[v - n_leaves] for v in members[1:]]
        p = arity
        while p > 0 and lane_list[first[p - 1]] == space and all(ins[p - 1] == first[p - 1] for ins in others):
            p -= 1
        block = blocks.get(tuple(first[p:])) if arity - p > 1 else None
        if block is not None:
            found.add(block)
    return found


def _kernel(program: Program, op: Any, members: np.ndarray, space: int, first: int, row_of: np.ndarray,
            lanes: np.ndarray, needs: list, ones: frozenset = frozenset()) -> Any:
    """The kernel of one group: the op's batching rule, one elementwise call, or node by node."""
    n_leaves = program.n_leaves
    slots = np.array([program.inputs[v - n_leaves] for v in members], dtype=np.intp)
    spaces = [int(lanes[j]) for j in slots[0]]
    rows = slice(first, first + len(members))
    if op.batch is not None:
        kernel = op.batch(Batch(op=op, slots=slots, spaces=spaces, out_space=space, rows=rows, row_of=row_of,
                                needs=tuple(needs), ones=ones))
        if kernel is not None:
            return kernel
    if op.elementwise:
        wants = [tuple(bool(need[slots[:, p]].any()) for need in needs) for p in range(slots.shape[1])]
        if slots.shape[1] >= 3 and all(s == space for s in spaces):  # many inputs: one gather for all
            return ElementwiseKernel(op, [], space, rows, wants, block=Block(space, row_of[slots]))
        gathers = [Gather(spaces[p], row_of[slots[:, p]], column=space > 0 and spaces[p] == 0)
                   for p in range(slots.shape[1])]
        return ElementwiseKernel(op, gathers, space, rows, wants)
    nodes = [[(int(lanes[j]), int(row_of[j])) for j in ins] for ins in slots]
    wants = [[tuple(bool(need[j]) for need in needs) for j in ins] for ins in slots]
    return NodeKernel(op, nodes, space, list(range(first, first + len(members))), wants)
