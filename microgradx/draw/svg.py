"""SVG pictures from the built-in layout (`microgradx.draw.layout`): no Graphviz needed.

`to_svg` is the picture `draw` writes when Graphviz is not installed, and the notebook
shows; the explorer page embeds the same drawing (`render_svg` of the same `Scene`) and
changes its texts and highlights as it steps. Each node is a ``<g class="node ...">`` with
``data-node`` naming it (``n3``; its op's ellipse ``n3_op``) and one ``<text>`` per field,
whose class names the field (``field-data``, ``field-grad`` ...): what a test or a script
reads. A collapsed layer's node holds one ``<g class="port" data-node="n3:ROW">`` per output
row, and an edge leaving from a row says which in ``data-port``. Styling is in presentation
attributes, so the file looks the same anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any, Optional, Union
from xml.sax.saxutils import escape, quoteattr

from microgradx import Value
from microgradx.draw.layout import FONT_FAMILY, FONT_SIZE, Box, Scene, scene
from microgradx.draw.picture import DEFAULT_MAX_NODES, prepare

_STROKE = "#333333"
_FILL = {"value": "#ffffff", "group": "#dbe9f6", "op": "#f3f3f3", "note": "#fff8dc"}
_CAPTION = 26.0  # room under the graph for its title


def to_svg(value: Union[Value, Sequence[Value]], *, max_nodes: Optional[int] = DEFAULT_MAX_NODES, collapse: Any = None,
           by: str = "neuron", rankdir: str = "LR", precision: int = 4, title: Optional[str] = None) -> str:
    """SVG text of the graph behind ``value``, laid out in Python (no Graphviz needed).

    Draws what `microgradx.draw.to_dot` describes, with the same options: a record per Value
    (``label | data | grad``, the root's outline bold), an ellipse per op application, edges
    following the data, inputs of non-commutative ops numbered, ``collapse=``, ``by=`` and
    ``max_nodes=`` as there (a collapsed layer: a header, then a row per output).
    """
    picture, shown = prepare(value, "to_svg", max_nodes=max_nodes, collapse=collapse, by=by, rankdir=rankdir,
                             precision=precision)
    return render_svg(scene(picture, shown, precision=precision, rankdir=rankdir, title=title, max_nodes=max_nodes))


def _xml(text: str) -> str:
    """``text`` for XML content: escaped, control characters shown as ``\\xNN`` (XML cannot hold them)."""
    return escape(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text))


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _path(points: list[tuple[float, float]], across: bool) -> str:
    """A smooth path through ``points``, leaving and entering each along the layout direction."""
    (x0, y0), rest = points[0], points[1:]
    parts = [f"M{_num(x0)},{_num(y0)}"]
    for x1, y1 in rest:
        if across:
            mid = (x0 + x1) / 2
            parts.append(f"C{_num(mid)},{_num(y0)} {_num(mid)},{_num(y1)} {_num(x1)},{_num(y1)}")
        else:
            mid = (y0 + y1) / 2
            parts.append(f"C{_num(x0)},{_num(mid)} {_num(x1)},{_num(mid)} {_num(x1)},{_num(y1)}")
        x0, y0 = x1, y1
    return " ".join(parts)


def _text(x: float, y: float, text: str, cls: str, extra: str = "") -> str:
    return f'<text class="{cls}" x="{_num(x)}" y="{_num(y + 4.2)}" text-anchor="middle"{extra}>{_xml(text)}</text>'


def _box(box: Box, rankdir: str) -> list[str]:
    across = rankdir in ("LR", "RL")
    classes = f"node {box.kind}" + (" root" if box.root else "")
    out = [f'<g class="{classes}" data-node={quoteattr(box.key)}>']
    left, top = box.x - box.width / 2, box.y - box.height / 2
    stroke = f'stroke="{_STROKE}" stroke-width="{2.4 if box.root else 1}"'
    if box.kind == "op":
        out.append(f'<ellipse cx="{_num(box.x)}" cy="{_num(box.y)}" rx="{_num(box.width / 2)}" '
                   f'ry="{_num(box.height / 2)}" fill="{_FILL["op"]}" {stroke}/>')
        out.append(_text(box.x, box.y, box.fields[0][1], "field-name", ' font-size="11"'))
    elif box.rows:
        out.extend(_table(box, stroke, rankdir))
    else:
        dash = ' stroke-dasharray="4,3"' if box.kind == "note" else ""
        out.append(f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(box.width)}" height="{_num(box.height)}" '
                   f'rx="3" fill="{_FILL[box.kind]}" {stroke}{dash}/>')
        out.extend(_cells(left, top, box.width, box.height, box.fields, box.widths, across, box.kind == "group"))
    out.append("</g>")
    return out


def _cells(left: float, top: float, width: float, height: float, fields: list[tuple[str, str]],
           widths: list[float], across: bool, bold: bool = False) -> list[str]:
    """The texts of a record's area: side by side (``across``, each its width) or stacked, a line between."""
    out, at = [], left if across else top
    size = height / len(fields)
    for i, ((name, text), w) in enumerate(zip(fields, widths)):
        if i:
            line = (f'x1="{_num(at)}" y1="{_num(top)}" x2="{_num(at)}" y2="{_num(top + height)}"' if across
                    else f'x1="{_num(left)}" y1="{_num(at)}" x2="{_num(left + width)}" y2="{_num(at)}"')
            out.append(f'<line {line} stroke="{_STROKE}" stroke-width="1"/>')
        step = w if across else size
        cx, cy = (at + step / 2, top + height / 2) if across else (left + width / 2, at + step / 2)
        weight = ' font-weight="bold"' if bold and name == "label" else ""
        out.append(_text(cx, cy, text, f"field-{name}", weight))
        at += step
    return out


def _table(box: Box, stroke: str, rankdir: str) -> list[str]:
    """A layer's record: its header and one ``<g class="port" data-node="KEY:ROW">`` per output
    (rows under the header, or columns beside each other top to bottom, as `Box` says)."""
    across = rankdir in ("LR", "RL")
    left, top = box.x - box.width / 2, box.y - box.height / 2
    header = box.height - (sum(r.height for r in box.rows) if across else box.rows[0].height)
    head_top = top + box.height - header if rankdir == "BT" else top
    out = [f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(box.width)}" height="{_num(box.height)}" '
           f'rx="3" fill="{_FILL[box.kind]}" {stroke}/>']
    out.extend(_cells(left, head_top, box.width, header, box.fields, box.widths, True, True))
    for k, row in enumerate(box.rows):
        x, y = row.x - row.width / 2, row.y - row.height / 2
        out.append(f'<g class="port" data-node={quoteattr(row.key)} data-port="{k}">')
        out.append(f'<rect class="port-bg" x="{_num(x + 1)}" y="{_num(y + 1)}" width="{_num(row.width - 2)}" '
                   f'height="{_num(row.height - 2)}" fill="none" stroke="none"/>')
        line = (f'x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x + row.width)}" y2="{_num(y)}"' if across
                else f'x1="{_num(x)}" y1="{_num(y)}" x2="{_num(x)}" y2="{_num(y + row.height)}"')
        if across or k:
            out.append(f'<line {line} stroke="{_STROKE}" stroke-width="1"/>')
        out.extend(_cells(x, y, row.width, row.height, row.fields, row.widths, across))
        out.append("</g>")
    if not across:
        edge = head_top + header if rankdir != "BT" else head_top
        out.append(f'<line x1="{_num(left)}" y1="{_num(edge)}" x2="{_num(left + box.width)}" y2="{_num(edge)}" '
                   f'stroke="{_STROKE}" stroke-width="1"/>')
    return out


def render_svg(sc: Scene, *, ident: Optional[str] = None) -> str:
    """The SVG text of a laid-out `Scene`. ``ident`` prefixes the ids inside (the arrow marker),
    so several pictures can share one HTML page; by default a hash of the picture."""
    across = sc.rankdir in ("LR", "RL")
    if ident is None:
        digest = hashlib.sha1(repr([(b.key, b.fields) for b in sc.boxes.values()]).encode()).hexdigest()
        ident = f"mgx{digest[:8]}"
    height = sc.height + (_CAPTION if sc.title else 0.0)
    arrow = f"{ident}-arrow"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mgx-graph" width="{_num(sc.width)}" '
        f'height="{_num(height)}" viewBox="0 0 {_num(sc.width)} {_num(height)}" font-family="{FONT_FAMILY}" '
        f'font-size="{FONT_SIZE}" xml:space="preserve">',
        f"<title>{_xml(sc.title or 'microgradx graph')}</title>",
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="9.5" refY="5" markerUnits="userSpaceOnUse" '
        f'markerWidth="9" markerHeight="9" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker></defs>',
        '<g class="edges">',
    ]
    for e in sc.edges:
        dash = ' stroke-dasharray="5,4"' if e.dashed else ""
        port = f' data-port="{e.port}"' if e.port is not None else ""
        out.append(f'<path class="edge" data-src={quoteattr(e.src)}{port} data-dst={quoteattr(e.dst)} '
                   f'd="{_path(e.points, across)}" fill="none" stroke="#555555" stroke-width="1.2"{dash} '
                   f'marker-end="url(#{arrow})"/>')
        if e.label:
            (x0, y0), (x1, y1) = e.points[-2], e.points[-1]
            out.append(_text((x0 + x1) / 2, (y0 + y1) / 2 - 7, e.label, "edge-label",
                             ' font-size="10" fill="#555555"'))
    out.append("</g>")
    out.append('<g class="nodes">')
    for box in sc.boxes.values():
        out.extend(_box(box, sc.rankdir))
    out.append("</g>")
    if sc.title:
        out.append(_text(sc.width / 2, sc.height + _CAPTION / 2, sc.title, "caption"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
