"""The display graph shared by every picture (DOT text, the built-in SVG, the explorer page): `Picture`.

**Collapsing** (``collapse=``, ``by=``) draws a network's ops as fewer, bigger nodes, found by
the names its layers gave them (`microgradx.draw.scopes`). ``collapse=`` is a model whose
layers name what they build (the bundled ``MLP``: neuron ``L0.n1`` labels its output ``L0.n1``
and its parameters ``L0.n1.w0`` ...), or a list of scope names (``["L0.n0", "L0.n1"]``):

* ``by="neuron"`` (the default): each neuron (its weighted sum and its activation) is one
  node named by its scope, ``L0.n1``, showing its output's data and grad and how many ops and
  parameters it stands for;
* ``by="layer"``: each layer (``L0``: the neurons ``L0.n0``, ``L0.n1`` ... reading the same
  inputs) is one node with a row per output (``L0.n1 | data | grad``), so an MLP is drawn
  ``inputs -> L0 -> L1 -> ... -> the loss``; each edge leaving it starts at its row.

A scope's parameters are drawn inside its node when nothing else uses them. A scope used
more than once (the model applied to a second example) is a node per use, ``L0.n1 (use 2)``;
an op inside used outside too (a pre-activation in a penalty) is a row of its own (``L0.n1.add``).

**Capping** (``max_nodes=``): at most that many Value (or collapsed) nodes are drawn, the
ones nearest the root (breadth-first from it); a note says how many were left out, with
dashed edges to the ops whose inputs were cut.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Sequence
from typing import Any, Optional, Union

from microgradx import Value, topological_order
from microgradx.draw.scopes import COLLAPSE_BY, find, is_parameter, reading_order, scope_names
from microgradx.draw.steps import roots_of

__all__ = ["COLLAPSE_BY", "DEFAULT_MAX_NODES", "RANKDIRS", "Node", "Picture", "formulas", "interchangeable",
           "prepare"]

#: Default cap on the Value nodes drawn (pictures get slow to lay out and unreadable beyond it).
DEFAULT_MAX_NODES = 250
#: Layout directions: inputs on the left (LR), right (RL), top (TB) or bottom (BT).
RANKDIRS = ("LR", "RL", "TB", "BT")


def wrap(name: str) -> str:
    """``name`` in parentheses when it is more than one word (for d(a * b)/da, and inside a formula)."""
    return f"({name})" if " " in name or "(" in name else name


def formulas(op: Any, names: Sequence[str], out: str) -> list[Optional[str]]:
    """The text of each local derivative d out / d input (`Op.formula`, None without one), with the node's
    names in place of the names of ``op.backward``'s parameters (its inputs' and ``out``)."""
    texts = [op.formula] * len(names) if isinstance(op.formula, str) else list(op.formula or [None] * len(names))
    try:
        params = [p.name for p in inspect.signature(op.backward).parameters.values() if p.kind <= 1]  # positional
    except (TypeError, ValueError):  # no signature to read: the texts as written
        params = []
    given = {**dict(zip(params[2:], map(wrap, names))), **({params[1]: wrap(out)} if len(params) > 1 else {})}
    return [t and re.sub(r"[A-Za-z_]\w*", lambda m: given.get(m.group(), m.group()), t) for t in texts]


def interchangeable(op: Any) -> bool:
    """Whether the two inputs of ``op`` can swap places (``a + b``, ``a * b``: no numbers on their edges), as its
    formula says: with the inputs' names swapped, each one's local derivative is the other's."""
    names = ["\0x", "\0y"]  # (names no formula holds)
    return op.formula is not None and formulas(op, names, "out") == formulas(op, names[::-1], "out")[::-1]


def check_options(max_nodes: Optional[int], rankdir: str, precision: int) -> None:
    """Raise ``ValueError`` naming a bad ``max_nodes``, ``rankdir`` or ``precision`` of a picture."""
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 17:
        raise ValueError(f"precision must be an int from 1 to 17, got {precision!r}")


class Node:
    """One node of the picture: a Value, or a collapsed scope (``group``: its name; ``value``: its last member).

    ``outputs`` is None for a node with one output, and for a layer (or a neuron with an op used
    outside) its ``(name, Value)`` rows; `slot` and `port` address them. ``n_ops``, ``n_params``
    and ``units`` count a group's ops, the parameters drawn inside it and its neurons.
    """

    __slots__ = ("ident", "value", "group", "n_ops", "n_params", "units", "outputs", "inputs", "links", "_ports")

    def __init__(self, ident: str, value: Value, group: Optional[str] = None, n_ops: int = 0, n_params: int = 0,
                 units: int = 1, outputs: Optional[list[tuple[str, Value]]] = None):
        self.ident, self.value, self.group, self.n_ops, self.n_params = ident, value, group, n_ops, n_params
        self.units, self.outputs = units, outputs
        self._ports = None if outputs is None else {id(v): k for k, (_, v) in enumerate(outputs)}
        self.inputs: Optional[list[Node]] = None  # filled by Picture.inputs
        self.links: Optional[list[tuple[Node, Optional[int]]]] = None  # filled by Picture.links

    def port(self, v: Value) -> Optional[int]:
        """The row of output ``v`` in a node with rows (None for a one-output node or a non-output)."""
        return None if self._ports is None else self._ports.get(id(v))

    def slot(self, v: Value) -> Optional[str]:
        """The key of the texts showing ``v``'s data and grad: ``n7`` (the node's Value), ``n7:2`` (row 2), or None."""
        if self._ports is None:
            return self.ident if v is self.value else None
        k = self._ports.get(id(v))
        return None if k is None else f"{self.ident}:{k}"

    def slots(self) -> list[tuple[str, Value]]:
        """``(key, Value)`` of each data/grad pair the node shows (one, or one per row)."""
        if self.outputs is None:
            return [(self.ident, self.value)]
        return [(f"{self.ident}:{k}", v) for k, (_, v) in enumerate(self.outputs)]


def prepare(value: Union[Value, Sequence[Value]], caller: str, *, max_nodes: Optional[int], collapse: Any, by: str,
            rankdir: str, precision: int) -> tuple[Picture, list[Node]]:
    """The `Picture` of ``value`` and the nodes to draw, after checking every option (errors name ``caller``)."""
    roots = roots_of(value, caller)
    check_options(max_nodes, rankdir, precision)
    picture = Picture(roots, collapse, by)
    return picture, picture.shown(max_nodes)


class Picture:
    """The picture's nodes, made on demand: drawing 200 nodes of a million-node graph costs one
    topological sort, not a million node objects. ``collapse`` and ``by``: see the module docstring."""

    def __init__(self, roots: list[Value], collapse: Any, by: str = "neuron"):
        if not isinstance(by, str) or by not in COLLAPSE_BY:
            raise ValueError(f"by must be one of {', '.join(map(repr, COLLAPSE_BY))}, got {by!r}")
        if collapse is None and by == "layer":
            raise ValueError("by='layer' says how to collapse: pass the model too, collapse=model")
        names = None if collapse is None else scope_names(collapse, by)
        self.order = order = topological_order(roots[0]) if len(roots) == 1 else list(
            {id(v): v for r in roots for v in topological_order(r)}.values())
        self.index = {id(v): i for i, v in enumerate(order)}
        self.owner: dict[int, Any] = {}  # id(member) -> its collapsed instance
        self.nodes: dict[int, Node] = {}  # id(Value) -> its node (a member: its group's)
        self.hidden: set[int] = set()  # ids of the parameters drawn inside their scope's node
        instances = []
        if names is not None:
            users: dict[int, list[Value]] = {}  # id(value) -> the Values that use it
            for v in order:
                for p in v._parents:
                    users.setdefault(id(p), []).append(v)
            instances = find(order, names, by, users)
            scope = {id(m): inst.scope for inst in instances for m in inst.members}
            for v in order:
                inside = scope.get(id(users[id(v)][0])) if v.op is None and id(v) in users else None
                if inside and all(scope.get(id(u)) == inside for u in users[id(v)]) and is_parameter(v, inside):
                    self.hidden.add(id(v))
        for inst in instances:
            last = inst.members[-1]  # (the scope's named Value for a neuron)
            rows = None if by == "neuron" and len(inst.outputs) == 1 else inst.outputs
            n_params = len({id(p) for m in inst.members for p in m._parents if id(p) in self.hidden})
            node = Node(f"n{self.index[id(last)]}", last, inst.name, len(inst.members), n_params, inst.units, rows)
            for m in inst.members:
                self.owner[id(m)], self.nodes[id(m)] = inst, node
        self.total = len(order) - len(self.hidden) - sum(len(inst.members) - 1 for inst in instances)
        self.values, self.roots = roots, [self.node(r) for r in roots]  # the root Values, their nodes

    def node(self, v: Value) -> Node:
        """The node that draws ``v`` (its collapsed group's node for a member)."""
        node = self.nodes.get(id(v))
        if node is None:
            node = self.nodes[id(v)] = Node(f"n{self.index[id(v)]}", v)
        return node

    def links(self, node: Node) -> list[tuple[Node, Optional[int]]]:
        """The edges into ``node``: ``(source node, its output row)``, an op's in argument order (``x * x``
        twice), a group's once each in the order its formula reads them (`scopes.reading_order`)."""
        if node.links is None:
            if node.group is None:
                node.links = [self._link(p) for p in node.value._parents]
            else:
                inst = self.owner[id(node.value)]
                inside = {id(m) for m in inst.members}
                pos = reading_order(inside, [v for _, v in inst.outputs])
                read = {}
                for p in sorted((p for m in inst.members for p in m._parents if id(p) not in inside
                                 and id(p) not in self.hidden), key=lambda p: pos.get(id(p), len(pos))):
                    link = self._link(p)
                    read.setdefault((id(link[0]), link[1]), link)
                node.links = list(read.values())
        return node.links

    def _link(self, v: Value) -> tuple[Node, Optional[int]]:
        source = self.node(v)
        return source, source.port(v)

    def inputs(self, node: Node) -> list[Node]:
        """The nodes drawn as ``node``'s inputs (the sources of its `links`), in order, each once for a group."""
        if node.inputs is None:
            sources = [source for source, _ in self.links(node)]
            node.inputs = sources if node.group is None else list({id(s): s for s in sources}.values())
        return node.inputs

    def shown(self, max_nodes: Optional[int]) -> list[Node]:
        """The nodes to draw, in topological order: all, or the ``max_nodes`` nearest the roots."""
        if max_nodes is None or self.total <= max_nodes:
            return [n for v in self.order if id(v) not in self.hidden and (n := self.node(v)).value is v]
        kept: dict[int, Node] = {}
        for r in self.roots:
            if len(kept) < max_nodes:
                kept.setdefault(id(r), r)
        queue, i = list(kept.values()), 0
        while i < len(queue) and len(kept) < max_nodes:
            for p in self.inputs(queue[i]):
                if id(p) not in kept and len(kept) < max_nodes:
                    kept[id(p)] = p
                    queue.append(p)
            i += 1
        return sorted(kept.values(), key=lambda n: self.index[id(n.value)])

