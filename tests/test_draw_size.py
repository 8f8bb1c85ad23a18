"""The pictures stay small and know no op: draw/ in at most 1,200 lines of code, no op named in it.

Lines of code are counted as tests/test_engine_size.py counts the engine's (docstrings,
comments and blank lines left out). draw/ was 1,889 lines before issue 24 (a chain rule of
its own, the bundled ops' derivatives by name, neurons found from parameter bit masks); the
explorer now watches the engine's own backward pass, an op's derivative text is its
`Op.formula`, and collapsing goes by the names layers give what they build.
"""

from __future__ import annotations

import ast
from pathlib import Path

from test_engine_size import ROOT, code_lines

from microgradx import get_registry

DRAW = ROOT / "microgradx" / "draw"


def test_draw_is_at_most_1200_lines_of_code():
    counts = {path.name: code_lines(path) for path in sorted(DRAW.glob("*.py"))}
    assert len(counts) >= 10  # (the counter sees the package)
    assert sum(counts.values()) <= 1200, counts


def _strings(path: Path) -> set[str]:
    """The string constants of a module's code (its docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docs}


def test_draw_names_no_op():
    ops = set(get_registry().names("ops"))
    assert {"add", "mul", "tanh", "dot", "lane_mean"} <= ops
    for path in DRAW.glob("*.py"):
        named = _strings(path) & ops - ({"dot"} if path.name == "files.py" else set())  # (Graphviz's dot format)
        assert not named, f"{path.name} names the op(s) {sorted(named)}"
    assert {"mul"} & _strings(ROOT / "microgradx" / "engine" / "value.py")  # (the check can see a name)
