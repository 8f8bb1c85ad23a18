"""docs/engine.md stays true: its examples run and print what the page shows, and its quotes
of the source are the source as it is now, so a change to the engine or to a bundled op
fails here until the page follows.

The page has two kinds of ``python`` code block:

- an **example**, written as a Python prompt session (``>>>`` lines and what they print).
  The examples run in order in one namespace, as a reader types them, as doctests: every
  printed line must match (``...`` stands for lines the page leaves out);
- a **quote** of the project's source, marked by a comment on the line before the block::

      <!-- source: microgradx/engine/autograd.py:visit_node -->
      <!-- source: microgradx/engine/value.py:Value.__add__..Value.__rtruediv__ -->   (a run of statements)
      <!-- micrograd 0.1.0: micrograd/engine.py:Value.__mul__ -->              (micrograd's, for comparison)

  The block must equal the named function, class or assignment exactly (dedented), as
  ``inspect.getsource`` gives a function or class and as the file spells an assignment.

The README's quick tour is checked the same way, more loosely: its blocks run.
"""

from __future__ import annotations

import ast
import difflib
import doctest
import importlib
import importlib.metadata
import inspect
import io
import re
import textwrap
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

import microgradx

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "engine.md"
README = ROOT / "README.md"
MARKER = re.compile(r"^<!-- (?P<kind>source|micrograd (?P<version>[\d.]+)): (?P<path>[\w/.]+\.py):"
                    r"(?P<name>[\w.]+) -->$")
#: The parts of the core the page must quote (the issue's list: Value, apply, the op records, the driver).
REQUIRED_QUOTES = {
    "microgradx/engine/value.py:Value.__init__", "microgradx/engine/value.py:apply",
    "microgradx/engine/autograd.py:topological_order", "microgradx/engine/autograd.py:backward",
    "microgradx/engine/autograd.py:visit_node", "microgradx/engine/autograd.py:local_gradients",
    "microgradx/engine/value.py:Value._backward", "microgradx/engine/value.py:Value.__pow__..Value.__abs__",
    "microgradx_plugins/arithmetic.py:mul", "microgradx_plugins/activations.py:tanh_op",
    "microgradx_plugins/activations.py:relu",
}


class Block(NamedTuple):
    lang: str
    code: str  # the lines between the fences, with a final newline
    line: int  # the 1-based line of the first code line in the file
    marker: Optional[re.Match]  # the quote marker on the line before the opening fence, if any

    @property
    def where(self) -> str:
        return f"{self.marker['path']}:{self.marker['name']}" if self.marker else f"line {self.line}"


def blocks(text: str) -> list[Block]:
    """Every fenced code block of a markdown text, in order."""
    lines = text.splitlines()
    found, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)$", lines[i])
        if not fence:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j] == "```"), None)
        assert end is not None, f"the code block opened on line {i + 1} is never closed"
        marker = MARKER.match(lines[i - 1]) if i else None
        if i and lines[i - 1].startswith("<!--"):
            assert marker, f"line {i}: a comment before a code block that is not a quote marker: {lines[i - 1]}"
        found.append(Block(fence.group(1), "".join(line + "\n" for line in lines[i + 1:end]), i + 2, marker))
        i = end + 1
    return found


def examples(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.lang == "python" and b.marker is None]


def quotes(text: str) -> list[Block]:
    return [b for b in blocks(text) if b.marker is not None]


# -- what a quote must equal --------------------------------------------------------------------


def module_name(path: str) -> str:
    """The import name of a source file (every folder is its package's name)."""
    return ".".join(Path(path).with_suffix("").parts)


def _statement(body: list, name: str) -> ast.stmt:
    """The statement of ``body`` that defines ``name``: a def, a class or an assignment to it."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return node
    raise LookupError(name)


def _lines(source: str, qualname: str) -> tuple[int, int]:
    """The first and last line (1-based) of the statement a dotted ``qualname`` names in ``source``."""
    *scopes, name = qualname.split(".")
    body = ast.parse(source).body
    for scope in scopes:
        body = _statement(body, scope).body
    node = _statement(body, name)
    first = min([node.lineno, *[d.lineno for d in getattr(node, "decorator_list", [])]])
    return first, node.end_lineno


def current_source(path: str, name: str) -> str:
    """The source text a quote of ``path:name`` must be, from the module as imported now.

    ``name`` is a (dotted) name of a function, a class or an assigned value, or ``first..last``:
    the statements from ``first`` to ``last`` of one scope (e.g. a run of class attributes).
    """
    module = importlib.import_module(module_name(path))
    file = Path(inspect.getsourcefile(module)).resolve()
    if not path.startswith("micrograd/"):
        assert file == ROOT / path, f"{path} is imported from {file}, not from this checkout"
    if ".." not in name:
        obj = module
        for part in name.split("."):
            obj = getattr(obj, part)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__name__ == name.split(".")[-1]:
            return textwrap.dedent(inspect.getsource(obj))
    source = file.read_text(encoding="utf-8")
    first_name, _, last_name = name.partition("..")
    first, end = _lines(source, first_name)
    if last_name:
        scope = first_name.rpartition(".")[0]
        assert scope == last_name.rpartition(".")[0], f"{name}: a run of statements must stay in one scope"
        end = _lines(source, last_name)[1]
        assert end >= first, f"{name}: {last_name} comes before {first_name}"
    return textwrap.dedent("".join(source.splitlines(keepends=True)[first - 1:end]))


def quote_problem(block: Block) -> Optional[str]:
    """Why a quote block is not the source it names now (None when it is)."""
    path, name = block.marker["path"], block.marker["name"]
    try:
        source = current_source(path, name)
    except (LookupError, AttributeError, ImportError) as exc:
        return f"line {block.line}: the quote of {path}:{name} names something that does not exist ({exc!r})"
    if block.code != source:
        diff = difflib.unified_diff(block.code.splitlines(), source.splitlines(), "docs/engine.md", path, lineterm="")
        return (f"line {block.line}: the quote of {path}:{name} no longer matches the source; copy it again "
                f"(and check the prose around it):\n" + "\n".join(diff))
    return None


def quote_problems(text: str) -> list[str]:
    """Every quote of the text that differs from the source (skipping micrograd's without micrograd 0.1.0)."""
    return [problem for b in quotes(text) if not _skip(b) and (problem := quote_problem(b))]


def _skip(block: Block) -> Optional[str]:
    """A reason not to check a quote of micrograd here (it is not installed, or another version is)."""
    version = block.marker["version"]
    if version is None:
        return None
    try:
        installed = importlib.metadata.version("micrograd")
    except importlib.metadata.PackageNotFoundError:
        return f"micrograd {version} is not installed (it comes with the test extras)"
    return None if installed == version else f"the page quotes micrograd {version}; {installed} is installed"


# -- running the examples -----------------------------------------------------------------------


def run_examples(text: str, filename: str = "docs/engine.md") -> tuple[int, str]:
    """Run every example block of ``text`` in order, in one namespace; return (failures, report)."""
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report = io.StringIO()
    namespace: dict = {"__name__": "__engine_doc__"}
    for block in examples(text):
        test = parser.get_doctest(block.code, namespace, f"{filename}:{block.line}", filename, block.line - 1)
        runner.run(test, out=report.write, clear_globs=False)
        namespace = test.globs  # the next block sees what this one defined, as at a prompt
    return runner.failures, report.getvalue()


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


# -- the page -----------------------------------------------------------------------------------


def test_every_python_block_is_an_example_or_a_quote(doc):
    for block in blocks(doc):
        if block.lang == "python" and block.marker is None:
            assert block.code.startswith(">>> "), f"line {block.line}: a python block that is neither a >>> " \
                                                  "example nor a marked quote"
        assert block.marker is None or block.lang == "python", f"line {block.line}: a quote must be a python block"
    assert len(examples(doc)) >= 15


def test_the_examples_run_and_print_what_the_page_shows(doc, builtin_ops_only):
    failures, report = run_examples(doc)
    assert failures == 0, report


def test_the_page_quotes_the_core(doc):
    quoted = {b.where for b in quotes(doc)}
    assert REQUIRED_QUOTES <= quoted, f"docs/engine.md no longer quotes {sorted(REQUIRED_QUOTES - quoted)}"


@pytest.mark.parametrize("block", quotes(DOC.read_text(encoding="utf-8")), ids=lambda b: b.where)
def test_each_quote_is_the_source_as_it_is_now(block):
    reason = _skip(block)
    if reason:
        pytest.skip(reason)
    problem = quote_problem(block)
    assert problem is None, problem


def test_a_drifted_quote_fails(doc):
    """The check catches a quote that no longer matches, and one that names nothing."""
    assert quote_problems(doc) == []
    drifted = doc.replace("backward=lambda g, out, x, y: (g * y, g * x), formula",
                          "backward=lambda g, out, x, y: (g * x, g * y), formula", 1)
    assert drifted != doc
    problems = quote_problems(drifted)
    assert len(problems) == 1 and "microgradx_plugins/arithmetic.py:mul no longer matches" in problems[0], problems
    renamed = doc.replace("autograd.py:visit_node -->", "autograd.py:visit_each_node -->")
    problems = quote_problems(renamed)
    assert len(problems) == 1 and "does not exist" in problems[0], problems


def test_a_drifted_output_fails(doc, builtin_ops_only):
    drifted = doc.replace(">>> mul.backward(1.0, -6.0, 2.0, -3.0)            # grad=1: the local derivatives alone\n"
                          "(-3.0, 2.0)\n",
                          ">>> mul.backward(1.0, -6.0, 2.0, -3.0)            # grad=1: the local derivatives alone\n"
                          "(2.0, -3.0)\n")
    assert drifted != doc
    failures, report = run_examples(drifted)
    assert failures == 1 and "(2.0, -3.0)" in report, report
    line = doc[:doc.index("(-3.0, 2.0)\n")].count("\n")  # the 0-based line of the output: the >>> line, 1-based
    assert f'File "docs/engine.md", line {line}' in report, report


def test_a_run_of_statements_is_the_lines_from_the_first_to_the_last():
    run = current_source("microgradx/engine/value.py", "Value.__add__..Value.__rtruediv__")
    assert run.startswith("__add__ = lambda") and run.rstrip().endswith('apply("div", other, self)')
    assert len(run.splitlines()) == 8


def _prose(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def test_relative_links_point_to_files_that_exist(doc):
    links = re.findall(r"\]\((?!https?:|#)([^)]+)\)", _prose(doc))
    assert links
    for target in links:
        assert (DOC.parent / target.split("#")[0]).exists(), f"docs/engine.md links to missing {target}"


def test_the_numbers_in_the_prose_are_the_engines():
    """The lecture's neuron, whose numbers the prose also spells out (the video's numbers)."""
    x1, x2, w1, w2 = microgradx.Value(2.0), microgradx.Value(0.0), microgradx.Value(-3.0), microgradx.Value(1.0)
    b = microgradx.Value(6.8813735870195432)
    n = x1 * w1 + x2 * w2 + b
    o = n.tanh()
    o.backward()
    prose = _prose(DOC.read_text(encoding="utf-8"))
    for x in (n.data, o.data, n.grad, x1.grad, w1.grad, x2.grad, 1 - o.data ** 2):
        assert f"{x:.6g}" in prose, x
    times = "\u00d7"
    assert f"`dx1` = w1 {times} 0.5 = -1.5" in prose and f"`dw1` = x1 {times} 0.5 = 1" in prose
    assert "o = tanh(n) = 0.707107" in prose


# -- the README's quick tour ------------------------------------------------------------------


def test_the_readme_tour_runs_and_points_learners_to_the_engine_page(builtin_ops_only):
    readme = README.read_text(encoding="utf-8")
    tour = re.search(r"^## A quick tour\n(.*?)^## ", readme, re.S | re.M).group(1)
    assert "from microgradx.nn import MLP" in tour and "from microgradx.nn import DenseMLP" in tour
    assert "docs/engine.md" in readme and "docs/lecture.md" in readme
    namespace: dict = {"__name__": "__readme__"}
    code = [b for b in blocks(tour) if b.lang == "python"]
    assert len(code) >= 5
    for block in code:
        exec(compile(block.code, f"README.md (tour, block at line {block.line})", "exec"), namespace)
        if "from microgradx.nn import MLP" in block.code:  # micrograd's MLP: micrograd 0.1.0's numbers
            import random

            from micrograd.nn import MLP as MicrogradMLP

            random.seed(1337)
            assert namespace["model"]([2.0, 3.0, -1.0]).data == MicrogradMLP(3, [4, 4, 1])([2.0, 3.0, -1.0]).data
        if "from microgradx.nn import DenseMLP" in block.code:
            assert namespace["loss"].data < 0.05  # the micrograd-style loop learned its four examples


def test_the_readmes_compiled_steps_example_runs_and_learns(builtin_ops_only):
    readme = README.read_text(encoding="utf-8")
    section = re.search(r"^## Compiled steps: where the speed lives\n(.*?)^## ", readme, re.S | re.M).group(1)
    (block,) = [b for b in blocks(section) if b.lang == "python"]
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(block.code, f"README.md (compiled steps, line {block.line})", "exec"), namespace)
    step, X, y, targets, loss = (namespace[k] for k in ("step", "X", "y", "targets", "loss"))
    assert step.recordings == 1  # recorded once, replayed for the other nine epochs
    eager = loss(namespace["model"](X), y).data
    assert step(X, targets).data == pytest.approx(eager, rel=1e-12)  # the replay computes the eager loss
    untrained = loss(namespace["DenseMLP"](30, [16, 16, 1])(X), y).data  # the same seed, before training
    assert eager < untrained


def test_the_readmes_gradients_of_gradients_example_gives_what_its_comments_say(builtin_ops_only):
    readme = README.read_text(encoding="utf-8")
    section = re.search(r"^## Gradients of gradients\n(.*?)^## ", readme, re.S | re.M).group(1)
    (block,) = [b for b in blocks(section) if b.lang == "python"]
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(block.code, f"README.md (gradients of gradients, line {block.line})", "exec"), namespace)
    assert namespace["g"].data == 12.0 and namespace["x"].grad == 12.0
    grad, hessian, hvp, rosenbrock = (namespace[k] for k in ("grad", "hessian", "hvp", "rosenbrock"))
    assert grad(grad(lambda x: x**3))(2.0) == 12.0
    assert hessian(rosenbrock, [1.0, 1.0]).tolist() == [[802.0, -400.0], [-400.0, 200.0]]
    assert hvp(rosenbrock, [1.0, 1.0], [1.0, 0.0]).tolist() == [802.0, -400.0]


# -- the picture of section 9, "The gradient is a graph too" ------------------------------------------


def _gradient_picture_module():
    spec = importlib.util.spec_from_file_location("make_gradient_picture", ROOT / "docs" / "make_gradient_picture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_gradient_graph_picture_is_what_the_code_draws_now(doc, builtin_ops_only):
    """docs/gradient-graph.svg is to_svg of x.grad for x**3 (after create_graph) as the engine builds it today."""
    import xml.etree.ElementTree as ET

    assert "](gradient-graph.svg)" in doc
    picture = ROOT / "docs" / "gradient-graph.svg"
    module = _gradient_picture_module()
    assert picture.read_text(encoding="utf-8") == module.picture(), \
        "docs/gradient-graph.svg is not what the code draws now: run python docs/make_gradient_picture.py"
    texts = [t.strip() for t in ET.parse(picture).getroot().itertext() if t.strip()]
    for shown in ("x", "data 4", "grad 24", "y'", "data 48", "grad 1", "**2.0", "dy/dy", "data 16", "grad 3"):
        assert shown in texts, (shown, texts)
    dy = module.gradient_graph()
    ops_in_graph = [v._op for v in microgradx.topological_order(dy) if v.op is not None]
    assert sorted(ops_in_graph) == ["*", "*", "**2.0"]  # the seed times 3 times x**2: no 0 + ... nodes
