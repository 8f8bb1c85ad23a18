"""The explorer page: one self-contained HTML file that steps the forward and backward pass.

`explore` writes it, `explorer_html` returns its text. The page shows the graph drawn by the
built-in layout (the same SVG as `microgradx.draw.to_svg`; no Graphviz), and a timeline:

* **start**: the leaves (inputs, parameters) hold their data; nothing else is computed;
* **forward**, one op output at a time in topological order: its data appears;
* **seed**: the root's grad is set to 1 (every other grad is 0);
* **backward**, one op output at a time, children before parents as ``backward()`` visits
  them: the visited node and its inputs are highlighted, and for each input the local
  derivative, ``upstream x local`` and the input's grad before and after are written out;
  the grads shown are those of that moment (computed by `microgradx.draw.steps`);
* **done**: every grad is final.

The page opens at the *start*, nothing computed yet, with the graph fitted to the window;
buttons, a slider and the keys (left/right arrows, Home, End, ``b`` for the start of the
backward pass) step through it, and ``f``, ``+``, ``-``, ``0`` and dragging zoom and pan. Every
op output without a label of its own is labelled with the name the steps call it by (``a *
b``, or ``node 7`` where the expression is long).
With ``collapse=`` (a model) each neuron's weighted sum is one node and one step; with
``by="layer"`` too, each layer is (its outputs' data and grads in rows ``n7:0``, ``n7:1`` ...).
Scripts and styles are inlined: opening the page makes no network request.
"""

from __future__ import annotations

import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any, Optional, Union

from microgradx import Value
from microgradx.draw.layout import scene
from microgradx.draw.picture import DEFAULT_MAX_NODES, prepare
from microgradx.draw.svg import render_svg
from microgradx.draw.timeline import Timeline

HTML_SUFFIXES = (".html", ".htm")

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="microgradx {version}">
<title>{title} - microgradx explorer</title>
<link rel="icon" href="data:,">
<style>
{css}</style>
</head>
<body>
<header>
<h1>Backprop explorer: <code>{title}</code></h1>
<div class="controls" role="toolbar" aria-label="step through the passes">
<button id="mgx-first" type="button" title="start (Home)">|&#x25C0; start</button>
<button id="mgx-prev" type="button" title="previous step (left arrow)">&#x25C0; back</button>
<button id="mgx-next" type="button" title="next step (right arrow)">next &#x25B6;</button>
<button id="mgx-backward" type="button" title="start of the backward pass (b)">backward pass</button>
<button id="mgx-last" type="button" title="done (End)">done &#x25B6;|</button>
<input id="mgx-slider" type="range" min="0" max="0" value="0" aria-label="step">
<span id="mgx-counter" aria-live="polite"></span>
<span class="zoom" role="group" aria-label="zoom">
<button id="mgx-zoom-out" type="button" title="zoom out (-)">&minus;</button>
<button id="mgx-fit" type="button" title="fit the graph to the window (f)">fit</button>
<button id="mgx-zoom-in" type="button" title="zoom in (+)">+</button>
<span id="mgx-zoom"></span>
</span>
</div>
<div class="keys"><kbd>&#x2190;</kbd> <kbd>&#x2192;</kbd> step &middot; <kbd>Home</kbd> start &middot;
<kbd>b</kbd> backward pass &middot; <kbd>End</kbd> done &middot; <kbd>f</kbd> fit, <kbd>+</kbd> <kbd>&minus;</kbd>
zoom, <kbd>0</kbd> actual size, drag to pan
<span class="legend"><span class="l-visited">visited node</span><span class="l-input">its inputs</span>
<span class="l-changed">changed at this step</span></span></div>
</header>
<section id="mgx-panel" aria-live="polite">
<p id="mgx-title"></p>
<p id="mgx-text"></p>
<table id="mgx-terms" hidden></table>
</section>
<main id="mgx-graph">
{svg}</main>
<script type="application/json" id="mgx-steps">{steps}</script>
<script>
{js}</script>
</body>
</html>
"""


def _asset(name: str) -> str:
    return resources.files("microgradx.draw").joinpath(name).read_text(encoding="utf-8")


def _json_for_script(obj: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>`` or ``<!--`` can appear)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def explorer_html(
    value: Union[Value, list, tuple],
    *,
    collapse: Any = None,
    by: str = "neuron",
    max_nodes: Optional[int] = DEFAULT_MAX_NODES,
    rankdir: str = "LR",
    precision: int = 5,
    title: Optional[str] = None,
) -> str:
    """The explorer page's HTML text for the graph behind ``value`` (see the module docstring).

    Args:
        value: the root Value (an expression, a neuron's output, a loss), or a list of roots
            (each seeded with grad 1, as calling ``backward()`` on each would add up).
        collapse: a model (with ``.layers`` of ``.neurons``), a layer, a neuron or ``{name:
            parameters}``: each neuron's weighted sum is one node and one step.
        by: ``"neuron"`` (the default) or ``"layer"``: each layer of the ``collapse=`` model is
            one node (its weighted sums and activations, a row per output) and one step, whose
            table lists each input and parameter with the upstream grads of the outputs that
            depend on it, their local derivatives and what is added.
        max_nodes: draw at most this many Value nodes (those nearest the root; ``None``: all);
            the steps of the nodes not drawn still happen, shown with the step before them.
        rankdir: ``"LR"`` (inputs on the left), ``"TB"``, ``"RL"`` or ``"BT"``.
        precision: significant digits of the numbers on the page.
        title: the page's heading (default: the root's label, or "graph").

    The page never changes the graph: grads are replayed from zero on the side, so it shows one
    backward pass whether or not ``backward()`` was called.
    """
    picture, shown = prepare(value, "explore", max_nodes=max_nodes, collapse=collapse, by=by, rankdir=rankdir,
                             precision=precision)
    line = Timeline(picture, shown, precision)
    root = value if isinstance(value, Value) else value[0] if len(value) == 1 else None
    heading = title or (root.label if root is not None else None) or "graph"
    sc = scene(picture, shown, precision=precision, rankdir=rankdir, max_nodes=max_nodes,
               alternatives=line.alternatives(), names=line.labels())
    _reset_texts(sc, line.initial)
    from microgradx import __version__

    return _TEMPLATE.format(
        version=html.escape(__version__),
        title=html.escape(str(heading)),
        css=_asset("explorer.css"),
        js=_asset("explorer.js"),
        svg=render_svg(sc, ident="mgx"),
        steps=_json_for_script(line.data()),
    )


def _reset_texts(sc: Any, initial: dict[str, tuple[str, str]]) -> None:
    """Draw each node with the text the page opens with (the start: the leaves' data, every grad 0)."""
    for key, (data, grad) in initial.items():
        box = sc.slot(key)
        box.fields = [(n, data if n == "data" else grad if n == "grad" else t) for n, t in box.fields]


def explore(
    value: Union[Value, list, tuple],
    path: Union[str, os.PathLike],
    **options: Any,
) -> Path:
    """Write the explorer page for the graph behind ``value`` to ``path`` (``.html``); returns the path.

    ``options`` are those of `explorer_html` (``collapse``, ``by``, ``max_nodes``, ``rankdir``,
    ``precision``, ``title``). The file is self-contained (open it in any browser, offline) and
    written atomically. Raises ``TypeError`` for a ``value`` that is not a Value, ``ValueError``
    for a path without an ``.html`` suffix, ``FileNotFoundError`` when its folder does not exist.
    """
    from microgradx.draw.files import write_atomic

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"explore() writes to a file path (str or os.PathLike), not {type(path).__name__}")
    path = Path(path)
    if path.suffix.lower() not in HTML_SUFFIXES:
        raise ValueError(f"explore() writes an HTML page: {path.name!r} needs a .html suffix")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    text = explorer_html(value, **options)
    write_atomic(path, text.encode("utf-8"))
    return path
