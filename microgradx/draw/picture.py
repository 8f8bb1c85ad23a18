"""The display graph shared by every picture (DOT text, the built-in SVG, the explorer page).

**Collapsing** (``collapse=``, ``by=``) draws a network's ops as fewer, bigger nodes; the
ops are found by `microgradx.draw.groups`:

* ``by="neuron"`` (the default): each neuron's pre-activation subgraph (``b + w1*x1 + ... +
  wn*xn``, whether built of single ``mul``/``add`` ops or one fused ``dot``) is one node named
  ``neuron L.i``. Pass the model (an object with ``.layers``, each with ``.neurons``, each with
  ``parameters()``; or a layer with ``.neurons``; or a single neuron with ``parameters()``), or
  a dict ``{name: parameters}`` for any grouping of your own. A group's node stands for the
  ops computed from its parameters, starting at the ops that use a parameter directly and
  ending at the first op whose result depends on all of the group's parameters (the
  pre-activation): the activation that follows stays a node of its own. The node shows the
  pre-activation's data and grad and how many ops and parameters it stands for.
* ``by="layer"``: each layer of the model (a model with ``.layers``, or one layer) is one
  node named ``layer L``: its neurons' weighted sums *and* their activations, so an MLP is
  drawn ``inputs -> layer 0 -> layer 1 -> ... -> the loss``. Such a node has several
  outputs, one row each (``neuron L.i | data | grad``, the neuron's output after its
  activation), and each edge leaving it starts at the row of the output it carries.

A group's parameters are hidden when nothing outside the group uses them. When they are
used again elsewhere in the graph (the model applied to a second example, an L2 penalty
summing ``p*p``), each further use is its own node, ``neuron L.i (use 2)`` or ``layer L
(use 2)``, ... (uses are numbered from the one nearest the root, ties in argument order).

**Capping** (``max_nodes=``): at most that many Value (or collapsed) nodes are drawn, the
ones nearest the root (breadth-first from it); a note says how many were left out, with
dashed edges to the ops whose inputs were cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from microgradx import Value, topological_order
from microgradx.draw.groups import (
    COLLAPSE_BY,
    Instance,
    check_by,
    find_instances,
    groups_from,
    layer_instances,
    named_neurons,
    reading_order,
)

__all__ = ["COLLAPSE_BY", "COMMUTATIVE", "DEFAULT_MAX_NODES", "RANKDIRS", "Node", "Picture", "check_options",
           "groups_from", "named_neurons", "order_of", "prepare", "roots_of"]

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
    """One node of the picture: a Value, or a collapsed group of ops (a neuron's or a layer's).

    ``value`` is the Value it draws (for a group, its last member in topological order: a
    neuron's pre-activation). ``outputs`` is None for a node with one output, and for a
    layer its ``(name, Value)`` outputs, drawn one row each; ``slot``/``port`` address them.
    """

    __slots__ = ("ident", "value", "group", "n_ops", "n_params", "units", "outputs", "inputs", "links", "_ports")

    def __init__(self, ident: str, value: Value, group: Optional[str] = None, n_ops: int = 0, n_params: int = 0,
                 units: int = 1, outputs: Optional[list[tuple[str, Value]]] = None):
        self.ident = ident
        self.value = value
        self.group = group
        self.n_ops = n_ops
        self.n_params = n_params
        self.units = units  # neurons in a layer's node
        self.outputs = outputs
        self._ports = None if outputs is None else {id(v): k for k, (_, v) in enumerate(outputs)}
        self.inputs: Optional[list[Node]] = None  # filled by Picture.inputs
        self.links: Optional[list[tuple[Node, Optional[int]]]] = None  # filled by Picture.links

    def port(self, v: Value) -> Optional[int]:
        """The row of output ``v`` in a several-output node (None for a one-output node or a non-output)."""
        return None if self._ports is None else self._ports.get(id(v))

    def slot(self, v: Value) -> Optional[str]:
        """The key of the texts that show ``v``'s data and grad: ``n7`` for the Value a node draws,
        ``n7:2`` for a layer's output row 2; None when this node does not show ``v``."""
        if self._ports is None:
            return self.ident if v is self.value else None
        k = self._ports.get(id(v))
        return None if k is None else f"{self.ident}:{k}"

    def slots(self) -> list[tuple[str, Value]]:
        """``(key, Value)`` of each data/grad pair the node shows (one, or one per output row)."""
        if self.outputs is None:
            return [(self.ident, self.value)]
        return [(f"{self.ident}:{k}", v) for k, (_, v) in enumerate(self.outputs)]


def prepare(value: Union[Value, Sequence[Value]], caller: str, *, max_nodes: Optional[int], collapse: Any, by: str,
            rankdir: str, precision: int) -> tuple[Picture, list[Node]]:
    """The `Picture` of ``value`` and the nodes to draw, after checking every option of a picture.

    What `to_dot`, `to_svg` and `explorer_html` (named in errors as ``caller``) start with.
    """
    roots = roots_of(value, caller)
    check_options(max_nodes, rankdir, precision)
    picture = Picture(roots, collapse, by)
    return picture, picture.shown(max_nodes)


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


class Picture:
    """The picture's nodes, made on demand: drawing 200 nodes of a million-node graph
    costs one topological sort, not a million node objects.

    ``collapse`` and ``by`` are described in the module docstring.
    """

    def __init__(self, roots: list[Value], collapse: Any, by: str = "neuron"):
        check_by(collapse, by)
        self.order = order = order_of(roots)
        self.index = {id(v): i for i, v in enumerate(order)}
        self.owner: dict[int, Instance] = {}  # id(member Value) -> its collapsed instance
        self.hidden: set[int] = set()  # ids of parameters drawn inside their group's node
        self.nodes: dict[int, Node] = {}  # id(Value) -> its node (members map to their group's node)
        instances: list[Instance] = []
        if collapse is not None:
            if by == "layer":
                groups, instances = layer_instances(order, collapse, roots)
            else:
                groups = groups_from(collapse)
                instances = find_instances(order, groups)
            self._hide_parameters(groups, instances)
        for inst in instances:
            n_params = len({id(p) for m in inst.members for p in m.parents if id(p) in self.hidden})
            node = Node(f"n{self.index[id(inst.end)]}", inst.end, inst.name, len(inst.members), n_params,
                        inst.units, inst.outputs)
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
        """The node that draws ``v`` (its collapsed group's node for a member)."""
        node = self.nodes.get(id(v))
        if node is None:
            node = self.nodes[id(v)] = Node(f"n{self.index[id(v)]}", v)
        return node

    def links(self, node: Node) -> list[tuple[Node, Optional[int]]]:
        """The edges into ``node``: ``(source node, output row)`` in argument order, computed once.

        The row is the source's `Node.port` of the Value it passes (None for a one-output
        source). An op's inputs are listed as its arguments (``x * x`` twice); a group's once each, in
        the order its formula reads them (`microgradx.draw.groups.reading_order`).
        """
        if node.links is None:
            if node.group is None:
                node.links = [self._link(p) for p in node.value.parents]
            else:
                inst = self.owner[id(node.value)]
                member_ids = {id(m) for m in inst.members}
                pos = reading_order(member_ids, [v for _, v in inst.outputs or [(None, inst.end)]])
                seen: set[tuple[int, Optional[int]]] = set()
                read: list[tuple[int, tuple[Node, Optional[int]]]] = []
                for m in inst.members:
                    for p in m.parents:
                        if id(p) in member_ids or id(p) in self.hidden:
                            continue
                        link = self._link(p)
                        if (id(link[0]), link[1]) not in seen and link[0] is not node:
                            seen.add((id(link[0]), link[1]))
                            read.append((pos.get(id(p), len(pos)), link))
                node.links = [link for _, link in sorted(read, key=lambda r: r[0])]
        return node.links

    def _link(self, v: Value) -> tuple[Node, Optional[int]]:
        source = self.node(v)
        return source, source.port(v)

    def inputs(self, node: Node) -> list[Node]:
        """The nodes drawn as ``node``'s inputs (the sources of its `links`), in argument order, computed once."""
        if node.inputs is None:
            if node.group is None:
                node.inputs = [source for source, _ in self.links(node)]
            else:
                seen: set[int] = set()
                node.inputs = [source for source, _ in self.links(node)
                               if id(source) not in seen and not seen.add(id(source))]
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
