"""Pictures of a graph: DOT text, SVG/PNG files through Graphviz (`microgradx.draw.graph`).

``from microgradx.draw import draw, to_dot`` is the public way in.
"""

from microgradx.draw.graph import (
    DEFAULT_MAX_NODES,
    FORMATS,
    INSTALL_HINT,
    GraphvizNotFoundWarning,
    build_model_graph,
    draw,
    escape_record,
    find_dot,
    format_number,
    groups_from,
    named_neurons,
    summarize,
    to_dot,
)

__all__ = ["DEFAULT_MAX_NODES", "FORMATS", "INSTALL_HINT", "GraphvizNotFoundWarning", "build_model_graph", "draw",
           "escape_record", "find_dot", "format_number", "groups_from", "named_neurons", "summarize", "to_dot"]
