"""The explorer page's timeline: start, forward steps, seed, backward steps, done (`Timeline`).

Each entry says which nodes it visits and highlights, what it writes out (the op applied, the
chain-rule terms) and which node texts it changes (``[key, "data" | "grad", text]``); the page
applies the changes of entries 1..k over the start's texts to show step k; a key is a node's
(``n7``) or a layer's output row's (``n7:0``). The backward entries are the engine's own pass,
recorded (`microgradx.draw.steps.backward_steps`, kept in ``Timeline.steps``): one per drawn op
output in the order ``backward()`` visits them, a collapsed neuron's or layer's steps together
as one entry whose terms are its inputs and parameters, with what its ops passed each of them.
A local derivative is written out by its op's formula (`Op.formula`) and its number.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx import Value
from microgradx.draw.picture import Node, Picture, formulas, wrap
from microgradx.draw.scopes import reading_order
from microgradx.draw.steps import backward_steps, local_derivative
from microgradx.draw.text import summarize

_TERM_KEYS = ("name", "local", "local_text", "upstream", "product", "product_text", "before", "after")
_LONGEST_NAME = 28  # an unlabelled node is named by its expression up to this length
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 3}  # Python's, for the symbols of binary operators


def _zero(data: Any) -> Any:
    """0.0, or zeros shaped like a lane array."""
    return np.zeros_like(data) if isinstance(data, np.ndarray) else 0.0


def _power(op: Any, n: int) -> Optional[str]:
    """The exponent's text of an op of one input shown as a power (``'**2'``: micrograd's ``x ** 2``), else None."""
    return op.symbol[2:] if n == 1 and op.symbol.startswith("**") and len(op.symbol) > 2 else None


def _prefix(op: Any, n: int) -> bool:
    """Whether the op is written before its one input, as an operator (``-a``)."""
    return n == 1 and _power(op, n) is None and not op.symbol[0].isalnum() and op.symbol[0] != "_"


def precedence(op: Any, n: int) -> Optional[float]:
    """How tightly the op binds when written as an operator on ``n`` inputs (Python's order), or None."""
    if _power(op, n) is not None:
        return _PRECEDENCE["**"]
    if _prefix(op, n):
        return 2.5  # -a: tighter than *, looser than ** (-a**2 is -(a**2))
    return _PRECEDENCE.get(op.symbol) if n == 2 else None


def expression(op: Any, names: list[str]) -> str:
    """How the op applied to ``names`` is written: by its symbol, ``a * b``, ``x**2``, ``-a``, ``tanh(d)``."""
    if _prefix(op, len(names)):
        return f"{op.symbol}{names[0]}"
    if precedence(op, len(names)) is not None:
        return f"{names[0]}{op.symbol}" if len(names) == 1 else f"{names[0]} {op.symbol} {names[1]}"
    return f"{op.symbol}({', '.join(names)})"


class Timeline:
    """The steps of the explorer page for the nodes ``shown`` of ``picture`` (see the module docstring)."""

    def __init__(self, picture: Picture, shown: list[Node], precision: int):
        self.picture, self.precision, self.roots = picture, precision, picture.values
        self.shown = {id(n) for n in shown}
        self._names: dict[int, str] = {}
        self._named = 0  # the Values of picture.order before this index are named
        self.steps = backward_steps(self.roots)
        self.entries: list[dict] = [{
            "kind": "start", "phase": "start", "title": "Start: the leaves hold their data",
            "text": "Inputs and parameters (the leaves) have data; every other node is computed by the forward "
                    "pass. All grads are 0.", "set": []}]
        self.initial = {key: (f"data {self.fmt(v.data) if v.op is None else '?'}",
                              f"grad {self.fmt(None if v.grad is None else _zero(v.data))}")  # None: takes none
                        for n in shown for key, v in n.slots()}
        self.computed_at: dict[str, int] = {}
        self.seed = self._forward()
        self._backward()
        self.entries.append({"kind": "done", "phase": "done", "title": "Done: every grad is final",
                             "text": "These are the grads one backward() from zero leaves; step back to see them "
                                     "arrive.", "set": []})

    # -- naming --------------------------------------------------------------------------------

    def fmt(self, x: Any) -> str:
        """A number (or lanes) as the page writes it."""
        return summarize(x, self.precision)

    def local(self, x: Any) -> str:
        """A local derivative as the page writes it: ``?`` where the upstream grad was 0 (it passed 0)."""
        return "?" if x is None else self.fmt(x)

    def display(self, v: Value) -> Optional[Node]:
        """The node that draws ``v`` (its group's for a member), None for a parameter drawn inside one."""
        return None if id(v) in self.picture.hidden else self.picture.node(v)

    def visible(self, node: Optional[Node]) -> bool:
        """Whether ``node`` is drawn (not left out by max_nodes)."""
        return node is not None and id(node) in self.shown

    def slot(self, v: Value) -> Optional[str]:
        """The key of the texts that show ``v``'s data and grad (``n7``, a layer's row ``n7:2``), if drawn."""
        node = self.display(v)
        return node.slot(v) if self.visible(node) else None

    def name(self, v: Value) -> str:
        """How the page names ``v``: its label (its row's name in a layer), its group's name, its value for a
        constant, else the expression that made it (``a * b + c``) while that is short, else ``node N``."""
        if id(v) not in self._names:  # name every Value up to v, inputs first (a long chain needs no recursion)
            end = self.picture.index[id(v)] + 1
            for u in self.picture.order[self._named:end]:
                node = self.display(u)
                if node is not None and node.port(u) is not None:
                    name = node.outputs[node.port(u)][0]
                elif u.label or (node is not None and node.group is not None and node.value is u):
                    name = str(u.label or node.group)
                elif u.op is None:
                    name = self.fmt(u.data)
                else:
                    name = self.made(u)
                    name = name if len(name) <= _LONGEST_NAME else f"node {self.picture.index[id(u)]}"
                self._names[id(u)] = name
            self._named = max(self._named, end)
        return self._names[id(v)]

    def made(self, v: Value, numbers: bool = False) -> str:
        """The expression that made the op output ``v`` from its inputs' names (or, with ``numbers``, their
        data), in parentheses where Python's operator precedence needs them: ``(a + b)**2``, ``(-2)**2``."""
        parts = []
        outer = precedence(v.op, len(v._parents))
        for i, p in enumerate(v._parents):
            part = self.fmt(p.data) if numbers else self.name(p)
            if numbers:
                negative = part.startswith("-")  # (-2)**2, -(-2), 2 - (-3); but 2 * -3
                inner = 0 if negative and ((i == 0 and (outer or 0) > 2) or (i == 1 and v.op.symbol == "-")) else None
            else:
                inner = None if p.label or p.op is None else precedence(p.op, len(p._parents))
            if outer is not None and inner is not None and (
                    inner < outer or (inner == outer and (i == 1 or outer == 3) and v.op.symbol not in ("+", "*"))):
                part = f"({part})"
            parts.append(part)
        return expression(v.op, parts)

    def keys(self, node: Node) -> list[str]:
        """The SVG keys of ``node``: its record, and its op's ellipse if it has one."""
        return [node.ident, f"{node.ident}_op"] if node.group is None and node.value.op is not None else [node.ident]

    def input_keys(self, values: list[Value]) -> list[str]:
        """The keys of the drawn nodes of ``values``, each once."""
        return list(dict.fromkeys(n.ident for v in values if self.visible(n := self.display(v))))

    # -- the entries ---------------------------------------------------------------------------

    def _forward(self) -> int:
        """The forward entries, one per drawn op output (a group once); returns the seed entry's index."""
        nodes = {id(n): n for v in self.picture.order if v.op is not None and (n := self.display(v)) is not None}
        drawn = sorted((n for n in nodes.values() if self.visible(n)), key=lambda n: self.picture.index[id(n.value)])
        for j, node in enumerate(drawn, start=1):
            v = node.value
            title = f"Forward step {j} of {len(drawn)}: {node.group or self.name(v)}"
            if node.group is None:
                made, name = self.made(v), self.name(v)
                text = " = ".join(dict.fromkeys((name, made))) + f" = {self.made(v, numbers=True)} = {self.fmt(v.data)}"
                title += f" = {made}" if made != name else ""
                inputs = self.input_keys(list(v._parents))
            else:
                what = f"its {node.units} neurons" if node.outputs is not None else "its ops"
                text = (f"{node.group} = {what} ({node.n_ops} ops on its inputs and {node.n_params} parameters): "
                        + ", ".join(f"{name} = {self.fmt(o.data)}" for name, o in node.outputs or [(node.group, v)]))
                inputs = [p.ident for p in self.picture.inputs(node) if self.visible(p)]
            self.computed_at[node.ident] = len(self.entries)
            self.entries.append({"kind": "forward", "phase": "forward", "title": title, "text": text,
                                 "visit": self.keys(node), "inputs": inputs,
                                 "set": [[key, "data", f"data {self.fmt(o.data)}"] for key, o in node.slots()]})
        roots = [r for r in self.roots if self.visible(self.display(r))]
        r = wrap(self.name(self.roots[0]))
        seed = (f"d{r}/d{r} = 1: the root's grad starts at 1, every other at 0. " if len(self.roots) == 1 else
                f"Each root ({', '.join(self.name(r) for r in self.roots)}) starts with grad 1, every other at 0. ")
        self.entries.append({
            "kind": "seed", "phase": "backward", "title": "Backward pass: the seed",
            "text": seed + "Now each node, from the root back, passes upstream grad \u00d7 local derivative to its "
                           "inputs.",
            "visit": list(dict.fromkeys(k for r in roots for k in self.keys(self.display(r)))), "inputs": [],
            "set": [[self.slot(r), "grad", f"grad {self.fmt(_zero(r.data) + 1)}"] for r in roots if self.slot(r)]})
        return len(self.entries) - 1

    def _backward(self) -> None:
        upstream = {id(s.value): s.upstream for s in self.steps}
        runs: dict[int, tuple[Node, list]] = {}  # each drawn node's steps, in the order the pass first visits it
        for s in self.steps:
            node = self.display(s.value)
            runs.setdefault(id(node), (node, []))[1].append(s)
        drawn, j = sum(self.visible(n) for n, _ in runs.values()), 0
        root = " + ".join(self.name(r) for r in self.roots)
        for node, run in runs.values():
            if not self.visible(node):  # not drawn (max_nodes): the grads it passes change with the step before
                self.entries[-1]["set"].extend(list({k: [k, "grad", f"grad {self.fmt(t.after)}"] for s in run
                                                     for t in s.terms if (k := self.slot(t.input))}.values()))
                continue
            outputs = node.outputs or [(node.group or self.name(node.value), node.value)]
            ups = [upstream.get(id(o), _zero(o.data)) for _, o in outputs]  # the grad each output held when visited
            terms = self._terms(run[0]) if node.group is None else self._group_terms(node, run, ups)
            changes = list({k: [k, "grad", f"grad {self.fmt(t['after_grad'])}"] for t in terms
                            if (k := self.slot(t["value"])) is not None}.values())
            j += 1
            name = node.group or self.name(node.value)
            made = self.made(node.value) if node.group is None else name
            text = (f"upstream grad d{wrap(root)}/d{wrap(name)} = {self.fmt(ups[0])}; the chain rule adds "
                    if node.outputs is None else f"upstream grads d{wrap(root)}/d(each output): "
                    + ", ".join(f"{n} = {self.fmt(u)}" for (n, _), u in zip(outputs, ups))
                    + "; the chain rule adds, summed over the outputs, ")
            self.entries.append({
                "kind": "backward", "phase": "backward",
                "title": f"Backward step {j} of {drawn}: {name}" + (f" = {made}" if made != name else ""),
                "text": text + "upstream \u00d7 local derivative to each input's grad"
                        + (" (and each parameter's inside it):" if node.group is not None else ":"),
                "visit": self.keys(node), "inputs": self.input_keys([t["value"] for t in terms]),
                "terms": [{k: t[k] for k in _TERM_KEYS if k in t} for t in terms], "set": changes})

    def _terms(self, step: Any) -> list[dict]:
        """The chain-rule terms of one drawn op's step: one per input, with its op's formula."""
        v = step.value
        names = [self.name(p) for p in v._parents]
        texts = formulas(v.op, names, self.name(v))
        out = []
        for t in step.terms:
            partial, local, formula = f"\u2202{wrap(self.name(v))}/\u2202{wrap(names[t.position])}", self.local(
                t.local), texts[t.position]
            out.append({"value": t.input, "after_grad": t.after, "name": names[t.position],
                        "upstream": self.fmt(step.upstream), "local": local,
                        "local_text": " = ".join(dict.fromkeys(x for x in (partial, formula, local) if x)),
                        "product": self.fmt(t.product), "before": self.fmt(t.before), "after": self.fmt(t.after)})
        return out

    def _group_terms(self, node: Node, run: list, ups: list) -> list[dict]:
        """A collapsed neuron's or layer's terms: what its ops passed, together, to each input and parameter,
        with the upstream grad and the local derivative of each output that depends on it."""
        inst = self.picture.owner[id(node.value)]
        inside = {id(m) for m in inst.members}
        outputs = node.outputs or [(node.group, node.value)]
        merged: dict[int, list] = {}  # id(value) -> [value, {output row: product}, before, after]
        for s in run:
            for t in s.terms:
                if id(t.input) not in inside:
                    m = merged.setdefault(id(t.input), [t.input, {}, t.before, t.after])
                    m[1][inst.part[id(s.value)]] = m[1].get(inst.part[id(s.value)], 0.0) + t.product
                    m[3] = t.after
        pos = reading_order(inside, [o for _, o in outputs])
        out = []
        for value, products, before, after in sorted(merged.values(), key=lambda m: (
                id(m[0]) in self.picture.hidden, min(m[1]), pos.get(id(m[0]), 0))):  # inputs, then parameters
            name, reach = self.name(value), sorted(products)
            up = [self.fmt(ups[k]) for k in reach]
            locs = [self.local(local_derivative(products[k], ups[k])) for k in reach]
            term = {"value": value, "after_grad": after, "name": name, "product": self.fmt(sum(products.values())),
                    "before": self.fmt(before), "after": self.fmt(after)}
            if len(reach) == 1:  # one output depends on it: a neuron's input or parameter
                term.update(upstream=up[0], local=locs[0],
                            local_text=f"\u2202{wrap(outputs[reach[0]][0])}/\u2202{wrap(name)} = {locs[0]}")
            else:  # a layer's input: each neuron's output depends on it
                term.update(upstream=f"[{', '.join(up)}]", local=f"[{', '.join(locs)}]",
                            local_text=f"\u2202(each output of {node.group})/\u2202{wrap(name)} = [{', '.join(locs)}]",
                            product_text=" + ".join(f"{u} \u00d7 {lo}" for u, lo in zip(up, locs))
                            if len(reach) <= 4 else f"\u03a3 of {len(reach)} upstream \u00d7 local")
            out.append(term)
        return out

    # -- what the page needs -------------------------------------------------------------------

    def labels(self) -> dict[str, str]:
        """A name for each drawn op output that has no label (``a * b``, ``node 7``), as the steps call it."""
        return {n.ident: self.name(n.value) for n in self.picture.shown(None) if id(n) in self.shown
                and n.group is None and n.value.op is not None and not n.value.label}

    def final(self) -> dict[str, tuple[str, str]]:
        """Each drawn node's data and grad text after the last step (what the page opens with)."""
        return {k: (texts["data"][-1], texts["grad"][-1]) for k, texts in self.alternatives().items()}

    def alternatives(self) -> dict[str, dict[str, list[str]]]:
        """Every text each node's data and grad field shows, step by step (to size the fields)."""
        out = {k: {"data": [d], "grad": [g]} for k, (d, g) in self.initial.items()}
        for entry in self.entries:
            for key, field, text in entry["set"]:
                if key in out:
                    out[key][field].append(text)
        return out

    def data(self) -> dict:
        """The JSON the page's script reads."""
        for entry in self.entries:
            entry.setdefault("visit", [])
            entry.setdefault("inputs", [])
        return {"entries": self.entries, "initial": {k: list(v) for k, v in self.initial.items()},
                "computed_at": self.computed_at, "seed": self.seed, "start": 0}

