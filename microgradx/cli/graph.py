"""``microgradx graph``: draw an expression, a neuron or a tiny MLP with its data and gradients.

The expression comes as text on the command line (``"tanh(a*b + c)" a=2 b=-3 c=10``) and is
evaluated by a small, safe evaluator (`evaluate`, `parse_bindings`, at the end of this module).
The text is parsed with Python's `ast` module and walked node by node; nothing is ever passed
to ``eval`` or ``exec``. Only these constructs are accepted:

* numbers (``2``, ``-3.5``, ``1e-3``); each becomes an unlabelled leaf Value;
* names bound by the caller (on the command line: ``a=2 b=-3``); each name becomes
  one Value labelled with the name, shared by every use of the name;
* the operators ``+ - * / **`` and unary ``-`` / ``+`` (they resolve through the op
  table like any Value arithmetic: ``+`` is the registered op ``add``, ...);
* calls of registered ops by name with positional arguments: ``tanh(x)``, ``relu(x)``,
  ``exp(x)``, or any op a third-party plugin registers.

Anything else (attribute access, subscripts, lambdas, comprehensions, strings,
keyword arguments, unknown or dunder names, comparisons, ...) raises `ExpressionError`
naming the construct and its column.

    >>> from microgradx.cli.graph import evaluate
    >>> out, inputs = evaluate("tanh(a*b + c)", {"a": 2, "b": -3, "c": 10})
    >>> round(out.data, 4), sorted(inputs)
    (0.9993, ['a', 'b', 'c'])
"""

from __future__ import annotations

import argparse
import ast
import keyword
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microgradx import Value, get_registry
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
from microgradx.engine.value import apply
from microgradx.registry.errors import PluginError

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


# -- the expression language: a safe evaluator (see the module docstring) ---------------------------

#: The longest expression text accepted (a guard against pathological input).
MAX_LENGTH = 10_000
#: The deepest nesting of operators and calls accepted.
MAX_DEPTH = 100

_ALLOWED = "numbers, names bound on the command line, + - * / **, unary -, and calls of registered ops"

# What to call a construct in an error message, by ast class name.
_CONSTRUCTS = {
    "Attribute": "attribute access",
    "Subscript": "subscript (indexing)",
    "Slice": "slice",
    "Lambda": "lambda",
    "ListComp": "list comprehension",
    "SetComp": "set comprehension",
    "DictComp": "dict comprehension",
    "GeneratorExp": "generator expression",
    "IfExp": "conditional expression (x if c else y)",
    "Compare": "comparison",
    "BoolOp": "boolean operator (and/or)",
    "NamedExpr": "assignment expression (:=)",
    "Await": "await",
    "Yield": "yield",
    "YieldFrom": "yield from",
    "JoinedStr": "f-string",
    "FormattedValue": "f-string",
    "List": "list display",
    "Tuple": "tuple",
    "Set": "set display",
    "Dict": "dict display",
    "Starred": "starred argument (*x)",
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
_OTHER_BINOPS = {ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
                 ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}


class ExpressionError(ValueError):
    """The expression text cannot be evaluated: a syntax error, a disallowed construct,
    an unknown name or op, or an error raised by an op (with the column where it happened)."""


def parse_bindings(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``NAME=VALUE`` strings from the command line into ``{name: value}``.

    VALUE is a number (``a=2``, ``b=-3.5``, ``c=1e-3``) or a comma-separated list of
    numbers, which gives a lane Value (``x=1,2,3``: three examples through one graph).
    Names must be identifiers, not Python keywords and not dunder names; each may
    appear once. Raises `ExpressionError` naming the bad item.
    """
    bindings: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise ExpressionError(f"input {item!r} is not of the form NAME=VALUE (for example a=2)")
        _check_name(name, f"input {item!r}")
        if name in bindings:
            raise ExpressionError(f"input {name!r} is given twice ({name}={_show(bindings[name])} and {item})")
        parts = [p.strip() for p in text.split(",")]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise ExpressionError(
                f"input {item!r}: {text!r} is not a number (or a comma-separated list of numbers)"
            ) from None
        bindings[name] = numbers[0] if len(numbers) == 1 else np.array(numbers, dtype=np.float64)
    return bindings


def evaluate(text: str, bindings: Mapping[str, Any]) -> tuple[Value, dict[str, Value]]:
    """Evaluate the expression ``text`` with ``bindings`` (name -> number, lane array or Value).

    Returns ``(result, inputs)``: the result Value, and ``{name: Value}`` for each bound
    name the expression uses, each labelled with its name (a Value passed in a binding is
    used as is, and labelled with the name if it has no label). Raises `ExpressionError`
    for anything outside the small language described in this module's docstring.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be a string, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    for name in bindings:
        _check_name(name, f"input {name!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else f" (column {len(text.strip()) + 1}: unexpected end)"
        raise ExpressionError(f"cannot parse {_start(text)}{col}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError) as exc:
        raise ExpressionError(f"cannot parse {_start(text)}: {type(exc).__name__} (too deeply nested?)") from None
    return _Evaluator(text.strip(), bindings).run(tree)


def _start(text: str, limit: int = 60) -> str:
    """The expression quoted for a message: whole when short, else its start and its length."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _check_name(name: str, where: str) -> None:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ExpressionError(f"{where}: {name!r} is not a valid name (use letters, digits and _)")
    if name.startswith("__") and name.endswith("__"):
        raise ExpressionError(f"{where}: dunder names such as {name!r} are not allowed")


def _show(x: Any) -> str:
    return ",".join(repr(float(v)) for v in x) if isinstance(x, np.ndarray) else repr(x)


class _Evaluator:
    """Walks an ``ast`` tree of the allowed constructs, building Values."""

    def __init__(self, text: str, bindings: Mapping[str, Any]):
        self.text = text
        self.bindings = bindings
        self.inputs: dict[str, Value] = {}

    def run(self, tree: ast.Expression) -> tuple[Value, dict[str, Value]]:
        result = self.visit(tree.body, 0)
        return result, self.inputs

    # -- errors ---------------------------------------------------------------------------

    def where(self, node: ast.AST, snippet: bool = True) -> str:
        """`` at column N ('text of the node')``: where ``node`` is in the expression (1-based)."""
        col = getattr(node, "col_offset", None)
        segment = ast.get_source_segment(self.text, node) if snippet else None
        shown = f" ({segment!r})" if segment and segment != self.text else ""
        return f" at column {col + 1}{shown}" if col is not None else shown

    def refuse(self, node: ast.AST, what: str, snippet: bool = True) -> ExpressionError:
        return ExpressionError(
            f"{what}{self.where(node, snippet)} is not allowed in {self.text!r}; allowed: {_ALLOWED}"
        )

    # -- the walk -------------------------------------------------------------------------

    def visit(self, node: ast.AST, depth: int) -> Value:
        if depth > MAX_DEPTH:
            raise ExpressionError(f"the expression {_start(self.text)} is nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node, depth)
        if isinstance(node, ast.UnaryOp):
            return self.unaryop(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        kind = type(node).__name__
        raise self.refuse(node, _CONSTRUCTS.get(kind, f"the construct {kind}"))

    def constant(self, node: ast.Constant, sign: float = 1.0) -> Value:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            what = {str: "a string", bytes: "a bytes literal", complex: "a complex number"}.get(type(value))
            raise self.refuse(node, what or f"the constant {value!r}")
        try:
            return Value(sign * float(value))
        except OverflowError:
            raise ExpressionError(f"the number{self.where(node)} is too large for a float") from None

    def name(self, node: ast.Name) -> Value:
        name = node.id
        if name.startswith("__") and name.endswith("__"):
            raise self.refuse(node, f"the dunder name {name!r}", snippet=False)
        got = self.inputs.get(name)
        if got is not None:
            return got
        if name not in self.bindings:
            bound = ", ".join(sorted(self.bindings)) or "none"
            hint = f"; {name!r} is a registered op: call it, {name}(x)" if _is_op(name) else ""
            raise ExpressionError(
                f"unknown name {name!r} at column {node.col_offset + 1} in {self.text!r}: give it a value "
                f"on the command line ({name}=1.5); bound names: {bound}{hint}"
            )
        bound = self.bindings[name]
        if isinstance(bound, Value):
            value = bound
            if not value.label:
                value.label = name
        else:
            try:
                value = Value(bound, label=name)
            except TypeError as exc:
                raise ExpressionError(f"input {name!r}: {exc}") from None
        self.inputs[name] = value
        return value

    def binop(self, node: ast.BinOp, depth: int) -> Value:
        symbol = _BINOPS.get(type(node.op))
        if symbol is None:
            other = _OTHER_BINOPS.get(type(node.op), type(node.op).__name__)
            raise self.refuse(node, f"the operator {other}")
        left = self.visit(node.left, depth + 1)
        right = self.visit(node.right, depth + 1)
        return self.guard(node, lambda: _OPERATORS[symbol](left, right))

    def unaryop(self, node: ast.UnaryOp, depth: int) -> Value:
        if isinstance(node.op, ast.UAdd):
            return self.visit(node.operand, depth + 1)
        if not isinstance(node.op, ast.USub):
            other = {ast.Not: "not", ast.Invert: "~"}.get(type(node.op), type(node.op).__name__)
            raise self.refuse(node, f"the operator {other}")
        if isinstance(node.operand, ast.Constant):  # -3 is a number, not neg(3)
            return self.constant(node.operand, sign=-1.0)
        operand = self.visit(node.operand, depth + 1)
        return self.guard(node, lambda: -operand)

    def call(self, node: ast.Call, depth: int) -> Value:
        func = node.func
        if not isinstance(func, ast.Name):
            kind = type(func).__name__
            what = _CONSTRUCTS.get(kind, kind)
            raise self.refuse(func, f"calling the result of {what} (only registered ops can be called, by name)")
        name = func.id
        if name.startswith("__") and name.endswith("__"):
            raise self.refuse(func, f"the dunder name {name!r}", snippet=False)
        if node.keywords:
            kw = node.keywords[0]
            raise self.refuse(kw, f"the keyword argument {kw.arg or '**'}= in the call of {name!r}", snippet=False)
        try:
            op = get_registry().get("ops", name)
        except PluginError as exc:
            raise ExpressionError(
                f"cannot call {name!r} at column {func.col_offset + 1} in {self.text!r}: {exc}"
            ) from None
        args = [self.visit(a, depth + 1) for a in node.args]  # a Starred arg is refused in visit
        return self.guard(node, lambda: apply(op, *args))

    def guard(self, node: ast.AST, compute: Any) -> Value:
        """Run one op application; an op's error becomes an `ExpressionError` naming where."""
        try:
            return compute()
        except (ValueError, TypeError, ArithmeticError) as exc:
            raise ExpressionError(f"cannot evaluate {self.text!r}{self.where(node)}: {exc}") from None


_OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "**": lambda a, b: a ** b,
}


def _is_op(name: str) -> bool:
    return name in get_registry().tables["ops"]
