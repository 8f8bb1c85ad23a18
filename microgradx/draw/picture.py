"""The display graph shared by every picture (DOT text, the built-in SVG, the explorer page).

**Collapsing neurons** (``collapse=``): draw each neuron's pre-activation subgraph
(``b + w1*x1 + ... + wn*xn``, whether built of single ``mul``/``add`` ops or one fused
``dot``) as one node named ``neuron L.i``. Pass the model (an object with ``.layers``,
each with ``.neurons``, each with ``parameters()``; or a layer with ``.neurons``; or a
single neuron with ``parameters()``), or a dict ``{name: parameters}`` for any grouping
of your own. A group's node stands for the ops computed from its parameters, starting
at the ops that use a parameter directly and ending at the first op whose result
depends on all of the group's parameters (the pre-activation): the activation that
follows stays a node of its own. The group's parameters are hidden when nothing outside
the group uses them; the node shows the pre-activation's data and grad and how many ops
and parameters it stands for. When a group's parameters are used again elsewhere in the
graph (the model applied to a second example, an L2 penalty summing ``p*p``), each further
use that depends on all of them is its own node, ``neuron L.i (use 2)``, ... (uses are
numbered from the one nearest the root, ties in argument order).

**Capping** (``max_nodes=``): at most that many Value (or collapsed-neuron) nodes are
drawn, the ones nearest the root (breadth-first from it); a note says how many were
left out, with dashed edges to the ops whose inputs were cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from microgradx import Value, topological_order

#: Default cap on the Value nodes drawn (pictures get slow to lay out and unreadable beyond it).
DEFAULT_MAX_NODES = 250
#: Layout directions: inputs on the left (LR), right (RL), top (TB) or bottom (BT).
RANKDIRS = ("LR", "RL", "TB", "BT")
#: Two-input ops whose inputs are not numbered on their edges (their order does not matter).
COMMUTATIVE = frozenset({"add", "mul"})


def check_options(max_nodes: Optional[int], rankdir: str, precision: int) -> None:
    """Raise ``ValueError`` naming a bad ``max_nodes``, ``rankdir`` or ``precision`` of a picture."""
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 17:
        raise ValueError(f"precision must be an int from 1 to 17, got {precision!r}")


class Node:
    """One node of the picture: a Value, or a collapsed group of ops."""

    __slots__ = ("ident", "value", "group", "n_ops", "n_params", "inputs")

    def __init__(self, ident: str, value: Value, group: Optional[str] = None, n_ops: int = 0, n_params: int = 0):
        self.ident = ident
        self.value = value
        self.group = group
        self.n_ops = n_ops
        self.n_params = n_params
        self.inputs: Optional[list[Node]] = None  # filled by Picture.inputs


class Instance:
    """One occurrence of a collapsed group: its end (pre-activation) and member Values."""

    __slots__ = ("group", "name", "end", "members")

    def __init__(self, group: str, name: str, end: Value):
        self.group = group
        self.name = name
        self.end = end
        self.members: list[Value] = []


def roots_of(value: Union[Value, Sequence[Value]], caller: str = "to_dot") -> list[Value]:
    """The root Values of a picture: ``value`` itself or the Values of a non-empty list (a ``TypeError`` else)."""
    roots = [value] if isinstance(value, Value) else list(value) if isinstance(value, (list, tuple)) else None
    if not roots or not all(isinstance(v, Value) for v in roots):
        raise TypeError(
            f"{caller}() draws a Value or a non-empty list of Values, not {type(value).__name__}"
            + (f" containing {type(next(v for v in roots if not isinstance(v, Value))).__name__}" if roots else "")
        )
    return roots


def order_of(roots: list[Value]) -> list[Value]:
    """Topological order of everything the roots depend on (each root's order, merged)."""
    if len(roots) == 1:
        return topological_order(roots[0])
    seen: set[int] = set()
    order = []
    for root in roots:
        for v in topological_order(root):
            if id(v) not in seen:
                seen.add(id(v))
                order.append(v)
    return order


def groups_from(collapse: Any) -> list[tuple[str, list[Value]]]:
    """The ``(name, parameters)`` groups that ``collapse=`` describes (see the module docstring).

    A dict maps names to iterables of parameter Values. A model with ``.layers`` gives
    ``neuron L.i`` for neuron ``i`` of layer ``L`` (both from 0); a layer with ``.neurons``
    gives ``neuron i``; a single neuron (``parameters()``) gives ``neuron``.
    """
    if isinstance(collapse, Mapping):
        groups = []
        for name, params in collapse.items():
            if not isinstance(name, str):
                raise TypeError(f"collapse= dict keys are group names (str), not {type(name).__name__}: {name!r}")
            params = list(params) if not isinstance(params, Value) else [params]
            bad = next((p for p in params if not isinstance(p, Value)), None)
            if bad is not None or not params:
                what = type(bad).__name__ if params else "nothing"
                raise TypeError(f"collapse= group {name!r} must list parameter Values, got {what}")
            groups.append((name, params))
        return groups
    if (getattr(collapse, "layers", None) is not None or getattr(collapse, "neurons", None) is not None
            or callable(getattr(collapse, "parameters", None))):
        return [(name, _params(neuron)) for name, neuron in named_neurons(collapse)]
    raise TypeError(
        "collapse= takes a model (with .layers of .neurons), a layer (with .neurons), a neuron "
        f"(with parameters()), or a dict {{name: parameters}}, not {type(collapse).__name__}"
    )


def named_neurons(model: Any) -> list[tuple[str, Any]]:
    """``[(name, neuron)]``: ``neuron L.i`` for a model with ``.layers``, ``neuron i`` for a
    layer with ``.neurons``, ``neuron`` for a single neuron."""
    layers = getattr(model, "layers", None)
    if layers is not None:
        return [
            (f"neuron {li}.{ni}", neuron)
            for li, layer in enumerate(layers)
            for ni, neuron in enumerate(_neurons(layer, f"layer {li}"))
        ]
    if getattr(model, "neurons", None) is not None:
        return [(f"neuron {ni}", neuron) for ni, neuron in enumerate(_neurons(model, "the layer"))]
    return [("neuron", model)]


def _neurons(layer: Any, where: str) -> list:
    neurons = getattr(layer, "neurons", None)
    if neurons is None:
        raise TypeError(f"collapse=: {where} ({type(layer).__name__}) has no .neurons to collapse")
    return list(neurons)


def _params(neuron: Any) -> list[Value]:
    params = list(neuron.parameters())
    if not all(isinstance(p, Value) for p in params):
        raise TypeError(f"collapse=: {type(neuron).__name__}.parameters() must return Values")
    return params


def _find_instances(order: list[Value], groups: list[tuple[str, list[Value]]]) -> list[Instance]:
    """Find each group's collapsed subgraphs in ``order`` (see the module docstring).

    Walking in topological order, an op joins group g when its inputs include a parameter
    of g or an unfinished member of g, and nothing of another group; it carries the set
    of g's parameters it depends on (a bitmask). A member depending on all of them is
    finished: an *end*, and its consumers do not join through it.
    """
    bits: dict[int, tuple[int, int]] = {}  # id(param) -> (group index, its bit)
    full = []  # group index -> the mask of all its parameters
    for gi, (name, params) in enumerate(groups):
        mask = 0
        for p in params:
            owner = bits.get(id(p))
            if owner is not None:
                if owner[0] != gi:
                    raise ValueError(
                        f"collapse=: a parameter ({p!r}) is in two groups, {groups[owner[0]][0]!r} and {name!r}"
                    )
                continue  # listed twice in one group
            bits[id(p)] = (gi, mask + 1)  # bits are given out in order: mask is always 2**k - 1
            mask = 2 * mask + 1
        full.append(mask)
    state: dict[int, tuple[int, int]] = {}  # id(member) -> (group index, mask)
    ends: list[tuple[int, Value]] = []
    for v in order:
        if v.op is None:
            continue
        group, mask = -1, 0
        for p in v.parents:
            hit = bits.get(id(p))
            if hit is None:
                hit = state.get(id(p))
                if hit is None or hit[1] == full[hit[0]]:
                    continue
            if group == -1:
                group = hit[0]
            elif group != hit[0]:
                group = -2  # touches two groups: belongs to neither
                break
            mask |= hit[1]
        if group >= 0:
            state[id(v)] = (group, mask)
            if mask == full[group]:
                ends.append((group, v))
    if len({gi for gi, _ in ends}) < len(ends):  # a group used more than once: number its uses
        rank = _distance_rank(order)
        ends.sort(key=lambda e: rank[id(e[1])])
    instances = []
    assigned: set[int] = set()
    counts: dict[int, int] = {}
    for gi, end in ends:
        counts[gi] = counts.get(gi, 0) + 1
        group = groups[gi][0]
        inst = Instance(group, group if counts[gi] == 1 else f"{group} (use {counts[gi]})", end)
        stack = [end]
        assigned.add(id(end))
        while stack:
            m = stack.pop()
            inst.members.append(m)
            for p in m.parents:
                st = state.get(id(p))
                if st is not None and st[0] == gi and st[1] != full[gi] and id(p) not in assigned:
                    assigned.add(id(p))
                    stack.append(p)
        instances.append(inst)
    return instances


def _distance_rank(order: list[Value]) -> dict[int, int]:
    """id(Value) -> its rank breadth-first from the root(s) (the last Values of ``order``),
    parents in argument order: "nearest the root, then first in reading order"."""
    children = {id(p) for v in order for p in v.parents}
    queue = [v for v in order if id(v) not in children]
    rank = {id(v): i for i, v in enumerate(queue)}
    i = 0
    while i < len(queue):
        for p in queue[i].parents:
            if id(p) not in rank:
                rank[id(p)] = len(queue)
                queue.append(p)
        i += 1
    return rank


class Picture:
    """The picture's nodes, made on demand: drawing 200 nodes of a million-node graph
    costs one topological sort, not a million node objects."""

    def __init__(self, roots: list[Value], collapse: Any):
        self.order = order = order_of(roots)
        self.index = {id(v): i for i, v in enumerate(order)}
        self.owner: dict[int, Instance] = {}  # id(member Value) -> its collapsed instance
        self.hidden: set[int] = set()  # ids of parameters drawn inside their neuron's node
        self.nodes: dict[int, Node] = {}  # id(Value) -> its node (members map to their group's node)
        instances: list[Instance] = []
        if collapse is not None:
            groups = groups_from(collapse)
            instances = _find_instances(order, groups)
            self._hide_parameters(groups, instances)
        for inst in instances:
            n_params = len({id(p) for m in inst.members for p in m.parents if id(p) in self.hidden})
            node = Node(f"n{self.index[id(inst.end)]}", inst.end, inst.name, len(inst.members), n_params)
            for m in inst.members:
                self.owner[id(m)] = inst
                self.nodes[id(m)] = node
        self.total = len(order) - len(self.hidden) - sum(len(inst.members) - 1 for inst in instances)
        self.roots = [self.node(r) for r in roots]

    def _hide_parameters(self, groups: list[tuple[str, list[Value]]], instances: list[Instance]) -> None:
        member_group: dict[int, str] = {}
        for inst in instances:
            for m in inst.members:
                member_group[id(m)] = inst.group
        consumers: dict[int, list[Value]] = {}
        for v in self.order:
            for p in v.parents:
                consumers.setdefault(id(p), []).append(v)
        for name, params in groups:
            for p in params:
                used_by = consumers.get(id(p))
                if used_by and all(member_group.get(id(c)) == name for c in used_by):
                    self.hidden.add(id(p))

    def node(self, v: Value) -> Node:
        """The node that draws ``v`` (its collapsed neuron's node for a member)."""
        node = self.nodes.get(id(v))
        if node is None:
            node = self.nodes[id(v)] = Node(f"n{self.index[id(v)]}", v)
        return node

    def inputs(self, node: Node) -> list[Node]:
        """The nodes drawn as ``node``'s inputs, in argument order, computed once."""
        if node.inputs is None:
            if node.group is None:
                node.inputs = [self.node(p) for p in node.value.parents]
            else:
                inst = self.owner[id(node.value)]
                member_ids = {id(m) for m in inst.members}
                seen: set[int] = set()
                node.inputs = []
                for m in reversed(inst.members):
                    for p in m.parents:
                        if id(p) in member_ids or id(p) in self.hidden:
                            continue
                        target = self.node(p)
                        if id(target) not in seen and target is not node:
                            seen.add(id(target))
                            node.inputs.append(target)
        return node.inputs

    def shown(self, max_nodes: Optional[int]) -> list[Node]:
        """The nodes to draw, in topological order: all, or the ``max_nodes`` nearest the roots."""
        if max_nodes is None or self.total <= max_nodes:
            out = []
            for v in self.order:
                if id(v) in self.hidden:
                    continue
                node = self.node(v)
                if node.value is v:
                    out.append(node)
            return out
        kept: dict[int, Node] = {}
        queue: list[Node] = []
        for r in self.roots:
            if id(r) not in kept and len(kept) < max_nodes:
                kept[id(r)] = r
                queue.append(r)
        i = 0
        while i < len(queue) and len(kept) < max_nodes:
            for p in self.inputs(queue[i]):
                if id(p) not in kept:
                    kept[id(p)] = p
                    queue.append(p)
                    if len(kept) >= max_nodes:
                        break
            i += 1
        return sorted(kept.values(), key=lambda n: self.index[id(n.value)])
