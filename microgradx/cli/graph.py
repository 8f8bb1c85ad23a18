"""``microgradx graph``: draw an expression, a neuron or a tiny MLP with its data and gradients."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from microgradx import Value
from microgradx.draw import (
    COLLAPSE_BY,
    DEFAULT_MAX_NODES,
    FORMATS,
    RANKDIRS,
    GraphvizNotFoundWarning,
    build_model_graph,
    draw,
    find_dot,
    summarize,
)
from microgradx.draw.files import DOT_SUFFIXES
from microgradx.draw.page import HTML_SUFFIXES

_GRAPH_EPILOG = """\
examples:
  microgradx graph "tanh(a*b + c)" a=2 b=-3 c=10 --out expr.svg
  microgradx graph "relu(x) * w" x=1,-2,3 w=0.5 --out lanes.dot
  microgradx graph --neuron 3 --activation tanh --out neuron.svg
  microgradx graph --mlp 2,3,1 --out mlp.png [--collapse]    (each neuron one node: L0.n0 ... L1.n0)
  microgradx graph --mlp 2,3,1 --collapse layer --out mlp.svg  (each layer one node: x -> L0 -> L1)
  microgradx graph "tanh(a*b + c)" a=2 b=-3 c=10 --html expr.html    (the explorer page)
  microgradx graph --mlp 2,3,1 --collapse layer --html mlp.html     (a step per layer)

The expression may use numbers, the NAME=VALUE inputs (a comma-separated VALUE gives
lanes), + - * / ** and unary -, and calls of any registered op (see `microgradx plugins`).
Nothing is passed to Python's eval. An expression that begins with '-' goes after '--',
with the options before it: microgradx graph --out neg.svg -- "-a*b" a=2 b=3
Without Graphviz's `dot` program an SVG is still drawn (by the built-in layout); a PNG
or PDF needs Graphviz: without it the SVG is written instead (exit status 1).
"""


def add_graph_command(subparsers: Any) -> None:
    """Add the ``graph`` subcommand (with its handler as ``func``) to an argparse subparsers object."""
    p = subparsers.add_parser(
        "graph",
        help="draw the graph of an expression, a neuron or a tiny MLP with its data and gradients",
        description="Draw a Value graph after backward(): an expression given as text, or one neuron or a\n"
                    "tiny MLP of the registered layers in fine-grained form; --html writes a page that steps\n"
                    "the forward and backward pass node by node.",
        epilog=_GRAPH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expr", nargs="?", metavar="EXPR", help='expression to draw, e.g. "tanh(a*b + c)"')
    p.add_argument("inputs", nargs="*", metavar="NAME=VALUE", help="values of the expression's names, e.g. a=2")
    p.add_argument("-o", "--out", default=None,
                   help="output file; its suffix (.svg, .png, .pdf, .dot) picks the format (default: graph.svg, "
                        "unless --html is given)")
    p.add_argument("--html", metavar="OUT.html", default=None,
                   help="also (or only) write the explorer page: one self-contained HTML file that steps the "
                        "forward and backward pass node by node (no Graphviz needed)")
    p.add_argument("--no-backward", action="store_true", help="draw before backward() (gradients stay 0)")
    p.add_argument("--max-nodes", type=int, default=DEFAULT_MAX_NODES, metavar="N",
                   help=f"draw at most N value nodes, those nearest the result (default: {DEFAULT_MAX_NODES})")
    p.add_argument("--neuron", type=int, metavar="NIN", help="draw one neuron with NIN inputs x0..x{NIN-1}")
    p.add_argument("--mlp", metavar="SIZES", help="draw an MLP: nin,n1,...,nout, e.g. 2,3,1")
    p.add_argument("--activation", default="tanh",
                   help="activation op of the neuron / hidden layers (any registered unary op; default: tanh)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and inputs (default: 0)")
    p.add_argument("--collapse", nargs="?", const="neuron", choices=COLLAPSE_BY, default=None,
                   help="draw an MLP in fewer nodes, by the names its layers give what they build: '--collapse' "
                        "or '--collapse neuron' makes each neuron (L0.n1: its weighted sum and activation) one node; "
                        "'--collapse layer' makes each layer (L0) one node, a row per neuron's output; on the "
                        "explorer page (--html) each such node is one step")
    p.add_argument("--rankdir", choices=RANKDIRS, default="LR", help="layout direction (default: LR)")
    p.set_defaults(func=cmd_graph)


def cmd_graph(args: argparse.Namespace) -> int:
    """Handler of ``microgradx graph``: build, backward, draw, print the result and gradients."""
    from microgradx.draw.exprparse import ExpressionError

    try:
        roots, inputs, title, collapse = _graph_subject(args)
        collapse_options = {} if collapse is None else {"collapse": collapse, "by": args.collapse}
    except (ExpressionError, ValueError, TypeError, LookupError) as exc:
        print(f"microgradx graph: error: {exc}", file=sys.stderr)
        return 2
    if not args.no_backward:
        try:
            for r in roots:  # a lane result: each lane's own derivative (the seed is one per lane)
                r.backward(np.ones_like(r.data) if r.is_lanes else None)
        except (ValueError, TypeError, ArithmeticError, RuntimeError) as exc:
            print(f"microgradx graph: error in backward(): {exc}", file=sys.stderr)
            return 1
    subject = roots if len(roots) > 1 else roots[0]  # what the pictures draw
    for r in roots:
        name = r.label or "result"
        print(f"{name} = {summarize(r.data, 6)}")
    if not args.no_backward:
        wrt = " + ".join(r.label or "result" for r in roots) if len(roots) > 1 else (roots[0].label or "result")
        for name, v in inputs.items():
            print(f"d({wrt})/d{name} = {summarize(v.grad, 6)}")
    if args.html is not None:
        from microgradx.draw import explore

        try:
            page = explore(subject, args.html, **collapse_options,
                           max_nodes=args.max_nodes, rankdir=args.rankdir, title=title)
        except (ValueError, TypeError, ArithmeticError, RuntimeError, OSError) as exc:
            print(f"microgradx graph: error writing the explorer page: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {page}")
        if args.out is None:
            return 0
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", GraphvizNotFoundWarning)
            written = draw(subject, args.out, max_nodes=args.max_nodes,
                           **collapse_options, rankdir=args.rankdir, title=title)
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"microgradx graph: error: {exc}", file=sys.stderr)
        return 1
    missing = [w for w in caught if issubclass(w.category, GraphvizNotFoundWarning)]
    for w in caught:
        if w not in missing:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if missing:
        print(f"microgradx graph: {missing[0].message}", file=sys.stderr)
        return 1
    if written.suffix == ".svg" and find_dot() is None:
        print("microgradx graph: note: Graphviz's dot is not installed; drew the SVG with the built-in layout",
              file=sys.stderr)
    print(f"wrote {written}")
    return 0


def _graph_subject(args: argparse.Namespace) -> tuple[list[Value], dict[str, Value], str, Any]:
    """(roots, {input name: Value}, title, collapse) for the graph command's arguments."""
    chosen = [flag for flag, on in (("EXPR", args.expr is not None), ("--neuron", args.neuron is not None),
                                    ("--mlp", args.mlp is not None)) if on]
    if len(chosen) != 1:
        raise ValueError(
            "give exactly one of an expression, --neuron NIN or --mlp SIZES"
            + (f" (got {' and '.join(chosen)})" if chosen else "")
        )
    if args.out is None and args.html is None:
        args.out = "graph.svg"
    if args.out is not None:
        suffix = Path(args.out).suffix.lower()
        if suffix and suffix not in DOT_SUFFIXES and suffix.lstrip(".") not in FORMATS:
            raise ValueError(f"--out {args.out}: the suffix picks the format; use .svg, .png, .pdf or .dot")
    if args.html is not None:
        page = Path(args.html)
        if page.suffix.lower() not in HTML_SUFFIXES:
            raise ValueError(f"--html {args.html}: the explorer page is HTML; use a .html suffix")
        if not page.parent.is_dir():
            raise ValueError(f"--html {args.html}: the folder {page.parent} does not exist")
    if args.max_nodes is not None and args.max_nodes < 1:
        raise ValueError(f"--max-nodes must be at least 1, got {args.max_nodes}")
    if args.expr is not None:
        from microgradx.draw.exprparse import evaluate, parse_bindings

        if args.collapse:
            raise ValueError("--collapse applies to --neuron and --mlp, not to an expression")
        bindings = parse_bindings(args.inputs)
        out, inputs = evaluate(args.expr, bindings)
        unused = [n for n in bindings if n not in inputs]
        if unused:
            print(f"note: unused input(s): {', '.join(unused)}", file=sys.stderr)
        return [out], inputs, args.expr, None
    if args.inputs:
        raise ValueError(f"NAME=VALUE inputs ({' '.join(args.inputs)}) go with an expression, not --neuron/--mlp")
    if args.neuron is not None:
        if args.neuron < 1:
            raise ValueError(f"--neuron needs at least 1 input, got {args.neuron}")
        if args.collapse:
            raise ValueError(f"--collapse {args.collapse} applies to --mlp (one neuron is one node already: "
                             f"it is drawn op by op)")
        nin, kind = args.neuron, "Neuron"
    else:
        try:
            sizes = [int(s) for s in args.mlp.split(",")]
        except ValueError:
            raise ValueError(f"--mlp takes comma-separated layer sizes like 2,3,1, got {args.mlp!r}") from None
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"--mlp needs an input size and at least one layer size, all >= 1, got {args.mlp!r}")
        nin, kind = sizes[0], "MLP"
    model, outputs, inputs = build_model_graph(kind, nin, sizes[1:] if kind == "MLP" else None,
                                               activation=args.activation, seed=args.seed)
    title = (f"Neuron({nin}, activation={args.activation})" if kind == "Neuron"
             else f"MLP({nin}, {sizes[1:]}, activation={args.activation})")
    return outputs, inputs, title, (model if args.collapse else None)


