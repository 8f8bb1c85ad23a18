"""The built-in layout: where each node and edge of a picture goes, without Graphviz.

One path serves the SVG picture that `draw` writes when Graphviz is not installed and the
explorer page (`microgradx.draw.explore`): `elements` turns a `Picture` into boxes and edges
(the same ones `microgradx.draw.to_dot` writes for Graphviz), and `scene` lays them out in
layers the way Graphviz's ``dot`` does (a Sugiyama layout):

1. **layers**: each op node one layer after its last input, each Value one after its op; a
   leaf (an input, a parameter) sits just before the first node that uses it, so a bias
   added at the end is drawn there and not beside the inputs;
2. **order within a layer and routing**: igraph's ``layout_sugiyama`` (barycenter crossing
   reduction, dummy points on edges that skip layers);
3. **sizes**: the boxes are measured from their text (Helvetica's widths, which Arial and
   Liberation Sans share) and spread along each layer so none overlap, as near igraph's
   positions as the sizes allow.

igraph is a dependency of microgradx, imported only here, when a picture is laid out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional

from microgradx.draw.picture import Node, Picture, interchangeable
from microgradx.draw.text import summarize

FONT_SIZE = 12
FONT_FAMILY = "Helvetica, Arial, 'Liberation Sans', sans-serif"
_PAD = 8.0  # text to field border
_ROW = 26.0  # height of a record (LR) or of one of its rows (TB)
_RANK_GAP = 44.0  # between layers (36 top to bottom)
_NODE_GAP = 14.0  # between neighbours in a layer
_DUMMY = 6.0  # the room an edge passing through a layer takes
_MARGIN = 8.0

# Helvetica's advance widths (1/1000 em) for ASCII 32..126; Arial and Liberation Sans share them.
_WIDTHS = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The width in pixels of ``text`` in Helvetica at ``size`` px (wide characters counted as 1 em)."""
    return sum(_WIDTHS[ord(ch) - 32] if 32 <= ord(ch) < 127 else 1000 if ord(ch) >= 0x2E80 else 600
               for ch in text) * size / 1000.0


class Box:
    """One drawn node: a Value's record, a collapsed group's record, an op's ellipse, or the note.

    ``key`` names it in the SVG (``data-node``); ``kind`` is ``value``, ``group``, ``op``,
    ``note`` or ``row``; ``fields`` are ``(name, text)`` pairs (``label``, ``data``, ``grad``,
    ``count``; an op's or note's one field is ``name``/``note``). A layer's record has a header
    (its ``fields``) and one ``row`` box per output in ``rows`` (fields ``name``, ``data``,
    ``grad``; keyed ``n7:0``, ``n7:1`` ...): rows under the header left to right, columns side by
    side top to bottom (above the header for ``BT``, so edges leave them). ``x``, ``y`` is the centre.
    """

    __slots__ = ("key", "kind", "fields", "widths", "root", "width", "height", "x", "y", "layer", "rows")

    def __init__(self, key: str, kind: str, fields: list[tuple[str, str]], root: bool = False,
                 rows: Optional[list[Box]] = None):
        self.key, self.kind, self.fields, self.root, self.rows = key, kind, fields, root, rows or []
        self.widths: list[float] = []
        self.width = self.height = self.x = self.y = 0.0
        self.layer = 0


class Edge:
    """An arrow from box ``src`` to box ``dst`` through ``points`` (the first and last on the boxes);
    ``port`` is the output row of ``src`` it leaves from (None: the box itself)."""

    __slots__ = ("src", "dst", "label", "dashed", "points", "port")

    def __init__(self, src: str, dst: str, label: Optional[str] = None, dashed: bool = False,
                 port: Optional[int] = None):
        self.src, self.dst, self.label, self.dashed, self.port = src, dst, label, dashed, port
        self.points: list[tuple[float, float]] = []


class Scene:
    """A laid-out picture: its boxes (by key, in drawing order), edges, size, direction and title."""

    def __init__(self, boxes: dict[str, Box], edges: list[Edge], rankdir: str, title: Optional[str]):
        self.boxes, self.edges, self.rankdir, self.title = boxes, edges, rankdir, title
        self.width = self.height = 0.0

    def slot(self, key: str) -> Box:
        """The box, or a layer's output row, that shows the data and grad keyed ``key`` (``n7``, ``n7:1``)."""
        node, _, row = key.rpartition(":")
        return self.boxes[key] if key in self.boxes else self.boxes[node].rows[int(row)]


def value_fields(node: Node, precision: int, name: Optional[str] = None) -> list[tuple[str, str]]:
    """The record fields of a Value or group node as the pictures show them (after `summarize`): a layer's
    are its header's (its rows are `Box.rows`). ``name`` labels a Value that has no label of its own."""
    v, fields = node.value, []
    if node.group is not None or v.label or name:
        fields.append(("label", str(node.group or v.label or name)))
    if node.outputs is None:
        fields += [("data", f"data {summarize(v.data, precision)}"), ("grad", f"grad {summarize(v.grad, precision)}")]
    if node.group is not None:
        units = f"{node.units} neuron{'s' if node.units != 1 else ''}, " if node.outputs is not None else ""
        fields.append(("count", f"{units}{node.n_ops} op{'s' if node.n_ops != 1 else ''}, "
                                f"{node.n_params} param{'s' if node.n_params != 1 else ''}"))
    return fields


def elements(picture: Picture, shown: Sequence[Node], *, precision: int = 4, max_nodes: Optional[int] = None,
             names: Optional[Mapping[str, str]] = None) -> tuple[dict[str, Box], list[Edge]]:
    """The boxes (by key, in topological order) and edges that draw ``shown``, not yet measured.

    What every picture draws, whoever lays it out: `microgradx.draw.to_dot` writes them as DOT
    text, `scene` places them. An op application is its own box (``n3_op``) just before its
    output's, showing the op's symbol; the inputs of a two-input op that cannot swap them
    (`picture.interchangeable`: ``a - b``, not ``a * b``) are numbered on their edges; when
    ``shown`` leaves nodes out, a note box says how many, with a dashed edge to each box whose
    inputs were cut. ``names`` labels unlabelled Values by key.
    """
    boxes: dict[str, Box] = {}
    edges: list[Edge] = []
    kept, cut = {id(n) for n in shown}, []
    for node in shown:
        v, target = node.value, node.ident
        if node.group is None and v.op is not None:  # the op first: boxes stay in topological order
            target = f"{node.ident}_op"
            boxes[target] = Box(target, "op", [("name", v.op.symbol)])
            edges.append(Edge(target, node.ident))
        rows = [Box(key, "row", [("name", name), ("data", f"data {summarize(o.data, precision)}"),
                                 ("grad", f"grad {summarize(o.grad, precision)}")])
                for (key, o), (name, _) in zip(node.slots(), node.outputs or [])]
        boxes[node.ident] = Box(node.ident, "group" if node.group is not None else "value",
                                value_fields(node, precision, (names or {}).get(node.ident)),
                                root=node in picture.roots, rows=rows)
        links = picture.links(node)
        numbered = node.group is None and v.op is not None and len(links) == 2 and not interchangeable(v.op)
        for k, (p, port) in enumerate(links, start=1):
            if id(p) in kept:
                edges.append(Edge(p.ident, target, str(k) if numbered else None, port=port))
        if any(id(p) not in kept for p, _ in links):
            cut.append(target)
    omitted = picture.total - len(shown)
    if omitted:
        boxes["omitted"] = Box("omitted", "note", [("note", f"{omitted} more value{'s' if omitted != 1 else ''} not "
                                                             f"shown (max_nodes={max_nodes}); dashed edges mark the "
                                                             f"cut inputs")])
        edges.extend(Edge("omitted", t, dashed=True) for t in cut)
    return boxes, edges


def scene(picture: Picture, shown: Sequence[Node], *, precision: int = 4, rankdir: str = "LR",
          title: Optional[str] = None, max_nodes: Optional[int] = None,
          alternatives: Optional[Mapping[str, Mapping[str, Sequence[str]]]] = None,
          names: Optional[Mapping[str, str]] = None) -> Scene:
    """The `elements` of ``shown`` (nodes of ``picture``), laid out (see the module docstring).

    ``alternatives`` maps a box key and a field name to other texts the field will show (the
    explorer page's data and grads at each step): the field is made wide enough for all.
    ``names`` labels unlabelled Values by key (the explorer's names of inner nodes).
    """
    result = Scene(*elements(picture, shown, precision=precision, max_nodes=max_nodes, names=names), rankdir, title)
    _measure(result, alternatives or {})
    _lay_out(result)
    return result


def _measure(sc: Scene, alternatives: Mapping[str, Mapping[str, Sequence[str]]]) -> None:
    across = sc.rankdir in ("LR", "RL")  # a record's fields side by side (else stacked)
    for box in sc.boxes.values():
        for b in (box, *box.rows):
            extra = alternatives.get(b.key, {})
            b.widths = [max(text_width(t) for t in (text, *extra.get(name, ()))) + 2 * _PAD for name, text in b.fields]
        if box.kind in ("op", "note"):
            box.width, box.height = max(box.widths[0] + 8, 44.0) if box.kind == "op" else box.widths[0], _ROW
        elif box.rows and across:  # a table: the header, then a row per output, columns aligned
            columns = [max(r.widths[c] for r in box.rows) for c in range(3)]
            box.width = max(sum(box.widths), sum(columns))
            box.widths[-1] += box.width - sum(box.widths)
            columns[-1] += box.width - sum(columns)
            box.height = _ROW * (1 + len(box.rows))
            for r in box.rows:
                r.widths, r.width, r.height = list(columns), box.width, _ROW
        elif box.rows:  # top to bottom: the header, and the outputs side by side, each a column
            for r in box.rows:
                r.width, r.height = max(r.widths), _ROW * len(r.fields) * 0.8
            box.width = max(sum(box.widths), sum(r.width for r in box.rows))
            box.widths[-1] += box.width - sum(box.widths)
            box.rows[-1].width += box.width - sum(r.width for r in box.rows)
            box.height = _ROW + box.rows[0].height
        else:
            box.width, box.height = (sum(box.widths), _ROW) if across else (max(box.widths),
                                                                            _ROW * len(box.fields) * 0.8)


def _layers(sc: Scene) -> dict[str, int]:
    """Each box's layer: one after its last input; a box with no inputs just before its first user."""
    preds: dict[str, list[str]] = {k: [] for k in sc.boxes}
    succs: dict[str, list[str]] = {k: [] for k in sc.boxes}
    for e in sc.edges:
        preds[e.dst].append(e.src)
        succs[e.src].append(e.dst)
    layer: dict[str, int] = {}
    for key in sc.boxes:  # boxes come in topological order, except the note (a source)
        layer[key] = max((layer.get(p, 0) + 1 for p in preds[key]), default=0)
    for key in sc.boxes:
        if not preds[key] and succs[key]:
            layer[key] = max(0, min(layer[s] for s in succs[key]) - 1)
    low = min(layer.values(), default=0)
    return {k: n - low for k, n in layer.items()}


def _spread(desired: list[float], sizes: list[float]) -> list[float]:
    """Positions as near ``desired`` (sorted) as keeps neighbours ``(size_i + size_j)/2 + gap`` apart:
    the mean of a forward sweep (push later items on) and a backward one (pull earlier items back),
    which both keep the spacing, so their mean does too, and stays centred."""
    fwd, bwd = list(desired), list(desired)
    for i in range(1, len(desired)):
        fwd[i] = max(fwd[i], fwd[i - 1] + (sizes[i - 1] + sizes[i]) / 2 + _NODE_GAP)
    for i in range(len(desired) - 2, -1, -1):
        bwd[i] = min(bwd[i], bwd[i + 1] - (sizes[i + 1] + sizes[i]) / 2 - _NODE_GAP)
    return [(f + b) / 2 for f, b in zip(fwd, bwd)]


def _lay_out(sc: Scene) -> None:
    """Place every box and route every edge: laid out as LR (or TB), then mirrored for RL (or BT)."""
    import igraph  # a dependency, imported only when a picture is laid out

    keys, layer = list(sc.boxes), _layers(sc)
    index = {k: i for i, k in enumerate(keys)}
    graph = igraph.Graph(n=len(keys), edges=[(index[e.src], index[e.dst]) for e in sc.edges], directed=True)
    layout = graph.layout_sugiyama(layers=[layer[k] for k in keys], hgap=1, vgap=1, maxiter=100)
    routing = getattr(layout, "edge_routing", None) or [[] for _ in sc.edges]
    across, flip = sc.rankdir in ("LR", "RL"), sc.rankdir in ("RL", "BT")
    gap = _RANK_GAP if across else 36.0

    def along(box: Box) -> float:  # a box's extent along its layer, and across the layers
        return box.height if across else box.width

    items: dict[int, list[tuple[float, float, object]]] = {}  # each layer's boxes and passing edges, by igraph
    for k in keys:
        sc.boxes[k].layer = layer[k]
        items.setdefault(layer[k], []).append((layout.coords[index[k]][0], along(sc.boxes[k]), sc.boxes[k]))
    bends = [[[float(p[0]), round(p[1])] for p in points] for points in routing]
    for pt in (pt for pts in bends for pt in pts):
        items.setdefault(pt[1], []).append((pt[0], _DUMMY, pt))
    unit = sum(along(b) for b in sc.boxes.values()) / max(len(sc.boxes), 1) + _NODE_GAP
    depth: dict[int, float] = {}  # each layer's centre across the layers
    offset = _MARGIN
    for n in range(max(items, default=-1) + 1):
        members = sorted(items.get(n, []), key=lambda it: it[0])
        size = max(((b.width if across else b.height) for _, _, b in members if isinstance(b, Box)), default=_DUMMY)
        depth[n], offset = offset + size / 2, offset + size + gap
        for (_, _, obj), spot in zip(members, _spread([it[0] * unit for it in members], [it[1] for it in members])):
            if isinstance(obj, Box):
                obj.x, obj.y = (depth[n], spot) if across else (spot, depth[n])
            else:
                obj[0] = spot
    boxes = list(sc.boxes.values())
    shift = _MARGIN - min([(b.y - b.height / 2) if across else (b.x - b.width / 2) for b in boxes]
                          + [pt[0] - _DUMMY for pts in bends for pt in pts], default=0.0)
    for b in boxes:
        b.y, b.x = (b.y + shift, b.x) if across else (b.y, b.x + shift)
    breadth = max([(b.y + b.height / 2) if across else (b.x + b.width / 2) for b in boxes]
                  + [pt[0] + shift + _DUMMY for pts in bends for pt in pts], default=0.0) + _MARGIN
    extent = offset - gap + _MARGIN
    sc.width, sc.height = (extent, breadth) if across else (breadth, extent)
    for b in boxes:
        if flip:  # mirror across the layers
            b.x, b.y = (sc.width - b.x, b.y) if across else (b.x, sc.height - b.y)
        at = b.x - b.width / 2  # a layer's output rows under its header; top to bottom, columns on the exit side
        for k, r in enumerate(b.rows):
            if across:
                r.x, r.y = b.x, b.y - b.height / 2 + _ROW * (k + 1.5)
            else:
                r.x, r.y = at + r.width / 2, b.y + (b.height - r.height) / 2 * (-1.0 if flip else 1.0)
                at += r.width
    sign = -1.0 if flip else 1.0
    for e, pts in zip(sc.edges, bends):
        src, dst = sc.boxes[e.src], sc.boxes[e.dst]
        far = sc.width if across else sc.height
        middle = [(((far - depth[n]) if flip else depth[n]), spot + shift)[:: 1 if across else -1] for spot, n in pts]
        row = src.rows[e.port] if e.port is not None else src  # an edge from a layer's output leaves its row
        if across:
            start, end = (src.x + sign * src.width / 2, row.y), (dst.x - sign * dst.width / 2, dst.y)
        else:
            start, end = (row.x, src.y + sign * src.height / 2), (dst.x, dst.y - sign * dst.height / 2)
        e.points = [start, *middle, end]
