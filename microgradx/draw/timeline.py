"""The explorer page's timeline: start, forward steps, seed, backward steps, done (`Timeline`).

Each entry says which nodes it visits and highlights, what it writes out (the op applied,
the chain-rule terms) and which node texts it changes (``[key, "data" | "grad", text]``); the
page applies the changes of entries 1..k over the start's texts to show step k; a key is a
node's (``n7``) or a collapsed layer's output row's (``n7:0``). The backward steps come from
`microgradx.draw.steps.replay`, over the drawn nodes: a collapsed neuron's or layer's ops are
visited together, as one step whose terms are its inputs and its parameters, each with the
upstream grads of the outputs that depend on it and their local derivatives
(`microgradx.draw.groupsteps`). ``Timeline.steps`` keeps the replayed steps.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from microgradx import Value
from microgradx.draw.groups import reading_order
from microgradx.draw.groupsteps import jacobian, merge
from microgradx.draw.picture import Node, Picture
from microgradx.draw.steps import check_order, ones_like, op_outputs_in_order, replay, zero_like
from microgradx.draw.text import summarize

_TERM_KEYS = ("name", "local", "local_text", "upstream", "product", "product_text", "before", "after")
_LONGEST_NAME = 28  # an unlabelled node is named by its expression up to this length
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "**": 3}  # Python's, for the symbols of binary operators
# d out / d input_i of the bundled ops, written with the inputs' names (n) and the output's (out)
_FORMULAS = {
    "add": lambda n, out: ["1", "1"],
    "sub": lambda n, out: ["1", "-1"],
    "neg": lambda n, out: ["-1"],
    "mul": lambda n, out: [n[1], n[0]],
    "div": lambda n, out: [f"1/{n[1]}", f"-{n[0]}/{n[1]}\u00b2"],
    "pow": lambda n, out: [f"{n[1]}\u00b7{n[0]}^({n[1]}-1)", f"{out}\u00b7ln {n[0]}"],
    "tanh": lambda n, out: [f"1 - {out}\u00b2"],
    "relu": lambda n, out: [f"1 if {n[0]} > 0 else 0"],
    "exp": lambda n, out: [out],
    "log": lambda n, out: [f"1/{n[0]}"],
    "sigmoid": lambda n, out: [f"{out}\u00b7(1 - {out})"],
}


def _power(op: Any, n: int) -> Optional[str]:
    """The exponent's text of an op of one input shown as a power (``'**2'``: micrograd's ``x ** 2``), else None."""
    symbol = op.symbol
    return symbol[2:] if n == 1 and symbol.startswith("**") and len(symbol) > 2 else None


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
    symbol = op.symbol
    if _prefix(op, len(names)):
        return f"{symbol}{names[0]}"
    if precedence(op, len(names)) is not None:
        return f"{names[0]}{symbol}" if len(names) == 1 else f"{names[0]} {symbol} {names[1]}"
    return f"{symbol}({', '.join(names)})"


def formulas(op: Any, names: list[str], out: str) -> list[Optional[str]]:
    """The text of each local derivative d out / d input, where known (the bundled ops, a constant power)."""
    power = _power(op, len(names))
    if power is not None:
        return [f"{power}\u00b7{names[0]}^({power}-1)"]
    return _FORMULAS.get(op.name, lambda n, out: [None] * len(n))(names, out)


def _wrap(name: str) -> str:
    """``name`` in parentheses when it is more than one word (for d(a * b)/da)."""
    return f"({name})" if " " in name or "(" in name else name


class Timeline:
    """The steps of the explorer page for the nodes ``shown`` of ``picture`` (see the module docstring)."""

    def __init__(self, picture: Picture, shown: list[Node], precision: int):
        self.picture = picture
        self.precision = precision
        self.shown = {id(n) for n in shown}
        self._names: dict[int, str] = {}
        self.roots = [n.value for n in picture.roots]
        self.entries: list[dict] = []
        self.initial: dict[str, tuple[str, str]] = {}
        self.computed_at: dict[str, int] = {}
        for n in shown:
            for key, v in n.slots():
                data = self.fmt(v.data) if v.op is None else "?"
                grad = self.fmt(None if v.grad is None else zero_like(v.data))  # grad None: takes no gradient
                self.initial[key] = (f"data {data}", f"grad {grad}")
        self._start()
        self.seed = self._forward()
        self._backward()
        self.entries.append({"kind": "done", "phase": "done", "title": "Done: every grad is final",
                             "text": "These are the grads one backward() from zero leaves; step back to see them "
                                     "arrive.", "set": []})

    # -- naming --------------------------------------------------------------------------------

    def fmt(self, x: Any) -> str:
        """A number (or lanes) as the page writes it."""
        return summarize(x, self.precision)

    def display(self, v: Value) -> Optional[Node]:
        """The node that draws ``v`` (its neuron's for a member), None for a parameter drawn inside one."""
        return None if id(v) in self.picture.hidden else self.picture.node(v)

    def visible(self, node: Optional[Node]) -> bool:
        """Whether ``node`` is drawn (not left out by max_nodes)."""
        return node is not None and id(node) in self.shown

    def slot(self, v: Value) -> Optional[str]:
        """The key of the texts that show ``v``'s data and grad (``n7``, a layer's row ``n7:2``), if drawn."""
        node = self.display(v)
        return node.slot(v) if self.visible(node) else None

    def name(self, v: Value) -> str:
        """How the page names ``v``: its label, its neuron, its value for a constant, else the expression
        that made it from its inputs' names (``a * b + c``) while that is short, else ``node N``."""
        name = self._names.get(id(v))
        if name is None:
            name = self._names[id(v)] = self._name(v)
        return name

    def _name(self, v: Value) -> str:
        node = self.display(v)
        if node is not None and node.port(v) is not None:  # a layer's output: named as its row
            return node.outputs[node.port(v)][0]
        if v.label:
            return str(v.label)
        if node is not None and node.group is not None and node.value is v:
            return node.group
        if v.op is None:
            return self.fmt(v.data)
        text = self.made(v)
        return text if len(text) <= _LONGEST_NAME else f"node {self.picture.index[id(v)]}"

    def made(self, v: Value, numbers: bool = False) -> str:
        """The expression that made the op output ``v`` from its inputs' names (or, with ``numbers``, their
        data), in parentheses where Python's operator precedence needs them: ``(a + b)**2``, ``(-2)**2``."""
        parts = []
        outer = precedence(v.op, len(v.parents))
        for i, p in enumerate(v.parents):
            part = self.fmt(p.data) if numbers else self.name(p)
            if numbers:
                negative = part.startswith("-")  # (-2)**2, -(-2), 2 - (-3); but 2 * -3
                inner = 0 if negative and ((i == 0 and (outer or 0) > 2) or (i == 1 and v.op.symbol == "-")) else None
            else:
                inner = None if p.label or p.op is None else precedence(p.op, len(p.parents))
            if outer is not None and inner is not None and (
                    inner < outer or (inner == outer and (i == 1 or outer == 3) and v.op.symbol not in ("+", "*"))):
                part = f"({part})"
            parts.append(part)
        return expression(v.op, parts)

    def keys(self, node: Node) -> list[str]:
        """The SVG keys of ``node``: its record, and its op's ellipse if it has one."""
        if node.group is None and node.value.op is not None:
            return [node.ident, f"{node.ident}_op"]
        return [node.ident]

    def input_keys(self, values: list[Value]) -> list[str]:
        """The keys of the drawn nodes of ``values``, each once."""
        out: list[str] = []
        for v in values:
            node = self.display(v)
            if self.visible(node) and node.ident not in out:
                out.append(node.ident)
        return out

    # -- the entries ---------------------------------------------------------------------------

    def _start(self) -> None:
        self.entries.append({
            "kind": "start", "phase": "start", "title": "Start: the leaves hold their data",
            "text": "Inputs and parameters (the leaves) have data; every other node is computed by the forward "
                    "pass. All grads are 0.", "set": []})

    def _forward(self) -> int:
        """The forward entries, one per drawn op output (a neuron once); returns the seed entry's index."""
        ends: dict[int, Node] = {}
        for v in op_outputs_in_order(self.roots):
            node = self.display(v)
            ends.setdefault(id(node), node)
        nodes = sorted(ends.values(), key=lambda n: self.picture.index[id(n.value)])
        drawn = [n for n in nodes if self.visible(n)]
        for j, node in enumerate(drawn, start=1):
            v = node.value
            result = self.fmt(v.data)
            if node.group is None:
                made = self.made(v)
                text = f"{self.name(v)} = {self.made(v, numbers=True)} = {result}"
                if made != self.name(v):
                    text = f"{self.name(v)} = {made} = {text.split(' = ', 1)[1]}"
                title = f"Forward step {j} of {len(drawn)}: {self.name(v)}" + (f" = {made}" if made != self.name(v)
                                                                                else "")
                inputs = self.input_keys(list(v.parents))
            elif node.outputs is None:
                text = (f"{node.group} = its weighted sum: {node.n_ops} op{'s' if node.n_ops != 1 else ''} on its "
                        f"inputs and {node.n_params} parameters = {result}")
            else:
                acts = sorted({o.op.name for _, o in node.outputs if len(o.parents) == 1})
                whose = f"its {node.units} neurons' weighted sums" if node.units != 1 else "its neuron's weighted sum"
                text = (f"{node.group} = {whose} ({node.n_ops} ops on the layer's inputs and "
                        f"{node.n_params} parameters)" + (f", through {' / '.join(acts)}" if acts else "") + ": "
                        + ", ".join(f"{name} = {self.fmt(o.data)}" for name, o in node.outputs))
            if node.group is not None:
                title = f"Forward step {j} of {len(drawn)}: {node.group}"
                inputs = [p.ident for p in self.picture.inputs(node) if self.visible(p)]
            self.computed_at[node.ident] = len(self.entries)
            self.entries.append({"kind": "forward", "phase": "forward", "title": title, "text": text,
                                 "visit": self.keys(node), "inputs": inputs,
                                 "set": [[key, "data", f"data {self.fmt(o.data)}"] for key, o in node.slots()]})
        seed = len(self.entries)
        if len(self.roots) == 1:
            r = self.name(self.roots[0])
            text = f"d{_wrap(r)}/d{_wrap(r)} = 1: the root's grad starts at 1, every other at 0. "
        else:
            text = f"Each root ({', '.join(self.name(r) for r in self.roots)}) starts with grad 1, every other at 0. "
        self.entries.append({
            "kind": "seed", "phase": "backward", "title": "Backward pass: the seed",
            "text": text + "Now each node, from the root back, passes upstream grad \u00d7 local derivative to its "
                           "inputs.",
            "visit": list(dict.fromkeys(k for r in self.roots if self.visible(self.display(r))
                                        for k in self.keys(self.display(r)))),
            "inputs": [],
            "set": [[self.slot(r), "grad", f"grad {self.fmt(ones_like(r.data))}"] for r in self.roots
                    if self.slot(r) is not None]})
        return seed

    def _order(self, ops: list[Value]) -> list[Value]:
        """Children before parents, a collapsed neuron's ops one after another when that is a valid order."""
        index = self.picture.index
        visit = sorted(ops, key=lambda m: (index[id(self.display(m).value)], index[id(m)]), reverse=True)
        try:
            check_order(visit, ops)
        except ValueError:
            return ops[::-1]
        return visit

    def _backward(self) -> None:
        ops = op_outputs_in_order(self.roots)
        seeds = {id(r): ones_like(r.data) for r in self.roots if r.op is not None}
        steps, _ = replay(self._order(ops), seeds)
        runs: list[tuple[Node, list]] = []
        for step in steps:
            node = self.display(step.value)
            if runs and runs[-1][0] is node:
                runs[-1][1].append(step)
            else:
                runs.append((node, [step]))
        drawn = sum(self.visible(n) for n, _ in runs)
        root = " + ".join(self.name(r) for r in self.roots)
        self.steps = steps
        now: dict[int, Any] = dict(seeds)  # every grad as the steps go
        j = 0
        for node, run in runs:
            outputs = node.outputs or [(node.group or self.name(node.value), node.value)]
            upstreams = [now.get(id(o), zero_like(o.data)) for _, o in outputs]  # what arrived from above
            passed = ([(t.input, t.after) for t in run[0].terms] if node.group is None
                      else [(m.value, m.after) for m in merge(run)])
            for s in run:
                for t in s.terms:
                    now[id(t.input)] = t.after
            changes = [[self.slot(v), "grad", f"grad {self.fmt(after)}"] for v, after in passed
                       if self.slot(v) is not None]
            if not self.visible(node):  # not drawn (max_nodes): its grads change with the step before
                self.entries[-1]["set"].extend(changes)
                continue
            j += 1
            terms = self._terms(node, run) if node.group is None else self._group_terms(node, run, upstreams)
            v = node.value
            name = node.group or self.name(v)
            what = self.made(v) if node.group is None else "its ops"
            if node.outputs is None:
                text = f"upstream grad d{_wrap(root)}/d{_wrap(name)} = {self.fmt(upstreams[0])}; the chain rule adds "
            else:
                text = (f"upstream grads d{_wrap(root)}/d(each output): "
                        + ", ".join(f"{n} = {self.fmt(u)}" for (n, _), u in zip(outputs, upstreams))
                        + "; the chain rule adds, summed over the outputs, ")
            self.entries.append({
                "kind": "backward", "phase": "backward",
                "title": f"Backward step {j} of {drawn}: {name}" + (f" = {what}" if what not in (name, "its ops")
                                                                      else ""),
                "text": text + "upstream \u00d7 local derivative to each input's grad"
                        + (" (and each parameter's inside it):" if node.group is not None else ":"),
                "visit": self.keys(node), "inputs": self.input_keys([t["value"] for t in terms]),
                "terms": [{k: t[k] for k in _TERM_KEYS if k in t} for t in terms],
                "set": changes})

    def _terms(self, node: Node, run: list) -> list[dict]:
        """The chain-rule terms of one drawn op's step: one per input."""
        step = run[0]
        upstream = self.fmt(step.upstream)
        v = step.value
        names = [self.name(p) for p in v.parents]
        texts = formulas(v.op, names, self.name(v))
        out = []
        for t in step.terms:
            formula = texts[t.position] if t.position < len(texts) else None
            partial = f"\u2202{_wrap(self.name(v))}/\u2202{_wrap(names[t.position])}"
            local = self.fmt(t.local)
            out.append({"value": t.input, "name": names[t.position], "upstream": upstream, "local": local,
                        "local_text": f"{partial} = {formula} = {local}" if formula not in (None, local)
                        else f"{partial} = {local}",
                        "product": self.fmt(t.product), "before": self.fmt(t.before), "after": self.fmt(t.after)})
        return out

    def _group_terms(self, node: Node, run: list, upstreams: list) -> list[dict]:
        """The terms of a collapsed neuron's or layer's step: what its ops pass, together, to each input
        and parameter, with the local derivative of each output that depends on it (`groupsteps`)."""
        outputs = node.outputs or [(node.group, node.value)]
        jac = jacobian(run, [o for _, o in outputs])
        out = []
        hidden, pos = self.picture.hidden, reading_order({id(s.value) for s in run}, [o for _, o in outputs])
        reached = {id(m.value): [k for k in range(len(outputs)) if id(m.value) in jac[k]] or [0] for m in merge(run)}
        for m in sorted(merge(run), key=lambda m: (id(m.value) in hidden, reached[id(m.value)][0],
                                                   pos.get(id(m.value), 0))):  # inputs, then each neuron's params
            name = self.name(m.value)
            reach = reached[id(m.value)]
            ups = [self.fmt(upstreams[k]) for k in reach]
            locs = [self.fmt(jac[k].get(id(m.value), np.nan)) for k in reach]
            term = {"value": m.value, "name": name, "product": self.fmt(m.product), "before": self.fmt(m.before),
                    "after": self.fmt(m.after)}
            if len(reach) == 1:  # one output depends on it: a neuron's input or parameter
                term.update(upstream=ups[0], local=locs[0],
                            local_text=f"\u2202({outputs[reach[0]][0]})/\u2202{_wrap(name)} = {locs[0]}")
            else:  # a layer's input: each neuron's output depends on it
                term.update(upstream=f"[{', '.join(ups)}]", local=f"[{', '.join(locs)}]",
                            local_text=f"\u2202(each output of {node.group})/\u2202{_wrap(name)} = "
                                       f"[{', '.join(locs)}]",
                            product_text=" + ".join(f"{u} \u00d7 {lo}" for u, lo in zip(ups, locs))
                            if len(reach) <= 4 else f"\u03a3 of {len(reach)} upstream \u00d7 local")
            out.append(term)
        return out

    # -- what the page needs -------------------------------------------------------------------

    def labels(self) -> dict[str, str]:
        """A name for each drawn op output that has no label (``a * b``, ``node 7``), as the steps call it."""
        return {node.ident: self.name(node.value) for node in self.picture.shown(None)
                if id(node) in self.shown and node.group is None and node.value.op is not None
                and not node.value.label}

    def final(self) -> dict[str, tuple[str, str]]:
        """Each drawn node's data and grad text after the last step (what the page opens with)."""
        state = {k: list(v) for k, v in self.initial.items()}
        for entry in self.entries:
            for key, field, text in entry["set"]:
                if key in state:
                    state[key][0 if field == "data" else 1] = text
        return {k: (d, g) for k, (d, g) in state.items()}

    def alternatives(self) -> dict[str, dict[str, list[str]]]:
        """Every text each node's data and grad field shows at some step (to size the fields)."""
        out: dict[str, dict[str, list[str]]] = {k: {"data": [d], "grad": [g]} for k, (d, g) in self.initial.items()}
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
