"""Run a published notebook's code cells in-process, twice in lockstep, and compare the two runs.

A *run* executes the code cells in order in one namespace, as a Jupyter kernel would: IPython
magics (``%matplotlib inline``) are left out (matplotlib draws with its Agg backend), and a
cell's last expression is its result, which the notebook would display. `Lockstep` runs the
same notebook twice, cell by cell: the *reference* (the notebook as published, or with
micrograd's classes) and *ours* (with microgradx swapped in), both from the same `random` and
``numpy.random`` state at every cell. After each cell, `compare` checks every Value the two
namespaces hold under the same name, every number the cell printed and the cell's result.

Swaps are made on the cell's source: `replace_classes` replaces top-level class definitions
(the lecture's ``class Value``) with an import, `replace_line` one line (an import).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import io
import json
import math
import random
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|-?inf|nan")


def code_cells(path: Path) -> list[str]:
    """The source of every code cell of the notebook at ``path``, in order."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def recorded_output(path: Path, index: int) -> str:
    """What code cell ``index`` printed when the notebook was saved (its stream outputs)."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = [c for c in notebook["cells"] if c["cell_type"] == "code"][index]
    return "".join("".join(o["text"]) for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def without_magics(source: str) -> str:
    """``source`` without IPython's magics and shell escapes (``%matplotlib inline``, ``!pip ...``)."""
    return "".join(line for line in source.splitlines(keepends=True) if not line.lstrip().startswith(("%", "!")))


def replace_classes(source: str, names: Iterable[str], replacement: str) -> str:
    """``source`` with its top-level ``class NAME`` definitions replaced by the line ``replacement`` (once)."""
    names = set(names)
    lines = source.splitlines(keepends=True)
    spans = [(min([n.lineno, *[d.lineno for d in n.decorator_list]]), n.end_lineno)
             for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name in names]
    if {n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)} & names != names:
        raise ValueError(f"the cell does not define every class of {sorted(names)}")
    for k, (first, last) in enumerate(sorted(spans, reverse=True)):
        lines[first - 1:last] = [replacement + "\n"] if k == len(spans) - 1 else []
    return "".join(lines)


def replace_line(source: str, old: str, new: str) -> str:
    """``source`` with the line ``old`` (exactly, once) replaced by ``new``."""
    lines = source.splitlines()
    if lines.count(old) != 1:
        raise ValueError(f"the cell has {lines.count(old)} lines {old!r}, not one")
    return "\n".join(new if line == old else line for line in lines) + "\n"


class Cell:
    """What one code cell did in one run: what it printed, its result, its error."""

    def __init__(self, index: int, source: str):
        self.index, self.source = index, source
        self.stdout = ""
        self.result: Any = None
        self.error: Optional[str] = None


class Run:
    """One run of a notebook's cells in one namespace, as a kernel runs them."""

    def __init__(self, name: str):
        self.name = name
        self.namespace: dict = {"__name__": "__main__"}
        self.cells: list[Cell] = []

    def run(self, index: int, source: str) -> Cell:
        """Run one cell: every statement, the last expression evaluated as the cell's result."""
        cell = Cell(index, source)
        self.cells.append(cell)
        tree = ast.parse(without_magics(source))
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(tree, f"<{self.name} cell {index}>", "exec"), self.namespace)
                if last is not None:
                    cell.result = eval(compile(ast.Expression(last.value), f"<{self.name} cell {index}>", "eval"),
                                       self.namespace)
        except Exception:
            cell.error = traceback.format_exc()
        cell.stdout = out.getvalue()
        return cell


@contextlib.contextmanager
def collector(threshold: Optional[tuple]) -> Iterator[None]:
    """Run a cell with CPython's cyclic garbage collector paused (``threshold`` None) or running less often.

    micrograd's Values are reference cycles (each node's ``_backward`` closure holds the node), so
    while a training step builds its graph the collector rescans the ever larger heap: 2 s of
    each 2.3 s step of demo.ipynb here. No number changes. Paused, a cell keeps its cycles until
    the collector runs again (about 65 MB per micrograd demo step): a long cell gets a
    ``threshold`` (``gc.set_threshold``) instead.
    """
    old = gc.get_threshold()
    if threshold is None:
        gc.disable()
    else:
        gc.set_threshold(*threshold)
    try:
        yield
    finally:
        gc.enable()
        gc.set_threshold(*old)


class Lockstep:
    """A notebook run twice, cell by cell, each cell from the same random state (see the module docstring).

    ``skip(k, source)`` leaves cell ``k`` out of both runs; ``check(k, reference, ours, their
    namespaces)`` returns the differences after cell ``k`` (a list of texts), kept in ``problems``.
    Afterwards only the names ``keep`` of our namespace are kept (the reference's is emptied).
    ``gc_threshold`` is `collector`'s for the reference's cells; ours run with the collector paused.
    """

    def __init__(self, reference: list[str], ours: list[str], name: str, skip: Callable[[int, str], bool],
                 check: Callable[..., list[str]], keep: Iterable[str] = (), gc_threshold: Optional[tuple] = None):
        assert len(reference) == len(ours)
        import matplotlib.pyplot as plt

        self.reference, self.ours = Run(f"{name}, reference"), Run(f"{name}, microgradx")
        self.pairs: list[tuple[Cell, Cell]] = []
        self.skipped: list[int] = []
        self.problems: dict[int, list[str]] = {}
        for k, (a, b) in enumerate(zip(reference, ours)):
            if skip(k, b):
                self.skipped.append(k)
                continue
            states = random.getstate(), np.random.get_state()
            with collector(gc_threshold):
                first = self.reference.run(k, a)
            random.setstate(states[0])
            np.random.set_state(states[1])
            with collector(None):  # microgradx's graphs hold no cycles: reference counting frees them
                second = self.ours.run(k, b)
            plt.close("all")
            self.pairs.append((first, second))
            found = check(k, first, second, self.reference.namespace, self.ours.namespace)
            if found:
                self.problems[k] = found
        # what the tests read afterwards stays; the rest (micrograd's cyclic graphs) goes now, at once
        self.reference.namespace.clear()
        self.ours.namespace = {name: v for name, v in self.ours.namespace.items() if name in keep}
        gc.collect()

    def report(self) -> str:
        """The differences found, cell by cell, with each cell's source (ours)."""
        ours = {c.index: c.source for c in self.ours.cells}
        return "\n\n".join(f"cell {k}:\n{ours[k]}\n--> " + "\n--> ".join(found) for k, found in self.problems.items())


# -- comparing ------------------------------------------------------------------------------------


def is_value(x: Any) -> bool:
    """A Value of any of the engines compared (the lecture's, micrograd's, microgradx's)."""
    return hasattr(x, "_prev") and hasattr(x, "data") and hasattr(x, "grad")  # (_prev first: a tensor warns at .grad)


#: Numbers below this size agree to it absolutely: rounding residues of a cancellation (a dead
#: network's output of 3e-13 where the exact value is 0) differ relatively when two engines add
#: the same gradients in another order, as micrograd does from one run to the next (set order).
RESIDUE = 1e-15


def close(a: Any, b: Any, rel: float) -> bool:
    """Two numbers equal to ``rel`` relative (or to `RESIDUE` absolute, for rounding residues)."""
    a, b = float(a), float(b)
    return math.isclose(a, b, rel_tol=rel, abs_tol=RESIDUE) or (math.isnan(a) and math.isnan(b))


def values_of(x: Any) -> Optional[list]:
    """The Values ``x`` holds: itself, the items of a list or tuple of Values, a module's parameters; else None."""
    if is_value(x):
        return [x]
    if isinstance(x, (list, tuple)) and x and all(is_value(v) for v in x):
        return list(x)
    if callable(getattr(x, "parameters", None)) and not isinstance(x, type):
        params = x.parameters()
        return list(params) if params and all(is_value(p) for p in params) else None
    return None


def compare_values(name: str, ref: list, ours: list, rel: float, ordered: bool = True) -> list[str]:
    """Differences between two lists of Values (data and grad); ``ordered=False`` compares them sorted."""
    if len(ref) != len(ours):
        return [f"{name}: {len(ref)} Values in the reference, {len(ours)} here"]
    pairs = [(float(v.data), float(v.grad)) for v in ref], [(float(v.data), float(v.grad)) for v in ours]
    if not ordered:
        pairs = sorted(pairs[0]), sorted(pairs[1])
    problems = []
    for i, ((d1, g1), (d2, g2)) in enumerate(zip(*pairs)):
        if not (close(d1, d2, rel) and close(g1, g2, rel)):
            problems.append(f"{name}[{i}]: data {d1!r} grad {g1!r} in the reference, data {d2!r} grad {g2!r} here")
    return problems


def compare_printed(ref: str, ours: str, rel: float) -> list[str]:
    """Differences between what two cells printed: the same text around the numbers, the numbers to ``rel``."""
    skeleton = lambda text: NUMBER.sub("#", text)
    if skeleton(ref) != skeleton(ours):
        return [f"printed {ref!r} in the reference, {ours!r} here"]
    return [f"printed {a} in the reference, {b} here" for a, b in zip(NUMBER.findall(ref), NUMBER.findall(ours))
            if not close(a, b, rel)]


LABEL = re.compile(r'\blabel=(?:"((?:[^"\\]|\\.)*)"|([^\s\]]+))')


def graph_labels(dot: Any) -> Counter:
    """The labels of a graphviz ``Digraph``'s nodes (records and ops), counted; none for anything else."""
    found = (LABEL.search(line) for line in getattr(dot, "body", None) or [] if "->" not in line)
    return Counter(m.group(1) if m.group(1) is not None else m.group(2) for m in found if m)


def labelled_records(labels: Counter) -> Counter:
    """The record labels (``{ a | data ... }``) of labelled Values only."""
    return Counter({k: n for k, n in labels.items() if re.match(r"\{ \S", k)})


def compare(ref: Cell, ours: Cell, ref_ns: dict, our_ns: dict, rel: float, unordered: Iterable[str] = (),
            same_graph: bool = True) -> list[str]:
    """Every difference between the two runs after one cell (see the module docstring)."""
    if ours.error:
        return [f"raised:\n{ours.error}"]
    if ref.error:
        return [f"raised in the reference:\n{ref.error}"]
    problems = compare_printed(ref.stdout, ours.stdout, rel)
    for name, obj in ref_ns.items():
        values = values_of(obj)
        if values is None or name.startswith("_"):
            continue
        mine = values_of(our_ns.get(name))
        if mine is None:
            problems.append(f"{name}: Values in the reference, {type(our_ns.get(name)).__name__} here")
            continue
        problems += compare_values(name, values, mine, rel, ordered=name not in unordered)
    if values_of(ref.result) is not None:
        last = ref.source.strip().splitlines()[-1].strip()  # `topo`: a list in the order of a set
        problems += compare_values("the cell's result", values_of(ref.result), values_of(ours.result) or [], rel,
                                   ordered=last not in unordered)
    elif isinstance(ref.result, (int, float)) and not isinstance(ref.result, bool):
        if not isinstance(ours.result, (int, float)) or not close(ref.result, ours.result, rel):
            problems.append(f"the cell's result: {ref.result!r} in the reference, {ours.result!r} here")
    elif hasattr(ref.result, "body"):  # a graphviz Digraph: the lecture's draw_dot
        a, b = graph_labels(ref.result), graph_labels(ours.result)
        if not same_graph:  # microgradx's ops differ here (its own sub and div): the labelled Values still match
            a, b = labelled_records(a), labelled_records(b)
        if a != b:
            problems.append(f"the picture's nodes differ: only in the reference {sorted((a - b).elements())}, "
                            f"only here {sorted((b - a).elements())}")
    return problems
