"""Graphviz DOT text of a graph (`to_dot`): one record per Value, one ellipse per op application.

    >>> from microgradx import Value
    >>> from microgradx.draw import to_dot
    >>> a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    >>> out = (a * b + c).tanh()
    >>> out.backward()
    >>> "grad -0.004023" in to_dot(out)   # a's gradient, shown to 4 significant digits
    True

Each Value is a record ``{ label | data ... | grad ... }`` (a lane Value shows its number
of lanes, the mean and the first few lanes); each op application is a small ellipse naming
the op; edges follow the data: ``input -> op -> output``. Inputs of a two-input op other
than add and mul are numbered (1, 2) on their edges, since order matters for ``sub``,
``div``, ``pow``. The root has a bold outline. ``collapse=``, ``by=`` and ``max_nodes=`` are
described in `microgradx.draw.picture`; a collapsed layer is a record with a header and one
row per output, each row's grad field a port (``o0``, ``o1`` ...) its edges leave from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from microgradx import Value
from microgradx.draw.layout import output_rows, value_fields
from microgradx.draw.picture import COMMUTATIVE, DEFAULT_MAX_NODES, Picture, check_options, roots_of
from microgradx.draw.text import escape_plain, escape_record

_EXIT = {"LR": "e", "RL": "w", "TB": "s", "BT": "n"}  # the side of a record the edges leave from


def _layer_label(header: str, rows: list[tuple[str, list[tuple[str, str]]]], rankdir: str) -> str:
    """A layer's record label: the header, and a row per output (a column top to bottom, the header
    on the far side from the edges for ``BT``); each output's field on the side its edges leave
    from (the grad; the name for ``RL`` and ``BT``) is its port ``o0``, ``o1`` ..."""
    exit_first = rankdir in ("RL", "BT")
    cells = []
    for k, (_, fields) in enumerate(rows):
        at = 0 if exit_first else len(fields) - 1
        cells.append("{ " + " | ".join((f"<o{k}> " if i == at else "") + escape_record(text)
                                       for i, (_, text) in enumerate(fields)) + " }")
    if rankdir in ("LR", "RL"):  # the top level of a record is vertical here: header, then the rows
        return " | ".join([header, *cells])
    outputs = "{ " + " | ".join(cells) + " }"
    return "{ " + " | ".join([outputs, header] if rankdir == "BT" else [header, outputs]) + " }"


def to_dot(
    value: Union[Value, Sequence[Value]],
    *,
    max_nodes: Optional[int] = DEFAULT_MAX_NODES,
    collapse: Any = None,
    by: str = "neuron",
    rankdir: str = "LR",
    precision: int = 4,
    title: Optional[str] = None,
) -> str:
    """Graphviz DOT text of the graph behind ``value`` (a Value or a list of Values).

    Args:
        value: the root Value, or several roots (for a model with several outputs).
        max_nodes: draw at most this many Value nodes (a collapsed neuron counts as one),
            those nearest the root; ``None`` draws everything. A note node counts the rest.
        collapse: draw each neuron's pre-activation subgraph as one node: a model with
            ``.layers`` of ``.neurons``, a layer, a neuron, or ``{name: parameters}``.
            See `microgradx.draw.picture`.
        by: ``"neuron"`` (the default: one node per neuron's weighted sum) or ``"layer"``:
            one node per layer of the ``collapse=`` model, its weighted sums and activations
            together, with a row per output; each edge leaves from the row it carries.
        rankdir: Graphviz layout direction: ``"LR"`` (inputs on the left), ``"TB"``, ...
        precision: significant digits of the numbers shown.
        title: an optional caption drawn under the graph.

    Numbers are shown with `format_number` (``precision`` significant digits); a lane
    Value's data and grad with `summarize`.
    """
    roots = roots_of(value)
    check_options(max_nodes, rankdir, precision)
    picture = Picture(roots, collapse, by)
    shown = picture.shown(max_nodes)
    kept = {id(n) for n in shown}
    root_ids = {id(r) for r in picture.roots}

    lines = [
        "digraph microgradx {",
        f'  graph [rankdir={rankdir}, charset="UTF-8", fontname="Helvetica"'
        + (f', label="{escape_plain(title)}", labelloc=b' if title else "")
        + "];",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    cut: list[str] = []  # ids of the nodes whose inputs were partly left out
    compass = _EXIT[rankdir]
    for node in shown:
        v = node.value
        fields = value_fields(node, precision)
        label = "{ " + " | ".join(escape_record(text) for _, text in fields) + " }"
        if node.outputs is not None:
            label = _layer_label(label, output_rows(node, precision), rankdir)
        attrs = [f'label="{label}"', "shape=record"]
        if node.group is not None:
            attrs += ["style=filled", 'fillcolor="#dbe9f6"']
        if id(node) in root_ids:
            attrs.append("penwidth=2")
        lines.append(f"  {node.ident} [{', '.join(attrs)}];")
        target = node.ident
        if node.group is None and v.op is not None:
            target = f"{node.ident}_op"
            lines.append(f'  {target} [label="{escape_plain(v.op.name)}", shape=ellipse, fontsize=10];')
            lines.append(f"  {target} -> {node.ident};")
        links = picture.links(node)
        numbered = node.group is None and v.op is not None and len(links) == 2 and v.op.name not in COMMUTATIVE
        missing = False
        for k, (p, port) in enumerate(links, start=1):
            if id(p) not in kept:
                missing = True
                continue
            extra = f' [label="{k}"]' if numbered else ""
            source = p.ident if port is None else f"{p.ident}:o{port}:{compass}"
            lines.append(f"  {source} -> {target}{extra};")
        if missing:
            cut.append(target)
    omitted = picture.total - len(shown)
    if omitted:
        note = (f"{omitted} more value{'s' if omitted != 1 else ''} not shown (max_nodes={max_nodes}); "
                f"dashed edges mark the cut inputs")
        lines.append(f'  omitted [shape=note, label="{escape_plain(note)}", fontsize=10];')
        lines.extend(f"  omitted -> {t} [style=dashed];" for t in cut)
    lines.append("}")
    return "\n".join(lines) + "\n"
