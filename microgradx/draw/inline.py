"""`draw_dot`: a picture of a graph that a notebook shows inline, as micrograd's ``trace_graph.ipynb`` draws.

    >>> from microgradx import Value
    >>> from microgradx.draw import draw_dot
    >>> x = Value(1.0)
    >>> y = (x * 2 + 1).relu()
    >>> y.backward()
    >>> dot = draw_dot(y)        # in Jupyter, a cell ending in `dot` shows the picture
    >>> dot.svg.count("<svg"), "ReLU" in dot.svg, "digraph" in dot.source
    (1, True, True)

micrograd's ``draw_dot`` returns a ``graphviz.Digraph``, which Jupyter displays through its
``_repr_svg_``-style methods. `draw_dot` returns a `Drawing` that does the same: the SVG is
made when `draw_dot` is called (a snapshot of the data and grads of that moment) by
Graphviz's ``dot`` where it is installed, else by the built-in layout (no Graphviz needed).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from microgradx import Value
from microgradx.draw.dot import to_dot
from microgradx.draw.files import ENGINES, INSTALL_HINT, find_dot, run_dot, write_atomic
from microgradx.draw.svg import to_svg


class Drawing:
    """A picture of a graph: its DOT text (``source``) and its SVG (``svg``), shown inline by Jupyter."""

    def __init__(self, source: str, svg: str, engine: str):
        self.source = source  # Graphviz DOT text, as graphviz.Digraph.source
        self.svg = svg  # the picture
        self.engine = engine  # who laid it out: "graphviz" or "builtin"

    def _repr_svg_(self) -> str:
        return self.svg

    def _repr_html_(self) -> str:
        return f'<div style="max-width: 100%; overflow: auto">{self.svg}</div>'

    def render(self, filename: Union[str, os.PathLike] = "graph") -> Path:
        """Write the DOT text to ``filename`` and the SVG next to it (``filename.svg``), as
        ``graphviz.Digraph.render`` does; returns the SVG's path. Written atomically."""
        path = Path(filename)
        write_atomic(path, self.source.encode("utf-8"))
        write_atomic(path.with_name(path.name + ".svg"), self.svg.encode("utf-8"))
        return path.with_name(path.name + ".svg")

    def __repr__(self) -> str:
        return f"<Drawing of {self.source.count(' [label=')} nodes, laid out by {self.engine}>"


def draw_dot(root: Union[Value, Sequence[Value]], format: str = "svg", rankdir: str = "LR", *, engine: str = "auto",
             timeout: float = 60.0, **options: Any) -> Drawing:
    """The picture of the graph behind ``root``, which a notebook cell ending in it shows inline.

    micrograd's ``draw_dot(root, format='svg', rankdir='LR')``: a record per Value (label,
    data, grad), an ellipse per op showing its symbol (``+``, ``*``, ``**2``, ``ReLU``). ``format``
    must be ``"svg"`` (what a notebook shows; `microgradx.draw.draw` writes PNG and PDF files).
    ``engine`` is ``"auto"`` (Graphviz's ``dot`` where installed, else the built-in layout),
    ``"graphviz"`` or ``"builtin"``; ``options`` are `to_dot`'s (``max_nodes``, ``collapse``,
    ``by``, ``precision``, ``title``).
    """
    if format != "svg":
        raise ValueError(f"draw_dot shows SVG (format='svg'), not {format!r}; for a {format} file use "
                         f"microgradx.draw.draw(root, 'graph.{format}')")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
    source = to_dot(root, rankdir=rankdir, **options)
    program = find_dot() if engine != "builtin" else None
    if program is None and engine == "graphviz":
        raise RuntimeError(f"engine='graphviz' needs Graphviz's `dot` program, which is not on PATH: {INSTALL_HINT}")
    if program is None:
        return Drawing(source, to_svg(root, rankdir=rankdir, **options), "builtin")
    svg = run_dot(program, source, "svg", timeout).decode("utf-8")
    return Drawing(source, svg[svg.index("<svg"):] if "<svg" in svg else svg, "graphviz")  # (no XML prologue inline)
