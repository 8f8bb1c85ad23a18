"""Graphviz DOT text of a graph (`to_dot`): one record per Value, one ellipse per op application.

    >>> from microgradx import Value
    >>> from microgradx.draw import to_dot
    >>> a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    >>> out = (a * b + c).tanh()
    >>> out.backward()
    >>> "grad -0.004023" in to_dot(out)   # a's gradient, shown to 4 significant digits
    True

Each Value is a record ``{ label | data ... | grad ... }`` (a lane Value shows its number
of lanes, the mean and the first few lanes); each op application is a small ellipse showing
the op's symbol (``*``, ``+``, ``**2``, ``ReLU``: micrograd's ``v._op``); edges follow the
data: ``input -> op -> output``. The inputs of a two-input op are numbered (1, 2) on their
edges unless its formula says they can swap places (``a - b``, ``a / b``, ``a ** b``; not
``a + b`` or ``a * b``: `microgradx.draw.picture.interchangeable`). The root
has a bold outline. ``collapse=``, ``by=`` and ``max_nodes=`` are described in
`microgradx.draw.picture`; a collapsed layer is a record with a header and one row per
output, each row's grad field a port (``o0``, ``o1`` ...) its edges leave from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from microgradx import Value
from microgradx.draw.layout import Box, Edge, elements
from microgradx.draw.picture import DEFAULT_MAX_NODES, prepare
from microgradx.draw.text import escape_plain, escape_record

_EXIT = {"LR": "e", "RL": "w", "TB": "s", "BT": "n"}  # the side of a record the edges leave from


def _record(fields: list[tuple[str, str]]) -> str:
    return "{ " + " | ".join(escape_record(text) for _, text in fields) + " }"


def _layer_label(header: str, rows: list[Box], rankdir: str) -> str:
    """A layer's record label: the header, and a row per output (a column top to bottom, the header
    on the far side from the edges for ``BT``); each output's field on the side its edges leave
    from (the grad; the name for ``RL`` and ``BT``) is its port ``o0``, ``o1`` ..."""
    exit_first = rankdir in ("RL", "BT")
    cells = []
    for k, row in enumerate(rows):
        at = 0 if exit_first else len(row.fields) - 1
        cells.append("{ " + " | ".join((f"<o{k}> " if i == at else "") + escape_record(text)
                                       for i, (_, text) in enumerate(row.fields)) + " }")
    if rankdir in ("LR", "RL"):  # the top level of a record is vertical here: header, then the rows
        return " | ".join([header, *cells])
    outputs = "{ " + " | ".join(cells) + " }"
    return "{ " + " | ".join([outputs, header] if rankdir == "BT" else [header, outputs]) + " }"


def _node(box: Box, rankdir: str) -> str:
    """The DOT statement of one box of `microgradx.draw.layout.elements`."""
    if box.kind == "op":
        return f'  {box.key} [label="{escape_plain(box.fields[0][1])}", shape=ellipse, fontsize=10];'
    if box.kind == "note":
        return f'  {box.key} [shape=note, label="{escape_plain(box.fields[0][1])}", fontsize=10];'
    label = _record(box.fields)
    if box.rows:
        label = _layer_label(label, box.rows, rankdir)
    attrs = [f'label="{label}"', "shape=record"]
    if box.kind == "group":
        attrs += ["style=filled", 'fillcolor="#dbe9f6"']
    if box.root:
        attrs.append("penwidth=2")
    return f"  {box.key} [{', '.join(attrs)}];"


def _edge(edge: Edge, rankdir: str) -> str:
    source = edge.src if edge.port is None else f"{edge.src}:o{edge.port}:{_EXIT[rankdir]}"
    extra = ' [style=dashed]' if edge.dashed else f' [label="{edge.label}"]' if edge.label else ""
    return f"  {source} -> {edge.dst}{extra};"


def to_dot(value: Union[Value, Sequence[Value]], *, max_nodes: Optional[int] = DEFAULT_MAX_NODES, collapse: Any = None,
           by: str = "neuron", rankdir: str = "LR", precision: int = 4, title: Optional[str] = None) -> str:
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
    Value's data and grad with `summarize`. The nodes and edges are those the built-in
    layout places (`microgradx.draw.layout.elements`), so both pictures show one graph.
    """
    picture, shown = prepare(value, "to_dot", max_nodes=max_nodes, collapse=collapse, by=by, rankdir=rankdir,
                             precision=precision)
    boxes, edges = elements(picture, shown, precision=precision, max_nodes=max_nodes)
    caption = f', label="{escape_plain(title)}", labelloc=b' if title else ""
    return "\n".join([
        "digraph microgradx {",
        f'  graph [rankdir={rankdir}, charset="UTF-8", fontname="Helvetica"{caption}];',
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
        *(_node(box, rankdir) for box in boxes.values()),
        *(_edge(edge, rankdir) for edge in edges),
        "}",
    ]) + "\n"
