"""Pictures of a graph: Graphviz DOT text, SVG/PNG files, and the ``microgradx graph`` command.

    >>> from microgradx import Value
    >>> from microgradx.draw import draw, to_dot
    >>> a, b, c = Value(2.0, label="a"), Value(-3.0, label="b"), Value(10.0, label="c")
    >>> out = (a * b + c).tanh()
    >>> out.backward()
    >>> text = to_dot(out)            # DOT text: one record per Value, one node per op
    >>> "grad -0.004023" in text      # a's gradient, shown to 4 significant digits
    True

``draw(out, "expr.svg")`` writes ``expr.dot`` and, when Graphviz's ``dot`` program is
installed, ``expr.svg``. Without Graphviz it warns (`GraphvizNotFoundWarning`, saying
how to install it) and returns the ``.dot`` file's path.

The picture: each Value is a record ``{ label | data ... | grad ... }`` (a lane Value
shows its number of lanes, the mean and the first few lanes); each op application is a
small ellipse naming the op; edges follow the data: ``input -> op -> output``. Inputs of
a two-input op other than add and mul are numbered (1, 2) on their edges, since order
matters for ``sub``, ``div``, ``pow``. The root has a bold outline.

**Collapsing neurons** (``collapse=``): draw each neuron's pre-activation subgraph
(``b + w1*x1 + ... + wn*xn``, whether built of single ``mul``/``add`` ops or one fused
``dot``) as one node named ``neuron L.i``. Pass the model (an object with ``.layers``,
each with ``.neurons``, each with ``parameters()``; or a layer with ``.neurons``; or a
single neuron with ``parameters()``), or a dict ``{name: parameters}`` for any grouping
of your own. A group's node stands for the ops computed from its parameters, starting
at the ops that use a parameter directly and ending at the first op whose result
depends on all of the group's parameters (the pre-activation): the activation that
follows stays a node of its own. The group's parameters are hidden when nothing outside
the group uses them; the node shows the pre-activation's data and grad and how many ops
and parameters it stands for. When a group's parameters are used again elsewhere in the
graph (the model applied to a second example, an L2 penalty summing ``p*p``), each further
use that depends on all of them is its own node, ``neuron L.i (use 2)``, ... (uses are
numbered from the one nearest the root, ties in argument order).

**Capping** (``max_nodes=``): at most that many Value (or collapsed-neuron) nodes are
drawn, the ones nearest the root (breadth-first from it); a note node says how many were
left out, with dashed edges to the ops whose inputs were cut.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from microgradx.engine.autograd import topological_order
from microgradx.engine.value import Value

#: Default cap on the Value nodes drawn (Graphviz gets slow and pictures unreadable beyond it).
DEFAULT_MAX_NODES = 250
#: Picture formats `draw` renders with Graphviz, and the suffix of the DOT-only output.
FORMATS = ("svg", "png", "pdf")
DOT_SUFFIXES = (".dot", ".gv")
#: How many lanes of a lane Value are listed in its node.
LANES_SHOWN = 3
_RANKDIRS = ("LR", "RL", "TB", "BT")
_COMMUTATIVE = frozenset({"add", "mul"})
INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
    "others: https://graphviz.org/download/)"
)


class GraphvizNotFoundWarning(UserWarning):
    """Graphviz's ``dot`` program is not installed: only the ``.dot`` file was written."""


# -- formatting and escaping ---------------------------------------------------------------------


def format_number(x: float, precision: int = 4) -> str:
    """``x`` to ``precision`` significant digits, as the nodes show it (``-0.004023``, ``nan``)."""
    return format(float(x), f".{precision}g")


def summarize(x: Any, precision: int = 4) -> str:
    """A number as a node shows it; a lane array as ``N lanes, mean M: [x0, x1, x2, ...]``."""
    if isinstance(x, np.ndarray):
        n = x.size
        mean = float(np.mean(x)) if n else math.nan
        shown = ", ".join(format_number(v, precision) for v in x[:LANES_SHOWN])
        more = ", ..." if n > LANES_SHOWN else ""
        return f"{n} lane{'s' if n != 1 else ''}, mean {format_number(mean, precision)}: [{shown}{more}]"
    return format_number(x, precision)


_RECORD_SPECIAL = frozenset('{}|<>"\\')


def escape_record(text: str) -> str:
    """Escape ``text`` for one field of a Graphviz record label inside a double-quoted string.

    Backslash-escapes ``{ } | < > " \\``; keeps spaces that Graphviz would collapse or trim
    (leading, trailing, repeated) as escaped spaces; newlines become line breaks; other
    control characters are shown as ``\\xNN`` text. Non-ASCII text passes through (the
    DOT output declares UTF-8).
    """
    out = []
    n = len(text)
    for i, ch in enumerate(text):
        if ch in _RECORD_SPECIAL:
            out.append("\\" + ch)
        elif ch == " ":
            lone = 0 < i < n - 1 and text[i - 1] != " " and text[i + 1] != " "
            out.append(" " if lone else "\\ ")
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _escape_plain(text: str) -> str:
    """Escape ``text`` for a quoted non-record label."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\\\x{ord(m.group()):02x}", text)


# -- the display graph ----------------------------------------------------------------------------


class _Node:
    """One node of the picture: a Value, or a collapsed group of ops."""

    __slots__ = ("ident", "value", "group", "n_ops", "n_params", "inputs")

    def __init__(self, ident: str, value: Value, group: Optional[str] = None, n_ops: int = 0, n_params: int = 0):
        self.ident = ident
        self.value = value
        self.group = group
        self.n_ops = n_ops
        self.n_params = n_params
        self.inputs: Optional[list[_Node]] = None  # filled by _Picture.inputs


class _Instance:
    """One occurrence of a collapsed group: its end (pre-activation) and member Values."""

    __slots__ = ("group", "name", "end", "members")

    def __init__(self, group: str, name: str, end: Value):
        self.group = group
        self.name = name
        self.end = end
        self.members: list[Value] = []


def _roots(value: Union[Value, Sequence[Value]]) -> list[Value]:
    roots = [value] if isinstance(value, Value) else list(value) if isinstance(value, (list, tuple)) else None
    if not roots or not all(isinstance(v, Value) for v in roots):
        raise TypeError(
            f"to_dot() draws a Value or a non-empty list of Values, not {type(value).__name__}"
            + (f" containing {type(next(v for v in roots if not isinstance(v, Value))).__name__}" if roots else "")
        )
    return roots


def _order(roots: list[Value]) -> list[Value]:
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


def groups_from(collapse: Any) -> list[tuple[str, list[Value]]]:
    """The ``(name, parameters)`` groups that ``collapse=`` describes (see the module docstring).

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
    layers = getattr(model, "layers", None)
    if layers is not None:
        return [
            (f"neuron {li}.{ni}", neuron)
            for li, layer in enumerate(layers)
            for ni, neuron in enumerate(_neurons(layer, f"layer {li}"))
        ]
    if getattr(model, "neurons", None) is not None:
        return [(f"neuron {ni}", neuron) for ni, neuron in enumerate(_neurons(model, "the layer"))]
    return [("neuron", model)]


def _neurons(layer: Any, where: str) -> list:
    neurons = getattr(layer, "neurons", None)
    if neurons is None:
        raise TypeError(f"collapse=: {where} ({type(layer).__name__}) has no .neurons to collapse")
    return list(neurons)


def _params(neuron: Any) -> list[Value]:
    params = list(neuron.parameters())
    if not all(isinstance(p, Value) for p in params):
        raise TypeError(f"collapse=: {type(neuron).__name__}.parameters() must return Values")
    return params


def _find_instances(order: list[Value], groups: list[tuple[str, list[Value]]]) -> list[_Instance]:
    """Find each group's collapsed subgraphs in ``order`` (see the module docstring).

    Walking in topological order, an op joins group g when its inputs include a parameter
    of g or an unfinished member of g, and nothing of another group; it carries the set
    of g's parameters it depends on (a bitmask). A member depending on all of them is
    finished: an *end*, and its consumers do not join through it.
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
        if v._op is None:
            continue
        group, mask = -1, 0
        for p in v._parents:
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
        inst = _Instance(group, group if counts[gi] == 1 else f"{group} (use {counts[gi]})", end)
        stack = [end]
        assigned.add(id(end))
        while stack:
            m = stack.pop()
            inst.members.append(m)
            for p in m._parents:
                st = state.get(id(p))
                if st is not None and st[0] == gi and st[1] != full[gi] and id(p) not in assigned:
                    assigned.add(id(p))
                    stack.append(p)
        instances.append(inst)
    return instances


def _distance_rank(order: list[Value]) -> dict[int, int]:
    """id(Value) -> its rank breadth-first from the root(s) (the last Values of ``order``),
    parents in argument order: "nearest the root, then first in reading order"."""
    children = {id(p) for v in order for p in v._parents}
    queue = [v for v in order if id(v) not in children]
    rank = {id(v): i for i, v in enumerate(queue)}
    i = 0
    while i < len(queue):
        for p in queue[i]._parents:
            if id(p) not in rank:
                rank[id(p)] = len(queue)
                queue.append(p)
        i += 1
    return rank


class _Picture:
    """The picture's nodes, made on demand: drawing 200 nodes of a million-node graph
    costs one topological sort, not a million node objects."""

    def __init__(self, roots: list[Value], collapse: Any):
        self.order = order = _order(roots)
        self.index = {id(v): i for i, v in enumerate(order)}
        self.owner: dict[int, _Instance] = {}  # id(member Value) -> its collapsed instance
        self.hidden: set[int] = set()  # ids of parameters drawn inside their neuron's node
        self.nodes: dict[int, _Node] = {}  # id(Value) -> its node (members map to their group's node)
        instances: list[_Instance] = []
        if collapse is not None:
            groups = groups_from(collapse)
            instances = _find_instances(order, groups)
            self._hide_parameters(groups, instances)
        for inst in instances:
            n_params = len({id(p) for m in inst.members for p in m._parents if id(p) in self.hidden})
            node = _Node(f"n{self.index[id(inst.end)]}", inst.end, inst.name, len(inst.members), n_params)
            for m in inst.members:
                self.owner[id(m)] = inst
                self.nodes[id(m)] = node
        self.total = len(order) - len(self.hidden) - sum(len(inst.members) - 1 for inst in instances)
        self.roots = [self.node(r) for r in roots]

    def _hide_parameters(self, groups: list[tuple[str, list[Value]]], instances: list[_Instance]) -> None:
        member_group: dict[int, str] = {}
        for inst in instances:
            for m in inst.members:
                member_group[id(m)] = inst.group
        consumers: dict[int, list[Value]] = {}
        for v in self.order:
            for p in v._parents:
                consumers.setdefault(id(p), []).append(v)
        for name, params in groups:
            for p in params:
                used_by = consumers.get(id(p))
                if used_by and all(member_group.get(id(c)) == name for c in used_by):
                    self.hidden.add(id(p))

    def node(self, v: Value) -> _Node:
        """The node that draws ``v`` (its collapsed neuron's node for a member)."""
        node = self.nodes.get(id(v))
        if node is None:
            node = self.nodes[id(v)] = _Node(f"n{self.index[id(v)]}", v)
        return node

    def inputs(self, node: _Node) -> list[_Node]:
        """The nodes drawn as ``node``'s inputs, in argument order, computed once."""
        if node.inputs is None:
            if node.group is None:
                node.inputs = [self.node(p) for p in node.value._parents]
            else:
                inst = self.owner[id(node.value)]
                member_ids = {id(m) for m in inst.members}
                seen: set[int] = set()
                node.inputs = []
                for m in reversed(inst.members):
                    for p in m._parents:
                        if id(p) in member_ids or id(p) in self.hidden:
                            continue
                        target = self.node(p)
                        if id(target) not in seen and target is not node:
                            seen.add(id(target))
                            node.inputs.append(target)
        return node.inputs

    def shown(self, max_nodes: Optional[int]) -> list[_Node]:
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
        kept: dict[int, _Node] = {}
        queue: list[_Node] = []
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


# -- DOT text -----------------------------------------------------------------------------------


def to_dot(
    value: Union[Value, Sequence[Value]],
    *,
    max_nodes: Optional[int] = DEFAULT_MAX_NODES,
    collapse: Any = None,
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
            See the module docstring.
        rankdir: Graphviz layout direction: ``"LR"`` (inputs on the left), ``"TB"``, ...
        precision: significant digits of the numbers shown.
        title: an optional caption drawn under the graph.

    Numbers are shown with `format_number` (``precision`` significant digits); a lane
    Value's data and grad with `summarize`.
    """
    roots = _roots(value)
    if max_nodes is not None and (isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, got {max_nodes!r}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 1 <= precision <= 17:
        raise ValueError(f"precision must be an int from 1 to 17, got {precision!r}")
    picture = _Picture(roots, collapse)
    shown = picture.shown(max_nodes)
    kept = {id(n) for n in shown}
    root_ids = {id(r) for r in picture.roots}

    lines = [
        "digraph microgradx {",
        f'  graph [rankdir={rankdir}, charset="UTF-8", fontname="Helvetica"'
        + (f', label="{_escape_plain(title)}", labelloc=b' if title else "")
        + "];",
        '  node [fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    cut: list[str] = []  # ids of the nodes whose inputs were partly left out
    for node in shown:
        v = node.value
        fields = []
        if node.group is not None:
            fields.append(node.group)
        elif v.label is not None:
            fields.append(str(v.label))
        fields.append(f"data {summarize(v.data, precision)}")
        fields.append(f"grad {summarize(v.grad, precision)}")
        if node.group is not None:
            fields.append(f"{node.n_ops} op{'s' if node.n_ops != 1 else ''}, "
                          f"{node.n_params} param{'s' if node.n_params != 1 else ''}")
        label = "{ " + " | ".join(escape_record(f) for f in fields) + " }"
        attrs = [f'label="{label}"', "shape=record"]
        if node.group is not None:
            attrs += ["style=filled", 'fillcolor="#dbe9f6"']
        if id(node) in root_ids:
            attrs.append("penwidth=2")
        lines.append(f"  {node.ident} [{', '.join(attrs)}];")
        target = node.ident
        if node.group is None and v._op is not None:
            target = f"{node.ident}_op"
            lines.append(f'  {target} [label="{_escape_plain(v._op.name)}", shape=ellipse, fontsize=10];')
            lines.append(f"  {target} -> {node.ident};")
        inputs = picture.inputs(node)
        numbered = node.group is None and v._op is not None and len(inputs) == 2 and v._op.name not in _COMMUTATIVE
        missing = False
        for k, p in enumerate(inputs, start=1):
            if id(p) not in kept:
                missing = True
                continue
            extra = f' [label="{k}"]' if numbered else ""
            lines.append(f"  {p.ident} -> {target}{extra};")
        if missing:
            cut.append(target)
    omitted = picture.total - len(shown)
    if omitted:
        note = (f"{omitted} more value{'s' if omitted != 1 else ''} not shown (max_nodes={max_nodes}); "
                f"dashed edges mark the cut inputs")
        lines.append(f'  omitted [shape=note, label="{_escape_plain(note)}", fontsize=10];')
        lines.extend(f"  omitted -> {t} [style=dashed];" for t in cut)
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- files ----------------------------------------------------------------------------------------


def find_dot() -> Optional[str]:
    """Path of Graphviz's ``dot`` program on ``PATH``, or None when it is not installed."""
    return shutil.which("dot")


def draw(
    value: Union[Value, Sequence[Value]],
    path: Union[str, os.PathLike],
    *,
    format: Optional[str] = None,
    timeout: float = 60.0,
    **to_dot_options: Any,
) -> Path:
    """Write the graph behind ``value`` to ``path``; returns the path of the picture written.

    Always writes the DOT text next to ``path`` (same name, suffix ``.dot``). The picture
    format is ``format`` or else ``path``'s suffix: ``.svg``, ``.png``, ``.pdf`` are
    rendered with Graphviz's ``dot`` program (run without a shell, with a ``timeout`` in
    seconds); ``.dot``/``.gv`` writes only the DOT text; no suffix means SVG. When ``dot``
    is not installed, warns with `GraphvizNotFoundWarning` (saying how to install it) and
    returns the ``.dot`` file's path instead. ``to_dot_options`` go to `to_dot`.

    Raises ``ValueError`` for an unknown format or a suffix that contradicts ``format``,
    and ``RuntimeError`` when ``dot`` fails or times out (with its message).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if format is not None:
        fmt = str(format).lower().lstrip(".")
        if fmt not in (*FORMATS, "dot", "gv"):
            raise ValueError(f"format must be one of {', '.join((*FORMATS, 'dot'))}, got {format!r}")
        if not suffix:
            path = path.with_suffix(f".{fmt}")
        elif suffix.lstrip(".") != fmt:
            raise ValueError(f"format={format!r} contradicts the file name {path.name!r}: use a .{fmt} suffix")
    elif not suffix:
        fmt, path = "svg", path.with_suffix(".svg")
    elif suffix in DOT_SUFFIXES or suffix.lstrip(".") in FORMATS:
        fmt = suffix.lstrip(".")
    else:
        raise ValueError(
            f"cannot tell the picture format from {path.name!r}: use a suffix .svg, .png, .pdf or .dot, or format="
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    text = to_dot(value, **to_dot_options)
    dot_path = path if fmt in ("dot", "gv") else path.with_suffix(".dot")
    _write_atomic(dot_path, text.encode("utf-8"))
    if fmt in ("dot", "gv"):
        return dot_path
    program = find_dot()
    if program is None:
        warnings.warn(
            f"Graphviz's `dot` program is not on PATH, so {path} was not written; the graph is in "
            f"{dot_path} (DOT text). To get pictures, {INSTALL_HINT}; then run: "
            f"dot -T{fmt} {dot_path} -o {path}",
            GraphvizNotFoundWarning,
            stacklevel=2,
        )
        return dot_path
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        try:
            proc = subprocess.run(
                [program, f"-T{fmt}", str(dot_path), "-o", tmp],
                capture_output=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"Graphviz's dot took more than {timeout:g} s to draw {dot_path}; draw fewer nodes "
                f"(max_nodes=, or collapse= a model's neurons)"
            ) from None
        if proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"Graphviz's dot failed ({proc.returncode}) drawing {dot_path}: {message}")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_model_graph(
    kind: str, nin: int, nouts: Optional[list[int]] = None, *, activation: str = "tanh", seed: int = 0
) -> tuple[Any, list[Value], dict[str, Value]]:
    """Build the registered layer ``kind`` ("Neuron" or "MLP") in fine-grained form and apply it.

    The inputs are Values labelled ``x0 .. x{nin-1}`` with seeded data in [-1, 1); the
    parameters get labels (``w0``/``b`` for a neuron, ``L0n1.w2``/``L0n1.b`` in an MLP)
    unless they have some. Returns ``(model, outputs, {input name: Value})``; the outputs
    are labelled ``out`` (``out0``, ``out1``, ... for several).
    """
    from microgradx.registry.core import get_registry

    cls = get_registry().get("layers", kind)
    if kind == "MLP":
        model = cls(nin, list(nouts or []), activation=activation, seed=seed, fused=False)
    else:
        model = cls(nin, activation=activation, seed=seed, fused=False)
    rng = np.random.default_rng(seed)
    xs = [Value(float(rng.uniform(-1.0, 1.0)), label=f"x{i}") for i in range(nin)]
    outputs = model(xs)
    outputs = [outputs] if isinstance(outputs, Value) else list(outputs)
    for i, out in enumerate(outputs):
        if out.label is None:
            out.label = "out" if len(outputs) == 1 else f"out{i}"
    _label_parameters(model)
    return model, outputs, {x.label: x for x in xs}


def _label_parameters(model: Any) -> None:
    """Give unlabelled parameters readable labels by their place: ``w0``, ``b``; ``L0n1.w2`` in an MLP."""
    for name, neuron in named_neurons(model):
        place = name.replace("neuron", "").strip()
        prefix = f"L{place.replace('.', 'n')}." if "." in place else (f"n{place}." if place else "")
        w, b = getattr(neuron, "w", None), getattr(neuron, "b", None)
        wpos = {id(q): i for i, q in enumerate(w)} if isinstance(w, (list, tuple)) else {}
        for k, p in enumerate(neuron.parameters()):
            if p.label is None:
                p.label = f"{prefix}b" if p is b else f"{prefix}w{wpos[id(p)]}" if id(p) in wpos else f"{prefix}p{k}"
