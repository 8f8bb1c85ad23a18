"""Make docs/gradient-graph.svg: the graph of x.grad for y = x**3 at x = 4, after y.backward(create_graph=True).

Run from the repository's root: ``python docs/make_gradient_picture.py``. The picture is
`microgradx.draw.to_svg` (the built-in layout: no Graphviz, the same bytes on every machine) of
``y' = x.grad`` after ``y'.backward()``, so each node shows d y' / d node: x's is y'' = 6x = 24.
docs/engine.md, "The gradient is a graph too", builds the same graph step by step, and
tests/test_engine_doc.py checks that this file is what the code draws now.
"""

from __future__ import annotations

import sys
from pathlib import Path

from microgradx import Value
from microgradx.draw import to_svg

OUT = Path(__file__).resolve().parent / "gradient-graph.svg"


def gradient_graph() -> Value:
    """``y' = dy/dx`` for ``y = x**3`` at 4 (a Value, 48), after its own backward (x.grad = 24)."""
    x = Value(4.0, label="x")
    y = x ** 3
    y.backward(create_graph=True)
    y.grad.label = "dy/dy"  # the seed of that backward pass, a constant of the new graph
    dy = x.grad
    dy.label = "y'"
    x.grad = 0.0  # x.grad held y' itself: make room for d y'/dx
    dy.backward()
    return dy


def picture() -> str:
    """The SVG text of the picture."""
    return to_svg(gradient_graph(), title="the graph of x.grad = y' = 3x² for y = x³ at x = 4, after y'.backward()")


def main() -> int:
    """Write the picture next to this script."""
    OUT.write_text(picture(), encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
