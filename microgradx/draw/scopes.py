"""Collapsing by name: the ops a layer built, found from the names it gave them (`microgradx.draw.picture`).

A layer names what it builds (a *scope*): the bundled MLP's neuron ``L0.n1`` labels the Value
it returns ``L0.n1`` and its parameters ``L0.n1.w0`` ... ``L0.n1.b``. A scope's ops are the
unlabelled op outputs below a Value labelled with its name, down to labelled Values and leaves,
that are computed from its parameters (the leaves labelled inside it, ``L0.n1.*``, or that are
`microgradx.Parameter` s): so its inputs, even unlabelled ones, stay outside. Nothing here
looks at parameter sets or bit masks: a picture of any code that names its Values the same way
(``out.label = "block"``, ``w.label = "block.w"``) collapses the same way.

**By neuron** (``by="neuron"``): each scope named is one `Instance`: its ops and its output.
**By layer** (``by="layer"``): the neurons of one layer (``L0.n0``, ``L0.n1`` ... : the scopes
inside ``L0``) that read the same inputs are one instance ``L0``, a row per neuron's output.
A scope whose named Value appears more than once (a model applied twice) has one instance
per use: ``L0.n1``, ``L0.n1 (use 2)`` ..., numbered from the one nearest the root.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from microgradx import Parameter, Value

#: What ``by=`` accepts: collapse each neuron, or each layer, into one node.
COLLAPSE_BY = ("neuron", "layer")


class Instance:
    """One use of a collapsed scope: ``name`` (``L0.n1``, ``L0 (use 2)``), ``scope``, its ``members`` (its op
    outputs, in topological order), its ``outputs`` (``(row name, Value)``: the named Values, and any member
    used outside), ``part`` (member id -> the output row whose neuron computes it) and ``units`` (neurons)."""

    __slots__ = ("name", "scope", "members", "outputs", "part", "units")

    def __init__(self, name: str, scope: str, members: list[Value], outputs: list, part: dict, units: int = 1):
        self.name, self.scope, self.members, self.outputs, self.part, self.units = (
            name, scope, members, outputs, part, units)


def scope_names(collapse: Any, by: str) -> set[str]:
    """The scope names ``collapse=`` stands for: a model's (the scopes its parameters are labelled in,
    ``L0.n1`` for ``L0.n1.w0``), or the names given (a list, tuple or set of str)."""
    if callable(getattr(collapse, "parameters", None)):
        names = {str(p.label).rpartition(".")[0] for p in collapse.parameters()} - {""}
        if not names:
            raise ValueError(f"collapse=: the parameters of {type(collapse).__name__} carry no scope names (labels "
                             f"such as 'L0.n1.w0'); give its layers a scope, or pass the names: collapse=['L0.n1']")
    elif isinstance(collapse, (list, tuple, set, frozenset)) and collapse and all(isinstance(n, str) for n in collapse):
        names = set(collapse)
    else:
        raise TypeError("collapse= takes a model whose layers name what they build (the bundled MLP, Layer) or "
                        f"scope names such as ['L0.n0', 'L0.n1'], not {type(collapse).__name__}")
    if by == "layer" and not all("." in n for n in names):
        raise ValueError(f"by='layer' collapses the layers named in the scopes ('L0' in 'L0.n1'); "
                         f"{sorted(n for n in names if '.' not in n)[0]!r} names no layer")
    return names


def is_parameter(v: Value, scope: str) -> bool:
    """Whether the leaf ``v`` is a parameter of ``scope``: labelled inside it, or a `Parameter`."""
    return v.op is None and (isinstance(v, Parameter) or str(v.label).startswith(scope + "."))


def find(order: list[Value], names: set[str], by: str, users: dict[int, list]) -> list[Instance]:
    """The instances of the scopes ``names`` among ``order`` (topological), by neuron or by layer;
    ``users`` maps ``id(value)`` to the Values that use it."""
    index = {id(v): i for i, v in enumerate(order)}
    taken: set[int] = set()
    neurons, uses = [], {}
    for out in reversed(order):  # the nearest the root first: its use is the first
        if out.op is None or out.label not in names or id(out) in taken:
            continue
        members = _members(out, out.label, index, taken)
        uses[out.label] = uses.get(out.label, 0) + 1
        name = out.label + ("" if uses[out.label] == 1 or by == "layer" else f" (use {uses[out.label]})")
        inside = {id(m) for m in members}
        rows = [(name, out)] + [(f"{name}.{m.op.name}", m) for m in members if m is not out and any(
            id(u) not in inside for u in users.get(id(m), ()))]  # a member used outside is a row too
        neurons.append(Instance(name, out.label, members, rows, dict.fromkeys(inside, 0)))
    if by == "neuron":
        return neurons
    buckets: dict[tuple, list[Instance]] = {}  # (layer, the Values its neurons read) -> its uses reading them
    layers: list[Instance] = []
    for n in neurons:
        layer = n.scope.rpartition(".")[0]
        reads = frozenset(id(p) for m in n.members for p in m._parents
                          if id(p) not in n.part and not is_parameter(p, n.scope))
        same = buckets.setdefault((layer, reads), [])
        use = next((u for u in same if all(o.label != n.scope for _, o in u.outputs)), None)
        if use is None:
            count = 1 + sum(u.scope == layer for u in layers)
            use = Instance(layer + ("" if count == 1 else f" (use {count})"), layer, [], [], {}, 0)
            same.append(use)
            layers.append(use)
        use.members += n.members
        use.outputs += n.outputs
        use.part.update(dict.fromkeys(n.part, n.scope))
        use.units += 1
    for use in layers:  # rows neuron by neuron (L0.n2 before L0.n10); members in topological order
        use.outputs.sort(key=lambda row: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", row[0])])
        row = {name: k for k, (name, _) in enumerate(use.outputs)}
        use.part = {m: row[scope] for m, scope in use.part.items()}
        use.members.sort(key=lambda m: index[id(m)])
    return layers


def _members(out: Value, scope: str, index: dict[int, int], taken: set[int]) -> list[Value]:
    """The op outputs of ``scope`` below ``out`` (see the module docstring), in topological order."""
    region, stack = {id(out): out}, [out]
    while stack:  # the unlabelled op outputs below out, down to labelled Values and leaves
        for p in stack.pop()._parents:
            if p.op is not None and not p.label and id(p) not in region and id(p) not in taken:
                region[id(p)] = p
                stack.append(p)
    inside: set[int] = set()
    for v in sorted(region.values(), key=lambda v: index[id(v)]):  # computed from the scope's parameters
        if v is out or any(id(p) in inside or is_parameter(p, scope) for p in v._parents):
            inside.add(id(v))
    taken |= inside
    return [v for v in sorted(region.values(), key=lambda v: index[id(v)]) if id(v) in inside]


def reading_order(members: set[int], outputs: Iterable[Value]) -> dict[int, int]:
    """``id(value) -> position`` of the values a group's ops read, as its formula reads: from each output in
    turn, depth first, arguments left to right (``b + w0*x0 + w1*x1``: b, w0, x0, w1, x1)."""
    pos: dict[int, int] = {}
    for o in outputs:
        stack = [o]
        while stack:
            v = stack.pop()
            if id(v) not in pos:
                pos[id(v)] = len(pos)
                if id(v) in members:
                    stack.extend(reversed(v._parents))
    return pos
