"""The explorer page: one self-contained HTML file that steps the forward and backward pass.

`explore` writes it, `explorer_html` returns its text. The page shows the graph drawn by the
built-in layout (the same SVG as `microgradx.draw.to_svg`; no Graphviz), and a timeline:

* **start**: the leaves (inputs, parameters) hold their data; nothing else is computed;
* **forward**, one op output at a time in topological order: its data appears;
* **seed**: the root's grad is set to 1 (every other grad is 0);
* **backward**, one op output at a time, as ``backward()`` visits them: the visited node and
  its inputs are highlighted, and for each input the local derivative (its op's formula,
  `Op.formula`, and its number), ``upstream x local`` and the input's grad before and after
  are written out; the grads shown are those of that moment, from the engine's own pass
  (recorded through its visiting hook by `microgradx.draw.steps`);
* **done**: every grad is final.

The page opens at the *start*, nothing computed yet, with the graph fitted to the window;
buttons, a slider and the keys (left/right arrows, Home, End, ``b`` for the start of the
backward pass) step through it, and ``f``, ``+``, ``-``, ``0`` and dragging zoom and pan. Every
op output without a label of its own is labelled with the name the steps call it by (``a *
b``, or ``node 7`` where the expression is long).
With ``collapse=`` (a model whose layers name what they build, or scope names) each neuron is
one node and one step; with ``by="layer"`` too, each layer is (its outputs' data and grads in
rows ``n7:0``, ``n7:1`` ...).
The page (``explorer.html``), its script (``explorer.js``) and styles (``explorer.css``) are
package files, inlined into each page: opening it makes no network request.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union

from microgradx import Value, __version__
from microgradx.draw.files import write_atomic
from microgradx.draw.layout import scene
from microgradx.draw.picture import DEFAULT_MAX_NODES, prepare
from microgradx.draw.svg import render_svg
from microgradx.draw.timeline import Timeline

HTML_SUFFIXES = (".html", ".htm")


def _asset(name: str) -> str:
    return resources.files("microgradx.draw").joinpath(name).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can appear)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def explorer_html(value: Union[Value, list, tuple], *, collapse: Any = None, by: str = "neuron",
                  max_nodes: Optional[int] = DEFAULT_MAX_NODES, rankdir: str = "LR", precision: int = 5,
                  title: Optional[str] = None) -> str:
    """The explorer page's HTML text for the graph behind ``value`` (see the module docstring).

    Args:
        value: the root Value (an expression, a neuron's output, a loss), or a list of roots
            (each seeded with grad 1, as calling ``backward()`` on each would add up).
        collapse: a model whose layers name what they build (the bundled MLP), or scope names
            (``["L0.n0", "L0.n1"]``): each neuron is one node and one step (`microgradx.draw.picture`).
        by: ``"neuron"`` (the default) or ``"layer"``: each layer of the ``collapse=`` model is
            one node (its weighted sums and activations, a row per output) and one step, whose
            table lists each input and parameter with the upstream grads of the outputs that
            depend on it, their local derivatives and what is added.
        max_nodes: draw at most this many Value nodes (those nearest the root; ``None``: all);
            the steps of the nodes not drawn still happen, shown with the step before them.
        rankdir: ``"LR"`` (inputs on the left), ``"TB"``, ``"RL"`` or ``"BT"``.
        precision: significant digits of the numbers on the page.
        title: the page's heading (default: the root's label, or "graph").

    The page shows the engine's own backward pass, run from zero grads; the graph's grads are put
    back afterwards, so it shows one pass whether or not ``backward()`` was called.
    """
    picture, shown = prepare(value, "explore", max_nodes=max_nodes, collapse=collapse, by=by, rankdir=rankdir,
                             precision=precision)
    line = Timeline(picture, shown, precision)
    root = value if isinstance(value, Value) else value[0] if len(value) == 1 else None
    heading = title or (root.label if root is not None else None) or "graph"
    sc = scene(picture, shown, precision=precision, rankdir=rankdir, max_nodes=max_nodes,
               alternatives=line.alternatives(), names=line.labels())
    for key, (data, grad) in line.initial.items():  # drawn as the page opens: the leaves' data, every grad 0
        box = sc.slot(key)
        box.fields = [(n, data if n == "data" else grad if n == "grad" else t) for n, t in box.fields]
    return _asset("explorer.html").format(version=html.escape(__version__), title=html.escape(str(heading)),
                                          css=_asset("explorer.css"), js=_asset("explorer.js"),
                                          svg=render_svg(sc, ident="mgx"), steps=_json_for_script(line.data()))


def explore(value: Union[Value, list, tuple], path: Union[str, os.PathLike], **options: Any) -> Path:
    """Write the explorer page for the graph behind ``value`` to ``path`` (``.html``); returns the path.

    ``options`` are those of `explorer_html` (``collapse``, ``by``, ``max_nodes``, ``rankdir``,
    ``precision``, ``title``). The file is self-contained (open it in any browser, offline) and
    written atomically. Raises ``TypeError`` for a ``value`` that is not a Value, ``ValueError``
    for a path without an ``.html`` suffix, ``FileNotFoundError`` when its folder does not exist.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"explore() writes to a file path (str or os.PathLike), not {type(path).__name__}")
    path = Path(path)
    if path.suffix.lower() not in HTML_SUFFIXES:
        raise ValueError(f"explore() writes an HTML page: {path.name!r} needs a .html suffix")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    write_atomic(path, explorer_html(value, **options).encode("utf-8"))
    return path
