"""Layers point one way (issue 24): the contract in pyproject.toml holds, and no import circle joins two modules.

import-linter (and grimp, which it builds on) reads every import statement, those inside
functions and under ``TYPE_CHECKING`` included, so an import moved into a function to dodge a
circle is still a circle here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

grimp = pytest.importorskip("grimp", reason='import-linter is in the test extra: pip install -e ".[test]"')

ROOT = Path(__file__).resolve().parent.parent


def _lint(config: Path) -> subprocess.CompletedProcess:
    """``lint-imports --config CONFIG`` (import-linter's command) in this interpreter."""
    run = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", run, "--config", str(config), "--no-cache"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_layers_contract_is_kept():
    proc = _lint(ROOT / "pyproject.toml")
    assert proc.returncode == 0 and "1 kept, 0 broken" in proc.stdout, proc.stdout + proc.stderr


def test_the_contract_names_every_package_and_top_level_module():
    """A new package must be placed in a layer (or it would escape the contract unnoticed)."""
    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    placed = {name.strip() for layer in layers for name in layer.split("|")}
    parts = {f"microgradx.{p.stem}" for p in (ROOT / "microgradx").iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    assert parts - placed == set(), f"place these in a layer of [tool.importlinter] in pyproject.toml: {parts - placed}"


def test_a_broken_layering_is_reported(tmp_path):
    """The check sees the imports: with two layers swapped (the engine above the compiler) it fails, naming them."""
    config = tmp_path / "swapped.toml"
    config.write_text('[tool.importlinter]\nroot_packages = ["microgradx"]\n\n[[tool.importlinter.contracts]]\n'
                      'name = "swapped"\ntype = "layers"\nlayers = ["microgradx.engine", "microgradx.compiler"]\n')
    proc = _lint(config)
    assert proc.returncode == 1 and "microgradx.compiler" in proc.stdout and "microgradx.engine" in proc.stdout


ROOTS = {"microgradx", "microgradx_plugins"}  # a package's __init__ re-exporting its modules is no circle of theirs


def _imported_by(graph, module: str) -> list:
    return sorted(set(graph.find_modules_directly_imported_by(module)) - ROOTS)


def _cycles(graph) -> list:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in sorted(set(graph.modules) - ROOTS):
        if start in index:
            continue
        work = [(start, iter(_imported_by(graph, start)))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(_imported_by(graph, w))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    group = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        group.append(w)
                        if w == v:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_no_import_circle_joins_any_two_modules():
    """Not only between layers: within a package too (modelfile.core and .predictor once imported each other)."""
    graph = grimp.build_graph("microgradx", "microgradx_plugins")
    assert len(graph.modules) > 100 and graph.direct_import_exists(importer="microgradx.compiler.replay",
                                                                   imported="microgradx.engine.value")
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle():
    graph = grimp.build_graph("microgradx")
    graph.add_import(importer="microgradx.engine.value", imported="microgradx.compiler.function")
    assert any("microgradx.engine.value" in group and "microgradx.compiler.function" in group
               for group in _cycles(graph))


def test_one_atomic_writer_and_it_never_touches_the_umask():
    """Issue 24: two atomic writers, one of which called os.umask(0) (briefly changing the whole process's umask)."""
    sources = {p: p.read_text() for d in ("microgradx", "microgradx_plugins") for p in (ROOT / d).rglob("*.py")}
    assert not [p for p, text in sources.items() if "umask(" in text], "nothing may read or set the umask"
    replacing = [p.relative_to(ROOT).as_posix() for p, text in sources.items() if "os.replace(" in text]
    assert replacing == ["microgradx/atomicfile.py"], replacing
