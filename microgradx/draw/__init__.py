"""Pictures of a graph: DOT text, SVG files (with Graphviz or the built-in layout), the explorer page.

``from microgradx.draw import draw, to_dot, explore`` is the public way in:

* `to_dot` -- Graphviz DOT text (`microgradx.draw.dot`);
* `to_svg` -- an SVG picture laid out in Python, no Graphviz needed (`microgradx.draw.svg`);
* `draw` -- a picture file: SVG, PNG or PDF through Graphviz, or SVG from the built-in layout
  where Graphviz is not installed (`microgradx.draw.files`);
* `draw_dot` -- micrograd's ``draw_dot(root)``: a picture a notebook shows inline (`microgradx.draw.inline`);
* `explore` -- one self-contained HTML page that steps the forward and backward pass node by
  node (`microgradx.draw.page`), from the engine's own backward pass, recorded by `backward_steps`
  (`watch` runs ``backward()`` with a step of yours after each node: `microgradx.draw.steps`).

Collapsing a network by the names its layers gave what they built (``collapse=model``, by neuron
or with ``by="layer"`` by layer) and capping the node count work the same in all of them
(`microgradx.draw.picture`).
"""

from microgradx.draw.dot import to_dot
from microgradx.draw.files import FORMATS, INSTALL_HINT, GraphvizNotFoundWarning, draw, find_dot, write_atomic
from microgradx.draw.inline import Drawing, draw_dot
from microgradx.draw.models import build_model_graph
from microgradx.draw.page import explore, explorer_html
from microgradx.draw.picture import COLLAPSE_BY, DEFAULT_MAX_NODES, RANKDIRS
from microgradx.draw.steps import BackwardStep, Term, backward_steps, watch
from microgradx.draw.svg import to_svg
from microgradx.draw.text import escape_record, format_number, summarize

__all__ = ["COLLAPSE_BY", "DEFAULT_MAX_NODES", "FORMATS", "INSTALL_HINT", "RANKDIRS", "BackwardStep", "Drawing",
           "GraphvizNotFoundWarning", "Term", "backward_steps", "build_model_graph", "draw", "draw_dot",
           "escape_record", "explore", "explorer_html", "find_dot", "format_number", "summarize", "to_dot", "to_svg",
           "watch", "write_atomic"]
