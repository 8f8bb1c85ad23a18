"""Which ops a collapsed node stands for: a neuron's weighted sum, or a whole layer (`microgradx.draw.picture`).

**By neuron** (``by="neuron"``, the default): each group of parameters (a neuron's, or a
``{name: parameters}`` group of your own) is found as the ops computed from them, starting
at the ops that use a parameter directly and ending at the first op whose result depends on
all of them (the pre-activation). That is one `Instance` per use of the group.

**By layer** (``by="layer"``): the neurons of one layer applied to the same inputs are one
`Instance` named ``layer L``: their weighted sums, and each neuron's activation with them
(the op named by the neuron's ``activation`` attribute applied to its pre-activation; a
neuron with ``activation=None`` has none; a neuron without that attribute, as in
micrograd, takes the one-input op that is its pre-activation's only user). Such an
instance has several *outputs*: every member a node outside it uses (or a root), one per
neuron in a plain MLP, named ``neuron L.i`` after the neuron it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from microgradx import Value

#: What ``by=`` accepts: collapse each neuron's weighted sum, or each layer, into one node.
COLLAPSE_BY = ("neuron", "layer")


class Instance:
    """One occurrence of a collapsed group: its member Values and the member drawn as its node.

    ``end`` is a neuron's pre-activation, or for a layer its last member in topological
    order. ``outputs`` is None for a neuron (the node shows ``end``), and for a layer the
    ``(name, Value)`` pairs its node shows, one row each; ``units`` counts its neurons.
    """

    __slots__ = ("group", "name", "end", "members", "outputs", "units")

    def __init__(self, group: str, name: str, end: Value):
        self.group = group
        self.name = name
        self.end = end
        self.members: list[Value] = []
        self.outputs: Optional[list[tuple[str, Value]]] = None
        self.units = 1


def check_by(collapse: Any, by: Any) -> None:
    """Raise ``ValueError`` / ``TypeError`` for a ``by=`` that is not one of `COLLAPSE_BY` or that
    does not fit ``collapse=`` (``by="layer"`` needs a model with ``.layers`` or a layer)."""
    if not isinstance(by, str) or by not in COLLAPSE_BY:
        raise ValueError(f"by must be one of {', '.join(map(repr, COLLAPSE_BY))}, got {by!r}")
    if by == "layer":
        if collapse is None:
            raise ValueError("by='layer' says how to collapse: pass the model too, collapse=model")
        if isinstance(collapse, Mapping) or (getattr(collapse, "layers", None) is None
                                             and getattr(collapse, "neurons", None) is None):
            raise TypeError("by='layer' collapses the layers of a model (with .layers of .neurons) or one layer "
                            f"(with .neurons), not {type(collapse).__name__}")


def groups_from(collapse: Any) -> list[tuple[str, list[Value]]]:
    """The ``(name, parameters)`` groups that ``collapse=`` describes (see `microgradx.draw.picture`).

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
    return [pair for _, neurons in named_layers(model) for pair in neurons]


def named_layers(model: Any) -> list[tuple[str, list[tuple[str, Any]]]]:
    """``[(layer name, [(neuron name, neuron)])]``: ``layer L`` with ``neuron L.i`` for a model
    with ``.layers``; one ``layer`` with ``neuron i`` for a layer; ``neuron`` alone for a neuron."""
    layers = getattr(model, "layers", None)
    if layers is not None:
        return [(f"layer {li}", [(f"neuron {li}.{ni}", neuron) for ni, neuron in enumerate(_neurons(layer, li))])
                for li, layer in enumerate(layers)]
    if getattr(model, "neurons", None) is not None:
        return [("layer", [(f"neuron {ni}", neuron) for ni, neuron in enumerate(_neurons(model, None))])]
    return [("layer", [("neuron", model)])]


def _neurons(layer: Any, li: Optional[int]) -> list:
    neurons = getattr(layer, "neurons", None)
    if neurons is None:
        where = "the layer" if li is None else f"layer {li}"
        raise TypeError(f"collapse=: {where} ({type(layer).__name__}) has no .neurons to collapse")
    return list(neurons)


def _params(neuron: Any) -> list[Value]:
    params = list(neuron.parameters())
    if not all(isinstance(p, Value) for p in params):
        raise TypeError(f"collapse=: {type(neuron).__name__}.parameters() must return Values")
    return params


def find_instances(order: list[Value], groups: list[tuple[str, list[Value]]]) -> list[Instance]:
    """Find each group's collapsed subgraphs in ``order`` (see the module docstring).

    Walking in topological order, an op joins group g when its inputs include a parameter
    of g or an unfinished member of g, and nothing of another group; it carries the set
    of g's parameters it depends on (a bitmask). A member depending on all of them is
    finished: an *end*, and its consumers do not join through it. A group used more than
    once gets one instance per use, ``NAME (use 2)`` ..., numbered from the one nearest the
    root (ties in argument order).
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


def reading_order(members: set[int], outputs: Sequence[Value]) -> dict[int, int]:
    """``id(value) -> position`` of the values a group's ops read (``members``: their ids), as the
    formula reads: from each output in turn, depth first, arguments left to right
    (``b + w0*x0 + w1*x1``: b, w0, x0, w1, x1)."""
    pos: dict[int, int] = {}
    for o in outputs:
        stack = [o]
        while stack:
            v = stack.pop()
            if id(v) in pos:
                continue
            pos[id(v)] = len(pos)
            if id(v) in members:
                stack.extend(reversed(v.parents))
    return pos


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


_NO_ATTRIBUTE = object()


def layer_instances(
    order: list[Value], model: Any, roots: list[Value]
) -> tuple[list[tuple[str, list[Value]]], list[Instance]]:
    """``(groups, instances)`` collapsing ``model`` by layer (see the module docstring).

    ``groups`` are ``(layer name, its parameters)``; each instance is one use of a layer: the
    instances of its neurons (`find_instances`) that read the same inputs, with their
    activations. Uses are numbered as a neuron's are, ``layer L (use 2)`` ...
    """
    layers = named_layers(model)
    neuron_groups, where = [], {}
    for li, (_, neurons) in enumerate(layers):
        for ni, (name, neuron) in enumerate(neurons):
            where[name] = (li, ni, neuron)
            neuron_groups.append((name, _params(neuron)))
    consumers: dict[int, list[Value]] = {}
    for v in order:
        for p in v.parents:
            consumers.setdefault(id(p), []).append(v)
    params = {id(p) for _, ps in neuron_groups for p in ps}
    buckets: dict[tuple, list[list[Instance]]] = {}  # (layer, its inputs) -> the uses reading them
    uses: list[list[Instance]] = []
    for inst in find_instances(order, neuron_groups):
        li, ni, neuron = where[inst.group]
        ids = {id(m) for m in inst.members}
        inputs = frozenset(id(p) for m in inst.members for p in m.parents if id(p) not in ids and id(p) not in params)
        same = buckets.setdefault((li, inputs), [])
        use = next((u for u in same if all(where[i.group][1] != ni for i in u)), None)
        if use is None:
            use = []
            same.append(use)
            uses.append(use)
        use.append(inst)
        act = _activation(inst.end, neuron, consumers)
        if act is not None:
            inst.members.insert(0, act)
    index = {id(v): i for i, v in enumerate(order)}
    root_ids = {id(r) for r in roots}
    counts: dict[int, int] = {}
    out = []
    for use in uses:
        li = where[use[0].group][0]
        counts[li] = counts.get(li, 0) + 1
        name = layers[li][0] + ("" if counts[li] == 1 else f" (use {counts[li]})")
        use.sort(key=lambda i: where[i.group][1])
        members = [m for i in use for m in i.members]
        ids = {id(m) for m in members}
        layer = Instance(layers[li][0], name, max(members, key=lambda m: index[id(m)]))
        layer.members = members
        layer.units = len(use)
        layer.outputs = []
        for neuron in use:
            shown = neuron.members[0]  # the activation, or the pre-activation without one
            exposed = [m for m in neuron.members if id(m) in root_ids
                       or any(id(c) not in ids for c in consumers.get(id(m), ()))]
            for m in sorted(exposed, key=lambda m: (m is not shown, index[id(m)])):
                part = "" if m is shown else " pre-activation" if m is neuron.end else f" ({m.label or 'part'})"
                layer.outputs.append((neuron.group + part, m))
        out.append(layer)
    return [(name, [p for _, n in neurons for p in _params(n)]) for name, neurons in layers], out


def _activation(end: Value, neuron: Any, consumers: dict[int, list[Value]]) -> Optional[Value]:
    """The activation that follows a neuron's pre-activation ``end``, if it has one (see the module docstring)."""
    users = consumers.get(id(end), [])
    name = getattr(neuron, "activation", _NO_ATTRIBUTE)
    if name is None:
        return None
    if name is _NO_ATTRIBUTE:
        found = users if len(users) == 1 and len(users[0].parents) == 1 else []
    else:
        name = getattr(name, "name", name)
        found = [u for u in users if len(u.parents) == 1 and u.op.name == name]
    return found[0] if len(found) == 1 else None
